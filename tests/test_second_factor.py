"""The second factor (TOTP) through the console's API: enrolment on Moje konto, the login's second
step (the session opens only after the code), replays refused, wrong codes in the login throttle
without keeping the right person out, recovery codes once, turning it off, an administrator's
reset (console and CLI, audited), and the policy that sends a role to enrol before anything else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.auth import login_steps
from console.auth.sessions import COOKIE, CSRF_HEADER
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import ConsoleSettings
from registry import totp
from registry.model import LoginAttempt
from registry.second_factor_model import StaffRecoveryCode, StaffSecondFactor, StaffSecurityEvent
from simulator.lab.staff import StaffMember, create_staff, log_in
from tests.support.processes import run_opaska_command
from tests.support.seed import seed_resident_with_band

pytestmark = pytest.mark.asyncio

SUPERVISORS_PC = "192.0.2.10"
ATTACKER = "203.0.113.66"
DATA_KEY = Fernet(Fernet.generate_key())


@dataclass
class Centre:
    sessions: async_sessionmaker[AsyncSession]
    clock: FakeClock
    operator: StaffMember
    supervisor: StaffMember
    administrator: StaffMember
    opened: list[httpx.AsyncClient]

    def client(
        self, address: str = SUPERVISORS_PC, *, data_key: Fernet | None = DATA_KEY, **settings: object
    ) -> httpx.AsyncClient:
        context = ConsoleContext(
            self.sessions,
            AlarmFeed(self.sessions),
            run_feed=False,
            settings=ConsoleSettings.model_validate(settings),
            data_key=data_key,
        )
        transport = httpx.ASGITransport(app=create_app(context, clock=self.clock), client=(address, 40000))
        self.opened.append(httpx.AsyncClient(transport=transport, base_url="http://console"))
        return self.opened[-1]

    def code(self, secret: str, *, steps: int = 0) -> str:
        """The app's code now, or `steps` steps of 30 s before (negative) or after."""
        return totp.totp(totp.secret_bytes(secret), self.clock.now().timestamp() + steps * totp.STEP_S)

    def next_step(self) -> None:
        self.clock.advance(totp.STEP_S)


