"""resident sex: EU-funded programmes report participants by sex and age band

Revision ID: 0018_resident_sex
Revises: 0017_welfare_calls
Create Date: 2026-12-05 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_resident_sex"
down_revision: str | None = "0017_welfare_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "F" or "M" as the resident's documents say; NULL: not recorded (counted as such in reports).
    with op.batch_alter_table("resident") as batch:
        batch.add_column(sa.Column("sex", sa.String(length=1), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resident") as batch:
        batch.drop_column("sex")
