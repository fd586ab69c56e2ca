"""What the supervisor must know about the platform itself: is any gateway hearing the bands, is a
gateway deaf (connected, yet nothing comes through the broker), is escalation stuck.

Read from the `service_state` rows the gateway (`gateway/…`, `canary/…`) and the escalation auditor
(`auditor/…`) keep, so a console in another process than the gateway sees the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alarm_center.canary.stages import STAGE_WORDS, Stage
from alarm_center.canary.status import CanaryStatus, canary_status
from core.db.service_state import ServiceState

# A row not written for this long belongs to a process that is gone (they write every 5 to 15 s).
ALIVE_WITHIN = timedelta(seconds=60)
GATEWAY, CANARY, AUDITOR = "gateway/", "canary/", "auditor/"


@dataclass(frozen=True)
class PlatformProblem:
    kind: str  # gateway_down, gateway_deaf, escalation_stuck, canary_lost, canary_stale
    since: datetime | None
    message: str


async def platform_problems(session: AsyncSession, *, now: datetime) -> list[PlatformProblem]:
    rows = (
        await session.scalars(
            select(ServiceState).where(
                or_(*(ServiceState.name.startswith(prefix, autoescape=True) for prefix in (GATEWAY, CANARY, AUDITOR)))
            )
        )
    ).all()
    alive = [row for row in rows if row.alive_at >= now - ALIVE_WITHIN]
    problems = []
    gateways = [row for row in rows if row.name.startswith(GATEWAY)]
    if gateways and not any(row in alive and row.connected_since is not None for row in gateways):
        last = max(row.alive_at for row in gateways)
        problems.append(
            PlatformProblem(
                "gateway_down",
                last,
                "Żadna bramka nie odbiera teraz wiadomości z opasek (brak połączenia z brokerem MQTT "
                "albo proces bramki nie działa): alarmy nie docierają do centrum.",
            )
        )
    for row in alive:
        if row.connected_since is None:
            continue
        if row.name.startswith(CANARY):
            problems.append(
                PlatformProblem(
                    "gateway_deaf",
                    row.connected_since,
                    f"Bramka {row.name.removeprefix(CANARY)} jest połączona z brokerem, ale nic do niej nie "
                    "dociera: alarmy mogą nie docierać. Bramka łączy się ponownie sama; jeśli to trwa, "
                    "wezwij dyżur techniczny.",
                )
            )
        elif row.name.startswith(AUDITOR):
            problems.append(
                PlatformProblem(
                    "escalation_stuck",
                    row.connected_since,
                    "Eskalacja stoi: zaległe kroki (SMS i połączenia do bliskich) nie są wykonywane. "
                    "Czy silnik (opaska engine) działa?",
                )
            )
    canary = await canary_status(session, now=now)
    if canary.state in ("lost", "stale"):
        problems.append(_canary_problem(canary))
    return problems


def _canary_problem(canary: CanaryStatus) -> PlatformProblem:
    if canary.state == "stale":
        return PlatformProblem(
            "canary_stale",
            canary.last_round_at,
            "Alarm kontrolny nie był wysyłany od kilku minut: konsola, która go wysyła, nie działa "
            "(albo ma go wyłączonego). Nikt nie sprawdza, czy alarmy docierają.",
        )
    where = STAGE_WORDS.get(Stage(canary.stage), "") if canary.stage in set(Stage) else ""
    return PlatformProblem(
        "canary_lost",
        canary.lost_since,
        "Alarm kontrolny nie przeszedł przez platformę: alarmy mogą nie docierać do operatorów"
        + (f" ({where})." if where else ".")
        + " Wezwij dyżur techniczny.",
    )
