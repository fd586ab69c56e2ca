"""Registry tables. Personal and medical data live here and only here."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import Base, BigId, Json, UtcDateTime


class Municipality(Base):
    """A gmina served by the centre: a tenant. Its residents, staff rights and reports are its own."""

    __tablename__ = "municipality"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # TERYT code of the gmina where known; unique short code otherwise.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Warsaw")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Resident(Base):
    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date)
    # "F" or "M" (registry/validation.py SEXES); None: not recorded. EU-funded programmes report
    # their participants by sex and age band.
    sex: Mapped[str | None] = mapped_column(String(1))
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300), default="")
    access_notes: Mapped[str] = mapped_column(Text, default="")
    medical_notes: Mapped[str] = mapped_column(Text, default="")
    # Fernet under the console's data key (console.data_key): a copied database or backup does
    # not open the resident's door. Read only through the console, and every reading is audited.
    key_safe_code_encrypted: Mapped[str | None] = mapped_column(String(255))
    # When the resident agreed to their calls with the centre being recorded (RODO); None: no consent.
    call_recording_consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    language: Mapped[str] = mapped_column(String(8), default="pl")
    # The daily check-in window (local time of the municipality): the band's "I am fine" is expected
    # between these; a missed window raises a no_checkin alarm (alarm_center/care/checkin.py).
    checkin_from: Mapped[time | None] = mapped_column(Time)
    checkin_until: Mapped[time | None] = mapped_column(Time)
    # The safe zone: a circle around home (WGS84 centre, radius in metres). A band's position
    # outside it raises a left_zone alarm (alarm_center/care/zones.py); all three or none.
    zone_lat: Mapped[float | None] = mapped_column(Float)
    zone_lon: Mapped[float | None] = mapped_column(Float)
    zone_radius_m: Mapped[int | None] = mapped_column(Integer)
    # The zone watch's judgement of the newest position (kept here, not in memory: a restarted
    # engine must not raise the same exit twice), and the position's time it was made on.
    zone_outside: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    zone_judged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    municipality: Mapped[Municipality] = relationship(lazy="raise")
    contacts: Mapped[list[Contact]] = relationship(lazy="raise", order_by="Contact.priority", back_populates="resident")


class Contact(Base):
    """A relative, neighbour or key holder, called in priority order (1 first)."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(50), default="")
    # E.164, validated on the way in (phonenumbers, Polish default region).
    phone: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8), default="pl")
    has_key: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    resident: Mapped[Resident] = relationship(lazy="raise", back_populates="contacts")


class PlanStepKind(StrEnum):
    """What an operator does at one step of an action plan."""

    CALL_RESIDENT = "call_resident"  # call the resident back
    CALL_CONTACT = "call_contact"  # a named contact (a resident's plan only)
    CALL_KEY_HOLDER = "call_key_holder"  # whoever among the contacts has a key
    KEY_SAFE = "key_safe"  # give the key-safe code to whoever goes in
    MEDICAL = "medical"  # tell the ambulance the medical facts
    EMERGENCY = "emergency"  # call 112 / the ambulance
    INSTRUCTION = "instruction"  # free words: "wnuczka ma klucz, mieszka piętro niżej"


class ActionPlanStep(Base):
    """One step of the plan an operator follows on an alarm: a resident's own plan, or the default
    plan of a municipality for residents who have none."""

    __tablename__ = "action_plan_step"
    __table_args__ = (
        CheckConstraint("(resident_id IS NULL) <> (municipality_id IS NULL)", name="one_owner"),
        Index("ix_action_plan_step_resident_id_position", "resident_id", "position"),
        Index("ix_action_plan_step_municipality_id_position", "municipality_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id", ondelete="CASCADE"))
    municipality_id: Mapped[int | None] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BandAdapter(StrEnum):
    """Which ingress adapter speaks for a band (docs/devices/)."""

    MQTT = "mqtt"  # opaska's own JSON protocol over MQTT; the serial is the identity
    TRACCAR = "traccar"  # events and positions forwarded by Traccar; identity: Traccar's uniqueId
    WATCH = "watch"  # the [SG*ID*LEN*...] watch protocol over TCP; identity: the ID in each frame


class BandStatus(StrEnum):
    STOCK = "stock"  # registered, not given to anyone
    ACTIVE = "active"  # bound to a resident
    RETIRED = "retired"  # swapped out or decommissioned; kept for history


