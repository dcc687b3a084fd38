"""What the agent side of the routing API speaks: agent state, offers, pull, transfer, wallboard."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_ID = 2**31 - 1  # ids are 32-bit integers in both databases


class AgentStateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str = Field(
        max_length=32,
        description="available | not_ready | offline (busy and wrap_up follow from the work)",
        examples=["available"],
    )
    reason: str | None = Field(
        default=None, max_length=64, description="One of the tenant's reason codes; required for not_ready"
    )


class PendingOfferRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    conversation_id: int
    number: int
    subject: str
    channel: str
    queue: str
    attempt: int
    expires_at: float = Field(description="Epoch seconds (UTC) after which the offer is gone")


class AgentStatusRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    state: str = Field(description="offline | available | busy | wrap_up | not_ready | away")
    reason: str | None
    since: float = Field(description="Epoch seconds (UTC) since the agent is in this state")
    wrap_up_until: float | None
    offers: list[PendingOfferRead]
    items: int = Field(description="Work items assigned to the agent")
    reason_codes: list[str]


class OfferAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempt: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="The offer's attempt; an answer to an older one is refused (409)"
    )


class RoutedItem(BaseModel):
    work_item_id: int
    conversation_id: int | None


class TransferRead(BaseModel):
    conversation_id: int
    to: str = Field(description='"queue" or "agent"')
    target_id: int
    name: str
    work_item_id: int | None = Field(default=None, description="the routed item (queue transfers)")


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="transfer to this queue …")
    agent_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="… or to this agent (give one)")
    note: str | None = Field(default=None, max_length=1000, description="an internal note for the next agent")


class QueueBoardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    waiting: int
    longest_wait_seconds: float
    offered_today: int
    answered_today: int
    abandoned_today: int
    agents: dict[str, int] = Field(description="Shown state -> agents who can take this queue's work")


class AgentBoardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    name: str
    state: str
    reason: str | None
    seconds_in_state: float
    items: list[int] = Field(description="Numbers of the conversations being worked")
    offers: list[int] = Field(description="Numbers of the conversations being offered")


class WallboardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    queues: list[QueueBoardRead]
    agents: list[AgentBoardRead]
    taken_at: float
