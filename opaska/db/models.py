"""Every table, imported in one place so the metadata Alembic sees is complete."""

from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.escalation.model import Escalation
from alarm_center.notify.model import Notification
from core.db.base import Base
from core.db.service_state import ServiceState
from gateway.dead_letter import DeadLetter
from gateway.downlink_model import BandDownlink
from gateway.model import BandMessage
from registry.duty import Shift
from registry.model import Band, Contact, Municipality, Resident, StaffMunicipality, StaffUser

__all__ = [
    "Alarm",
    "AlarmEvent",
    "Band",
    "BandDownlink",
    "BandMessage",
    "Base",
    "Contact",
    "DeadLetter",
    "Escalation",
    "Municipality",
    "Notification",
    "Resident",
    "ServiceState",
    "Shift",
    "StaffMunicipality",
    "StaffUser",
]
