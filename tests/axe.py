"""axe-core (the npm package, pinned in tests/node/package.json and its lock file) run inside a
page a browser test has open: `await assert_accessible(page, "the state")` fails with axe's
violations in words. Any Playwright browser test can call it.

axe goes in through the DevTools protocol (`page.evaluate`), which a page's
Content-Security-Policy does not govern, so the page is checked as served. `.ci/run` installs
the package (`npm ci` in tests/node); on a machine where it is missing, the first call installs
it the same way when npm is there, and otherwise skips (fails under CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

NODE = Path(__file__).resolve().parent / "node"
AXE = NODE / "node_modules" / "axe-core" / "axe.min.js"

# Every rule axe runs by default (WCAG 2.0-2.2 A and AA, and its best practices).
RUN = """
async (context) => {
  const result = await axe.run(context || document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary.replace(/\\s+/g, " ")),
  }));
}
"""


@cache
def axe_source() -> str:
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            message = "axe-core is not installed: run `npm ci` in tests/node (npm is missing)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE, check=True
        )
    return AXE.read_text(encoding="utf-8")


async def axe_violations(page: Any, context: str | None = None) -> list[str]:
    """axe's violations on the page as it is now (or inside the `context` selector), one line
    each: rule, impact, what it asks, and the elements that break it."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(axe_source())
    found = await page.evaluate(RUN, context)
    return [f"{v['id']} ({v['impact']}): {v['help']} -- " + " | ".join(v["nodes"]) for v in found]


async def assert_accessible(page: Any, state: str) -> None:
    """No axe violation on the page in `state` (said in the failure)."""
    violations = await axe_violations(page)
    assert not violations, f"axe, {state}:\n" + "\n".join(violations)
