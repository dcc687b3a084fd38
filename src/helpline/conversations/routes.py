"""REST API: /api/v1/conversations (messages, notes, timeline, merge, links), tags, search, attachments."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status
from fastapi.responses import FileResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.channels.outbound import Recipients
from helpline.conversations import service
from helpline.conversations.models import Conversation, Direction, Message, Priority, Status
from helpline.conversations.schemas import (
    AttachmentRead,
    ConversationCreate,
    ConversationDetail,
    ConversationPage,
    ConversationRead,
    ConversationUpdate,
    LinkRequest,
    MergeRequest,
    MessageCreate,
    MessageRead,
    NoteCreate,
    SearchContactHit,
    SearchConversationHit,
    SearchResponse,
    TagRead,
    TimelineRead,
)
from helpline.errors import Invalid
from helpline.storage import StoredFile
from helpline.web.deps import Ctx, api_context

router = APIRouter(prefix="/api/v1", tags=["conversations"])


async def message_reads(session: AsyncSession, messages: list[Message]) -> list[MessageRead]:
    attachments = await service.attachments_of(session, [m.id for m in messages])
    out = []
    for message in messages:
        read = MessageRead.model_validate(message)
        read.attachments = [
            AttachmentRead(
                id=a.id,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                url=f"/api/v1/attachments/{a.id}",
            )
            for a in attachments[message.id]
        ]
        out.append(read)
    return out


async def conversation_detail(
    session: AsyncSession, ctx: Ctx, conversation: Conversation
) -> ConversationDetail:
    messages = await service.messages_of(session=session, actor=ctx.actor, conversation_id=conversation.id)
    detail = ConversationDetail.model_validate(conversation)
    detail.messages = await message_reads(session, messages)
    return detail


@router.get("/conversations", response_model=ConversationPage)
async def list_conversations(
    view: str = Query("all", max_length=40, description="mine | unassigned | all_open | all | team:<id>"),
    status_: list[Status] = Query(default_factory=list, alias="status"),
    priority: list[Priority] = Query(default_factory=list),
    channel: str | None = Query(None, max_length=32),
    tag: str | None = Query(None, max_length=64),
    assignee_id: int | None = None,
    team_id: int | None = None,
    contact_id: int | None = None,
    sort: str = Query("activity_desc", max_length=20),
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=200),
    ctx: Ctx = Depends(api_context),
) -> ConversationPage:
    flt = service.ConversationFilter(
        view=view,
        status=status_,
        priority=priority,
        channel=channel,
        tag=tag,
        assignee_id=assignee_id,
        team_id=team_id,
        contact_id=contact_id,
        sort=sort,
    )
    async with ctx.read() as session:
        page = await service.list_conversations(
            session=session, actor=ctx.actor, flt=flt, cursor=cursor, limit=limit
        )
    return ConversationPage(
        items=[ConversationRead.model_validate(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.post("/conversations", response_model=ConversationDetail, status_code=status.HTTP_201_CREATED)
async def create_conversation(
    body: ConversationCreate, ctx: Ctx = Depends(api_context)
) -> ConversationDetail:
    message = (
        service.NewMessage(
            body_text=body.message.body,
            body_html=body.message.html or "",
            external_id=body.message.external_id,
        )
        if body.message
        else None
    )
    contact: service.ContactDetails | int
    if body.contact_id is not None:
        contact = body.contact_id
    else:
        assert body.contact is not None
        contact = service.ContactDetails(
            email=body.contact.email,
            phone=body.contact.phone,
            name=body.contact.name,
            language=body.contact.language,
        )
    async with ctx.transaction() as session:
        conversation = await service.start_conversation(
            session=session,
            actor=ctx.actor,
            contact=contact,
            channel=body.channel,
            subject=body.subject,
            message=message,
            direction=body.direction,
            priority=body.priority,
            team_id=body.team_id,
            assignee_id=body.assignee_id,
            tags=body.tags,
        )
        # What was just written is in the session already: no second read under the write lock.
        messages = service.messages_in_session(session, conversation.id)
    detail = ConversationDetail.model_validate(conversation)
    detail.messages = [MessageRead.model_validate(m) for m in messages]  # JSON intake has no attachments
    # A ready response: FastAPI would otherwise validate and serialise the model a second time.
    return Response(detail.model_dump_json(), status_code=201, media_type="application/json")  # type: ignore[return-value]


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
async def get_conversation(conversation_id: int, ctx: Ctx = Depends(api_context)) -> ConversationDetail:
    async with ctx.read() as session:
        conversation = await service.get_conversation(
            session=session, actor=ctx.actor, conversation_id=conversation_id
        )
        return await conversation_detail(session, ctx, conversation)


@router.patch("/conversations/{conversation_id}", response_model=ConversationRead)
async def update_conversation(
    conversation_id: int, body: ConversationUpdate, ctx: Ctx = Depends(api_context)
) -> ConversationRead:
    async with ctx.transaction() as session:
        conversation = await service.update_conversation(
            session=session,
            actor=ctx.actor,
            conversation_id=conversation_id,
            changes=body.model_dump(exclude_unset=True),
        )
    return ConversationRead.model_validate(conversation)


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageRead])
async def list_messages(conversation_id: int, ctx: Ctx = Depends(api_context)) -> list[MessageRead]:
    async with ctx.read() as session:
        messages = await service.messages_of(
            session=session, actor=ctx.actor, conversation_id=conversation_id
        )
        return await message_reads(session, messages)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageRead,
    status_code=status.HTTP_201_CREATED,
)
async def add_message(
    conversation_id: int, body: MessageCreate, ctx: Ctx = Depends(api_context)
) -> MessageRead:
    async with ctx.transaction() as session:
        message = await service.add_message(
            session=session,
            actor=ctx.actor,
            conversation_id=conversation_id,
            direction=body.direction,
            message=service.NewMessage(
                body_text=body.body,
                body_html=body.html or "",
                external_id=body.external_id,
                recipients=Recipients(cc=tuple(body.cc), bcc=tuple(body.bcc)),
            ),
            status_after=body.status,
        )
    return MessageRead.model_validate(message)  # a JSON reply has no attachments to look up


@router.post(
    "/conversations/{conversation_id}/messages/upload",
    response_model=MessageRead,
    status_code=status.HTTP_201_CREATED,
)
async def add_message_with_files(
    conversation_id: int,
    body: str = Form("", max_length=100_000),
    direction: Direction = Form(Direction.outbound),
    cc: str = Form("", max_length=20_000, description="Email replies: addresses separated by commas"),
    bcc: str = Form("", max_length=20_000, description="Email replies: addresses separated by commas"),
    files: list[UploadFile] = File(default_factory=list),
    ctx: Ctx = Depends(api_context),
) -> MessageRead:
    stored = await store_uploads(ctx, files)
    async with ctx.transaction() as session:
        message = await service.add_message(
            session=session,
            actor=ctx.actor,
            conversation_id=conversation_id,
            direction=direction,
            message=service.NewMessage(
                body_text=body, attachments=stored, recipients=typed_recipients(cc, bcc)
            ),
        )
        return (await message_reads(session, [message]))[0]


def typed_recipients(cc: str, bcc: str) -> Recipients:
    """CC and BCC as typed into one form field each, separated by commas or semicolons."""

    def split(text: str) -> tuple[str, ...]:
        return tuple(part for part in re.split(r"[,;]", text or "") if part.strip())

    return Recipients(cc=split(cc), bcc=split(bcc))


async def store_uploads(ctx: Ctx, files: list[UploadFile]) -> list[StoredFile]:
    stored = []
    for upload in files:
        if not upload.filename:
            continue
        data = await upload.read(ctx.runtime.store.max_bytes + 1)
        stored.append(
            ctx.runtime.store.put(
                tenant_id=ctx.actor.tenant_id,
                data=data,
                filename=upload.filename,
                content_type=upload.content_type or "application/octet-stream",
            )
        )
    return stored


@router.post(
    "/conversations/{conversation_id}/notes", response_model=MessageRead, status_code=status.HTTP_201_CREATED
)
async def add_note(conversation_id: int, body: NoteCreate, ctx: Ctx = Depends(api_context)) -> MessageRead:
    async with ctx.transaction() as session:
        message = await service.add_message(
            session=session,
            actor=ctx.actor,
            conversation_id=conversation_id,
            direction=Direction.note,
            message=service.NewMessage(body_text=body.body),
        )
        return (await message_reads(session, [message]))[0]


@router.get("/conversations/{conversation_id}/timeline", response_model=list[TimelineRead])
async def timeline(conversation_id: int, ctx: Ctx = Depends(api_context)) -> list[TimelineRead]:
    async with ctx.read() as session:
        events = await service.timeline_of(session=session, actor=ctx.actor, conversation_id=conversation_id)
    return [TimelineRead.model_validate(e) for e in events]


@router.post("/conversations/{conversation_id}/merge", response_model=ConversationDetail)
async def merge(
    conversation_id: int, body: MergeRequest, ctx: Ctx = Depends(api_context)
) -> ConversationDetail:
    async with ctx.transaction() as session:
        survivor = await service.merge_conversations(
            session=session, actor=ctx.actor, survivor_id=conversation_id, merged_id=body.merged_id
        )
        return await conversation_detail(session, ctx, survivor)


@router.post(
    "/conversations/{conversation_id}/links",
    response_model=list[ConversationRead],
    status_code=status.HTTP_201_CREATED,
)
async def link(
    conversation_id: int, body: LinkRequest, ctx: Ctx = Depends(api_context)
) -> list[ConversationRead]:
    async with ctx.transaction() as session:
        await service.link_follow_up(
            session=session,
            actor=ctx.actor,
            conversation_id=conversation_id,
            follows_up_id=body.follows_up_id,
        )
        linked = await service.links_of(session=session, actor=ctx.actor, conversation_id=conversation_id)
        return [ConversationRead.model_validate(c) for c in linked]


@router.get("/conversations/{conversation_id}/links", response_model=list[ConversationRead])
async def links(conversation_id: int, ctx: Ctx = Depends(api_context)) -> list[ConversationRead]:
    async with ctx.read() as session:
        linked = await service.links_of(session=session, actor=ctx.actor, conversation_id=conversation_id)
    return [ConversationRead.model_validate(c) for c in linked]


@router.get("/tags", response_model=list[TagRead])
async def tags(ctx: Ctx = Depends(api_context)) -> list[TagRead]:
    async with ctx.read() as session:
        return [TagRead.model_validate(t) for t in await service.list_tags(session=session, actor=ctx.actor)]


@router.get("/search", response_model=SearchResponse)
async def search(
    q: str = Query(..., max_length=500), limit: int = Query(20, ge=1, le=100), ctx: Ctx = Depends(api_context)
) -> SearchResponse:
    async with ctx.read() as session:
        results = await service.search(session=session, actor=ctx.actor, query=q, limit=limit)
    return SearchResponse(
        query=q,
        conversations=[
            SearchConversationHit(conversation=ConversationRead.model_validate(c), snippet=h.snippet)
            for c, h in results.conversations
        ],
        contacts=[SearchContactHit(id=c.id, name=c.name, snippet=h.snippet) for c, h in results.contacts],
    )


@router.get("/attachments/{attachment_id}", response_class=FileResponse)
async def download_attachment(attachment_id: int, ctx: Ctx = Depends(api_context)) -> FileResponse:
    return await attachment_response(ctx, attachment_id)


async def attachment_response(ctx: Ctx, attachment_id: int) -> FileResponse:
    """Always a download, never rendered inline: an uploaded file must not run as a page of ours."""
    async with ctx.read() as session:
        attachment = await service.get_attachment(
            session=session, actor=ctx.actor, attachment_id=attachment_id
        )
    path = ctx.runtime.store.path(attachment.storage_key)
    if not path.exists():
        raise Invalid("the file is missing from storage", field="attachment_id")
    return FileResponse(
        path,
        media_type=attachment.content_type,
        filename=attachment.filename,
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )
