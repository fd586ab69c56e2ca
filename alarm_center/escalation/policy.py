"""Escalation policies as data: loaded from TOML, judged by pydantic, chosen per kind and municipality.

The policy chosen for an alarm is snapshotted onto its escalation row when the alarm is raised
(`snapshot_for`), so the worker never reads this file: an edit changes only later alarms.
"""

from __future__ import annotations

import logging
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alarm_center.alarms.model import AlarmKind
from core.settings import EscalationSettings

log = logging.getLogger(__name__)

OPERATORS, SUPERVISOR, CONTACTS = "operators", "supervisor", "contacts"
RESPONDER_PREFIX = "responder:"
# By phone, whoever the duty roster (`opaska duty`) has on duty when the step fires.
ON_DUTY_TARGETS = frozenset({"on_duty:supervisor", "on_duty:responder"})
CONSOLE_TARGETS = frozenset({OPERATORS, SUPERVISOR})
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class PolicyError(Exception):
    """A policy file that cannot be used; the message is one line naming the policy and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    after_s: int = Field(ge=0, le=7 * 86400)
    channel: Literal["console", "sms", "voice"]
    targets: list[str] = Field(min_length=1)
    sound: bool = False
    mark_overdue: bool = False
    next_contact_after_s: int = Field(default=60, ge=0, le=86400)

    @model_validator(mode="after")
    def _targets_fit_channel(self) -> Self:
        for target in self.targets:
            if self.channel == "console":
                if target not in CONSOLE_TARGETS:
                    raise ValueError(f"target {target!r} cannot be reached on the console; use operators or supervisor")
            elif target != CONTACTS and not target.startswith(RESPONDER_PREFIX) and target not in ON_DUTY_TARGETS:
                raise ValueError(
                    f"target {target!r} cannot be reached by {self.channel}; "
                    "use contacts, responder:<name>, on_duty:supervisor or on_duty:responder"
                )
        return self


class Repeat(_Strict):
    times: int = Field(default=0, ge=0, le=20)
    from_step: int = Field(default=1, ge=1)  # 1-based, as people count steps
    after_s: int = Field(default=300, ge=0, le=86400)


class Policy(_Strict):
    steps: list[Step] = Field(min_length=1)
    repeat: Repeat = Repeat()
    # With no operator console connected, paged once, at the moment the escalation first finds the
    # console empty with phone steps still ahead: someone on duty learns that nobody is watching
    # before relatives are called. Then the phone steps wait up to `unattended_wait_s` (never
    # longer than the policy's own waits) so that person can take the alarm first.
    unattended: list[Step] = []
    unattended_wait_s: int = Field(default=60, ge=0, le=3600)
    claimed_no_progress_s: int | None = Field(default=None, ge=30)
    # A relative said "going": that is not "resident safe". Nobody resolved the alarm this long
    # after the answer: operators and supervisor are alerted (and with `arrival_timeout_resumes`
    # the escalation goes on with the next contact).
    arrival_confirm_s: int = Field(default=1200, ge=30, le=86400)
    arrival_timeout_resumes: bool = False
    # The no-response ladder (the operator cannot reach the resident): someone with a key or a
    # responder must be on the way within this long, or the operator calls emergency services.
    no_response_find_s: int = Field(default=600, ge=60, le=7200)

    @model_validator(mode="after")
    def _repeat_in_range(self) -> Self:
        if self.repeat.from_step > len(self.steps):
            raise ValueError(f"repeat.from_step {self.repeat.from_step} is past the last step ({len(self.steps)})")
        return self

    @model_validator(mode="after")
    def _unattended_by_phone_to_whoever_is_on_duty(self) -> Self:
        # By phone: nobody is at the console. To the duty roster only: contacts are the phone
        # steps' to reach, one by one, and a page that fires once has no timer of its own.
        for number, step in enumerate(self.unattended, 1):
            where = f"unattended step {number}"
            if step.channel == "console":
                raise ValueError(f"{where}: channel must be sms or voice (nobody is at the console)")
            if step.after_s != 0:
                raise ValueError(f"{where}: after_s must be 0 (the page goes out when the console is found empty)")
            for target in step.targets:
                if target not in ON_DUTY_TARGETS:
                    raise ValueError(f"{where}: target {target!r}; use on_duty:supervisor or on_duty:responder")
        return self


class Responder(_Strict):
    name: str = ""
    phone: str

    @model_validator(mode="after")
    def _e164(self) -> Self:
        if not _E164.match(self.phone):
            raise ValueError(f"phone {self.phone!r} is not E.164 (+48...)")
        return self


class PolicyBook(_Strict):
    """The whole file: named policies, the choice per kind, per-municipality overrides, responders."""

    policies: dict[str, Policy]
    kinds: dict[str, str]
    municipalities: dict[str, dict[str, str]] = {}
    responders: dict[str, Responder] = {}

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        known_kinds = {kind.value for kind in AlarmKind}
        missing = sorted(known_kinds - set(self.kinds))
        if missing:
            raise ValueError(f"[kinds] has no policy for {', '.join(missing)}")
        choices = [("[kinds]", self.kinds)] + [
            (f'[municipalities."{code}"]', chosen) for code, chosen in self.municipalities.items()
        ]
        for where, chosen in choices:
            for kind, name in chosen.items():
                if kind not in known_kinds:
                    raise ValueError(f"{where}: unknown alarm kind {kind!r}")
                if name not in self.policies:
                    raise ValueError(f"{where}: {kind} names policy {name!r}, which is not defined")
        for name, policy in self.policies.items():
            for number, step in enumerate(policy.steps, 1):
                for target in step.targets:
                    responder = target.removeprefix(RESPONDER_PREFIX)
                    if target.startswith(RESPONDER_PREFIX) and responder not in self.responders:
                        raise ValueError(f"policy {name!r} step {number}: no [responders.{responder}]")
        return self

    def choose(self, kind: str, municipality_code: str | None) -> tuple[str, Policy, str]:
        """The policy's name, the policy, and where the choice came from."""
        override = self.municipalities.get(municipality_code or "", {})
        if kind in override:
            return override[kind], self.policies[override[kind]], f"municipality {municipality_code}"
        # A kind this file does not know is a life alarm (as in the lifecycle): the SOS policy.
        name = self.kinds.get(kind, self.kinds[AlarmKind.SOS.value])
        return name, self.policies[name], "default"

    def snapshot_for(self, kind: str, municipality_code: str | None, *, is_test: bool = False) -> dict[str, Any]:
        """The JSON stored on the escalation row: everything the worker needs, nothing it must look up.

        A technician's test alarm (`is_test`) is recorded on the operators' console and nothing
        more: no sound (nobody should run to a technician's press), no supervisor, no overdue mark,
        no phone step (no relative, no one on duty is ever called), no repeat and no "no progress"
        alert. The technician closes it (`alarm_center.alarms.installation_alarms`).
        """
        name, policy, source = self.choose(kind, municipality_code)
        data = policy.model_dump(mode="json")
        if is_test:
            steps: list[dict[str, Any]] = []
            # A dropped step's wait goes to the next step kept, so that one fires when it would have.
            carried = 0
            for step in data["steps"]:
                carried += step["after_s"]
                if step["channel"] == "console" and OPERATORS in step["targets"]:
                    quiet = {"after_s": carried, "targets": [OPERATORS], "sound": False, "mark_overdue": False}
                    steps.append(step | quiet)
                    carried = 0
            data |= {
                "steps": steps,
                # Nor is anyone paged when no console is connected: a test needs no one watching.
                "unattended": [],
                "repeat": Repeat().model_dump(mode="json"),
                "claimed_no_progress_s": None,
                "arrival_timeout_resumes": False,
                "installation_test": True,
            }
        used = {
            t.removeprefix(RESPONDER_PREFIX)
            for s in data["steps"]
            for t in s["targets"]
            if t.startswith(RESPONDER_PREFIX)
        }
        data["responders"] = {r: self.responders[r].model_dump(mode="json") for r in sorted(used)}
        data["name"], data["source"] = name, source
        return data


