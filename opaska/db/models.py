"""Every table, imported in one place so the metadata Alembic sees is complete."""

from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.escalation.model import Escalation
from alarm_center.notify.model import Notification
from gateway.model import BandMessage
from opaska.db.base import Base
from registry.model import Band, Contact, Municipality, Resident, StaffMunicipality, StaffUser

__all__ = [
    "Alarm",
    "AlarmEvent",
    "Band",
    "BandMessage",
    "Base",
    "Contact",
    "Escalation",
    "Municipality",
    "Notification",
    "Resident",
    "StaffMunicipality",
    "StaffUser",
]
