"""Fixtures of the prices tests: the box office's demo screenings and its real API server."""

from __future__ import annotations

from tests.integration.box_office.conftest import api, big, small

__all__ = ["api", "big", "small"]
