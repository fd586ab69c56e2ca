"""No secret, password, token or medical note in the logs. Canary values are planted in every
secret field (a band's secret, staff passwords, the session cookie and CSRF token, Twilio's auth
token, the data key, the status-link secret, medical notes, a key-safe code), the platform runs a
whole alarm at DEBUG level — logins good and bad, a band's SOS, the SMS to a relative through
(fake) Twilio, medical notes and the key-safe code opened — and its whole log is searched.

Found by this test: at DEBUG the database driver logged every statement with its parameters,
CSRF tokens among them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import FakeClock
from core.mqtt.endpoint import parse_mqtt_url
from gateway.topics import TopicScheme
from registry.model import Resident
from simulator.band import RepeatPolicy, VirtualBand
from simulator.fake_twilio import FakeTwilio
from simulator.lab.processes import opaska_env, wait_healthy
from simulator.lab.staff import PASSWORD, create_staff, log_in
from tests.conftest import TEST_MQTT_URL
from tests.support.processes import opaska_process
from tests.support.require import free_port, free_port_pair
from tests.support.seed import seed_resident_with_band

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

CANARY = {
    "twilio auth token": "cafe" * 8,
    "status link secret": "canary-link-secret-51c0",
    "medical notes": "canary-medical-insulina-7d2a",
    "key-safe code": "canary-keysafe-9931",
    "wrong password": "canary-bad-password-0f3e",
}
POLICIES = """
[kinds]
sos = "quick"
fall = "quick"
band_offline = "technical"
battery_low = "technical"
not_worn = "technical"
voice_call = "quick"
no_checkin = "quick"
left_zone = "quick"
welfare_call = "quick"
canary = "quick"
canary_lost = "quick"

[policies.quick]
steps = [
  { after_s = 0, channel = "console", targets = ["operators"], sound = true },
  { after_s = 1, channel = "sms", targets = ["contacts"], next_contact_after_s = 60 },
]

[policies.technical]
steps = [{ after_s = 0, channel = "console", targets = ["operators"] }]
"""


async def test_no_secret_reaches_the_log(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    clock: FakeClock,
    topics: TopicScheme,
    client_prefix: str,
    tmp_path: Path,
) -> None:
    seeded = await seed_resident_with_band(sessions, clock, first_name="Zofia")
    async with sessions() as session, session.begin():
        await session.execute(
            update(Resident).where(Resident.id == seeded.resident_id).values(medical_notes=CANARY["medical notes"])
        )
    supervisor = await create_staff(sessions, clock, role="supervisor", municipality_ids=[seeded.municipality_id])
    data_key = Fernet.generate_key().decode()
    policies = tmp_path / "escalation.toml"
    policies.write_text(POLICIES)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "opaska.log"
    async with FakeTwilio(auth_token=CANARY["twilio auth token"]) as fake:
        env = opaska_env(
            OPASKA_DATABASE_URL=database_url,
            OPASKA_CONSOLE_PORT=str(port),
            OPASKA_LOG_LEVEL="DEBUG",
            OPASKA_MQTT_TOPIC_ROOT=topics.root,
            OPASKA_MQTT_CLIENT_ID_PREFIX=client_prefix,
            OPASKA_METRICS_GATEWAY_PORT="0",
            OPASKA_METRICS_ENGINE_PORT="0",
            OPASKA_CONSOLE_DATA_KEY=data_key,
            OPASKA_ESCALATION_POLICIES_FILE=str(policies),
            OPASKA_ESCALATION_POLL_S="0.2",
            OPASKA_NOTIFY_MODE="twilio",
            OPASKA_NOTIFY_STATUS_LINK_SECRET=CANARY["status link secret"],
            OPASKA_TWILIO_ACCOUNT_SID=fake.account_sid,
            OPASKA_TWILIO_AUTH_TOKEN=fake.auth_token,
            OPASKA_TWILIO_FROM_NUMBER=fake.phone_number,
            OPASKA_TWILIO_PUBLIC_URL="https://alarm.opaska.example",
            OPASKA_TWILIO_API_BASE_URL=fake.url,
        )
        if TEST_MQTT_URL:
            env["OPASKA_MQTT_URL"] = TEST_MQTT_URL
            env["OPASKA_MQTT_ALLOW_INSECURE_BROKER"] = "true"  # the machine's test Mosquitto: a lab
            endpoint = parse_mqtt_url(TEST_MQTT_URL)
        else:
            broker_port = free_port_pair()
            env["OPASKA_MQTT_EMBEDDED_PORT"] = str(broker_port)
            endpoint = parse_mqtt_url(f"mqtt://127.0.0.1:{broker_port}")

        with opaska_process(["run"], env, log_path) as process:
            await wait_healthy(base, process, log_path)
            async with httpx.AsyncClient(base_url=base) as http:
                bad = await http.post(
                    "/api/login", json={"username": supervisor.username, "password": CANARY["wrong password"]}
                )
                assert bad.status_code == 401
                login = await log_in(http, supervisor)
                stored = await http.put(
                    f"/api/residents/{seeded.resident_id}/key-safe",
                    json={"code": CANARY["key-safe code"]},
                    headers={"X-CSRF-Token": login.csrf_token},
                )
                assert stored.status_code in (200, 204), stored.text

                band = VirtualBand(
                    endpoint,
                    topics,
                    seeded.serial,
                    password=seeded.secret,
                    protocol="5" if TEST_MQTT_URL else "3.1.1",
                    repeat=RepeatPolicy(3, 10),
                )
                await band.start()
                try:
                    alarm_id = int((await band.press("sos", timeout=20))["alarm_id"])
                finally:
                    await band.stop()
                deadline = time.monotonic() + 20
                while not fake.sent_to("+48601234567"):
                    assert time.monotonic() < deadline, "the relative's SMS never went out"
                    await asyncio.sleep(0.2)
                assert (await http.get(f"/api/alarms/{alarm_id}/medical")).json()["medical_notes"] == CANARY[
                    "medical notes"
                ]
                assert (await http.get(f"/api/alarms/{alarm_id}/key-safe")).json()["code"] == CANARY["key-safe code"]
                assert (await http.post("/api/logout", headers={"X-CSRF-Token": login.csrf_token})).status_code == 204

    log = log_path.read_text(errors="replace")
    assert "SOS" in log or "sos" in log  # the log did record the story
    planted = {
        **CANARY,
        "band secret": seeded.secret,
        "staff password": PASSWORD,
        "session token": login.session_token,
        "CSRF token": login.csrf_token,
        "data key": data_key,
    }
    leaked = [name for name, value in planted.items() if value in log]
    assert leaked == []