def _describe(exc: ValidationError) -> str:
    """One line per problem: `policy 'life' step 3, channel: ...`, never a pydantic dump."""
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where: list[str] = []
        if loc[:1] == ["policies"] and len(loc) > 1:
            where.append(f"policy {loc[1]!r}")
            loc = loc[2:]
            if loc[:1] in (["steps"], ["unattended"]) and len(loc) > 1 and isinstance(loc[1], int):
                where.append(f"{'step' if loc[0] == 'steps' else 'unattended step'} {loc[1] + 1}")
                loc = loc[2:]
        elif loc[:1] == ["responders"] and len(loc) > 1:
            where.append(f"responder {loc[1]!r}")
            loc = loc[2:]
        field = ".".join(str(part) for part in loc)
        place = " ".join(where)
        if field:
            place = f"{place}, field {field}" if place else f"field {field}"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{place}: {message}" if place else message)
    return "; ".join(lines)


def load_policies(path: Path) -> PolicyBook:
    """Read and judge a policy file. PolicyError: one line naming the file, the policy and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"escalation policies {path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"escalation policies {path}: not valid TOML: {exc}") from None
    try:
        return PolicyBook.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"escalation policies {path}: {_describe(exc)}") from None


# Used when the file cannot be read at the moment an alarm is raised: the alarm must still be
# escalated, at least to the people in the building.
FALLBACK = PolicyBook(
    policies={
        "fallback": Policy(
            steps=[
                Step(after_s=0, channel="console", targets=[OPERATORS], sound=True),
                Step(after_s=60, channel="console", targets=[SUPERVISOR], sound=True, mark_overdue=True),
            ]
        )
    },
    kinds={kind.value: "fallback" for kind in AlarmKind},
)


class PolicySource:
    """The policy file, read again when it changes; the last good version if an edit broke it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._book: PolicyBook | None = None

    def current(self) -> PolicyBook:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp is None or stamp != self._stamp:
            try:
                self._book = load_policies(self.path)
                self._stamp = stamp
            except PolicyError as exc:
                log.error("%s; new alarms use the %s policies", exc, "last good" if self._book else "fallback")
                self._stamp = stamp
        return self._book or FALLBACK


@lru_cache(maxsize=1)
def _shipped_source() -> PolicySource:
    return PolicySource(EscalationSettings().policies_path)


def shipped_policies() -> PolicyBook:
    """The policies shipped in config/escalation.toml. The shell hands every process the file its
    settings name (a `PolicySource`); this is for code run without one (tests, tools)."""
    return _shipped_source().current()
