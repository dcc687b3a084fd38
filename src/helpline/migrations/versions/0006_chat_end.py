"""chat end: the customer's satisfaction rating on a conversation (1-5, a comment, when)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 18:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpline.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs (nullable, no server default): SQLite adds them without copying the table.
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("satisfaction_score", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("satisfaction_comment", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("rated_at", helpline.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("rated_at")
        batch_op.drop_column("satisfaction_comment")
        batch_op.drop_column("satisfaction_score")
