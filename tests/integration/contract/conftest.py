"""The contract tests run against a real API server process (the box-office tests' `api`)."""

from tests.integration.box_office.conftest import api

__all__ = ["api"]
