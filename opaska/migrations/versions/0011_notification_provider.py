"""Notifications: the provider's own status and when it changed, and whether it was test mode

Revision ID: 0011_notification_provider
Revises: 0010_band_last_message
Create Date: 2026-12-04 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0011_notification_provider"
down_revision: str | None = "0010_band_last_message"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_status", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("provider_status_at", core.db.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("test_mode", sa.Boolean(), nullable=False, server_default=sa.false()))
    # What the offline notifier took before this column existed: its provider ids say so.
    notification = sa.table("notification", sa.column("provider_id", sa.String), sa.column("test_mode", sa.Boolean))
    op.execute(notification.update().where(notification.c.provider_id.like("offline-%")).values(test_mode=True))


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_column("test_mode")
        batch_op.drop_column("provider_status_at")
        batch_op.drop_column("provider_status")
