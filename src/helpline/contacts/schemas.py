"""What the contacts API speaks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from helpline.contacts.models import FieldEntity, FieldType, IdentityKind


class IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: IdentityKind
    value: str = Field(min_length=1, max_length=320)


class IdentityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: IdentityKind
    value: str


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320, description="Shortcut for an email identity")
    phone: str | None = Field(
        default=None, max_length=40, description="Shortcut for a phone identity (E.164)"
    )
    language: str | None = Field(default=None, pattern="^(en|de|hu)$")
    time_zone: str | None = Field(default=None, max_length=64)
    organisation_id: int | None = None
    notes: str = Field(default="", max_length=20_000)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, pattern="^(en|de|hu)$")
    time_zone: str | None = Field(default=None, max_length=64)
    organisation_id: int | None = None
    notes: str | None = Field(default=None, max_length=20_000)
    custom_fields: dict[str, Any] | None = None


class ContactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    language: str | None
    time_zone: str | None
    organisation_id: int | None
    notes: str
    custom_fields: dict[str, Any]
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime
    identities: list[IdentityRead] = Field(default_factory=list)


class ContactMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merged_id: int = Field(description="The contact that is merged into this one (and then points to it)")


class ContactPage(BaseModel):
    items: list[ContactRead]
    next_cursor: str | None


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    domain: str | None = Field(default=None, max_length=200)
    notes: str = Field(default="", max_length=20_000)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class OrganisationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    domain: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=20_000)
    custom_fields: dict[str, Any] | None = None


class OrganisationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    domain: str | None
    notes: str
    custom_fields: dict[str, Any]
    created_at: datetime


class OrganisationPage(BaseModel):
    items: list[OrganisationRead]
    next_cursor: str | None


class CustomFieldCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: FieldEntity
    key: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=120)
    field_type: FieldType
    choices: list[str] = Field(default_factory=list, max_length=200)


class CustomFieldRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    entity: FieldEntity
    key: str
    label: str
    field_type: FieldType
    choices: list[str]
