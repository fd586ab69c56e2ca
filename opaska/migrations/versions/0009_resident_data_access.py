"""Who read a resident's medical notes in the registry, and when

Revision ID: 0009_resident_data_access
Revises: 0008_band_adapters
Create Date: 2026-12-03 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0009_resident_data_access"
down_revision: str | None = "0008_band_adapters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resident_data_access",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("at", core.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_resident_data_access_resident_id_resident")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_user.id"],
            name=op.f("fk_resident_data_access_staff_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_data_access")),
    )
    with op.batch_alter_table("resident_data_access", schema=None) as batch_op:
        batch_op.create_index("ix_resident_data_access_resident_id_at", ["resident_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("resident_data_access", schema=None) as batch_op:
        batch_op.drop_index("ix_resident_data_access_resident_id_at")
    op.drop_table("resident_data_access")
