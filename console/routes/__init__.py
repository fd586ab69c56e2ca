"""Route modules found by name: every module in this package that defines `router` is served.

Features (the registry, reports, …) each add one module here instead of another line in app.py,
so work on one feature never touches a file another feature is changing.
"""

import importlib
import pkgutil

from fastapi import APIRouter


def feature_routers() -> list[APIRouter]:
    """The `router` of every module in this package, in the order of their names."""
    routers: list[APIRouter] = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda found: found.name):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        router = getattr(loaded, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
    return routers
