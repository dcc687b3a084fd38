"""What the canned replies API speaks.

Sizes are bounded loosely here; ``replies.service`` checks what the values mean (the title's length,
the shortcut's letters, the placeholders, the team), so the API and the page give the same errors
naming the same fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from helpline.replies.models import CannedReply

BODY_HELP = (
    "Plain text, up to 10,000 characters. Placeholders filled in on insert: {{customer.name}}, "
    "{{customer.first_name}}, {{customer.email}}, {{agent.name}}, {{agent.first_name}}, "
    "{{conversation.number}}, {{company.name}}; an empty value leaves nothing behind."
)
SHORTCUT_HELP = "Typed as /shortcut in a composer: 1-32 lower-case letters, digits and hyphens; unique per company."
VISIBILITY_HELP = (
    "shared (everyone), team (the members of team_id) or personal (only you). "
    "Only admins and supervisors create and change shared and team replies."
)


class CannedReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(max_length=1000)
    body: str = Field(max_length=100_000, description=BODY_HELP)
    shortcut: str | None = Field(default=None, max_length=200, description=SHORTCUT_HELP)
    visibility: str = Field(default="personal", max_length=50, description=VISIBILITY_HELP)
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="For visibility team.")

    def values(self) -> dict[str, Any]:
        return self.model_dump()


class CannedReplyUpdate(BaseModel):
    """Only the fields sent change; ``shortcut: null`` removes the shortcut."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=1000)
    body: str | None = Field(default=None, max_length=100_000, description=BODY_HELP)
    shortcut: str | None = Field(default=None, max_length=200, description=SHORTCUT_HELP)
    visibility: str | None = Field(default=None, max_length=50, description=VISIBILITY_HELP)
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    def changes(self) -> dict[str, Any]:
        sent = self.model_dump(exclude_unset=True)
        return {k: v for k, v in sent.items() if v is not None or k in ("shortcut", "team_id")}


class CannedReplyRead(BaseModel):
    id: int
    title: str
    body: str = Field(description=BODY_HELP)
    shortcut: str | None = Field(description=SHORTCUT_HELP)
    visibility: str = Field(description=VISIBILITY_HELP)
    team_id: int | None
    owner_id: int | None = Field(description="The user a personal reply belongs to.")
    created_by_id: int | None
    usage_count: int = Field(description="How often it was inserted into a conversation.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, reply: CannedReply) -> CannedReplyRead:
        return cls(
            id=reply.id, title=reply.title, body=reply.body, shortcut=reply.shortcut,
            visibility=reply.visibility.value, team_id=reply.team_id, owner_id=reply.owner_id,
            created_by_id=reply.created_by_id, usage_count=reply.usage_count, created_at=reply.created_at,
            updated_at=reply.updated_at,
        )


class RenderedReply(BaseModel):
    body: str = Field(description="The reply with the conversation's details filled in, to insert as it is.")
