"""Fixtures of the money tests: those of the box office (demo screenings, a real API server)."""

from tests.integration.box_office.conftest import api, big, small

__all__ = ["api", "big", "small"]
