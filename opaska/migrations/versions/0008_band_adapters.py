"""Band ingress adapters: which adapter speaks for a band, and its device identity there

Revision ID: 0008_band_adapters
Revises: 0007_registry
Create Date: 2026-12-03 07:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_band_adapters"
down_revision: str | None = "0007_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("band", schema=None) as batch_op:
        # Every band registered before is an opaska MQTT band.
        batch_op.add_column(sa.Column("adapter", sa.String(length=16), server_default="mqtt", nullable=False))
        batch_op.add_column(sa.Column("device_id", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_band_adapter_device_id"), ["adapter", "device_id"])


def downgrade() -> None:
    with op.batch_alter_table("band", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_band_adapter_device_id"), type_="unique")
        batch_op.drop_column("device_id")
        batch_op.drop_column("adapter")
