"""voice calls, operators' phones, call recording consent

Revision ID: 0012_voice_calls
Revises: 0011_notification_provider
Create Date: 2026-12-04 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0012_voice_calls"
down_revision: str | None = "0011_notification_provider"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "voice_call",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("alarm_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("operator_address", sa.String(length=120), nullable=True),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("operator_call_sid", sa.String(length=64), nullable=True),
        sa.Column("far_call_sid", sa.String(length=64), nullable=True),
        sa.Column("created_at", core.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", core.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", core.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("recording_sid", sa.String(length=64), nullable=True),
        sa.Column("recording_duration_s", sa.Integer(), nullable=True),
        sa.Column("recording_deleted_at", core.db.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", core.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarm.id"], name=op.f("fk_voice_call_alarm_id_alarm"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_user.id"], name=op.f("fk_voice_call_staff_id_staff_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_call")),
        sa.UniqueConstraint("far_call_sid", name=op.f("uq_voice_call_far_call_sid")),
        sa.UniqueConstraint("operator_call_sid", name=op.f("uq_voice_call_operator_call_sid")),
        sa.UniqueConstraint("recording_sid", name=op.f("uq_voice_call_recording_sid")),
    )
    with op.batch_alter_table("voice_call", schema=None) as batch_op:
        batch_op.create_index("ix_voice_call_alarm_id", ["alarm_id"], unique=False)
        batch_op.create_index("ix_voice_call_status", ["status"], unique=False)

    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.alter_column(
            "band_id", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        )

    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("call_recording_consent_at", core.db.base.UtcDateTime(timezone=True), nullable=True)
        )

    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=120), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_column("phone")

    with op.batch_alter_table("resident", schema=None) as batch_op:
        batch_op.drop_column("call_recording_consent_at")

    with op.batch_alter_table("alarm", schema=None) as batch_op:
        batch_op.alter_column(
            "band_id", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        )

    with op.batch_alter_table("voice_call", schema=None) as batch_op:
        batch_op.drop_index("ix_voice_call_status")
        batch_op.drop_index("ix_voice_call_alarm_id")

    op.drop_table("voice_call")
