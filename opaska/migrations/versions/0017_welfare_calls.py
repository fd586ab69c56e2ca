"""welfare calls: operators' planned calls to residents, with their outcomes

Revision ID: 0017_welfare_calls
Revises: 0016_zones_and_canary
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0017_welfare_calls"
down_revision: str | None = "0016_zones_and_canary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "welfare_call",
        sa.Column("id", ID, nullable=False),
        sa.Column("municipality_id", ID, nullable=False),
        sa.Column("resident_id", ID, nullable=False),
        sa.Column("due_at", core.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("repeat_weekly", sa.Boolean(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("done_at", core.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("done_by", ID, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=False),
        sa.Column("alarm_id", ID, nullable=True),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipality.id"], name=op.f("fk_welfare_call_municipality_id_municipality")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_welfare_call_resident_id_resident"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["staff_user.id"], name=op.f("fk_welfare_call_created_by_staff_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["done_by"], ["staff_user.id"], name=op.f("fk_welfare_call_done_by_staff_user"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarm.id"], name=op.f("fk_welfare_call_alarm_id_alarm"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_welfare_call")),
    )
    op.create_index("ix_welfare_call_done_at_due_at", "welfare_call", ["done_at", "due_at"])
    op.create_index("ix_welfare_call_resident_id", "welfare_call", ["resident_id"])


def downgrade() -> None:
    op.drop_index("ix_welfare_call_resident_id", table_name="welfare_call")
    op.drop_index("ix_welfare_call_done_at_due_at", table_name="welfare_call")
    op.drop_table("welfare_call")
