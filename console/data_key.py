"""The console's data key (Fernet): from OPASKA_CONSOLE_DATA_KEY, or, for `opaska run` on one
machine, a file in var/ made at the first start (mode 0600), like the demo bands' secrets.

`python -m console.data_key` prints a new key, to put in OPASKA_CONSOLE_DATA_KEY.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.fernet import Fernet

from core.settings import ConsoleSettings

log = logging.getLogger(__name__)

DATA_KEY_FILE = Path("var") / "console-data-key"


def load_data_key(settings: ConsoleSettings, *, path: Path = DATA_KEY_FILE, create: bool) -> Fernet | None:
    """The configured key; else the key file's; else (create=True) a new key file's; else None."""
    configured = settings.data_key.get_secret_value()
    if configured:
        return Fernet(configured.encode())
    if path.is_file():
        return Fernet(path.read_text().strip().encode())
    if not create:
        log.warning("no console data key (OPASKA_CONSOLE_DATA_KEY): key-safe codes cannot be read or stored")
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(Fernet.generate_key().decode() + "\n")
    log.warning(
        "made a console data key in %s; production sets OPASKA_CONSOLE_DATA_KEY and keeps a copy of it "
        "(without it the stored key-safe codes cannot be read)",
        path,
    )
    return Fernet(path.read_text().strip().encode())


if __name__ == "__main__":
    print(Fernet.generate_key().decode())