@pytest_asyncio.fixture
async def centre(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> AsyncIterator[Centre]:
    here = await seed_resident_with_band(sessions, clock)
    ids = [here.municipality_id]
    made = Centre(
        sessions,
        clock,
        await create_staff(sessions, clock, role="operator", municipality_ids=ids),
        await create_staff(sessions, clock, role="supervisor", municipality_ids=ids),
        await create_staff(sessions, clock, role="administrator"),
        [],
    )
    yield made
    for client in made.opened:
        await client.aclose()


async def _password(http: httpx.AsyncClient, member: StaffMember) -> httpx.Response:
    return await http.post("/api/login", json={"username": member.username, "password": member.password})


async def _second_step(http: httpx.AsyncClient, member: StaffMember) -> None:
    """The password, answered by a login step (202): its CSRF token set for the next requests."""
    answer = await _password(http, member)
    assert answer.status_code == 202, answer.text
    assert answer.json()["second_factor"] == "code"
    assert COOKIE not in answer.cookies
    http.headers[CSRF_HEADER] = answer.json()["csrf_token"]


async def _code(http: httpx.AsyncClient, code: str) -> httpx.Response:
    return await http.post("/api/login/code", json={"code": code})


async def _enrol(centre: Centre, member: StaffMember) -> tuple[str, list[str]]:
    """Turn the member's second factor on from Moje konto; the secret and the recovery codes."""
    http = centre.client()
    await log_in(http, member)
    begun = await http.post("/api/me/second-factor/enrolment")
    assert begun.status_code == 200, begun.text
    secret = begun.json()["secret"]
    confirmed = await http.post("/api/me/second-factor/confirm", json={"code": centre.code(secret)})
    assert confirmed.status_code == 200, confirmed.text
    # The code typed at enrolment is used up: the login below waits for the next one.
    centre.next_step()
    return secret, confirmed.json()["recovery_codes"]


async def _events(centre: Centre, staff_id: int) -> list[tuple[str, int | None]]:
    async with centre.sessions() as session:
        rows = await session.execute(
            select(StaffSecurityEvent.what, StaffSecurityEvent.actor_id)
            .where(StaffSecurityEvent.staff_id == staff_id)
            .order_by(StaffSecurityEvent.id)
        )
        return [(what, actor) for what, actor in rows]


async def test_enrolment_shows_the_secret_once_and_needs_a_right_code(centre: Centre) -> None:
    http = centre.client()
    await log_in(http, centre.supervisor)
    state = (await http.get("/api/me/second-factor")).json()
    assert state == {
        "enabled": False,
        "enabled_at": None,
        "recovery_codes_left": 0,
        "required": False,
        "may_enrol": True,
    }

    begun = (await http.post("/api/me/second-factor/enrolment")).json()
    secret = begun["secret"]
    assert len(totp.secret_bytes(secret)) == 20
    assert begun["otpauth_uri"].startswith(f"otpauth://totp/opaska:{centre.supervisor.username}?secret={secret}")
    assert begun["qr_svg"].startswith("data:image/svg+xml")
    # Not on until a code is typed: the login still needs only the password.
    assert (await http.get("/api/me/second-factor")).json()["enabled"] is False
    assert (await _password(centre.client(), centre.supervisor)).status_code == 200

    wrong = await http.post("/api/me/second-factor/confirm", json={"code": "000000"})
    assert wrong.status_code == 422
    confirmed = await http.post("/api/me/second-factor/confirm", json={"code": centre.code(secret)})
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(code) == 19 and code.count("-") == 3 for code in codes)

    state = (await http.get("/api/me/second-factor")).json()
    assert state["enabled"] is True
    assert state["recovery_codes_left"] == 10
    # A second enrolment over the first is refused: turned off first.
    assert (await http.post("/api/me/second-factor/enrolment")).status_code == 409

    # At rest: the secret encrypted under the data key, the recovery codes only hashed.
    async with centre.sessions() as session:
        stored = await session.get(StaffSecondFactor, centre.supervisor.id)
        assert stored is not None
        assert secret not in stored.secret_encrypted
        assert DATA_KEY.decrypt(stored.secret_encrypted.encode()).decode() == secret
        hashes = (await session.execute(select(StaffRecoveryCode.code_hash))).scalars().all()
        assert not {code.replace("-", "") for code in codes} & set(hashes)
    assert await _events(centre, centre.supervisor.id) == [("enrolled", centre.supervisor.id)]


async def test_only_supervisors_and_administrators_may_enrol_unless_the_policy_says_so(centre: Centre) -> None:
    http = centre.client()
    await log_in(http, centre.operator)
    assert (await http.get("/api/me/second-factor")).json()["may_enrol"] is False
    assert (await http.post("/api/me/second-factor/enrolment")).status_code == 403
    required = centre.client(require_2fa_for=["operator"])
    answer = await _password(required, centre.operator)
    assert answer.status_code == 202
    assert answer.json()["second_factor"] == "enrol"


