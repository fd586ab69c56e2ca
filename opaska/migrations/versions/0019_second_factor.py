"""staff second factor (TOTP): secrets, recovery codes, half-done logins, the audit; login_attempt.factor

Revision ID: 0019_second_factor
Revises: 0018_resident_sex
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db.base

revision: str = "0019_second_factor"
down_revision: str | None = "0018_resident_sex"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = core.db.base.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_second_factor",
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("secret_encrypted", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("confirmed_at", UTC, nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_second_factor_staff_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff_second_factor")),
    )
    op.create_table(
        "staff_recovery_code",
        sa.Column("id", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_recovery_code_staff_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_recovery_code")),
        sa.UniqueConstraint("staff_id", "code_hash", name=op.f("uq_staff_recovery_code_staff_id_code_hash")),
    )
    op.create_table(
        "staff_login_step",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("wrong_codes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_login_step_staff_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_login_step")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_login_step_token_hash")),
    )
    with op.batch_alter_table("staff_login_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_login_step_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_login_step_staff_id"), ["staff_id"], unique=False)
    op.create_table(
        "staff_security_event",
        sa.Column("id", ID, nullable=False),
        sa.Column("staff_id", ID, nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("at", UTC, nullable=False),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_security_event_actor_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_user.id"],
            name=op.f("fk_staff_security_event_staff_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_security_event")),
    )
    with op.batch_alter_table("staff_security_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_security_event_staff_id"), ["staff_id"], unique=False)
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("factor", sa.String(length=8), server_default="password", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_column("factor")
    with op.batch_alter_table("staff_security_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_security_event_staff_id"))
    op.drop_table("staff_security_event")
    with op.batch_alter_table("staff_login_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_login_step_staff_id"))
        batch_op.drop_index(batch_op.f("ix_staff_login_step_expires_at"))
    op.drop_table("staff_login_step")
    op.drop_table("staff_recovery_code")
    op.drop_table("staff_second_factor")
