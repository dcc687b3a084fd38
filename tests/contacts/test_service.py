"""The CRM service: identities, custom fields and merging, as channels and other domains use it."""

from __future__ import annotations

import pytest

from helpline.channels.intake import InboundMessage, receive
from helpline.contacts import service as contacts
from helpline.contacts.models import FieldEntity, FieldType, IdentityKind
from helpline.conversations import service as conversations
from helpline.conversations.service import ContactDetails
from helpline.db import Database
from helpline.errors import Conflict, Invalid, NotFound, PermissionDenied
from tests.conftest import Person


async def new_contact(db: Database, person: Person, name: str, *identities: tuple[IdentityKind, str]) -> int:
    async with db.transaction() as session:
        contact = await contacts.create_contact(session=session, actor=person.actor, name=name,
                                                identities=list(identities))
        return contact.id


async def inbound_email(db: Database, person: Person, email: str, subject: str, channel: str = "email") -> int:
    conversation = await receive(db, InboundMessage(tenant_id=person.tenant_id, channel=channel,
                                                    contact=ContactDetails(email=email), subject=subject,
                                                    body_text=f"About {subject}"))
    return conversation.id


@pytest.mark.parametrize(("typed", "stored"), [
    ("+36 30 123 4567", "+36301234567"),
    ("+49 (30) 901820", "+4930901820"),
    ("  +43 1 53422  ", "+43153422"),
])
async def test_phone_numbers_are_stored_in_e164(db: Database, admin: Person, typed: str, stored: str):
    contact_id = await new_contact(db, admin, "Phone", (IdentityKind.phone, typed))
    async with db.read() as session:
        identities = (await contacts.identities_of(session, [contact_id]))[contact_id]
    assert [i.value for i in identities] == [stored]


async def test_a_phone_number_finds_its_contact_however_it_is_written(db: Database, admin: Person):
    contact_id = await new_contact(db, admin, "Kovács Anna", (IdentityKind.phone, "+36 30 123 4567"))
    async with db.read() as session:
        found = await contacts.find_by_identity(session=session, tenant_id=admin.tenant_id,
                                                kind=IdentityKind.phone, value="+36-30-123-45-67")
    assert found is not None and found.id == contact_id


@pytest.mark.parametrize("number", ["06 30 123 4567", "+36 12", "call me", ""])
async def test_invalid_phone_is_refused_naming_the_field(db: Database, admin: Person, number: str):
    with pytest.raises(Invalid) as caught:
        await new_contact(db, admin, "Bad phone", (IdentityKind.phone, number))
    assert caught.value.field == "identities.phone"


async def test_an_address_belongs_to_one_contact_only(db: Database, admin: Person):
    first = await new_contact(db, admin, "First", (IdentityKind.email, "same@example.com"))
    with pytest.raises(Conflict) as caught:
        await new_contact(db, admin, "Second", (IdentityKind.email, "SAME@example.com"))
    assert caught.value.field == "identities.email" and f"#{first}" in caught.value.message


async def test_other_tenants_may_know_the_same_address(db: Database, admin: Person, other_tenant_admin: Person):
    ours = await new_contact(db, admin, "Ours", (IdentityKind.email, "same@example.com"))
    theirs = await new_contact(db, other_tenant_admin, "Theirs", (IdentityKind.email, "same@example.com"))
    assert ours != theirs


async def test_contact_without_name_is_named_after_its_first_address(db: Database, admin: Person):
    contact_id = await new_contact(db, admin, "", (IdentityKind.email, "klaus@example.de"))
    async with db.read() as session:
        assert (await contacts.get_contact(session=session, actor=admin.actor, contact_id=contact_id)).name == \
            "klaus@example.de"


async def test_find_or_create_attaches_a_known_address_and_fills_in_a_missing_name(db: Database, admin: Person):
    known = await new_contact(db, admin, "", (IdentityKind.telegram, "anna_k"))
    async with db.transaction() as session:
        found = await contacts.find_or_create_by_identity(session=session, actor=admin.actor,
                                                          kind=IdentityKind.telegram, value="anna_k", name="Anna K")
        assert found.id == known
        new = await contacts.find_or_create_by_identity(session=session, actor=admin.actor,
                                                        kind=IdentityKind.telegram, value="bela_b", name="Béla")
    assert new.id != known and new.name == "Béla"


async def test_agent_cannot_define_custom_fields(db: Database, agent: Person):
    with pytest.raises(PermissionDenied):
        async with db.transaction() as session:
            await contacts.define_custom_field(session=session, actor=agent.actor, entity=FieldEntity.contact,
                                               key="vip", label="VIP", field_type=FieldType.boolean)


