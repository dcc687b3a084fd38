"""chat hours: business hours (time zone, weekly opening times, holidays, message) and proactive
invitations on chat channels

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 18:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NOT NULL with a constant server default: existing channels stay open around the clock with no
    # invitations, and SQLite adds the columns without copying the table.
    with op.batch_alter_table("chat_channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC"))
        batch_op.add_column(sa.Column("opening_hours", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("holidays", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("hours_message", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("invitations", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("chat_channels", schema=None) as batch_op:
        batch_op.drop_column("invitations")
        batch_op.drop_column("hours_message")
        batch_op.drop_column("holidays")
        batch_op.drop_column("opening_hours")
        batch_op.drop_column("time_zone")
