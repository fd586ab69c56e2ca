"""Settings: `config/opaska.toml` defaults, overridden by `OPASKA_<SECTION>_<KEY>` variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config" / "opaska.toml"


class DatabaseSettings(BaseModel):
    url: str = "sqlite+aiosqlite:///./var/opaska.db"

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                f"must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (got {value.split('://', 1)[0]!r}://...)"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


def check_mqtt_url(value: str) -> str:
    """Empty, or mqtt://host:port / mqtts://host:port."""
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"must look like mqtt://host:1883 or mqtts://host:8883 (got {value!r})")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port only when it is read
    except ValueError as exc:
        raise ValueError(f"bad port in {value!r}") from exc
    return value


class MqttSettings(BaseModel):
    url: str = ""
    # "auto": MQTT 5 for an external broker, 3.1.1 for the embedded amqtt (it speaks no 5).
    protocol: Literal["auto", "3.1.1", "5"] = "auto"
    embedded_host: str = "127.0.0.1"
    embedded_port: int = Field(default=1883, ge=1, le=65535)
    # Which embedded broker `opaska run` starts: "auto" runs Mosquitto when the machine has it
    # (bands on embedded_port, the platform on embedded_port + 1), else amqtt (demos, small trials).
    embedded_broker: Literal["auto", "mosquitto", "amqtt"] = "auto"
    # Where the embedded Mosquitto keeps its files, one directory per port (mosquitto-PORT/).
    embedded_state_dir: str = Field(default="var", min_length=1)
    # Embedded broker: seconds a new connection may take to send its CONNECT, and how many
    # connections from one address may be waiting for theirs at once (docs/brokers.md).
    embedded_connect_timeout_s: float = Field(default=10.0, gt=0, le=300)
    embedded_max_pending_per_address: int = Field(default=256, ge=1, le=100_000)
    topic_root: str = "opaska/v1"
    client_id_prefix: str = "opaska"
    session_expiry_s: int = Field(default=86400, ge=0)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    # The platform's own MQTT account (gateway, console). On the embedded broker its password is
    # made afresh at every start; on Mosquitto/EMQX it is the user and password in `url`.
    service_username: str = "opaska-service"
    # If set, the gateway keeps Mosquitto's password and ACL files in this directory in step with
    # the registry (see docs/brokers.md), and signals the broker named by mosquitto_pid_file.
    mosquitto_auth_dir: str = ""
    mosquitto_pid_file: str = ""
    # Bearer token EMQX must send to opaska's HTTP auth hooks; empty disables the hooks.
    hook_token: str = ""
    # An external broker that admits anonymous clients is refused at start (anyone could publish
    # an alarm, read every band, or take the gateway's client id). True only for a lab.
    allow_insecure_broker: bool = False
    # Seconds between the gateway's canary messages to itself through the broker, and how long
    # it may go without hearing one before it counts itself deaf and reconnects.
    canary_every_s: float = Field(default=5.0, gt=0, le=300)
    canary_deaf_after_s: float = Field(default=20.0, gt=0, le=3600)
    # Several gateways share the band traffic through MQTT shared subscriptions ($share/{group}/...):
    # each band message goes to one gateway of the group. Empty: plain subscriptions (one gateway).
    shared_group: str = ""
    # This gateway's name among several: its MQTT client ids and persistent sessions are
    # opaska:gateway-{name}. Empty with a shared group: the host name (a container's own).
    gateway_name: str = ""

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        return check_mqtt_url(value)

    @field_validator("shared_group", "gateway_name")
    @classmethod
    def _topic_level(cls, value: str) -> str:
        if any(ch in value for ch in "/+#$: ") or len(value) > 64:
            raise ValueError("must be one plain word (letters, digits, - or _), at most 64 characters")
        return value

    @field_validator("topic_root")
    @classmethod
    def _topic_root(cls, value: str) -> str:
        if not value or any(ch in value for ch in "+#") or value.startswith("/") or value.endswith("/"):
            raise ValueError("must be a plain topic path without +, # or leading/trailing '/'")
        return value

    @property
    def embedded(self) -> bool:
        return not self.url

    @property
    def effective_protocol(self) -> Literal["3.1.1", "5"]:
        if self.protocol != "auto":
            return self.protocol
        return "3.1.1" if self.embedded else "5"