@pytest.mark.parametrize(("key", "choices", "field"), [
    ("Customer No", [], "key"), ("1st", [], "key"), ("tier", [" ", ""], "choices")])
async def test_bad_field_definitions_are_refused(db: Database, admin: Person, key: str, choices: list[str],
                                                 field: str):
    with pytest.raises(Invalid) as caught:
        async with db.transaction() as session:
            await contacts.define_custom_field(session=session, actor=admin.actor, entity=FieldEntity.contact,
                                               key=key, label="Label", field_type=FieldType.choice,
                                               choices=choices)
    assert caught.value.field == field


async def test_custom_field_values_are_typed(db: Database, admin: Person):
    async with db.transaction() as session:
        for key, kind in [("orders", FieldType.number), ("since", FieldType.date), ("vip", FieldType.boolean),
                          ("score", FieldType.number)]:
            await contacts.define_custom_field(session=session, actor=admin.actor, entity=FieldEntity.contact,
                                               key=key, label=key.title(), field_type=kind)
        contact = await contacts.create_contact(
            session=session, actor=admin.actor, name="Typed",
            custom_fields={"orders": "12", "since": "2024-03-01", "vip": "yes", "score": "4.5"})
    assert contact.custom_fields == {"orders": 12, "since": "2024-03-01", "vip": True, "score": 4.5}


async def test_an_empty_value_clears_a_custom_field(db: Database, admin: Person):
    async with db.transaction() as session:
        await contacts.define_custom_field(session=session, actor=admin.actor, entity=FieldEntity.contact,
                                           key="orders", label="Orders", field_type=FieldType.number)
        contact = await contacts.create_contact(session=session, actor=admin.actor, custom_fields={"orders": 3})
    async with db.transaction() as session:
        updated = await contacts.update_contact(session=session, actor=admin.actor, contact_id=contact.id,
                                                changes={"custom_fields": {"orders": ""}})
    assert updated.custom_fields == {}


async def test_contact_fields_are_not_organisation_fields(db: Database, admin: Person):
    async with db.transaction() as session:
        await contacts.define_custom_field(session=session, actor=admin.actor, entity=FieldEntity.organisation,
                                           key="tier", label="Tier", field_type=FieldType.text)
    with pytest.raises(Invalid) as caught:
        async with db.transaction() as session:
            await contacts.create_contact(session=session, actor=admin.actor, custom_fields={"tier": "gold"})
    assert caught.value.field == "custom_fields.tier"


async def test_other_tenants_custom_fields_do_not_apply(db: Database, admin: Person, other_tenant_admin: Person):
    async with db.transaction() as session:
        await contacts.define_custom_field(session=session, actor=other_tenant_admin.actor,
                                           entity=FieldEntity.contact, key="vip", label="VIP",
                                           field_type=FieldType.boolean)
    with pytest.raises(Invalid):
        async with db.transaction() as session:
            await contacts.create_contact(session=session, actor=admin.actor, custom_fields={"vip": True})


async def test_deleting_a_field_does_not_block_editing_other_fields(db: Database, admin: Person):
    async with db.transaction() as session:
        old = await contacts.define_custom_field(session=session, actor=admin.actor, entity=FieldEntity.contact,
                                                 key="legacy_id", label="Legacy id", field_type=FieldType.text)
        await contacts.define_custom_field(session=session, actor=admin.actor, entity=FieldEntity.contact,
                                           key="orders", label="Orders", field_type=FieldType.number)
        contact = await contacts.create_contact(session=session, actor=admin.actor, name="Old customer",
                                                custom_fields={"legacy_id": "A-17"})
    async with db.transaction() as session:
        await contacts.delete_custom_field(session=session, actor=admin.actor, field_id=old.id)
    async with db.transaction() as session:
        updated = await contacts.update_contact(session=session, actor=admin.actor, contact_id=contact.id,
                                                changes={"custom_fields": {"orders": 2}})
    assert updated.custom_fields["orders"] == 2


async def test_merge_moves_identities_and_conversations_to_the_survivor(db: Database, admin: Person):
    survivor = await new_contact(db, admin, "Klaus Kunde", (IdentityKind.email, "klaus@example.de"))
    merged = await new_contact(db, admin, "K. Kunde", (IdentityKind.email, "k.kunde@work.example"),
                               (IdentityKind.phone, "+49 30 901820"))
    old_case = await inbound_email(db, admin, "k.kunde@work.example", "Lieferung")
    async with db.transaction() as session:
        await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=survivor, merged_id=merged)
    async with db.read() as session:
        identities = (await contacts.identities_of(session, [survivor, merged]))
        gone = await contacts.get_contact(session=session, actor=admin.actor, contact_id=merged)
        moved = await conversations.get_conversation(session=session, actor=admin.actor, conversation_id=old_case)
    assert sorted(i.value for i in identities[survivor]) == ["+4930901820", "k.kunde@work.example",
                                                             "klaus@example.de"]
    assert identities[merged] == []
    assert gone.merged_into_id == survivor
    assert moved.contact_id == survivor


