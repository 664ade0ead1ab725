"""The import contracts in pyproject.toml hold today, and each wrong-way import an earlier review
added on purpose (and saw pass) now breaks them: the probes run lint-imports on a copy of the
code with one wrong import added."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"

# (file, the wrong import added to it, the contract it must break)
PROBES = [
    ("services/box_office/rules.py", "services.box_office.store", "rules are pure"),
    ("services/catalog/store/__init__.py", "services.catalog.service", "each part is layered"),
    ("services/access/service/_common.py", "services.box_office.routes", "another part's routes"),
    ("services/staff/rules.py", "services.staff.store", "rules are pure"),
    ("workers/relay.py", "services.notifications.routes", "workers never import routes"),
    ("workers/emails/jobs.py", "services.staff.dashboard", "workers never import routes"),
    ("services/door/rules.py", "services.access.rules", "know nothing of each other"),
    ("services/prices/rules.py", "services.prices.store", "rules are pure"),
    ("services/prices/store/_codes.py", "services.prices.service", "each part is layered"),
    ("services/box_office/service/_common.py", "services.prices.routes", "another part's routes"),
    ("services/takings/sheets.py", "services.takings.store", "rules are pure"),
    ("services/takings/store.py", "services.takings.service", "each part is layered"),
    ("services/money/rules.py", "services.money.store", "rules are pure"),
    ("services/money/store/_payments.py", "services.money.service", "each part is layered"),
    ("workers/payments.py", "services.money.routes", "workers never import routes"),
]


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT)],
        cwd=folder,
        env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_code(folder: Path) -> Path:
    for package in ("services", "workers", "schemas"):
        shutil.copytree(
            ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__", "static")
        )
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    return folder


def test_the_contracts_hold_today(tmp_path: Path) -> None:
    result = lint(copy_of_the_code(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("path", "wrong", "contract"), PROBES)
def test_a_wrong_way_import_breaks_a_contract(
    tmp_path: Path, path: str, wrong: str, contract: str
) -> None:
    folder = copy_of_the_code(tmp_path)
    with (folder / path).open("a") as module:
        module.write(f"\nimport {wrong}  # the probe\n")
    result = lint(folder)
    assert result.returncode != 0, f"{path} -> {wrong} passed every contract"
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, broken[:2000]
