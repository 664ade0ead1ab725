"""The door: ticket codes, scans and admissions, offline door snapshots (docs/door.md)."""