class Band(Base):
    """A safety band. `serial` is its identity on the wire: MQTT username and topic segment."""

    __tablename__ = "band"
    __table_args__ = (
        Index("ix_band_resident_id", "resident_id"),
        # One device identity per adapter: a watch's ID or a Traccar uniqueId names one band.
        UniqueConstraint("adapter", "device_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    # 15 digits with a valid Luhn check digit; a band registered by IMEI alone uses it as its serial.
    imei: Mapped[str | None] = mapped_column(String(15), unique=True)
    model: Mapped[str] = mapped_column(String(100), default="")
    firmware: Mapped[str] = mapped_column(String(50), default="")
    sim_phone: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default=BandStatus.STOCK)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    # Mosquitto's $7$ PBKDF2-SHA512 format, so one stored hash serves every broker.
    secret_hash: Mapped[str | None] = mapped_column(String(255))
    # Set when the credentials were revoked (secret_hash is then NULL): no broker admits the band.
    credentials_revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Installation test: until then the band's SOS and falls are test alarms (console only).
    test_mode_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    test_mode_started_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    heartbeat_interval_s: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # How the band reaches us (BandAdapter), and the identity that adapter knows it by: NULL for
    # MQTT bands (their serial is the identity), the IMEI or watch ID, or Traccar's uniqueId.
    adapter: Mapped[str] = mapped_column(String(16), default=BandAdapter.MQTT, server_default=BandAdapter.MQTT.value)
    device_id: Mapped[str | None] = mapped_column(String(64))
    # The platform's own synthetic band (alarm_center/canary/): its SOS is a canary alarm, closed
    # by the engine at once, never shown to operators nor sent to anyone.
    is_canary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    # Presence, written in batches by the gateway from heartbeats.
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    battery_pct: Mapped[int | None] = mapped_column(Integer)
    charging: Mapped[bool | None] = mapped_column(Boolean)
    worn: Mapped[bool | None] = mapped_column(Boolean)
    signal: Mapped[int | None] = mapped_column(Integer)
    # Since when the strap has been off (NULL while worn or unknown): supervision's "not worn".
    unworn_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # {lat, lon, accuracy_m, source, at}: the newest position the band reported.
    last_location: Mapped[dict[str, Any] | None] = mapped_column(Json)
    last_checkin_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The newest message the band sent that was accepted (any kind: heartbeat, SOS, location...),
    # and its kind: the cards' "Ostatni sygnał". last_seen_at also counts refused messages.
    last_message_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_message_kind: Mapped[str | None] = mapped_column(String(32))
    # From the band's retained status topic (its MQTT last will says offline).
    online: Mapped[bool | None] = mapped_column(Boolean)
    online_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    resident: Mapped[Resident | None] = relationship(lazy="raise")


class BandEventType(StrEnum):
    REGISTERED = "registered"
    BOUND = "bound"
    UNBOUND = "unbound"
    SWAPPED_OUT = "swapped_out"
    SWAPPED_IN = "swapped_in"
    DECOMMISSIONED = "decommissioned"
    CREDENTIALS_ISSUED = "credentials_issued"
    CREDENTIALS_REVOKED = "credentials_revoked"
    TEST_STARTED = "test_started"
    TEST_STOPPED = "test_stopped"


class BandEvent(Base):
    """A band's history: registration, who wore it and when, swaps, credentials, tests.

    Rows are never deleted: a swapped or decommissioned band keeps its past, and so does the
    resident (by `resident_id`) after the band is gone.
    """

    __tablename__ = "band_event"
    __table_args__ = (
        Index("ix_band_event_band_id_at", "band_id", "at"),
        Index("ix_band_event_resident_id", "resident_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    band_id: Mapped[int] = mapped_column(ForeignKey("band.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    type: Mapped[str] = mapped_column(String(32))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    # The other band of a swap.
    other_band_id: Mapped[int | None] = mapped_column(ForeignKey("band.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(300), default="")


class BandTestResult(Base):
    """One installation-test alarm as the technician sees it: did it arrive, and how fast."""

    __tablename__ = "band_test_result"
    __table_args__ = (Index("ix_band_test_result_band_id_received_at", "band_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    band_id: Mapped[int] = mapped_column(ForeignKey("band.id"))
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarm.id", ondelete="SET NULL"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    kind: Mapped[str] = mapped_column(String(32))
    # The band's own timestamp of the press; NULL when it sent none or its clock is not believable.
    pressed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    # Why it failed, in Polish, for the technician; empty when it passed.
    note: Mapped[str] = mapped_column(String(300), default="")
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))


class ResidentDataAccess(Base):
    """Who read a resident's medical notes in the registry, and when (inside an alarm the alarm's own
    timeline records it). The resident may ask who read their data (RODO art. 15); it is in the export."""

    __tablename__ = "resident_data_access"
    __table_args__ = (Index("ix_resident_data_access_resident_id_at", "resident_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    # What was read: "medical_notes".
    what: Mapped[str] = mapped_column(String(32))


class StaffRole(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    TECHNICIAN = "technician"
    ADMINISTRATOR = "administrator"


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # argon2; staff log in rarely, so the slow hash costs nothing that matters.
    password_hash: Mapped[str] = mapped_column(String(255))
    # Where Twilio rings this operator for a call from an alarm: an E.164 number or a "sip:" address.
    phone: Mapped[str | None] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StaffMunicipality(Base):
    """Which municipalities a staff member may see. Administrators see all."""

    __tablename__ = "staff_municipality"
    __table_args__ = (UniqueConstraint("staff_id", "municipality_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"))


class StaffSession(Base):
    """A console login. The cookie carries a random token; only its SHA-256 is stored, so a read
    of this table (a backup, a log of queries) does not let anyone in."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    # Sent back by every state-changing request (header X-CSRF-Token or form field csrf_token).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # The absolute end, however active the session is (console.session_max_age_s after login).
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginAttempt(Base):
    """A failed login, kept in the database so the limit holds across restarts and processes."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_client_ip_at", "client_ip", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    # As typed (lower-cased), whether or not such a user exists.
    username: Mapped[str] = mapped_column(String(64))
    client_ip: Mapped[str] = mapped_column(String(64))
    # "password", or "code": a wrong second-factor code after the right password (someone may
    # have the password).
    factor: Mapped[str] = mapped_column(String(8), default="password", server_default="password")
