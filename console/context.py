"""What the console needs from the rest of the platform, handed in at start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from alarm_center.notify.status_link import StatusLinks
from alarm_center.voice.telephone import OfflineTelephone, Telephone
from core.clock import Clock, SystemClock
from core.settings import BandSettings, ConsoleSettings, ReportSettings, Settings, VoiceSettings


@dataclass(frozen=True)
class TwilioHooks:
    """Twilio's webhooks (status callbacks, inbound SMS, voice): checked against our public URL."""

    auth_token: str = field(repr=False)
    # The URL Twilio signs over: what we gave it, whatever the request looks like on arrival.
    public_url: str
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None) -> TwilioHooks | None:
        """None (webhooks answer 404) unless [notify] mode is "twilio" with a token and a public URL."""
        twilio = settings.twilio
        if settings.notify.mode != "twilio" or not twilio.auth_token or not twilio.public_url:
            return None
        return cls(twilio.auth_token.get_secret_value(), twilio.public_url.rstrip("/"), clock or SystemClock())


class AlarmCanary(Protocol):
    """What the console needs of the alarm canary (opaska/canary_probe.py, a floor above)."""

    async def run(self) -> None: ...

    async def state(self) -> str: ...


@dataclass
class ConsoleContext:
    session_factory: async_sessionmaker[AsyncSession]
    feed: AlarmFeed
    # True when this process also runs the feed's tail (the console owns it); False in tests that drive it.
    run_feed: bool = True
    twilio_hooks: TwilioHooks | None = None
    # Logins (session lifetimes, cookie flags, rate limit).
    settings: ConsoleSettings = field(default_factory=ConsoleSettings)
    # Encrypts key-safe codes at rest; None: key-safe codes can be neither read nor stored (503).
    data_key: Fernet | None = field(default=None, repr=False)
    # [bands]: installation-test length, device-health thresholds, the offline window of the reports.
    bands: BandSettings = field(default_factory=BandSettings)
    # [reports]: the centre's name and the programme, on the monthly report's cover.
    reports: ReportSettings = field(default_factory=ReportSettings)
    # Relatives' status links (in an operator's SMS, and the /s/ page); None: links are off.
    status_links: StatusLinks | None = None
    # Calls from an alarm and answers to calls in: Twilio, or offline (test mode: refused at once).
    telephone: Telephone = field(default_factory=OfflineTelephone)
    # [voice]: ring times, recording municipalities and retention, the unknown caller's municipality.
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    # The alarm canary (opaska/canary_probe.py), run by this console; None: not here.
    canary: AlarmCanary | None = None
