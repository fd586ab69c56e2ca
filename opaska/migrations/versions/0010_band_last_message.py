"""The band's last message: when it came and what it was (the cards' "Ostatni sygnał")

Revision ID: 0010_band_last_message
Revises: 0009_resident_data_access
Create Date: 2026-12-04 07:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0010_band_last_message"
down_revision: str | None = "0009_resident_data_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not backfilled: heartbeats were never kept as rows, so the kind of a band's last message is
    # unknown until it sends the next one (within its heartbeat interval).
    with op.batch_alter_table("band", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_message_at", core.db.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_message_kind", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("band", schema=None) as batch_op:
        batch_op.drop_column("last_message_kind")
        batch_op.drop_column("last_message_at")
