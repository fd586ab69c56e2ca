"""EMQX's HTTP authentication and authorisation hooks (EMQX 5 `http` authenticator and source),
mounted on the console's HTTP server by the shell (`opaska.console_app`).

EMQX posts the client's credentials and client id at connect and the topic at every publish and subscribe
(cached by EMQX); we answer from the registry's credential cache and the one topic rule in
`gateway.broker.acl`. EMQX must send `Authorization: Bearer <OPASKA_MQTT_HOOK_TOKEN>`. The
exact EMQX configuration is in docs/brokers.md.
"""

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, status
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.mqtt.endpoint import parse_mqtt_url
from core.settings import Settings
from gateway.broker.acl import Principal, PrincipalKind, TopicRules, may_use_client_id
from gateway.broker.credential_store import CredentialStore
from gateway.topics import TopicScheme

HOOK_DECISIONS = Counter(
    "opaska_mqtt_hook_decisions_total", "Answers of the EMQX auth hooks, by hook and result", ["hook", "result"]
)

router = APIRouter(prefix="/mqtt/emqx", tags=["mqtt broker hooks"])


@dataclass(frozen=True)
class EmqxHooks:
    """EMQX's HTTP authentication and authorisation hooks: who may connect, and where."""

    token: str
    credentials: CredentialStore
    rules: TopicRules

    @classmethod
    def from_settings(cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Self | None:
        """None (hooks answer 404) unless OPASKA_MQTT_HOOK_TOKEN is set."""
        mqtt = settings.mqtt
        if not mqtt.hook_token:
            return None
        # The service account logs in to EMQX with the user and password of OPASKA_MQTT_URL.
        password = (parse_mqtt_url(mqtt.url).password if mqtt.url else None) or ""
        credentials = CredentialStore(sessions, service_username=mqtt.service_username, service_password=password)
        return cls(mqtt.hook_token, credentials, TopicRules(TopicScheme(mqtt.topic_root)))


def mount_emqx_hooks(app: FastAPI, hooks: EmqxHooks | None) -> None:
    """Serve the hooks on `app`; with None (no OPASKA_MQTT_HOOK_TOKEN) they answer 404."""
    app.state.emqx_hooks = hooks
    app.include_router(router)


def _hooks(request: Request, authorization: Annotated[str | None, Header()] = None) -> EmqxHooks:
    hooks: EmqxHooks | None = getattr(request.app.state, "emqx_hooks", None)
    if hooks is None or not hooks.token:
        # Not configured: as if the endpoint did not exist.
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    offered = (authorization or "").encode()
    if not hmac.compare_digest(offered, f"Bearer {hooks.token}".encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad or missing bearer token", {"WWW-Authenticate": "Bearer"})
    return hooks


HooksDep = Annotated[EmqxHooks, Depends(_hooks)]


class AuthenticateRequest(BaseModel):
    """EMQX body template: {"username": "${username}", "password": "${password}", "clientid": "${clientid}"}."""

    model_config = ConfigDict(extra="ignore")
    username: str = Field(max_length=256)
    password: str = Field(max_length=1024)
    clientid: str = Field(default="", max_length=256)


class AuthenticateResponse(BaseModel):
    result: Literal["allow", "deny"]
    # Never a superuser: superusers skip EMQX's authorisation, and the service account is
    # confined to the topic root like everyone else.
    is_superuser: bool = False


class AuthorizeRequest(BaseModel):
    """EMQX body template: {"username": "${username}", "topic": "${topic}", "action": "${action}"}."""

    model_config = ConfigDict(extra="ignore")
    username: str = Field(max_length=256)
    topic: str = Field(min_length=1, max_length=65535)
    action: Literal["publish", "subscribe"]
    clientid: str = Field(default="", max_length=256)


class AuthorizeResponse(BaseModel):
    result: Literal["allow", "deny"]


@router.post("/authenticate")
async def authenticate(body: AuthenticateRequest, hooks: HooksDep) -> AuthenticateResponse:
    """May this client connect? A band with its serial, secret and client id `band-{serial}`, or
    the service account with a client id not of that form (`gateway.broker.acl.may_use_client_id`):
    otherwise a band could take over another band's session or the gateway's."""
    principal = await hooks.credentials.authenticate(body.username, body.password)
    allowed = principal is not None and may_use_client_id(principal, body.clientid)
    result: Literal["allow", "deny"] = "allow" if allowed else "deny"
    HOOK_DECISIONS.labels("authenticate", result).inc()
    return AuthenticateResponse(result=result)


@router.post("/authorize")
async def authorize(body: AuthorizeRequest, hooks: HooksDep) -> AuthorizeResponse:
    """May this (already authenticated) user publish to, or subscribe to, this topic?"""
    # EMQX calls this only for a client it has authenticated through the hook above, so the
    # username is proven: the service account's name means the service account.
    kind = PrincipalKind.SERVICE if body.username == hooks.credentials.service_username else PrincipalKind.BAND
    who = Principal(kind, body.username)
    if kind == PrincipalKind.BAND and not await hooks.credentials.band_still_admitted(body.username):
        # Revoked or retired since it connected: EMQX keeps the connection, so it loses its rights here.
        allowed = False
    elif body.action == "publish":
        allowed = hooks.rules.may_publish(who, body.topic)
    else:
        allowed = hooks.rules.may_subscribe(who, body.topic)
    result: Literal["allow", "deny"] = "allow" if allowed else "deny"
    HOOK_DECISIONS.labels("authorize", result).inc()
    return AuthorizeResponse(result=result)
