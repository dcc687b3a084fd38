"""What the routing configuration API speaks.

Types and sizes are bounded here; what the values mean (does the skill exist, does the overflow
chain loop, is the rule's field known) is checked by ``routing.configuration``, so a page and the
API get the same errors, naming the same fields (``skills.billing``, ``conditions[0].field``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from helpline.routing.config import Strategy

ShortText = Annotated[str, Field(max_length=500)]


class SkillRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


class SkillCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="One word: letters, digits, - and _ (lower-cased).")


class SkillUpdate(SkillCreate):
    pass


class ExpansionSchema(BaseModel):
    """One bullseye ring: after this long in the queue the requirements loosen (cumulatively)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    after_seconds: float = Field(ge=-1e9, le=1e9, allow_inf_nan=False)
    lower_levels_by: int = Field(default=0, ge=-10, le=10)
    drop_languages: bool = False
    drop_skills: list[str] = Field(default_factory=list, max_length=50)


class QueueFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    skills: dict[str, int] = Field(
        default_factory=dict, max_length=50, description="Required skills: name -> minimum proficiency (1–5)."
    )
    languages: list[str] = Field(default_factory=list, max_length=20, description="ISO 639 codes the agent must speak.")
    strategy: Strategy = Strategy.LONGEST_IDLE
    seconds_per_priority_level: float = Field(default=60.0, ge=-1e9, le=1e9, allow_inf_nan=False)
    expansions: list[ExpansionSchema] = Field(default_factory=list, max_length=10)
    sticky_seconds: float = Field(default=0.0, ge=-1e9, le=1e9, allow_inf_nan=False)
    overflow_queue_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    overflow_after_seconds: float | None = Field(default=None, ge=-1e9, le=1e9, allow_inf_nan=False)
    overflow_when_full: bool = False
    max_size: int | None = Field(default=None, ge=-1, le=1_000_000)
    wrap_up_seconds: float = Field(default=0.0, ge=-1e9, le=1e9, allow_inf_nan=False)
    offer_timeout_seconds: float = Field(default=30.0, ge=-1e9, le=1e9, allow_inf_nan=False)
    push: bool = True


class QueueCreate(QueueFields):
    name: str = Field(min_length=1, max_length=120)


class QueueUpdate(BaseModel):
    """Only the fields sent change; the queue as it would be is validated as a whole."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    team_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    skills: dict[str, int] | None = Field(default=None, max_length=50)
    languages: list[str] | None = Field(default=None, max_length=20)
    strategy: Strategy | None = None
    seconds_per_priority_level: float | None = Field(default=None, ge=-1e9, le=1e9, allow_inf_nan=False)
    expansions: list[ExpansionSchema] | None = Field(default=None, max_length=10)
    sticky_seconds: float | None = Field(default=None, ge=-1e9, le=1e9, allow_inf_nan=False)
    overflow_queue_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    overflow_after_seconds: float | None = Field(default=None, ge=-1e9, le=1e9, allow_inf_nan=False)
    overflow_when_full: bool | None = None
    max_size: int | None = Field(default=None, ge=-1, le=1_000_000)
    wrap_up_seconds: float | None = Field(default=None, ge=-1e9, le=1e9, allow_inf_nan=False)
    offer_timeout_seconds: float | None = Field(default=None, ge=-1e9, le=1e9, allow_inf_nan=False)
    push: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The fields sent; null means "none" for the nullable ones and "unchanged" for the rest."""
        nullable = {"team_id", "overflow_queue_id", "overflow_after_seconds", "max_size"}
        sent = self.model_dump(exclude_unset=True, mode="json")
        return {k: v for k, v in sent.items() if v is not None or k in nullable}


class QueueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    team_id: int | None
    skills: dict[str, int]
    languages: list[str]
    strategy: str
    seconds_per_priority_level: float
    expansions: list[ExpansionSchema]
    sticky_seconds: float
    overflow_queue_id: int | None
    overflow_after_seconds: float | None
    overflow_when_full: bool
    max_size: int | None
    wrap_up_seconds: float
    offer_timeout_seconds: float
    push: bool


class AgentProfileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    name: str
    languages: list[str]
    capacity: dict[str, int] = Field(description="Items worked at once per channel: voice, chat, email.")
    mixing_allowed: bool
    skills: dict[str, int] = Field(description="Skill name -> proficiency (1–5).")


class AgentProfileUpdate(BaseModel):
    """Only the parts sent change; ``skills`` replaces the agent's skills as a whole."""

    model_config = ConfigDict(extra="forbid")

    languages: list[str] | None = Field(default=None, max_length=20)
    capacity: dict[str, int] | None = Field(default=None, max_length=10)
    mixing_allowed: bool | None = None
    skills: dict[str, int] | None = Field(default=None, max_length=100)


class ReasonCodeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    is_active: bool


class ReasonCodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)


class ReasonCodeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64)
    is_active: bool | None = None


class RuleCondition(BaseModel):
    """``field`` is one of channel, mailbox, tag, language, subject, priority, contact_field,
    organisation_field; ``op`` one of is, is_not, contains, in (``value`` a list for "in");
    ``key`` names the custom field for contact_field and organisation_field."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(max_length=32)
    op: str = Field(default="is", max_length=16)
    value: ShortText | Annotated[list[ShortText], Field(max_length=50)] = ""
    key: str | None = Field(default=None, max_length=64)


class RuleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match: str = Field(default="all", max_length=8, description="all: every condition must hold; any: one.")
    conditions: list[RuleCondition] = Field(default_factory=list, max_length=20)
    priority: str | None = Field(default=None, max_length=16, description="Sets the conversation's priority.")
    is_active: bool = True


class RuleCreate(RuleFields):
    name: str = Field(min_length=1, max_length=120)
    queue_id: int = Field(ge=1, le=2**31 - 1)


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    queue_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    match: str | None = Field(default=None, max_length=8)
    conditions: list[RuleCondition] | None = Field(default=None, max_length=20)
    priority: str | None = Field(default=None, max_length=16)
    is_active: bool | None = None

    def changes(self) -> dict[str, Any]:
        sent = self.model_dump(exclude_unset=True)
        if sent.get("conditions") is not None:
            sent["conditions"] = [c.model_dump(exclude_none=True) for c in self.conditions or []]
        return {k: v for k, v in sent.items() if v is not None or k == "priority"}


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    position: int
    name: str
    match: str
    conditions: list[dict[str, Any]]
    queue_id: int
    priority: str | None
    is_active: bool


class SettingsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    max_missed_offers: int
    away_grace_seconds: float
    declines_count_as_missed: bool
    default_queue_id: int | None


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_missed_offers: int | None = Field(default=None, ge=-1000, le=1000)
    away_grace_seconds: float | None = Field(default=None, ge=-1e9, le=1e9, allow_inf_nan=False)
    declines_count_as_missed: bool | None = None
    default_queue_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
