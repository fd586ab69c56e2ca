"""The console's route list as tests walk it: every route the app serves, each with its full path."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi import routing as fastapi_routing


def app_routes(app: FastAPI) -> list[Any]:
    """Every route, included routers' too: `.path` is the full path (router prefix and all),
    `.methods` and `.dependant` are the route's, `original_route` (when there is one) the object
    the router holds."""
    # FastAPI 0.16x keeps included routers as branches of app.routes and flattens them with
    # iter_route_contexts; before, app.routes held every route itself.
    flatten = getattr(fastapi_routing, "iter_route_contexts", lambda routes: routes)
    return list(flatten(app.routes))
