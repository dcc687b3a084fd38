"""CRM: the only writer of contacts, identities, organisations and custom field definitions."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts.service import (
    LANGUAGES,
    Actor,
    audit,
    normalise_email,
    require_admin,
    validate_time_zone,
)
from helpline.contacts.models import (
    Contact,
    ContactIdentity,
    CustomFieldDefinition,
    FieldEntity,
    FieldType,
    IdentityKind,
    Organisation,
)
from helpline.errors import Conflict, Invalid, NotFound
from helpline.events import Event, on_commit
from helpline.search import SearchDocument, index_for
from helpline.sqlite_inline import (
    bind_value,
    execute_now,
    inline_connection_flushed,
    load_row,
    select_list,
    write_new,
)

HANDLE_RE = re.compile(r"^[\w.@+\-:]{1,200}$")
FIELD_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


# --- identities --------------------------------------------------------------------------


def normalise_identity(kind: IdentityKind, value: str, field: str = "value") -> str:
    """The canonical form an identity is stored and matched in."""
    value = (value or "").strip()
    if kind == IdentityKind.email:
        try:
            return normalise_email(value)
        except Invalid as exc:
            raise exc.with_field(field) from exc
    if kind in (IdentityKind.phone, IdentityKind.whatsapp):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise Invalid(
                "not a phone number in international form (+...): %(value)r", field=field, value=value
            ) from exc
        if not phonenumbers.is_valid_number(number):
            raise Invalid("not a valid phone number: %(value)r", field=field, value=value)
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not HANDLE_RE.match(value):
        raise Invalid("not a valid %(kind)s handle: %(value)r", field=field, kind=kind.value, value=value)
    return value.lstrip("@").lower() if kind in (IdentityKind.twitter, IdentityKind.instagram) else value


async def find_by_identity(
    *, session: AsyncSession, tenant_id: int, kind: IdentityKind, value: str
) -> Contact | None:
    """The contact who owns this identity, if any (one query: intake asks this for every message)."""
    normalised = normalise_identity(kind, value)
    connection = await inline_connection_flushed(session)
    if connection is not None:
        # The SQLite writer: one prebuilt statement, no ORM query (a fifth of an intake's cost).
        row = execute_now(
            connection,
            f"SELECT {select_list(session, Contact)} FROM contacts JOIN contact_identities"
            " ON contact_identities.contact_id = contacts.id WHERE contact_identities.tenant_id = ?"
            " AND contact_identities.kind = ? AND contact_identities.value = ?",
            (tenant_id, bind_value(session, ContactIdentity.__table__.c.kind, kind), normalised),
        ).fetchone()
        return load_row(session, Contact, row) if row is not None else None
    return await session.scalar(
        select(Contact)
        .join(ContactIdentity, ContactIdentity.contact_id == Contact.id)
        .where(
            ContactIdentity.tenant_id == tenant_id,
            ContactIdentity.kind == kind,
            ContactIdentity.value == normalised,
        )
    )


async def find_or_create_by_identity(
    *,
    session: AsyncSession,
    actor: Actor,
    kind: IdentityKind,
    value: str,
    name: str = "",
    language: str | None = None,
) -> Contact:
    """Inbound intake: a known identity attaches to its contact; a new one makes a contact."""
    contact = await find_by_identity(session=session, tenant_id=actor.tenant_id, kind=kind, value=value)
    if contact is not None:
        if not contact.name and name.strip():
            contact.name = name.strip()[:200]
        return contact
    return await _create_intake_contact(session, actor, kind, normalise_identity(kind, value), name, language)


async def _create_intake_contact(
    session: AsyncSession, actor: Actor, kind: IdentityKind, normalised: str, name: str, language: str | None
) -> Contact:
    """A new contact known by one identity: the lean path, since every new customer takes it.

    The caller has just looked the identity up; should another transaction add it meanwhile,
    the unique constraint refuses this one (409), and nothing is stored twice.
    """
    _check_language(language)
    contact = Contact(tenant_id=actor.tenant_id, name=(name.strip() or normalised)[:200], language=language,
                      notes="", custom_fields={})
    # Straight to the database on SQLite (write_new): the ORM's flush cost more than the rows.
    await write_new(session, contact)
    await write_new(
        session, ContactIdentity(tenant_id=actor.tenant_id, contact_id=contact.id, kind=kind, value=normalised)
    )
    await index_for(session).upsert(
        session,
        SearchDocument(tenant_id=actor.tenant_id, kind="contact", ref_id=contact.id, title=contact.name,
                       body=normalised, contact_id=contact.id),
        fresh=True,
    )
    on_commit(session, Event("contact.created", actor.tenant_id, {"contact_id": contact.id}))
    return contact


async def add_identity(
    *, session: AsyncSession, actor: Actor, contact_id: int, kind: IdentityKind, value: str
) -> ContactIdentity:
    contact = await get_contact(session=session, actor=actor, contact_id=contact_id)
    identity = await _attach_identity(session, contact, kind, value)
    await _reindex(session, contact)
    on_commit(session, Event("contact.updated", actor.tenant_id, {"contact_id": contact.id}))
    return identity


async def _attach_identity(
    session: AsyncSession, contact: Contact, kind: IdentityKind, value: str
) -> ContactIdentity:
    normalised = normalise_identity(kind, value, field=f"identities.{kind.value}")
    owner = await session.scalar(
        select(ContactIdentity.contact_id).where(
            ContactIdentity.tenant_id == contact.tenant_id,
            ContactIdentity.kind == kind,
            ContactIdentity.value == normalised,
        )
    )
    if owner is not None:
        if owner == contact.id:
            existing = await session.scalar(
                select(ContactIdentity).where(
                    ContactIdentity.contact_id == contact.id,
                    ContactIdentity.kind == kind,
                    ContactIdentity.value == normalised,
                )
            )
            assert existing is not None
            return existing
        raise Conflict(
            "%(value)s belongs to another contact (#%(contact)s)",
            field=f"identities.{kind.value}",
            value=normalised,
            contact=owner,
        )
    identity = ContactIdentity(
        tenant_id=contact.tenant_id, contact_id=contact.id, kind=kind, value=normalised
    )
    session.add(identity)
    await session.flush()
    return identity


async def remove_identity(*, session: AsyncSession, actor: Actor, contact_id: int, identity_id: int) -> None:
    contact = await get_contact(session=session, actor=actor, contact_id=contact_id)
    identity = await session.get(ContactIdentity, identity_id)
    if identity is None or identity.contact_id != contact.id:
        raise NotFound("identity not found", field="identity_id")
    await session.delete(identity)
    await session.flush()
    await _reindex(session, contact)


async def identities_of(session: AsyncSession, contact_ids: list[int]) -> dict[int, list[ContactIdentity]]:
    out: dict[int, list[ContactIdentity]] = {cid: [] for cid in contact_ids}
    if not contact_ids:
        return out
    rows = await session.scalars(
        select(ContactIdentity)
        .where(ContactIdentity.contact_id.in_(contact_ids))
        .order_by(ContactIdentity.id)
    )
    for identity in rows:
        out[identity.contact_id].append(identity)
    return out


# --- contacts ----------------------------------------------------------------------------


async def create_contact(
    *,
    session: AsyncSession,
    actor: Actor,
    name: str = "",
    language: str | None = None,
    time_zone: str | None = None,
    organisation_id: int | None = None,
    notes: str = "",
    identities: list[tuple[IdentityKind, str]] | None = None,
    custom_fields: dict[str, Any] | None = None,
) -> Contact:
    _check_language(language)
    if time_zone:
        validate_time_zone(time_zone)
    if organisation_id is not None:
        await get_organisation(session=session, actor=actor, organisation_id=organisation_id)
    values = await validate_custom_fields(session, actor, FieldEntity.contact, custom_fields or {})
    contact = Contact(
        tenant_id=actor.tenant_id,
        name=name.strip()[:200],
        language=language,
        time_zone=time_zone,
        organisation_id=organisation_id,
        notes=notes,
        custom_fields=values,
    )
    session.add(contact)
    await session.flush()
    for kind, value in identities or []:
        await _attach_identity(session, contact, kind, value)
    if not contact.name and identities:
        contact.name = identities[0][1].strip()[:200]
    await _reindex(session, contact)
    on_commit(session, Event("contact.created", actor.tenant_id, {"contact_id": contact.id}))
    return contact


async def get_contact(*, session: AsyncSession, actor: Actor, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.tenant_id != actor.tenant_id:
        raise NotFound("contact not found", field="contact_id")
    return contact


async def update_contact(
    *, session: AsyncSession, actor: Actor, contact_id: int, changes: dict[str, Any]
) -> Contact:
    contact = await get_contact(session=session, actor=actor, contact_id=contact_id)
    if "name" in changes and changes["name"] is not None:
        contact.name = str(changes["name"]).strip()[:200]
    if "language" in changes:
        _check_language(changes["language"])
        contact.language = changes["language"]
    if "time_zone" in changes:
        if changes["time_zone"]:
            validate_time_zone(changes["time_zone"])
        contact.time_zone = changes["time_zone"] or None
    if "organisation_id" in changes:
        if changes["organisation_id"] is not None:
            await get_organisation(session=session, actor=actor, organisation_id=changes["organisation_id"])
        contact.organisation_id = changes["organisation_id"]
    if "notes" in changes and changes["notes"] is not None:
        contact.notes = changes["notes"]
    if "custom_fields" in changes and changes["custom_fields"] is not None:
        contact.custom_fields = await _merge_custom_fields(
            session, actor, FieldEntity.contact, contact.custom_fields, changes["custom_fields"]
        )
    await session.flush()
    await _reindex(session, contact)
    on_commit(session, Event("contact.updated", actor.tenant_id, {"contact_id": contact.id}))
    return contact


async def merge_contacts(*, session: AsyncSession, actor: Actor, survivor_id: int, merged_id: int) -> Contact:
    """Move everything of ``merged_id`` to ``survivor_id``: identities, conversations, notes, fields."""
    from helpline.conversations import service as conversations

    if survivor_id == merged_id:
        raise Invalid("a contact cannot be merged into itself", field="merged_id")
    survivor = await get_contact(session=session, actor=actor, contact_id=survivor_id)
    merged = await get_contact(session=session, actor=actor, contact_id=merged_id)
    if survivor.merged_into_id is not None:
        raise Conflict(
            "this contact was merged into #%(contact)s; merge into that one",
            field="contact_id",
            contact=survivor.merged_into_id,
        )
    if merged.merged_into_id is not None:
        raise Conflict("that contact was merged already", field="merged_id")
    for identity in await session.scalars(
        select(ContactIdentity).where(ContactIdentity.contact_id == merged.id)
    ):
        identity.contact_id = survivor.id
    await conversations.move_contact(
        session=session, actor=actor, from_contact_id=merged.id, to_contact_id=survivor.id
    )
    survivor.custom_fields = {**merged.custom_fields, **survivor.custom_fields}
    if merged.notes.strip():
        survivor.notes = (survivor.notes + "\n\n" + merged.notes).strip()
    survivor.organisation_id = survivor.organisation_id or merged.organisation_id
    survivor.language = survivor.language or merged.language
    survivor.time_zone = survivor.time_zone or merged.time_zone
    survivor.name = survivor.name or merged.name
    merged.merged_into_id = survivor.id
    # Contacts merged into this one earlier now point straight at the survivor: no chains to follow.
    await session.execute(
        update(Contact)
        .where(Contact.tenant_id == actor.tenant_id, Contact.merged_into_id == merged.id)
        .values(merged_into_id=survivor.id)
    )
    await session.flush()
    await index_for(session).delete(session, "contact", merged.id)
    await _reindex(session, survivor)
    audit(session, actor, "contact.merged", f"contact:{survivor.id}", {"merged": merged.id})
    on_commit(
        session, Event("contact.merged", actor.tenant_id, {"contact_id": survivor.id, "merged_id": merged.id})
    )
    return survivor


async def list_contacts(
    *,
    session: AsyncSession,
    actor: Actor,
    after_id: int | None = None,
    limit: int = 50,
    organisation_id: int | None = None,
    name: str | None = None,
) -> list[Contact]:
    query = select(Contact).where(Contact.tenant_id == actor.tenant_id, Contact.merged_into_id.is_(None))
    if organisation_id is not None:
        query = query.where(Contact.organisation_id == organisation_id)
    if name:
        query = query.where(Contact.name.ilike(f"%{_escape_like(name)}%", escape="\\"))
    if after_id is not None:
        query = query.where(Contact.id < after_id)
    return list(await session.scalars(query.order_by(Contact.id.desc()).limit(limit)))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise Invalid("language must be one of %(languages)s", field="language", languages=", ".join(LANGUAGES))


async def _reindex(session: AsyncSession, contact: Contact) -> None:
    identities = (await identities_of(session, [contact.id]))[contact.id]
    organisation = (
        await session.get(Organisation, contact.organisation_id) if contact.organisation_id else None
    )
    body = " ".join(
        [*(i.value for i in identities), organisation.name if organisation else "", contact.notes]
    )
    await index_for(session).upsert(
        session,
        SearchDocument(
            tenant_id=contact.tenant_id,
            kind="contact",
            ref_id=contact.id,
            title=contact.name,
            body=body.strip(),
            contact_id=contact.id,
        ),
    )


# --- organisations -----------------------------------------------------------------------


async def create_organisation(
    *,
    session: AsyncSession,
    actor: Actor,
    name: str,
    domain: str | None = None,
    notes: str = "",
    custom_fields: dict[str, Any] | None = None,
) -> Organisation:
    name = name.strip()
    if not name:
        raise Invalid("the organisation needs a name", field="name")
    if await session.scalar(
        select(Organisation.id).where(Organisation.tenant_id == actor.tenant_id, Organisation.name == name)
    ):
        raise Conflict("an organisation named %(name)r exists already", field="name", name=name)
    values = await validate_custom_fields(session, actor, FieldEntity.organisation, custom_fields or {})
    organisation = Organisation(
        tenant_id=actor.tenant_id, name=name, domain=(domain or None), notes=notes, custom_fields=values
    )
    session.add(organisation)
    await session.flush()
    on_commit(session, Event("organisation.created", actor.tenant_id, {"organisation_id": organisation.id}))
    return organisation


async def get_organisation(*, session: AsyncSession, actor: Actor, organisation_id: int) -> Organisation:
    organisation = await session.get(Organisation, organisation_id)
    if organisation is None or organisation.tenant_id != actor.tenant_id:
        raise NotFound("organisation not found", field="organisation_id")
    return organisation


async def update_organisation(
    *, session: AsyncSession, actor: Actor, organisation_id: int, changes: dict[str, Any]
) -> Organisation:
    organisation = await get_organisation(session=session, actor=actor, organisation_id=organisation_id)
    if changes.get("name") is not None:
        name = str(changes["name"]).strip()
        if not name:
            raise Invalid("the organisation needs a name", field="name")
        if name != organisation.name and await session.scalar(
            select(Organisation.id).where(Organisation.tenant_id == actor.tenant_id, Organisation.name == name)
        ):
            raise Conflict("an organisation named %(name)r exists already", field="name", name=name)
        if name != organisation.name:
            organisation.name = name
            # Its people are found by the organisation's name: the search must learn the new one.
            for contact in await session.scalars(
                select(Contact).where(
                    Contact.tenant_id == actor.tenant_id,
                    Contact.organisation_id == organisation.id,
                    Contact.merged_into_id.is_(None),
                )
            ):
                await _reindex(session, contact)
    if "domain" in changes:
        organisation.domain = changes["domain"] or None
    if changes.get("notes") is not None:
        organisation.notes = changes["notes"]
    if changes.get("custom_fields") is not None:
        organisation.custom_fields = await _merge_custom_fields(
            session, actor, FieldEntity.organisation, organisation.custom_fields, changes["custom_fields"]
        )
    return organisation


async def list_organisations(
    *, session: AsyncSession, actor: Actor, after_id: int | None = None, limit: int = 50
) -> list[Organisation]:
    query = select(Organisation).where(Organisation.tenant_id == actor.tenant_id)
    if after_id is not None:
        query = query.where(Organisation.id < after_id)
    return list(await session.scalars(query.order_by(Organisation.id.desc()).limit(limit)))


# --- custom fields -----------------------------------------------------------------------


async def define_custom_field(
    *,
    session: AsyncSession,
    actor: Actor,
    entity: FieldEntity,
    key: str,
    label: str,
    field_type: FieldType,
    choices: list[str] | None = None,
) -> CustomFieldDefinition:
    require_admin(actor)
    if not FIELD_KEY_RE.match(key):
        raise Invalid("the key must start with a letter and use a-z, 0-9 and _ only", field="key")
    if not label.strip():
        raise Invalid("the field needs a label", field="label")
    if field_type == FieldType.choice and not [c for c in (choices or []) if c.strip()]:
        raise Invalid("a choice field needs at least one choice", field="choices")
    exists = await session.scalar(
        select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.tenant_id == actor.tenant_id,
            CustomFieldDefinition.entity == entity,
            CustomFieldDefinition.key == key,
        )
    )
    if exists:
        raise Conflict("a field %(key)r exists already", field="key", key=key)
    definition = CustomFieldDefinition(
        tenant_id=actor.tenant_id,
        entity=entity,
        key=key,
        label=label.strip(),
        field_type=field_type,
        choices=[c.strip() for c in choices or [] if c.strip()],
    )
    session.add(definition)
    await session.flush()
    audit(
        session,
        actor,
        "custom_field.created",
        f"custom_field:{definition.id}",
        {"key": key, "entity": entity.value},
    )
    return definition


async def list_custom_fields(
    *, session: AsyncSession, actor: Actor, entity: FieldEntity | None = None
) -> list[CustomFieldDefinition]:
    query = select(CustomFieldDefinition).where(CustomFieldDefinition.tenant_id == actor.tenant_id)
    if entity is not None:
        query = query.where(CustomFieldDefinition.entity == entity)
    return list(
        await session.scalars(query.order_by(CustomFieldDefinition.entity, CustomFieldDefinition.label))
    )


async def delete_custom_field(*, session: AsyncSession, actor: Actor, field_id: int) -> None:
    require_admin(actor)
    definition = await session.get(CustomFieldDefinition, field_id)
    if definition is None or definition.tenant_id != actor.tenant_id:
        raise NotFound("custom field not found", field="field_id")
    await session.delete(definition)
    audit(session, actor, "custom_field.deleted", f"custom_field:{field_id}", {"key": definition.key})


async def validate_custom_fields(
    session: AsyncSession, actor: Actor, entity: FieldEntity, values: dict[str, Any]
) -> dict[str, Any]:
    """Typed values for the admin-defined fields; unknown keys and wrong types are refused."""
    if not values:
        return {}
    definitions = {d.key: d for d in await list_custom_fields(session=session, actor=actor, entity=entity)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        name = f"custom_fields.{key}"
        if definition is None:
            raise Invalid("there is no custom field %(key)r", field=name, key=key)
        if value is None or value == "":
            continue
        out[key] = _coerce(definition, value, name)
    return out


async def _merge_custom_fields(
    session: AsyncSession, actor: Actor, entity: FieldEntity, current: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    """Only the values sent are checked: a stored value of a since-deleted field must not block edits."""
    values = await validate_custom_fields(session, actor, entity, changes)
    kept = {key: value for key, value in current.items() if key not in changes}
    return {**kept, **values}


def _coerce(definition: CustomFieldDefinition, value: Any, name: str) -> Any:
    kind = definition.field_type
    try:
        if kind == FieldType.text:
            text = str(value)
            if len(text) > 2000:
                raise Invalid("at most 2000 characters", field=name)
            return text
        if kind == FieldType.number:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                return value
            try:
                return int(str(value).strip())  # whole numbers keep every digit
            except ValueError:
                number = float(value)
            if not math.isfinite(number):  # NaN and infinity are not JSON and not numbers anyone means
                raise ValueError
            return int(number) if number.is_integer() else number
        if kind == FieldType.date:
            return dt.date.fromisoformat(str(value)).isoformat()
        if kind == FieldType.boolean:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "on"):
                return True
            if str(value).lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if kind == FieldType.choice:
            if str(value) not in definition.choices:
                raise Invalid("must be one of %(choices)s", field=name, choices=", ".join(definition.choices))
            return str(value)
    except (TypeError, ValueError) as exc:
        raise _not_a_valid(kind, value, name) from exc
    raise Invalid("unknown field type", field=name)


def _not_a_valid(kind: FieldType, value: Any, name: str) -> Invalid:
    """A value that is not of the field's type: one message per type, so that each can be translated."""
    if kind == FieldType.number:
        return Invalid("not a valid number: %(value)r", field=name, value=value)
    if kind == FieldType.date:
        return Invalid("not a valid date: %(value)r", field=name, value=value)
    if kind == FieldType.boolean:
        return Invalid("not a valid boolean: %(value)r", field=name, value=value)
    return Invalid("not a valid %(kind)s: %(value)r", field=name, kind=kind.value, value=value)
