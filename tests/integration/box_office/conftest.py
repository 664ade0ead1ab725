"""Fixtures of the box-office tests: demo screenings in each auditorium."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest

from tests.integration.box_office.helpers import screening_in


@pytest.fixture
async def big(demo: asyncpg.Pool) -> UUID:
    """A GHOST TROPIC screening in Cinema 1: 300 seats, row M with wheelchair spaces."""
    return await screening_in(demo, "cinema-1")


@pytest.fixture
async def small(demo: asyncpg.Pool) -> UUID:
    """A HERE screening in Cinema 2: 92 seats."""
    return await screening_in(demo, "cinema-2")
