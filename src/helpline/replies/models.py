"""Canned replies: texts agents insert into any channel's composer, with placeholders filled in."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db import Base, UTCDateTime, utcnow


class Visibility(enum.StrEnum):
    shared = "shared"  # everyone in the tenant
    team = "team"  # the members of one team
    personal = "personal"  # only its owner


class CannedReply(Base):
    __tablename__ = "canned_replies"
    __table_args__ = (
        # NULLs never collide: any number of replies without a shortcut.
        UniqueConstraint("tenant_id", "shortcut"),
        Index("ix_canned_replies_tenant_visibility", "tenant_id", "visibility"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    shortcut: Mapped[str | None] = mapped_column(String(32), default=None)  # typed as /shortcut
    visibility: Mapped[Visibility] = mapped_column(Enum(Visibility, native_enum=False, length=16))
    # Set for visibility "team" only; a deleted team takes its replies with it.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), default=None)
    # Set for visibility "personal" only.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["CannedReply", "Visibility"]
