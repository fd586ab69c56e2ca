"""safe zones, the canary band, a service's own detail

The resident's safe zone (and the zone watch's judgement), the platform's canary band, and a
service's own detail in service_state (the alarm canary's last result).

Revision ID: 0016_zones_and_canary
Revises: 0015_checkin_window
Create Date: 2026-12-04 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

import core.db.base
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016_zones_and_canary"
down_revision: str | None = "0015_checkin_window"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("resident", sa.Column("zone_lat", sa.Float(), nullable=True))
    op.add_column("resident", sa.Column("zone_lon", sa.Float(), nullable=True))
    op.add_column("resident", sa.Column("zone_radius_m", sa.Integer(), nullable=True))
    op.add_column("resident", sa.Column("zone_outside", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("resident", sa.Column("zone_judged_at", core.db.base.UtcDateTime(timezone=True), nullable=True))
    op.add_column("band", sa.Column("is_canary", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column(
        "service_state",
        sa.Column("detail", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("service_state") as batch:
        batch.drop_column("detail")
    with op.batch_alter_table("band") as batch:
        batch.drop_column("is_canary")
    with op.batch_alter_table("resident") as batch:
        for column in ("zone_judged_at", "zone_outside", "zone_radius_m", "zone_lon", "zone_lat"):
            batch.drop_column(column)
