"""Forwarding a conversation by email (API and page) and the email side of its messages (send status)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from helpline.channels.email import sending
from helpline.channels.email.models import EmailKind, EmailMessage, SendStatus
from helpline.conversations import service as conversations
from helpline.conversations.pages import thread_fragment
from helpline.conversations.routes import message_reads
from helpline.conversations.schemas import MessageRead
from helpline.web.deps import Ctx, api_context, page_context

router = APIRouter(prefix="/api/v1", tags=["email"])
pages = APIRouter(include_in_schema=False)


class ForwardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1, max_length=sending.MAX_RECIPIENTS, description="Third-party addresses")
    note: str = Field(default="", max_length=sending.MAX_NOTE_CHARS, description="Written above the transcript")


class EmailRead(BaseModel):
    """The email side of a conversation message: addresses, threading ids and delivery."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: int
    mailbox_id: int | None
    direction: str
    kind: EmailKind = Field(description="message (a customer's mail or an agent's reply), forward, or auto_ack")
    rfc_message_id: str
    in_reply_to: str
    references: list[str]
    from_address: str
    from_name: str
    to_addresses: list[str]
    cc_addresses: list[str]
    bcc_addresses: list[str]
    subject: str
    send_status: SendStatus | None
    send_error: str
    sent_at: datetime | None
    created_at: datetime


@router.post(
    "/conversations/{conversation_id}/forward", response_model=MessageRead, status_code=status.HTTP_201_CREATED
)
async def forward(conversation_id: int, body: ForwardRequest, ctx: Ctx = Depends(api_context)) -> MessageRead:
    """Email the conversation (messages and attachments, no internal notes) to a third party."""
    async with ctx.transaction() as session:
        note = await sending.forward_conversation(session, ctx.actor, conversation_id, body.to, body.note)
        return (await message_reads(session, [note]))[0]


@router.get("/conversations/{conversation_id}/emails", response_model=list[EmailRead])
async def emails(conversation_id: int, ctx: Ctx = Depends(api_context)) -> list[EmailRead]:
    """Every email of the conversation, in and out, with the send status and the relay's answer."""
    async with ctx.read() as session:
        await conversations.get_conversation(session=session, actor=ctx.actor, conversation_id=conversation_id)
        rows = await session.scalars(
            select(EmailMessage)
            .where(EmailMessage.conversation_id == conversation_id, EmailMessage.tenant_id == ctx.actor.tenant_id)
            .order_by(EmailMessage.id)
        )
        return [EmailRead.model_validate(r) for r in rows]


@pages.post("/conversations/{conversation_id}/forward")
async def forward_page(
    conversation_id: int,
    request: Request,
    to: str = Form("", max_length=10_000),
    note: str = Form("", max_length=sending.MAX_NOTE_CHARS),
    ctx: Ctx = Depends(page_context),
) -> Response:
    async with ctx.transaction() as session:
        await sending.forward_conversation(session, ctx.actor, conversation_id, sending.split_addresses(to), note)
    return await thread_fragment(conversation_id, request, ctx)