async def test_the_session_opens_only_after_the_code(centre: Centre) -> None:
    secret, _ = await _enrol(centre, centre.supervisor)
    http = centre.client()
    await _second_step(http, centre.supervisor)
    # Half logged in opens nothing.
    assert (await http.get("/api/me")).status_code == 401
    assert (await http.get("/api/alarms")).status_code == 401
    page = await http.get("/", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    assert (await http.get("/login/second-factor")).status_code == 200

    # The step's own CSRF token is needed.
    token = http.headers.pop(CSRF_HEADER)
    assert (await _code(http, centre.code(secret))).status_code == 403
    http.headers[CSRF_HEADER] = token

    opened = await _code(http, centre.code(secret))
    assert opened.status_code == 200, opened.text
    assert opened.json()["user"]["username"] == centre.supervisor.username
    http.headers[CSRF_HEADER] = opened.json()["csrf_token"]
    assert (await http.get("/api/me")).status_code == 200
    # The step is over: its cookie opens nothing more.
    assert login_steps.COOKIE not in http.cookies
    over = await http.get("/login/second-factor", follow_redirects=False)
    assert over.status_code == 200
    assert "Nie trwa żadne logowanie" in over.text
    # A session is no login step: the step's routes stay shut to it.
    assert (await _code(http, centre.code(secret, steps=1))).status_code == 401


async def test_a_code_works_once_and_within_one_step_either_side(centre: Centre) -> None:
    secret, _ = await _enrol(centre, centre.supervisor)
    first = centre.client()
    await _second_step(first, centre.supervisor)
    code = centre.code(secret)
    assert (await _code(first, code)).status_code == 200

    # The same code again (seen over a shoulder, replayed) is refused, however soon.
    again = centre.client()
    await _second_step(again, centre.supervisor)
    refused = await _code(again, code)
    assert refused.status_code == 401
    assert "already used" in refused.json()["detail"]

    # A phone 30 s ahead: the next step's code is taken; after it, the current one is old.
    assert (await _code(again, centre.code(secret, steps=1))).status_code == 200
    late = centre.client()
    await _second_step(late, centre.supervisor)
    assert (await _code(late, centre.code(secret))).status_code == 401
    # Two steps ahead is too far, whatever came before.
    assert (await _code(late, centre.code(secret, steps=3))).status_code == 401
    # The code of the step before is accepted (typed as it changed), once newer than the last used.
    centre.clock.advance(3 * totp.STEP_S)
    assert (await _code(late, centre.code(secret, steps=-1))).status_code == 200


async def test_wrong_codes_are_throttled_like_passwords_without_keeping_the_right_person_out(centre: Centre) -> None:
    secret, _ = await _enrol(centre, centre.supervisor)
    attacker = centre.client(ATTACKER)
    await _second_step(attacker, centre.supervisor)
    answers = [(await _code(attacker, f"{n:06d}")).status_code for n in range(4)]
    # Three failures are free, as for passwords; then the address waits.
    assert answers[:3] == [401, 401, 401]
    assert answers[3] == 429 or answers[3] == 401
    throttled = await _code(attacker, "123456")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    # The wait holds for the password too, from that address for that name.
    assert (await _password(centre.client(ATTACKER), centre.supervisor)).status_code == 429

    # The supervisor at their own PC: password and code at once.
    mine = centre.client(SUPERVISORS_PC)
    await _second_step(mine, centre.supervisor)
    assert (await _code(mine, centre.code(secret))).status_code == 200

    # The failures are audited as codes: the password was right, someone may know it.
    async with centre.sessions() as session:
        factors = (await session.execute(select(LoginAttempt.factor, LoginAttempt.client_ip))).all()
    assert {(f, ip) for f, ip in factors} == {("code", ATTACKER)}
    admin = centre.client()
    await log_in(admin, centre.administrator)
    listed = (await admin.get("/api/login-failures")).json()["failures"]
    assert {f["factor"] for f in listed} == {"code"}


async def test_five_wrong_codes_end_the_login_step(centre: Centre) -> None:
    await _enrol(centre, centre.supervisor)
    http = centre.client(login_free_failures=100, login_address_free_failures=100)
    await _second_step(http, centre.supervisor)
    for _ in range(login_steps.MAX_WRONG_CODES - 1):
        assert (await _code(http, "000000")).status_code == 401
    last = await _code(http, "000000")
    assert last.status_code == 401
    assert "log in again" in last.json()["detail"]
    assert (await _code(http, "000000")).json()["detail"].startswith("no login in progress")


async def test_a_recovery_code_works_once(centre: Centre) -> None:
    _, codes = await _enrol(centre, centre.supervisor)
    http = centre.client()
    await _second_step(http, centre.supervisor)
    # Typed as people type it: upper case, spaces for dashes.
    typed = codes[3].upper().replace("-", " ")
    opened = await _code(http, typed)
    assert opened.status_code == 200, opened.text
    http.headers[CSRF_HEADER] = opened.json()["csrf_token"]
    assert (await http.get("/api/me/second-factor")).json()["recovery_codes_left"] == 9

    again = centre.client()
    await _second_step(again, centre.supervisor)
    assert (await _code(again, codes[3])).status_code == 401
    assert (await _code(again, codes[4])).status_code == 200
    assert [what for what, _ in await _events(centre, centre.supervisor.id)] == [
        "enrolled",
        "recovery_code_used",
        "recovery_code_used",
    ]


async def test_turning_it_off_needs_the_password_or_a_code(centre: Centre) -> None:
    secret, _ = await _enrol(centre, centre.supervisor)
    http = centre.client()
    await _second_step(http, centre.supervisor)
    opened = await _code(http, centre.code(secret))
    http.headers[CSRF_HEADER] = opened.json()["csrf_token"]

    assert (await http.post("/api/me/second-factor/disable", json={})).status_code == 422
    wrong = await http.post("/api/me/second-factor/disable", json={"password": "not it"})
    assert wrong.status_code == 422
    # The code just used to log in is spent: it turns nothing off either.
    assert (await http.post("/api/me/second-factor/disable", json={"code": centre.code(secret)})).status_code == 422
    centre.next_step()
    off = await http.post("/api/me/second-factor/disable", json={"code": centre.code(secret)})
    assert off.status_code == 204, off.text
    assert (await http.get("/api/me/second-factor")).json()["enabled"] is False
    assert (await _password(centre.client(), centre.supervisor)).status_code == 200
    # Wrong tries here are login failures too (a stolen session cannot guess the password at leisure).
    async with centre.sessions() as session:
        tries = (await session.execute(select(LoginAttempt.factor))).scalars().all()
    assert sorted(tries) == ["code", "password"]

    # On again, and off with the password.
    await _enrol(centre, centre.supervisor)
    http2 = centre.client()
    await _second_step(http2, centre.supervisor)
    opened = await _code(http2, centre.code(secret := (await _current_secret(centre, centre.supervisor))))
    http2.headers[CSRF_HEADER] = opened.json()["csrf_token"]
    off = await http2.post("/api/me/second-factor/disable", json={"password": centre.supervisor.password})
    assert off.status_code == 204
    assert [what for what, _ in await _events(centre, centre.supervisor.id)] == [
        "enrolled",
        "disabled",
        "enrolled",
        "disabled",
    ]


async def _current_secret(centre: Centre, member: StaffMember) -> str:
    async with centre.sessions() as session:
        stored = await session.get(StaffSecondFactor, member.id)
        assert stored is not None
        return DATA_KEY.decrypt(stored.secret_encrypted.encode()).decode()


async def test_an_administrator_resets_another_persons_second_factor(centre: Centre) -> None:
    secret, _ = await _enrol(centre, centre.supervisor)
    supervisor = centre.client()
    await _second_step(supervisor, centre.supervisor)
    opened = await _code(supervisor, centre.code(secret))
    supervisor.headers[CSRF_HEADER] = opened.json()["csrf_token"]

    path = f"/api/staff/{centre.supervisor.id}/second-factor/reset"
    assert (await supervisor.post(path)).status_code == 403
    assert (await supervisor.get("/api/staff/second-factor")).status_code == 403

    admin = centre.client()
    await log_in(admin, centre.administrator)
    listed = {s["username"]: s for s in (await admin.get("/api/staff/second-factor")).json()["staff"]}
    assert listed[centre.supervisor.username]["enabled"] is True
    assert listed[centre.operator.username]["enabled"] is False
    assert (await admin.post(path)).status_code == 204
    assert (await admin.post("/api/staff/999999/second-factor/reset")).status_code == 404

    # Their sessions end; the password alone logs them in again (no policy here).
    assert (await supervisor.get("/api/me")).status_code == 401
    assert (await _password(centre.client(), centre.supervisor)).status_code == 200
    listed = {s["username"]: s for s in (await admin.get("/api/staff/second-factor")).json()["staff"]}
    row = listed[centre.supervisor.username]
    assert (row["enabled"], row["last_change"], row["last_change_by"]) == (
        False,
        "reset",
        centre.administrator.username,
    )
    assert (await _events(centre, centre.supervisor.id))[-1] == ("reset", centre.administrator.id)


async def test_the_cli_resets_a_second_factor(centre: Centre, database_url: str) -> None:
    await _enrol(centre, centre.supervisor)
    done = await run_opaska_command(database_url, "user", "reset-2fa", centre.supervisor.username)
    assert done.returncode == 0, done.stderr
    assert "drugi składnik" in done.stdout
    assert (await _password(centre.client(), centre.supervisor)).status_code == 200
    assert (await _events(centre, centre.supervisor.id))[-1] == ("reset", None)
    nothing = await run_opaska_command(database_url, "user", "reset-2fa", centre.supervisor.username)
    assert "nic nie zmieniono" in nothing.stdout
    unknown = await run_opaska_command(database_url, "user", "reset-2fa", "nobody-here")
    assert unknown.returncode == 2
    assert "nie ma konta" in unknown.stderr


async def test_the_policy_sends_the_role_to_enrol_before_anything_else(centre: Centre) -> None:
    policy = {"require_2fa_for": ["supervisor", "administrator"]}
    # Someone of a role the policy leaves alone logs in as before.
    assert (await _password(centre.client(**policy), centre.operator)).status_code == 200

    http = centre.client(**policy)
    answer = await _password(http, centre.supervisor)
    assert answer.status_code == 202
    assert answer.json()["second_factor"] == "enrol"
    http.headers[CSRF_HEADER] = answer.json()["csrf_token"]
    for path in ("/api/me", "/api/alarms", "/api/me/second-factor"):
        assert (await http.get(path)).status_code == 401, path
    assert (await http.post("/api/me/second-factor/enrolment")).status_code == 401
    page = await http.get("/login/second-factor")
    assert page.status_code == 200
    assert "Włącz logowanie dwuetapowe" in page.text
    # No code to type yet: enrolment first.
    assert (await _code(http, "123456")).status_code == 409

    begun = await http.post("/api/login/enrolment")
    assert begun.status_code == 200, begun.text
    secret = begun.json()["secret"]
    assert (await http.post("/api/login/enrolment/confirm", json={"code": "000000"})).status_code == 422
    assert (await http.get("/api/me")).status_code == 401
    done = await http.post("/api/login/enrolment/confirm", json={"code": centre.code(secret)})
    assert done.status_code == 200, done.text
    assert len(done.json()["recovery_codes"]) == 10
    http.headers[CSRF_HEADER] = done.json()["csrf_token"]
    state = (await http.get("/api/me/second-factor")).json()
    assert (state["enabled"], state["required"]) == (True, True)
    # Required: it cannot be turned off.
    centre.next_step()
    refused = await http.post("/api/me/second-factor/disable", json={"password": centre.supervisor.password})
    assert refused.status_code == 409

    # Next login: the code, as for anyone enrolled.
    again = centre.client(**policy)
    await _second_step(again, centre.supervisor)
    assert (await _code(again, centre.code(secret))).status_code == 200


async def test_no_data_key_no_enrolment(centre: Centre) -> None:
    http = centre.client(data_key=None)
    await log_in(http, centre.supervisor)
    refused = await http.post("/api/me/second-factor/enrolment")
    assert refused.status_code == 503
    assert "OPASKA_CONSOLE_DATA_KEY" in refused.json()["detail"]


async def test_the_secret_and_codes_are_never_logged_nor_answered_after_enrolment(
    centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret, codes = await _enrol(centre, centre.supervisor)
    http = centre.client()
    await _second_step(http, centre.supervisor)
    code = centre.code(secret)
    opened = await _code(http, code)
    http.headers[CSRF_HEADER] = opened.json()["csrf_token"]
    answers = [await http.get(path) for path in ("/api/me", "/api/me/second-factor", "/account")]
    admin = centre.client()
    await log_in(admin, centre.administrator)
    answers.append(await admin.get("/api/staff/second-factor"))
    for answer in answers:
        assert secret not in answer.text
        assert not any(c in answer.text for c in codes)
    logged = caplog.text
    assert secret not in logged
    assert code not in logged
    assert not any(c in logged for c in codes)
