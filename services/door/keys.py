"""The door's signing key in development: `usher dev` keeps one per data folder, in a file of its
own (`door-signing-keys`, readable by its owner only), made the first time."""

from __future__ import annotations

import os
from pathlib import Path

from services.door.codes import new_key_entry

FILE_NAME = "door-signing-keys"


def dev_signing_keys(folder: Path) -> str:
    """USHER_DOOR_SIGNING_KEYS for a data folder: read from its file, made there if missing."""
    path = folder / FILE_NAME
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(new_key_entry(1) + "\n")
    return ",".join(line.strip() for line in path.read_text().splitlines() if line.strip())
