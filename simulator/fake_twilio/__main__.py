"""`python -m simulator.fake_twilio --port 8999 --auth-token … --inbound-sms-url … --map PUBLIC=LOCAL --auto`

Point opaska's Twilio client at the printed URL. Act out with curl against /_fake/…: `reply` (From, Body),
`answer`/`press` (CallSid, Digits), `message-status`/`call-status` (Sid, Status), `fault` (Kind, Count, …);
voice: `script` (Number, Outcome, After, HangUpAfter, Digits), `incoming-call` (From, To, Url), `hang-up`
(CallSid, Status), `advance` (Seconds); GET /_fake/state shows what was sent, conferences, queues, recordings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import cast

from simulator.fake_twilio.config import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_NUMBER,
    OUTCOMES,
    AutoPlay,
    CallScript,
    Outcome,
    VoiceNumber,
)
from simulator.fake_twilio.server import FakeTwilio


def _pairs(values: list[str]) -> dict[str, str]:
    return dict(value.split("=", 1) for value in values)


def _script(value: str) -> CallScript:
    """`answer`, `answer:3` (after 3 s), `answer:3:60` (and hangs up after 60 s), `busy`, `no-answer`…"""
    outcome, *times = value.split(":")
    if outcome not in OUTCOMES:
        raise argparse.ArgumentTypeError(f"outcome must be one of {sorted(OUTCOMES)}")
    after = float(times[0]) if times else 2.0
    hang_up_after = float(times[1]) if len(times) > 1 else None
    return CallScript(cast(Outcome, outcome), after, hang_up_after)


async def serve(args: argparse.Namespace) -> None:
    auto = AutoPlay(delay=args.auto_delay, by_number={}, digits=_pairs(args.press)) if args.auto or args.press else None
    fake = FakeTwilio(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        host=args.host,
        port=args.port,
        phone_number=args.number,
        inbound_sms_url=args.inbound_sms_url,
        url_map=_pairs(args.map),
        auto=auto,
        scripts={number: _script(value) for number, value in _pairs(args.script).items()},
        voice_numbers={number: VoiceNumber(url) for number, url in _pairs(args.voice_url).items()},
        voice_realtime=args.voice_realtime or args.auto,  # a demo that plays by itself lets calls talk too
    )
    async with fake:
        print(f"fake Twilio at {fake.url} (account {fake.account_sid}); state: {fake.url}/_fake/state", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator.fake_twilio", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--number", default=DEFAULT_NUMBER, help="our Twilio number, the To of SMS replies")
    parser.add_argument("--inbound-sms-url", help="opaska's public inbound-SMS webhook URL")
    parser.add_argument("--map", action="append", default=[], metavar="PUBLIC=LOCAL", help="public URL prefix → local")
    parser.add_argument("--auto", action="store_true", help="deliver status callbacks by themselves")
    parser.add_argument("--auto-delay", type=float, default=1.0)
    parser.add_argument("--press", action="append", default=[], metavar="NUMBER=DIGITS", help="answer and press keys")
    parser.add_argument(
        "--script", action="append", default=[], metavar="NUMBER=OUTCOME[:AFTER[:HANGUP]]", help="how a phone answers"
    )
    parser.add_argument(
        "--voice-url", action="append", default=[], metavar="NUMBER=URL", help="our number's incoming-call webhook"
    )
    parser.add_argument(
        "--voice-realtime", action="store_true", help="voice time follows the wall clock (--auto implies it)"
    )
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
