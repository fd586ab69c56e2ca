"""The console's HTTP server as a process serves it: the console, plus what the shell mounts beside it."""

from __future__ import annotations

from fastapi import FastAPI

from console.app import create_app
from console.context import ConsoleContext
from core.clock import Clock
from core.health import Health
from gateway.broker.emqx_hooks import EmqxHooks, mount_emqx_hooks


def console_app(
    context: ConsoleContext,
    *,
    emqx_hooks: EmqxHooks | None,
    clock: Clock | None = None,
    health: Health | None = None,
) -> FastAPI:
    """The console, with EMQX's auth hooks (the gateway's broker code) on the same server."""
    app = create_app(context, clock=clock, health=health)
    mount_emqx_hooks(app, emqx_hooks)
    return app
