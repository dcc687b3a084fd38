"""chat read marks

Read receipts are kept on the chat session (``agent_read_seq``, ``visitor_read_seq`` and the
reply the visitor saw last), so a restarted or newly started process still shows them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 02:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("agent_read_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("visitor_read_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("visitor_read_message_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("visitor_read_message_id")
        batch.drop_column("visitor_read_seq")
        batch.drop_column("agent_read_seq")
