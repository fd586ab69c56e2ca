"""action plans: the steps an operator follows on an alarm, per resident or per municipality

Revision ID: 0014_action_plans
Revises: 0013_alarm_event_notify
Create Date: 2026-12-04 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0014_action_plans"
down_revision: str | None = "0013_alarm_event_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "action_plan_step",
        sa.Column("id", ID, nullable=False),
        sa.Column("resident_id", ID, nullable=True),
        sa.Column("municipality_id", ID, nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", core.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(resident_id IS NULL) <> (municipality_id IS NULL)", name=op.f("ck_action_plan_step_one_owner")),
        sa.ForeignKeyConstraint(["resident_id"], ["resident.id"], name=op.f("fk_action_plan_step_resident_id_resident"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["municipality_id"], ["municipality.id"], name=op.f("fk_action_plan_step_municipality_id_municipality"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], name=op.f("fk_action_plan_step_contact_id_contact"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_plan_step")),
    )
    op.create_index("ix_action_plan_step_resident_id_position", "action_plan_step", ["resident_id", "position"])
    op.create_index("ix_action_plan_step_municipality_id_position", "action_plan_step", ["municipality_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_action_plan_step_municipality_id_position", table_name="action_plan_step")
    op.drop_index("ix_action_plan_step_resident_id_position", table_name="action_plan_step")
    op.drop_table("action_plan_step")
