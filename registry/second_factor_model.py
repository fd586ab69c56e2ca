"""Staff's second factor (TOTP): the shared secret, recovery codes, a login half done, and the
audit of every change. The use cases are in `second_factor`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base, BigId, UtcDateTime


class StaffSecondFactor(Base):
    """A staff member's TOTP secret. In force once `confirmed_at` is set (a correct code was typed
    at enrolment); before that it is an enrolment begun, which logins ignore."""

    __tablename__ = "staff_second_factor"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True)
    # Fernet under the console's data key ([console] data_key), like key-safe codes: a copy of the
    # database alone does not give anyone the codes.
    secret_encrypted: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The time step of the latest code accepted: a code of that step or an earlier one is refused,
    # so a code seen over a shoulder or replayed from a request works no second time.
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class StaffRecoveryCode(Base):
    """A one-time code for the day the phone is lost. Only its SHA-256 is kept: the codes are 80
    random bits, so a fast hash is enough (as for session tokens)."""

    __tablename__ = "staff_recovery_code"
    __table_args__ = (UniqueConstraint("staff_id", "code_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LoginStage(StrEnum):
    # The password was right; the code is asked for next.
    CODE = "code"
    # The password was right; the role must have a second factor and has none: enrolment first.
    ENROL = "enrol"


class StaffLoginStep(Base):
    """A login half done: the password was right, the second step is pending. Not a session: it
    opens nothing but its own next step, for a few minutes (its own cookie, `opaska_login_step`)."""

    __tablename__ = "staff_login_step"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # SHA-256 of the cookie's token, as for sessions.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(8))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # Wrong codes typed in this step; past a few the step ends and the password is asked again.
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)


class SecondFactorChange(StrEnum):
    ENROLLED = "enrolled"
    DISABLED = "disabled"
    RESET = "reset"
    RECOVERY_CODE_USED = "recovery_code_used"


class StaffSecurityEvent(Base):
    """Who changed whose second factor, when, from where: the audit of enrolment, turning it off,
    an administrator's reset and each recovery code used."""

    __tablename__ = "staff_security_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    # Who did it: the person themself, an administrator; None from the command line (`opaska user
    # reset-2fa`, run by whoever administers the server) or an account since deleted.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    what: Mapped[str] = mapped_column(String(32))
    # The source address as the console saw it; None from the command line.
    client_ip: Mapped[str | None] = mapped_column(String(64))
