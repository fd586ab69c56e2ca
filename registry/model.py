"""Registry tables. Personal and medical data live here and only here."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opaska.db.base import Base, BigId, Json, UtcDateTime


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
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(300), default="")
    access_notes: Mapped[str] = mapped_column(Text, default="")
    medical_notes: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="pl")
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


class BandStatus(StrEnum):
    STOCK = "stock"  # registered, not given to anyone
    ACTIVE = "active"  # bound to a resident
    RETIRED = "retired"  # swapped out or decommissioned; kept for history


class Band(Base):
    """A safety band. `serial` is its identity on the wire: MQTT username and topic segment."""

    __tablename__ = "band"
    __table_args__ = (Index("ix_band_resident_id", "resident_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(100), default="")
    firmware: Mapped[str] = mapped_column(String(50), default="")
    sim_phone: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default=BandStatus.STOCK)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    # Mosquitto's $7$ PBKDF2-SHA512 format, so one stored hash serves every broker.
    secret_hash: Mapped[str | None] = mapped_column(String(255))
    heartbeat_interval_s: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

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
    # From the band's retained status topic (its MQTT last will says offline).
    online: Mapped[bool | None] = mapped_column(Boolean)
    online_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    resident: Mapped[Resident | None] = relationship(lazy="raise")


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
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StaffMunicipality(Base):
    """Which municipalities a staff member may see. Administrators see all."""

    __tablename__ = "staff_municipality"
    __table_args__ = (UniqueConstraint("staff_id", "municipality_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipality.id", ondelete="CASCADE"))
