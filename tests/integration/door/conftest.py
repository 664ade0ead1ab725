"""Fixtures of the door tests: a screening whose doors are open, and a real API server."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest

from tests.integration.box_office.conftest import api  # noqa: F401  (a real API server)
from tests.integration.box_office.helpers import screening_in
from tests.integration.door.helpers import open_doors
from tests.integration.staff.conftest import live  # noqa: F401  (a real API server and relay)


@pytest.fixture
async def tonight(demo: asyncpg.Pool) -> UUID:
    """A HERE screening in Cinema 2 (92 seats) starting in ten minutes: the doors are open."""
    screening = await screening_in(demo, "cinema-2")
    await open_doors(demo, screening)
    return screening


@pytest.fixture
async def later(demo: asyncpg.Pool) -> UUID:
    """Another screening, in Cinema 1, days away."""
    return await screening_in(demo, "cinema-1")
