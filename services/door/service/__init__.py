"""The door's steps: each opens its transaction and writes the change, its events and its audit
row together."""

from services.door.service._door import public_keys, set_policy, snapshot, undo
from services.door.service._scans import scan, upload

__all__ = ["public_keys", "scan", "set_policy", "snapshot", "undo", "upload"]
