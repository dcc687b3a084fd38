"""Agent workspace pages: inbox, conversation, search — and the htmx fragments they refresh live."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from helpline.accounts import service as accounts
from helpline.app import CSP
from helpline.channels.chat.service import visitor_panel_for
from helpline.channels.email import display as email_display
from helpline.channels.outbound import Recipients
from helpline.contacts import service as contacts
from helpline.contacts.models import FieldEntity
from helpline.conversations import service
from helpline.conversations.models import Conversation, Direction, Priority, Status
from helpline.conversations.routes import attachment_response, store_uploads, typed_recipients
from helpline.errors import DomainError, Invalid
from helpline.web.deps import Ctx, page_context
from helpline.web.pages import error_text, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
EMAIL_PAGE_CSP = CSP.replace("img-src 'self' data:", email_display.EMAIL_IMG_SRC)


def _filter_from(request: Request, ctx: Ctx) -> service.ConversationFilter:
    params = request.query_params
    view = params.get("view") or "all_open"
    statuses = [Status(s) for s in params.getlist("status") if s in Status.__members__]
    priorities = [Priority(p) for p in params.getlist("priority") if p in Priority.__members__]
    sort = params.get("sort") or "activity_desc"
    if sort not in service.SORTS:
        sort = "activity_desc"
    return service.ConversationFilter(
        view=view,
        status=statuses,
        priority=priorities,
        channel=params.get("channel") or None,
        tag=params.get("tag") or None,
        sort=sort,
    )


def _query(flt: service.ConversationFilter) -> str:
    pairs: list[tuple[str, str]] = [("view", flt.view), ("sort", flt.sort)]
    pairs += [("status", s.value) for s in flt.status] + [("priority", p.value) for p in flt.priority]
    if flt.channel:
        pairs.append(("channel", flt.channel))
    if flt.tag:
        pairs.append(("tag", flt.tag))
    return urlencode(pairs)


async def _rows_context(
    session: AsyncSession, ctx: Ctx, flt: service.ConversationFilter, cursor: str | None
) -> dict[str, Any]:
    page = await service.list_conversations(
        session=session, actor=ctx.actor, flt=flt, cursor=cursor, limit=PAGE_SIZE
    )
    contact_ids = list({c.contact_id for c in page.items})
    from sqlalchemy import select

    from helpline.contacts.models import Contact

    names = (
        dict(
            (await session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(contact_ids)))).all()
        )
        if contact_ids
        else {}
    )
    users = {
        u.id: u for u in await accounts.list_users(session=session, actor=ctx.actor, include_inactive=True)
    }
    return {
        "conversations": page.items,
        "next_cursor": page.next_cursor,
        "contact_names": names,
        "users": users,
        "query": _query(flt),
        "flt": flt,
    }


@router.get("/inbox")
async def inbox(request: Request, cursor: str | None = None, ctx: Ctx = Depends(page_context)) -> Response:
    flt = _filter_from(request, ctx)
    async with ctx.read() as session:
        try:
            rows = await _rows_context(session, ctx, flt, cursor)
        except Invalid:
            return RedirectResponse("/inbox", status_code=303)
        teams = await accounts.list_teams(session=session, actor=ctx.actor)
    titles = _view_titles(ctx, teams)
    return render(
        request,
        "conversations/inbox.html",
        ctx=ctx,
        view=flt.view,
        title=titles.get(flt.view, ""),
        teams=teams,
        statuses=list(Status),
        priorities=list(Priority),
        **rows,
    )


@router.get("/inbox/rows")
async def inbox_rows(
    request: Request, cursor: str | None = None, ctx: Ctx = Depends(page_context)
) -> Response:
    flt = _filter_from(request, ctx)
    async with ctx.read() as session:
        rows = await _rows_context(session, ctx, flt, cursor)
    return render(request, "conversations/rows.html", ctx=ctx, append=bool(cursor), **rows)


def _view_titles(ctx: Ctx, teams: list[Any]) -> dict[str, str]:
    from helpline.web.i18n import gettext_for

    _ = gettext_for(ctx.actor.language).gettext
    titles = {
        "mine": _("My conversations"),
        "unassigned": _("Unassigned"),
        "all_open": _("All open"),
        "all": _("All conversations"),
    }
    titles.update({f"team:{t.id}": t.name for t in teams})
    return titles


@router.get("/inbox/nav")
async def inbox_nav(request: Request, current: str = "", ctx: Ctx = Depends(page_context)) -> Response:
    async with ctx.read() as session:
        teams = await accounts.list_teams(session=session, actor=ctx.actor)
        counts = await service.count_views(session=session, actor=ctx.actor, team_ids=[t.id for t in teams])
    titles = _view_titles(ctx, teams)
    views = [
        (key, titles[key])
        for key in ["mine", "unassigned", "all_open", *[f"team:{t.id}" for t in teams], "all"]
    ]
    return render(request, "nav.html", ctx=ctx, views=views, counts=counts, current=current)


async def _conversation_context(
    session: AsyncSession, ctx: Ctx, conversation: Conversation, *, images_for: tuple[int, ...] = ()
) -> dict[str, Any]:
    messages = await service.messages_of(session=session, actor=ctx.actor, conversation_id=conversation.id)
    attachments = await service.attachments_of(session, [m.id for m in messages])
    # The email side of every email message in one query; remote images blocked unless asked for.
    emails = await email_display.email_views(session, messages, images_for=images_for)
    events = await service.timeline_of(session=session, actor=ctx.actor, conversation_id=conversation.id)
    users = {
        u.id: u for u in await accounts.list_users(session=session, actor=ctx.actor, include_inactive=True)
    }
    teams = await accounts.list_teams(session=session, actor=ctx.actor)
    contact = await contacts.get_contact(session=session, actor=ctx.actor, contact_id=conversation.contact_id)
    identities = (await contacts.identities_of(session, [contact.id]))[contact.id]
    organisation = (
        await contacts.get_organisation(
            session=session, actor=ctx.actor, organisation_id=contact.organisation_id
        )
        if contact.organisation_id
        else None
    )
    history = [
        c
        for c in await service.contact_timeline(
            session=session, actor=ctx.actor, contact_id=contact.id, limit=11
        )
        if c.id != conversation.id
    ][:10]
    fields = await contacts.list_custom_fields(session=session, actor=ctx.actor, entity=FieldEntity.contact)
    links = await service.links_of(session=session, actor=ctx.actor, conversation_id=conversation.id)
    # One thread: messages and the notable changes, in time order.
    items: list[tuple[Any, str, Any]] = [(m.created_at, "message", m) for m in messages]
    items += [(e.created_at, "event", e) for e in events if e.kind != "created"]
    items.sort(key=lambda item: (item[0], 0 if item[1] == "message" else 1))
    return {
        "conversation": conversation,
        "thread": items,
        "attachments": attachments,
        "emails": emails,
        "users": users,
        "teams": teams,
        "contact": contact,
        "identities": identities,
        "organisation": organisation,
        "history": history,
        "field_labels": {f.key: f.label for f in fields},
        "links": links,
        "chat_visitor": await visitor_panel_for(session, conversation),  # live chat: the visitor's pages, browser
        "statuses": list(Status),
        "priorities": list(Priority),
    }


async def _load(ctx: Ctx, conversation_id: int) -> tuple[Conversation, dict[str, Any]]:
    async with ctx.read() as session:
        conversation = await service.get_conversation(
            session=session, actor=ctx.actor, conversation_id=conversation_id
        )
        return conversation, await _conversation_context(session, ctx, conversation)


@router.get("/conversations/{conversation_id}")
async def conversation_page(
    conversation_id: int, request: Request, ctx: Ctx = Depends(page_context)
) -> Response:
    conversation, context = await _load(ctx, conversation_id)
    if conversation.merged_into_id is not None:
        return RedirectResponse(f"/conversations/{conversation.merged_into_id}", status_code=303)
    back = request.headers.get("referer", "")
    back = back if "/inbox" in back and back.startswith(str(request.base_url)) else "/inbox"
    response = render(request, "conversations/conversation.html", ctx=ctx, back=back, **context)
    # Remote images in emails are blocked by rewriting them (display.py); "Show remote images" needs the
    # browser to allow them on this page.
    response.headers["content-security-policy"] = EMAIL_PAGE_CSP
    return response


@router.get("/conversations/{conversation_id}/thread")
async def thread_fragment(
    conversation_id: int, request: Request, ctx: Ctx = Depends(page_context)
) -> Response:
    _conversation, context = await _load(ctx, conversation_id)
    return render(request, "conversations/thread.html", ctx=ctx, **context)


@router.get("/conversations/{conversation_id}/live")
async def live_fragment(conversation_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    """What the page refreshes when the conversation changed: subject, badges, thread, side panel."""
    conversation, context = await _load(ctx, conversation_id)
    if conversation.merged_into_id is not None:
        return Response(status_code=204, headers={"HX-Redirect": f"/conversations/{conversation.merged_into_id}"})
    return render(request, "conversations/live.html", ctx=ctx, **context)


@router.get("/conversations/{conversation_id}/side")
async def side_fragment(conversation_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    _conversation, context = await _load(ctx, conversation_id)
    return render(request, "conversations/side.html", ctx=ctx, **context)


@router.post("/conversations/{conversation_id}/reply")
async def reply(
    conversation_id: int,
    request: Request,
    body: str = Form("", max_length=100_000),
    status: str = Form(""),
    kind: str = Form("reply"),
    cc: str = Form("", max_length=20_000),
    bcc: str = Form("", max_length=20_000),
    files: list[UploadFile] = File(default_factory=list),
    ctx: Ctx = Depends(page_context),
) -> Response:
    stored = await store_uploads(ctx, files)
    direction = Direction.note if kind == "note" else Direction.outbound
    recipients = typed_recipients(cc, bcc) if direction == Direction.outbound else Recipients()
    async with ctx.transaction() as session:
        await service.add_message(
            session=session,
            actor=ctx.actor,
            conversation_id=conversation_id,
            direction=direction,
            message=service.NewMessage(body_text=body.strip(), attachments=stored, recipients=recipients),
            status_after=Status(status) if status in Status.__members__ else None,
        )
    return await thread_fragment(conversation_id, request, ctx)


@router.post("/conversations/{conversation_id}/properties")
async def properties(conversation_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    form = await request.form()
    changes: dict[str, Any] = {}
    if form.get("status") in Status.__members__:
        changes["status"] = form["status"]
    if form.get("priority") in Priority.__members__:
        changes["priority"] = form["priority"]
    if "assignee_id" in form:
        value = str(form["assignee_id"])
        changes["assignee_id"] = int(value) if value.isdigit() else None
    if "team_id" in form:
        value = str(form["team_id"])
        changes["team_id"] = int(value) if value.isdigit() else None
    if "tags" in form:
        changes["tags"] = [t for t in str(form["tags"]).split(",") if t.strip()]
    async with ctx.transaction() as session:
        await service.update_conversation(
            session=session, actor=ctx.actor, conversation_id=conversation_id, changes=changes
        )
    return await side_fragment(conversation_id, request, ctx)


@router.post("/conversations/{conversation_id}/assign-me")
async def assign_me(conversation_id: int, request: Request, ctx: Ctx = Depends(page_context)) -> Response:
    async with ctx.transaction() as session:
        await service.update_conversation(
            session=session,
            actor=ctx.actor,
            conversation_id=conversation_id,
            changes={"assignee_id": ctx.actor.user_id},
        )
    return await side_fragment(conversation_id, request, ctx)


async def _by_number(ctx: Ctx, value: str, field: str) -> int:
    number = value.strip().lstrip("#")
    if not number.isdigit():
        raise Invalid("give the conversation's number, like #42", field=field)
    async with ctx.read() as session:
        return (await service.get_by_number(session=session, actor=ctx.actor, number=int(number))).id


@router.post("/conversations/{conversation_id}/merge")
async def merge(
    conversation_id: int, request: Request, number: str = Form(""), ctx: Ctx = Depends(page_context)
) -> Response:
    other = await _by_number(ctx, number, "number")
    async with ctx.transaction() as session:
        await service.merge_conversations(
            session=session, actor=ctx.actor, survivor_id=conversation_id, merged_id=other
        )
    return Response(status_code=204, headers={"HX-Refresh": "true"})


@router.post("/conversations/{conversation_id}/link")
async def link(
    conversation_id: int, request: Request, number: str = Form(""), ctx: Ctx = Depends(page_context)
) -> Response:
    other = await _by_number(ctx, number, "number")
    async with ctx.transaction() as session:
        await service.link_follow_up(
            session=session, actor=ctx.actor, conversation_id=conversation_id, follows_up_id=other
        )
    return await side_fragment(conversation_id, request, ctx)


@router.get("/conversations/{conversation_id}/messages/{message_id}")
async def message_fragment(
    conversation_id: int, message_id: int, request: Request, images: bool = False, ctx: Ctx = Depends(page_context)
) -> Response:
    """One message of the thread; ``?images=1`` shows an email's remote images (for this view only)."""
    async with ctx.read() as session:
        message = await email_display.message_of(
            session=session, actor=ctx.actor, conversation_id=conversation_id, message_id=message_id
        )
        conversation = await service.get_conversation(session=session, actor=ctx.actor, conversation_id=conversation_id)
        context = await _conversation_context(
            session, ctx, conversation, images_for=(message.id,) if images else ()
        )
    return render(request, "conversations/message.html", ctx=ctx, item=message, **context)


