"""Side effects that must happen only if a transaction commits (a metric counted, a log line).

`after_commit(session, action)` keeps the action on the session; it runs when the outermost
transaction commits and is dropped if it rolls back, so a counted alarm is always a stored one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)
_KEY = "opaska_after_commit"


def after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    session.sync_session.info.setdefault(_KEY, []).append(action)


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    for action in session.info.pop(_KEY, []):
        try:
            action()
        except Exception:  # a side effect must never undo or break the commit it follows
            log.exception("an after-commit action failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: nothing of it was stored
        session.info.pop(_KEY, None)


def pending(session: AsyncSession) -> list[Any]:
    """The actions waiting for the commit (for tests)."""
    return list(session.sync_session.info.get(_KEY, []))
