"""Scale-out: two app processes on one PostgreSQL database, one mailbox: exactly one polls it
(advisory lock per mailbox), and the other takes over when the first goes away."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from helpline.app import create_app
from helpline.config import Settings
from helpline.db import Database
from tests.channels.email.dovecot import Dovecot, dovecot_server  # noqa: F401  (the `dovecot` fixture)
from tests.channels.email.test_imap import (
    all_imported,
    connect_mailbox,
    conversations_of,
    german_qp,
    wait_for,
    with_attachment,
)
from tests.conftest import PG_URL, Person

pytestmark = pytest.mark.scaleout


def polling(app: Any, mailbox_id: int) -> bool:
    poller = app.state.runtime.imap.pollers.get(mailbox_id)
    return poller is not None and poller.polling


async def test_one_process_polls_a_mailbox_and_another_takes_over(
    db: Database, admin: Person, settings: Settings, dovecot: Dovecot
) -> None:
    if not PG_URL:
        pytest.fail("the IMAP scale-out test needs PostgreSQL: set HELPLINE_TEST_DATABASE_URL (make test does)")
    settings = replace(settings, imap_poll_seconds=60)
    first, second = create_app(settings), create_app(settings)
    first_life, second_life = first.router.lifespan_context(first), second.router.lifespan_context(second)
    await first_life.__aenter__()
    try:
        mailbox_id = await connect_mailbox(first, admin, settings, dovecot)
        dovecot.append(german_qp())
        await wait_for(all_imported(dovecot, 1), "the first process to import the first mail")
        assert polling(first, mailbox_id)

        await second_life.__aenter__()
        await second.state.runtime.imap.reload()  # no Redis here: it would hear of the mailbox by its timer
        await asyncio.sleep(1.0)
        assert second.state.runtime.imap.pollers[mailbox_id] is not None
        assert not polling(second, mailbox_id), "two processes poll the same mailbox"
    finally:
        await first_life.__aexit__(None, None, None)  # the first process goes away (its lock with it)
    try:
        await wait_for(lambda: _now(polling(second, mailbox_id)), "the second process to take over", 25.0)
        dovecot.append(with_attachment())
        await wait_for(all_imported(dovecot, 2), "the mail after the take-over")
    finally:
        await second_life.__aexit__(None, None, None)
    assert len(await conversations_of(db, admin.tenant_id)) == 2


async def _now(value: bool) -> bool:
    return value