@router.get("/conversations/{conversation_id}/messages/{message_id}/original.eml")
async def original_email(conversation_id: int, message_id: int, ctx: Ctx = Depends(page_context)) -> Response:
    """The email exactly as received (or sent): always a download, never shown by the browser."""
    async with ctx.read() as session:
        row = await email_display.raw_email(
            session=session, actor=ctx.actor, conversation_id=conversation_id, message_id=message_id
        )
    path = ctx.runtime.store.path(row.raw_key)
    if not path.exists():
        raise Invalid("the original email is missing from storage", field="message_id")
    return FileResponse(
        path,
        media_type="message/rfc822",
        filename=f"email-{message_id}.eml",
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


@router.get("/attachments/{attachment_id}")
async def attachment(attachment_id: int, ctx: Ctx = Depends(page_context)) -> Response:
    return await attachment_response(ctx, attachment_id)


@router.get("/search")
async def search_page(request: Request, q: str = "", ctx: Ctx = Depends(page_context)) -> Response:
    results = None
    error = None
    if q.strip():
        try:
            async with ctx.read() as session:
                results = await service.search(session=session, actor=ctx.actor, query=q[:500], limit=50)
        except DomainError as exc:
            error = error_text(request, exc, ctx)
    return render(request, "conversations/search.html", ctx=ctx, q=q, results=results, error=error)