class BandSettings(BaseModel):
    """Band defaults and supervision. A band's own heartbeat interval overrides the default."""

    heartbeat_interval_s: int = Field(default=300, ge=10, le=86400)
    # A band is offline after this many heartbeat intervals without a message.
    offline_after_missed: int = Field(default=3, ge=1, le=100)
    battery_low_pct: int = Field(default=20, ge=1, le=99)
    # The battery alarm clears above this (hysteresis, so a battery at the threshold does not flap).
    battery_ok_pct: int = Field(default=25, ge=1, le=100)
    not_worn_after_s: int = Field(default=1800, ge=0)
    # "I am OK" pressed within this time after a fall cancels it (sent to bands in `config`).
    fall_cancel_window_s: int = Field(default=30, ge=0, le=600)
    supervision_every_s: float = Field(default=15.0, gt=0, le=3600)
    # Rejected messages kept for technicians (the newest), and how often one band's rejects are logged.
    dead_letter_keep: int = Field(default=10000, ge=100)
    reject_log_every_s: float = Field(default=60.0, ge=0)
    # Installation test: test mode ends by itself this long after a technician starts it, and a
    # test alarm passes when it arrived within this many milliseconds of the press.
    test_mode_minutes: int = Field(default=30, ge=1, le=24 * 60)
    test_pass_latency_ms: int = Field(default=5000, ge=100, le=600_000)
    # Device health: a band with at least this many rejected messages in 24 hours is listed.
    health_rejects_per_day: int = Field(default=10, ge=1)


class AlarmSettings(BaseModel):
    """The alarm lifecycle's choices a centre makes for itself."""

    # A fall the resident cancels ("I am OK") within the window: False, the alarm is cancelled;
    # True, the cancel is recorded and the alarm stays open until an operator has verified it by
    # a call (for residents who may press "OK" while confused or still on the floor).
    cancel_needs_verification: bool = False


class CanarySettings(BaseModel):
    """The alarm canary (docs/canary.md): the platform's own band presses SOS through the whole
    path (broker, gateway, database, engine, console feed) and must see its alarm closed in time."""

    # Run by the console process; in a deployment with several consoles, on one of them only.
    enabled: bool = True
    every_s: float = Field(default=60.0, ge=1, le=3600)
    # Press to closed alarm on the console's feed within this, or the canary is lost.
    timeout_s: float = Field(default=30.0, ge=1, le=600)
    # The brokers' band listener (mqtt://host:1883), where the canary band logs in like any band.
    # Empty: the embedded broker's band port, or the host and port of [mqtt] url.
    band_url: str = ""
    # The engine closes canary alarms this often (seconds between looks).
    echo_poll_s: float = Field(default=0.5, gt=0, le=60)

    @field_validator("band_url")
    @classmethod
    def _band_url(cls, value: str) -> str:
        return check_mqtt_url(value)


class EscalationSettings(BaseModel):
    """Escalation policies (who is told what, and when) live in their own file, as data."""

    # A relative path is relative to the project root. Checked when the engine starts; a new
    # alarm takes a snapshot of its policy, so an edit applies to alarms raised after it.
    policies_file: str = "config/escalation.toml"
    # How often the worker looks for due escalation steps.
    poll_s: float = Field(default=1.0, gt=0, le=60)

    @property
    def policies_path(self) -> Path:
        path = Path(self.policies_file)
        return path if path.is_absolute() else PROJECT_ROOT / path


class ConsoleSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # A login ends after this long without a request (an open live page keeps it alive) ...
    session_idle_timeout_s: int = Field(default=3600, ge=60, le=7 * 86400)
    # ... and this long after it began, however busy (a 12-hour shift).
    session_max_age_s: int = Field(default=43200, ge=300, le=30 * 86400)
    # The session cookie's Secure flag, always. Without it the cookie is still Secure on every
    # request that came over https (directly, or per a trusted proxy's X-Forwarded-Proto).
    secure_cookies: bool = False
    # The console serves https itself with this certificate (PEM, chain included) and key; both
    # or neither. Empty: plain http (`make run` on 127.0.0.1, or TLS ended by a reverse proxy).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For, -Proto and -Host are
    # believed. Empty (the default): nobody's, so no client can claim another address or https.
    # Behind Caddy or nginx on this host: ["127.0.0.1", "::1"]; in compose: the proxy's network.
    # From the environment as JSON: OPASKA_CONSOLE_TRUSTED_PROXIES='["127.0.0.1", "::1"]'.
    trusted_proxies: list[str] = Field(default_factory=list, max_length=100)
    # Login throttling (console/auth/rate_limit.py). Failures count for login_window_s seconds.
    # From one address for one username, login_free_failures are free; each one after doubles
    # the wait before the next try from that address for that username (1 s, 2 s, 4 s, …) up to
    # login_max_delay_s. The same from one address over all usernames past
    # login_address_free_failures. Past login_username_ceiling failures for one username from
    # everywhere, every address that has failed for it waits login_max_delay_s between tries; an
    # address that has not failed is never held back.
    login_window_s: int = Field(default=900, ge=10, le=86400)
    login_free_failures: int = Field(default=3, ge=1, le=1000)
    login_address_free_failures: int = Field(default=10, ge=1, le=10000)
    login_max_delay_s: int = Field(default=60, ge=1, le=3600)
    login_username_ceiling: int = Field(default=100, ge=1, le=100000)
    # Failed logins are kept this long for the supervisors' audit (GET /api/login-failures).
    login_audit_days: int = Field(default=30, ge=1, le=400)
    # Fernet key (urlsafe base64 of 32 bytes) that encrypts key-safe codes at rest. Empty:
    # `opaska run` keeps one in var/console-data-key; production sets OPASKA_CONSOLE_DATA_KEY.
    data_key: SecretStr = SecretStr("")
    # Roles that must have a second factor (TOTP): after the password, someone of such a role with
    # none is sent to enrol one before anything else. Empty (the default): optional, turned on by
    # each supervisor or administrator on Moje konto. E.g. ["supervisor", "administrator"].
    require_2fa_for: list[Literal["operator", "supervisor", "technician", "administrator"]] = Field(
        default_factory=list, max_length=4
    )
    # The map on the alarm page and the band and resident cards: a tile URL template ({z}, {x},
    # {y}; {s} for subdomains) fetched by the operator's browser, never by the server. Empty: no
    # tiles (offline centres, tests); the marker, accuracy circle and coordinates still show.
    map_tiles_url: str = Field(default="https://tile.openstreetmap.org/{z}/{x}/{y}.png", max_length=500)
    # Shown on the map as the tile provider asks (OpenStreetMap's licence requires it).
    map_attribution: str = Field(default="© OpenStreetMap contributors", max_length=300)

    @field_validator("map_tiles_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        value = value.strip()
        if value and not (value.startswith(("https://", "http://")) and all(p in value for p in ("{z}", "{x}", "{y}"))):
            raise ValueError("must be empty or an http(s) URL with {z}, {x} and {y}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (CIDR)") from None
        return [entry.strip() for entry in value]

    @model_validator(mode="after")
    def _tls_pair(self) -> ConsoleSettings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file and tls_key_file go together: set both, or neither")
        return self

    @field_validator("data_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw:
            import base64
            import binascii

            try:
                decoded = base64.urlsafe_b64decode(raw.encode())
            except (binascii.Error, ValueError):
                decoded = b""
            if len(decoded) != 32:
                raise ValueError("must be a Fernet key: urlsafe base64 of 32 bytes (python -m console.data_key)")
        return value


class NotifySettings(BaseModel):
    # "outbox": notifications are recorded (database, log) and nothing leaves: no network needed.
    # "twilio": SMS and calls through Twilio, configured in [twilio].
    mode: Literal["outbox", "twilio"] = "outbox"
    # Tries of one SMS or call before it is failed (an SMS then falls back to a call).
    max_attempts: int = Field(default=5, ge=1, le=20)
    # How long a send may be in flight before it is reconciled (Twilio asked what went out);
    # must be well above twilio.timeout_s, so a live request is never reconciled under its feet.
    send_deadline_s: float = Field(default=60.0, gt=0, le=3600)
    # A send whose answer was lost is reconciled this long after (time for Twilio's callback).
    reconcile_after_s: float = Field(default=15.0, gt=0, le=600)
    # At most this many SMS and calls to one number per minute; the rest wait their turn.
    per_number_per_minute: int = Field(default=6, ge=1, le=60)
    # Signs the status link in an alert SMS (a page at twilio.public_url + /s/… showing where the
    # alarm stands, no login). Empty: no link is sent. A long random string; keep it out of files.
    status_link_secret: SecretStr = SecretStr("")
    # How long a status link works after the SMS was written.
    status_link_hours: int = Field(default=24, ge=1, le=24 * 14)


class TwilioSettings(BaseModel):
    """Twilio's account, our number, and where Twilio reaches our webhooks."""

    account_sid: str = ""
    # A secret: printed as ********** by the settings, read with .get_secret_value().
    auth_token: SecretStr = SecretStr("")
    # Our Twilio number (E.164), the sender of SMS and the caller of calls.
    from_number: str = ""
    # The public base URL Twilio calls back (https://alarm.example.pl); webhook signatures are
    # checked against this URL, never against the URL a request arrived on (a proxy changes that).
    public_url: str = ""
    # Empty: Twilio itself. Set to a fake's URL (simulator.fake_twilio) for tests and demos.
    api_base_url: str = ""
    # Every request to Twilio is bounded by this (the async client ignores its own timeout).
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("public_url", "api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL (got {value!r})")
        return value.rstrip("/")

    def missing(self) -> list[str]:
        """The settings [notify] mode = "twilio" needs and does not have."""
        return [name for name in ("account_sid", "auth_token", "from_number", "public_url") if not getattr(self, name)]


class VoiceSettings(BaseModel):
    """Telephone calls through Twilio (docs/voice.md): the operator's calls from an alarm, and calls
    a band or a resident places to the centre's number ([twilio] from_number)."""

    # How long Twilio rings the operator's own phone before the call is given up.
    operator_ring_s: int = Field(default=30, ge=5, le=120)
    # How long the far end (band, resident, relative) rings before "nie odbiera".
    far_ring_s: int = Field(default=40, ge=5, le=120)
    # The municipality (its code) an alarm from an unknown caller belongs to; empty: no
    # municipality, so only administrators see it.
    unknown_caller_municipality: str = ""
    # Calls are recorded only in these municipalities (codes), and there only for residents whose
    # card records their consent (RODO). Empty: nothing is ever recorded.
    record_municipalities: list[str] = []
    # A recording is deleted this long after the call (and at once when its resident is erased).
    recording_retention_days: int = Field(default=90, ge=1, le=3650)


class MetricsSettings(BaseModel):
    """Prometheus /metrics of `opaska gateway` and `opaska engine` run as their own processes
    (the console serves its own at /metrics, and `opaska run` serves everything there). 0: off."""

    host: str = "127.0.0.1"
    gateway_port: int = Field(default=9101, ge=0, le=65535)
    engine_port: int = Field(default=9102, ge=0, le=65535)


class TraccarSettings(BaseModel):
    """Traccar as a protocol front end: its events (and positions) forwarded over MQTT (docs/devices/traccar.md)."""

    enabled: bool = False
    # Topics on the platform's broker, under [mqtt] topic_root: Traccar's event.forward.topic
    # must be "{topic_root}/{events_topic}", forward.topic "{topic_root}/{positions_topic}".
    # MQTT wildcards are allowed. An empty positions_topic: positions are not read.
    events_topic: str = "traccar/events"
    positions_topic: str = "traccar/positions"

    @field_validator("events_topic", "positions_topic")
    @classmethod
    def _relative_topic(cls, value: str) -> str:
        if value.startswith("/") or value.endswith("/"):
            raise ValueError("a topic under [mqtt] topic_root, without leading or trailing '/'")
        return value


class WatchSettings(BaseModel):
    """The native watch-protocol receiver ([SG*ID*LEN*...] over TCP; docs/devices/watch-protocol.md)."""

    enabled: bool = False
    # Watches dial in from the mobile network: every interface by default once enabled.
    host: str = "0.0.0.0"  # noqa: S104 - a receiver for devices on the internet; off unless enabled
    port: int = Field(default=5093, ge=0, le=65535)
    # A connection without a complete frame this long is closed (watches send LK every few minutes).
    idle_timeout_s: float = Field(default=900.0, gt=0, le=86400)
    # A frame must be complete this long after its first byte: a 1 byte/s client is cut off.
    frame_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    max_connections: int = Field(default=20000, ge=1, le=1_000_000)
    # Longer frames (voice messages, photos) are refused; alarms and positions are a few hundred bytes.
    max_frame_bytes: int = Field(default=16384, ge=256, le=1_048_576)
    # Send REMOVE,1 to every watch that connects, so it reports its strap being taken off.
    strap_alarm: bool = True


class ReportSettings(BaseModel):
    # The centre's own name on the monthly report's cover and on the whole centre's report
    # (e.g. "Centrum Teleopieki MOPS we Wrocławiu").
    centre_name: str = Field(default="Centrum teleopieki", min_length=1, max_length=200)
    # The programme the bands are funded from, on the cover (e.g. "Korpus Wsparcia Seniorów 2026,
    # moduł II"); empty: no programme line.
    programme: str = Field(default="", max_length=200)


class LogSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPASKA_",
        env_nested_delimiter="_",
        # OPASKA_MQTT_TOPIC_ROOT is mqtt.topic_root: split once, after the section name.
        env_nested_max_split=1,
        extra="ignore",
    )

    database: DatabaseSettings = DatabaseSettings()
    mqtt: MqttSettings = MqttSettings()
    bands: BandSettings = BandSettings()
    alarms: AlarmSettings = AlarmSettings()
    escalation: EscalationSettings = EscalationSettings()
    canary: CanarySettings = CanarySettings()
    console: ConsoleSettings = ConsoleSettings()
    notify: NotifySettings = NotifySettings()
    twilio: TwilioSettings = TwilioSettings()
    voice: VoiceSettings = VoiceSettings()
    metrics: MetricsSettings = MetricsSettings()
    traccar: TraccarSettings = TraccarSettings()
    watch: WatchSettings = WatchSettings()
    reports: ReportSettings = ReportSettings()
    log: LogSettings = LogSettings()

    @model_validator(mode="after")
    def _deadline_outlasts_a_request(self) -> Settings:
        # A request and the look-up after it each take up to twilio.timeout_s.
        if self.notify.send_deadline_s <= 2 * self.twilio.timeout_s:
            raise ValueError(
                f"notify.send_deadline_s ({self.notify.send_deadline_s:g}) must be more than twice "
                f"twilio.timeout_s ({self.twilio.timeout_s:g})"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get("OPASKA_CONFIG_FILE", DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, config_file))


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it and the variable that sets it."""


def load_settings() -> Settings:
    """Read the settings, turning a validation error into one line per bad setting."""
    config_file = Path(os.environ.get("OPASKA_CONFIG_FILE", DEFAULT_CONFIG_FILE))
    if "OPASKA_CONFIG_FILE" in os.environ and not config_file.is_file():
        raise SettingsError(f"OPASKA_CONFIG_FILE: no such file {config_file}")
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            if not error["loc"]:  # a rule across sections
                lines.append(
                    f"bad settings ({config_file.name} or OPASKA_*): {error['msg'].removeprefix('Value error, ')}"
                )
                continue
            path = ".".join(str(part) for part in error["loc"])
            variable = "OPASKA_" + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(
                f"bad setting {path} ({variable} or [{error['loc'][0]}] in {config_file.name}): {error['msg']}"
            )
        raise SettingsError("; ".join(lines)) from None
    except Exception as exc:  # a broken TOML file raises its own decoder error
        raise SettingsError(f"cannot read settings from {config_file}: {exc}") from None
