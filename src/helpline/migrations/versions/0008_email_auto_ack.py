"""email auto ack

Auto-acknowledgements become stored outbound emails (``email_messages.kind``), and mailboxes get
their TLS trust settings (verify the servers' certificates; an extra CA to trust).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 18:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KIND = sa.Enum("message", "forward", "auto_ack", name="emailkind", native_enum=False, length=16)


def upgrade() -> None:
    with op.batch_alter_table("email_messages") as batch:
        batch.add_column(sa.Column("kind", KIND, nullable=False, server_default="message"))
    # Forwards were told apart by their message being an internal note.
    op.execute(
        "UPDATE email_messages SET kind = 'forward' WHERE direction = 'outbound' "
        "AND message_id IN (SELECT id FROM messages WHERE direction = 'note')"
    )
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(sa.Column("tls_verify", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("tls_ca_pem", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("tls_ca_pem")
        batch.drop_column("tls_verify")
    with op.batch_alter_table("email_messages") as batch:
        batch.drop_column("kind")
