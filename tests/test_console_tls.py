"""The console over TLS: `[console] tls_cert_file` and `tls_key_file` make the console server
(opaska/platform.py, as `opaska run` and `opaska console` build it) serve https with that
certificate; a client verifying against it gets /healthz, HSTS, and a Secure session cookie."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import Settings
from core.startup import StartupError
from opaska.platform import _console_server
from simulator.lab.ports import free_port
from simulator.lab.staff import create_staff


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opaska test console")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "console.crt", directory / "console.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def _settings(port: int, cert_file: Path | str, key_file: Path | str) -> Settings:
    return Settings.model_validate(
        {"console": {"host": "127.0.0.1", "port": port, "tls_cert_file": str(cert_file), "tls_key_file": str(key_file)}}
    )


@contextlib.asynccontextmanager
async def _serving(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    context = ConsoleContext(
        sessions,
        AlarmFeed(sessions),
        run_feed=False,
        settings=settings.console,
        data_key=Fernet(Fernet.generate_key()),
    )
    server = _console_server(settings, context)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the console did not start"
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


@pytest.mark.asyncio
async def test_the_console_serves_https_with_the_configured_certificate(
    tmp_path: Path, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    cert_file, key_file = self_signed(tmp_path)
    staff = await create_staff(sessions, clock, role="administrator")
    port = free_port()
    verify = ssl.create_default_context(cafile=str(cert_file))
    async with _serving(_settings(port, cert_file, key_file), sessions):
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=verify) as https:
            health = await https.get("/healthz")
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            assert health.headers["strict-transport-security"] == "max-age=31536000"
            login = await https.post("/api/login", json={"username": staff.username, "password": staff.password})
            assert login.status_code == 200, login.text
            assert "Secure" in login.headers["set-cookie"]
            assert "connect-src 'self' wss://127.0.0.1:" in login.headers["content-security-policy"]
        # Plain http to the TLS port gets nowhere; neither does a client that does not trust the certificate.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get("/healthz")
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}") as unverified_ca:
            with pytest.raises(httpx.ConnectError):
                await unverified_ca.get("/healthz")


def test_an_unreadable_certificate_stops_the_start_with_a_sentence(
    tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = _settings(free_port(), tmp_path / "missing.crt", tmp_path / "missing.key")
    context = ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, settings=settings.console)
    with pytest.raises(StartupError, match="the console's certificate or key cannot be used"):
        _console_server(settings, context)