async def test_mail_from_a_merged_contacts_address_lands_with_the_survivor(db: Database, admin: Person):
    survivor = await new_contact(db, admin, "Klaus Kunde", (IdentityKind.email, "klaus@example.de"))
    merged = await new_contact(db, admin, "K. Kunde", (IdentityKind.email, "k.kunde@work.example"))
    async with db.transaction() as session:
        await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=survivor, merged_id=merged)
    later = await inbound_email(db, admin, "K.Kunde@work.example", "Noch eine Frage")
    async with db.read() as session:
        conversation = await conversations.get_conversation(session=session, actor=admin.actor,
                                                            conversation_id=later)
    assert conversation.contact_id == survivor


async def test_merge_keeps_the_survivors_details_and_fills_the_gaps(db: Database, admin: Person):
    async with db.transaction() as session:
        await contacts.define_custom_field(session=session, actor=admin.actor, entity=FieldEntity.contact,
                                           key="orders", label="Orders", field_type=FieldType.number)
        await contacts.define_custom_field(session=session, actor=admin.actor, entity=FieldEntity.contact,
                                           key="vip", label="VIP", field_type=FieldType.boolean)
        survivor = await contacts.create_contact(session=session, actor=admin.actor, name="Klaus",
                                                 notes="Prefers email.", custom_fields={"orders": 5})
        merged = await contacts.create_contact(session=session, actor=admin.actor, name="K.", language="de",
                                               notes="Called twice.", custom_fields={"orders": 1, "vip": True})
    async with db.transaction() as session:
        result = await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=survivor.id,
                                               merged_id=merged.id)
    assert result.name == "Klaus" and result.language == "de"
    assert result.custom_fields == {"orders": 5, "vip": True}
    assert "Prefers email." in result.notes and "Called twice." in result.notes


async def test_merging_twice_or_into_itself_is_refused(db: Database, admin: Person):
    a = await new_contact(db, admin, "A", (IdentityKind.email, "a@example.com"))
    b = await new_contact(db, admin, "B", (IdentityKind.email, "b@example.com"))
    with pytest.raises(Invalid):
        async with db.transaction() as session:
            await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=a, merged_id=a)
    async with db.transaction() as session:
        await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=a, merged_id=b)
    with pytest.raises(Conflict):
        async with db.transaction() as session:
            await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=a, merged_id=b)


async def test_merging_into_a_contact_that_was_merged_away_is_refused(db: Database, admin: Person):
    a = await new_contact(db, admin, "A", (IdentityKind.email, "a@example.com"))
    b = await new_contact(db, admin, "B", (IdentityKind.email, "b@example.com"))
    async with db.transaction() as session:
        await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=a, merged_id=b)
    with pytest.raises(Conflict) as caught:
        async with db.transaction() as session:  # b is gone; merging a into b would make a loop
            await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=b, merged_id=a)
    assert caught.value.field == "contact_id"
    async with db.read() as session:
        assert (await contacts.get_contact(session=session, actor=admin.actor, contact_id=a)).merged_into_id is None


async def test_other_tenants_contact_cannot_be_merged(db: Database, admin: Person, other_tenant_admin: Person):
    ours = await new_contact(db, admin, "Ours", (IdentityKind.email, "ours@example.com"))
    theirs = await new_contact(db, other_tenant_admin, "Theirs", (IdentityKind.email, "theirs@example.com"))
    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=ours, merged_id=theirs)


async def test_merged_contacts_leave_the_contact_list(db: Database, admin: Person):
    a = await new_contact(db, admin, "A", (IdentityKind.email, "a@example.com"))
    b = await new_contact(db, admin, "B", (IdentityKind.email, "b@example.com"))
    async with db.transaction() as session:
        await contacts.merge_contacts(session=session, actor=admin.actor, survivor_id=a, merged_id=b)
    async with db.read() as session:
        listed = await contacts.list_contacts(session=session, actor=admin.actor)
    assert [c.id for c in listed] == [a]


async def test_identity_of_another_contact_cannot_be_removed_through_this_one(db: Database, admin: Person):
    a = await new_contact(db, admin, "A", (IdentityKind.email, "a@example.com"))
    b = await new_contact(db, admin, "B", (IdentityKind.email, "b@example.com"))
    async with db.read() as session:
        b_identity = (await contacts.identities_of(session, [b]))[b][0]
    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await contacts.remove_identity(session=session, actor=admin.actor, contact_id=a,
                                           identity_id=b_identity.id)
