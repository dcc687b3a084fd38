"""What the chat channels API speaks.

Types and sizes are bounded here; what the values mean (an origin, a colour, the tenant's team) is
checked by ``channels.chat.service``, so the API and the page get the same errors naming the same
fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from helpline.channels.chat.models import ChatChannel

ORIGINS_HELP = "Sites the widget may run on, each scheme://host[:port]; none = the widget works nowhere."
TIME_ZONE_HELP = "IANA time zone of the business hours, like Europe/Berlin."
HOURS_HELP = (
    'Opening times per weekday (mon … sun), wall-clock in time_zone: {"mon": ["08:00-12:00", "13:00-17:00"]}. '
    "Intervals end after they start (up to 24:00) and do not overlap; a day left out is closed; "
    "no day at all = open around the clock."
)
HOLIDAYS_HELP = "Dates closed all day, YYYY-MM-DD."
HOURS_MESSAGE_HELP = "Shown above the leave-a-message form outside business hours."
INVITATIONS_HELP = (
    'Proactive invitations, first match wins (at most 20): [{"url": "*/pricing*", "seconds": 10, '
    '"greeting": "Questions about our plans?"}]. url: a pattern with * for the whole address, a path '
    "prefix starting with /, or an address prefix starting with https://. seconds 0-3600, greeting up to "
    "500 characters."
)


class ChatChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=500)
    allowed_origins: list[str] = Field(default_factory=list, max_length=200, description=ORIGINS_HELP)
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="The team whose chats these are.")
    colour: str = Field(default="#2563eb", max_length=50, description="#rrggbb")
    position: str = Field(default="right", max_length=20, description="right or left")
    greeting: str = Field(default="", max_length=10_000)
    prechat: dict[str, str] = Field(
        default_factory=lambda: {"name": "optional", "email": "optional"},
        description='Asked before a chat: {"name": "off|optional|required", "email": ...}',
    )
    offline_message: str = Field(default="", max_length=10_000)
    language: str = Field(default="auto", max_length=8, description="auto (the page's), en, de or hu")
    is_active: bool = True
    time_zone: str | None = Field(default=None, max_length=200, description=TIME_ZONE_HELP + " Default: the company's.")
    opening_hours: dict[str, Any] = Field(default_factory=dict, description=HOURS_HELP)
    holidays: list[Any] = Field(default_factory=list, max_length=1000, description=HOLIDAYS_HELP)
    hours_message: str = Field(default="", max_length=10_000, description=HOURS_MESSAGE_HELP)
    invitations: list[Any] = Field(default_factory=list, max_length=100, description=INVITATIONS_HELP)

    def values(self) -> dict[str, Any]:
        values = self.model_dump(mode="json")
        if values["time_zone"] is None:
            del values["time_zone"]  # the company's
        return values


class ChatChannelUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=500)
    allowed_origins: list[str] | None = Field(default=None, max_length=200, description=ORIGINS_HELP)
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    colour: str | None = Field(default=None, max_length=50)
    position: str | None = Field(default=None, max_length=20)
    greeting: str | None = Field(default=None, max_length=10_000)
    prechat: dict[str, str] | None = None
    offline_message: str | None = Field(default=None, max_length=10_000)
    language: str | None = Field(default=None, max_length=8)
    is_active: bool | None = None
    time_zone: str | None = Field(default=None, max_length=200, description=TIME_ZONE_HELP)
    opening_hours: dict[str, Any] | None = Field(default=None, description=HOURS_HELP)
    holidays: list[Any] | None = Field(default=None, max_length=1000, description=HOLIDAYS_HELP)
    hours_message: str | None = Field(default=None, max_length=10_000, description=HOURS_MESSAGE_HELP)
    invitations: list[Any] | None = Field(default=None, max_length=100, description=INVITATIONS_HELP)

    def changes(self) -> dict[str, Any]:
        """The fields sent; ``team_id: null`` removes the team, other nulls change nothing."""
        sent = self.model_dump(mode="json", exclude_unset=True)
        return {k: v for k, v in sent.items() if v is not None or k == "team_id"}


class Invitation(BaseModel):
    url: str
    seconds: int
    greeting: str


class ChatChannelRead(BaseModel):
    id: int
    name: str
    public_key: str = Field(description="Names the channel in the embed snippet and the widget's calls.")
    allowed_origins: list[str]
    team_id: int | None
    colour: str
    position: str
    greeting: str
    prechat: dict[str, str]
    offline_message: str
    language: str
    is_active: bool
    time_zone: str = Field(description=TIME_ZONE_HELP)
    opening_hours: dict[str, list[str]] = Field(description=HOURS_HELP)
    holidays: list[str] = Field(description=HOLIDAYS_HELP)
    hours_message: str = Field(description=HOURS_MESSAGE_HELP)
    invitations: list[Invitation] = Field(description=INVITATIONS_HELP)
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, channel: ChatChannel) -> ChatChannelRead:
        return cls(
            id=channel.id, name=channel.name, public_key=channel.public_key,
            allowed_origins=list(channel.allowed_origins or []), team_id=channel.team_id, colour=channel.colour,
            position=channel.position, greeting=channel.greeting, prechat=dict(channel.prechat or {}),
            offline_message=channel.offline_message, language=channel.language, is_active=channel.is_active,
            time_zone=channel.time_zone, opening_hours={k: list(v) for k, v in (channel.opening_hours or {}).items()},
            holidays=list(channel.holidays or []), hours_message=channel.hours_message,
            invitations=[Invitation(**rule) for rule in channel.invitations or []],
            created_at=channel.created_at, updated_at=channel.updated_at,
        )
