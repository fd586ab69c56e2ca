"""the resident's daily check-in window

Revision ID: 0015_checkin_window
Revises: 0014_action_plans
Create Date: 2026-12-04 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_checkin_window"
down_revision: str | None = "0014_action_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("resident", sa.Column("checkin_from", sa.Time(), nullable=True))
    op.add_column("resident", sa.Column("checkin_until", sa.Time(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.drop_column("checkin_until")
        batch.drop_column("checkin_from")
