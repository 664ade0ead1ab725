"""A third-party fuzzer, schemathesis, against the served OpenAPI document of a real server (with
the demo programme), anonymously and with a manager's token: no 500, and every answer matches
the document (status code, media type, schema).

The budget is bounded (USHER_FUZZ_SECONDS per run, both runs at once; 60 by default) and the
seed fixed, so a run takes the same path each time; raise the budget to search harder:
    USHER_FUZZ_SECONDS=300 .venv/bin/python -m pytest tests/integration/contract -q
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = [
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
]
SECONDS = int(os.environ.get("USHER_FUZZ_SECONDS", "60"))
SEED = "20261206"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(SECONDS * 3 + 60)]


def _schemathesis(url: str, folder: Path, headers: dict[str, str]) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/schema/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-time",
        str(SECONDS),
        "--max-examples",
        "10",
        "--seed",
        SEED,
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--output-truncate",
        "false",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    return subprocess.Popen(
        command,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )


def _failures(output: str) -> str:
    """The part of schemathesis' report that lists each failure, how to reproduce it, and the
    summary (how many distinct failures of which kind)."""
    start = output.find("FAILURES")
    return output[start:] if start >= 0 else output[-6000:]


def test_schemathesis_finds_no_failure(api, manager, tmp_path):
    runs = {
        "anonymous": _schemathesis(api, tmp_path, {}),
        "manager": _schemathesis(api, tmp_path, {"Authorization": manager["Authorization"]}),
    }
    found = []
    for who, process in runs.items():
        output, _ = process.communicate(timeout=SECONDS * 3 + 30)
        if process.returncode != 0:
            found.append(f"--- {who} (exit {process.returncode}) ---\n{_failures(output)}")
    assert not found, "\n".join(found)
