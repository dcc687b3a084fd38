"""REST API for support mailboxes: /api/v1/mailboxes. Admins only (the service checks)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from helpline.channels.email import service
from helpline.channels.email.schemas import (
    CheckRead,
    MailboxCheckRead,
    MailboxCreate,
    MailboxRead,
    MailboxUpdate,
)
from helpline.web.deps import Ctx, api_context

router = APIRouter(prefix="/api/v1/mailboxes", tags=["mailboxes"])


@router.get("", response_model=list[MailboxRead])
async def list_mailboxes(ctx: Ctx = Depends(api_context)) -> list[MailboxRead]:
    async with ctx.read() as session:
        return [MailboxRead.of(m) for m in await service.list_mailboxes(session=session, actor=ctx.actor)]


@router.post("", response_model=MailboxRead, status_code=status.HTTP_201_CREATED)
async def create_mailbox(body: MailboxCreate, ctx: Ctx = Depends(api_context)) -> MailboxRead:
    async with ctx.transaction() as session:
        mailbox = await service.create_mailbox(
            session=session, actor=ctx.actor, secret_key=ctx.runtime.settings.secret_key, values=body.values()
        )
        return MailboxRead.of(mailbox)


@router.get("/{mailbox_id}", response_model=MailboxRead)
async def get_mailbox(mailbox_id: int, ctx: Ctx = Depends(api_context)) -> MailboxRead:
    async with ctx.read() as session:
        return MailboxRead.of(await service.get_mailbox(session=session, actor=ctx.actor, mailbox_id=mailbox_id))


@router.patch("/{mailbox_id}", response_model=MailboxRead)
async def update_mailbox(mailbox_id: int, body: MailboxUpdate, ctx: Ctx = Depends(api_context)) -> MailboxRead:
    async with ctx.transaction() as session:
        mailbox = await service.update_mailbox(
            session=session, actor=ctx.actor, secret_key=ctx.runtime.settings.secret_key,
            mailbox_id=mailbox_id, changes=body.changes(),
        )
        return MailboxRead.of(mailbox)


@router.delete("/{mailbox_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_mailbox(mailbox_id: int, ctx: Ctx = Depends(api_context)) -> None:
    async with ctx.transaction() as session:
        await service.delete_mailbox(session=session, actor=ctx.actor, mailbox_id=mailbox_id)


@router.post("/{mailbox_id}/check", response_model=MailboxCheckRead)
async def check_mailbox(mailbox_id: int, ctx: Ctx = Depends(api_context)) -> MailboxCheckRead:
    """Test connection: logs in to the IMAP server (when used) and the SMTP relay.

    A failed login is an answer (``ok: false`` with the reason), not an error.
    """
    async with ctx.read() as session:
        mailbox = await service.get_mailbox(session=session, actor=ctx.actor, mailbox_id=mailbox_id)
        session.expunge(mailbox)  # the network talk below happens outside the session
    result = await service.check_mailbox(ctx.runtime.settings, mailbox)
    imap, smtp = result.imap, result.smtp
    return MailboxCheckRead(
        imap=CheckRead(ok=imap.ok, message=imap.message) if imap else None,
        smtp=CheckRead(ok=smtp.ok, message=smtp.message),
    )
