"""opaska as real subprocesses: the way users and the other parts of the platform see it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from simulator.lab.ports import free_port, free_port_pair
from simulator.lab.processes import REPO, opaska_env


@dataclass(frozen=True)
class PlatformProcessSetup:
    """What `opaska run` as a subprocess needs: its environment, the console's URL and the broker
    the bands should use (the external test broker, or the embedded one on a free port)."""

    env: dict[str, str]
    console_url: str
    broker_url: str


def platform_process_setup(database_url: str, topic_root: str, client_prefix: str) -> PlatformProcessSetup:
    console_port = free_port()
    env = opaska_env(
        OPASKA_DATABASE_URL=database_url,
        OPASKA_CONSOLE_PORT=str(console_port),
        OPASKA_MQTT_TOPIC_ROOT=topic_root,
        OPASKA_MQTT_CLIENT_ID_PREFIX=client_prefix,
        OPASKA_MQTT_SESSION_EXPIRY_S="60",
        OPASKA_METRICS_GATEWAY_PORT="0",
        OPASKA_METRICS_ENGINE_PORT="0",
        # No map tiles: a test's browser must never reach the internet (the map draws without them).
        OPASKA_CONSOLE_MAP_TILES_URL="",
    )
    test_broker = os.environ.get("OPASKA_TEST_MQTT_URL", "")
    if test_broker:
        env["OPASKA_MQTT_URL"] = test_broker
        # The machine's test Mosquitto admits anonymous clients: a lab, said so explicitly.
        env["OPASKA_MQTT_ALLOW_INSECURE_BROKER"] = "true"
        broker_url = test_broker
    else:
        broker_port = free_port_pair()
        env["OPASKA_MQTT_EMBEDDED_PORT"] = str(broker_port)
        broker_url = f"mqtt://127.0.0.1:{broker_port}"
    return PlatformProcessSetup(env, f"http://127.0.0.1:{console_port}", broker_url)


def opaska_run_to_exit(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`opaska ARGS` as a process of its own that is expected to end (a refused start, say)."""
    return subprocess.run(
        [sys.executable, "-m", "opaska.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """What a refused start said last on standard error: the one line a user reads."""
    return result.stderr.strip().splitlines()[-1]


@contextlib.contextmanager
def opaska_process(args: list[str], env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "opaska.cli", *args], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def run_opaska_command(
    database_url: str, *args: str, stdin: str = "", locale: str = "C.UTF-8"
) -> subprocess.CompletedProcess[str]:
    """One `opaska …` command against the test's database, as a technician runs it: `opaska.cli.main`
    with the environment, standard streams and exit status of a process of its own, run in this
    one (a new interpreter per command cost the suite minutes; the entry point itself is exercised
    by the tests that start `opaska run` and friends as processes). The locale is `locale` whatever
    the machine's, so the command line speaks its default language (Polish) unless told otherwise."""
    env = {k: v for k, v in opaska_env(OPASKA_DATABASE_URL=database_url).items() if not k.startswith("LC_")}
    env["LANG"] = locale
    return await asyncio.to_thread(_run_cli_here, env, list(args), stdin)


_CLI_LOCK = threading.Lock()


def _run_cli_here(env: dict[str, str], args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    from opaska import cli

    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    saved_env = dict(os.environ)
    with _CLI_LOCK:
        os.environ.clear()
        os.environ.update(env)
        saved_streams = sys.stdin, sys.stdout, sys.stderr
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), stdout, stderr
        try:
            try:
                code = cli.main(args)
            except SystemExit as exc:  # argparse refusing the arguments, as a process would exit
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
            os.environ.clear()
            os.environ.update(saved_env)
            # cli.main configures logging for a process of its own: give the test suite's back.
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            for name, level in saved_levels.items():
                logging.getLogger(name).setLevel(level)
    return subprocess.CompletedProcess(["opaska", *args], code, out.getvalue().decode(), err.getvalue().decode())
