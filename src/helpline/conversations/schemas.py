"""What the conversations API speaks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, computed_field, model_validator

from helpline.conversations.models import Direction, Priority, Status


class ContactRef(BaseModel):
    """Who the conversation is with: found by email or phone, created when new."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=40)
    name: str = Field(default="", max_length=200)
    language: str | None = Field(default=None, pattern="^(en|de|hu)$")

    @model_validator(mode="after")
    def needs_an_address(self) -> ContactRef:
        if not self.email and not self.phone:
            raise ValueError("give the contact's email or phone")
        return self


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(default="", max_length=100_000)
    html: str | None = Field(default=None, max_length=200_000, description="Sanitised before it is stored")
    external_id: str | None = Field(default=None, max_length=300)


class ConversationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact: ContactRef | None = None
    contact_id: int | None = None
    subject: str = Field(default="", max_length=300)
    message: MessageIn | None = None
    channel: str = Field(default="api", pattern="^[a-z][a-z0-9_]{0,31}$")
    direction: Direction = Direction.inbound
    priority: Priority = Priority.normal
    team_id: int | None = None
    assignee_id: int | None = None
    tags: list[str] = Field(default_factory=list, max_length=30)

    @model_validator(mode="after")
    def needs_a_contact(self) -> ConversationCreate:
        if self.contact is None and self.contact_id is None:
            raise ValueError("give either contact or contact_id")
        if self.direction == Direction.note:
            raise ValueError("a conversation cannot start with an internal note")
        return self


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=300)
    status: Status | None = None
    priority: Priority | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    tags: list[str] | None = Field(default=None, max_length=30)


class MessageCreate(MessageIn):
    direction: Direction = Direction.outbound
    status: Status | None = Field(default=None, description="Set the conversation's status with this message")
    cc: list[Annotated[str, Field(max_length=320)]] = Field(
        default_factory=list, max_length=50, description="Email replies: copy to these addresses"
    )
    bcc: list[Annotated[str, Field(max_length=320)]] = Field(
        default_factory=list, max_length=50, description="Email replies: blind copy (envelope only)"
    )


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=100_000)


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    content_type: str
    size: int
    url: str = ""


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    conversation_id: int
    direction: Direction
    channel: str
    author_user_id: int | None
    author_contact_id: int | None
    body_text: str
    body_html: str
    external_id: str | None
    created_at: datetime
    # Outbound email: queued | sent | failed (the reason: GET .../emails).
    delivery_status: str | None = None
    attachments: list[AttachmentRead] = Field(default_factory=list)


class SatisfactionRead(BaseModel):
    """The customer's rating of the conversation (end of a chat); set by the customer only."""

    score: int = Field(ge=1, le=5)
    comment: str
    rated_at: datetime


class ConversationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: int
    subject: str
    status: Status
    priority: Priority
    channel: str
    language: str | None
    contact_id: int
    assignee_id: int | None
    team_id: int | None
    tags: list[str]
    merged_into_id: int | None
    message_count: int
    preview: str
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    first_response_at: datetime | None
    solved_at: datetime | None
    # Read from the table's columns, answered as one ``satisfaction`` object (read-only).
    satisfaction_score: int | None = Field(default=None, exclude=True)
    satisfaction_comment: str | None = Field(default=None, exclude=True)
    rated_at: datetime | None = Field(default=None, exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def satisfaction(self) -> SatisfactionRead | None:
        """The customer's rating (1-5, a comment, when), or null before they rated."""
        if self.satisfaction_score is None or self.rated_at is None:
            return None
        return SatisfactionRead(
            score=self.satisfaction_score, comment=self.satisfaction_comment or "", rated_at=self.rated_at
        )


class ConversationDetail(ConversationRead):
    messages: list[MessageRead] = Field(default_factory=list)


class ConversationPage(BaseModel):
    items: list[ConversationRead]
    next_cursor: str | None


class TimelineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    actor_user_id: int | None
    details: dict[str, Any]
    created_at: datetime


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merged_id: int = Field(description="The conversation merged into this one (it then points here)")


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    follows_up_id: int = Field(description="The earlier conversation this one follows up on")


class TagRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    usage_count: int


class SearchConversationHit(BaseModel):
    conversation: ConversationRead
    snippet: str


class SearchContactHit(BaseModel):
    id: int
    name: str
    snippet: str


class SearchResponse(BaseModel):
    query: str
    conversations: list[SearchConversationHit]
    contacts: list[SearchContactHit]
