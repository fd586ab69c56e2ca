"""Every table, imported in one place so the metadata Alembic sees is complete."""

from alarm_center.alarms.model import Alarm, AlarmEvent
from alarm_center.care.welfare_model import WelfareCall
from alarm_center.escalation.model import Escalation
from alarm_center.notify.model import Notification
from alarm_center.voice.model import VoiceCall
from core.db.base import Base
from core.db.service_state import ServiceState
from registry.duty import Shift
from registry.model import Band, Contact, Municipality, Resident, StaffMunicipality, StaffUser
from registry.second_factor_model import StaffLoginStep, StaffRecoveryCode, StaffSecondFactor, StaffSecurityEvent
from registry.traffic.dead_letters import DeadLetter
from registry.traffic.downlinks import BandDownlink
from registry.traffic.messages import BandMessage

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
    "StaffLoginStep",
    "StaffMunicipality",
    "StaffRecoveryCode",
    "StaffSecondFactor",
    "StaffSecurityEvent",
    "StaffUser",
    "VoiceCall",
    "WelfareCall",
]
