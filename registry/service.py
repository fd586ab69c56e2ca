"""The registry's operations in one place, for callers that want them all (the demo, tests).

Each takes the caller's session and never commits: the request, command or job owns the
transaction. The operations live in one module per idea: `municipalities`, `residents`,
`contacts`, `bands` (registration and credentials), `band_lifecycle`, `band_events`,
`band_directory`, `installation_test`, `health`, `csv_import`, `gdpr`.
"""

from __future__ import annotations

from registry.bands import (
    RegisteredBand,
    Swap,
    bind_band,
    decommission_band,
    find_band,
    get_band,
    register_band,
    reissue_credentials,
    revoke_credentials,
    swap_band,
    unbind_band,
)
from registry.contacts import add_contact, remove_contact, reorder_contacts, update_contact
from registry.errors import Conflict, Duplicate, NotFound, RegistryError
from registry.municipalities import create_municipality
from registry.residents import create_resident, deactivate_resident, update_resident

__all__ = [
    "Conflict",
    "Duplicate",
    "NotFound",
    "RegisteredBand",
    "RegistryError",
    "Swap",
    "add_contact",
    "bind_band",
    "create_municipality",
    "create_resident",
    "deactivate_resident",
    "decommission_band",
    "find_band",
    "get_band",
    "register_band",
    "reissue_credentials",
    "remove_contact",
    "reorder_contacts",
    "revoke_credentials",
    "swap_band",
    "unbind_band",
    "update_contact",
    "update_resident",
]
