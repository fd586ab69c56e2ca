"""wake live consoles in other processes: NOTIFY at every commit that adds alarm events (PostgreSQL)

Revision ID: 0013_alarm_event_notify
Revises: 0012_voice_calls
Create Date: 2026-12-04 13:00:00.000000

A statement-level trigger, so every writer (gateway, engine, console, a script) wakes the consoles
without knowing about them. PostgreSQL delivers a NOTIFY only at commit and folds identical ones
of one transaction into one, so a burst of events costs one wake-up. The channel name is
alarm_center.live_notify.CHANNEL; it is spelled out here because a migration must not change when
the code does. SQLite has no NOTIFY: there the consoles poll (and `opaska run` wakes its own).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_alarm_event_notify"
down_revision: str | None = "0012_voice_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION opaska_alarm_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('opaska_alarm_event', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER alarm_event_notify AFTER INSERT ON alarm_event
        FOR EACH STATEMENT EXECUTE FUNCTION opaska_alarm_event_notify()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS alarm_event_notify ON alarm_event")
    op.execute("DROP FUNCTION IF EXISTS opaska_alarm_event_notify()")
