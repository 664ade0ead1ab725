"""deploy/monitoring: the alert rules and the Grafana dashboard parse, and name only metrics and
event types that Usher really exports (so a renamed metric cannot leave an alert silent)."""

from __future__ import annotations

import html
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar.plugins.prometheus.middleware import PrometheusMiddleware
from prometheus_client import REGISTRY

import workers.metrics  # noqa: F401  (registers the relay's and workers' metrics)
from schemas.events import EVENT_TYPES
from services.metrics import prometheus_config

MONITORING = Path(__file__).resolve().parent.parent / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
METRIC = re.compile(r"\busher_[a-z0-9_]+")
EVENT_TYPE = re.compile(r'type=~?"([^"]+)"')
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def exported_families() -> set[str]:
    """Every metric family Usher's processes register, the HTTP ones included (Litestar's
    middleware makes those at the first request: made here the same way)."""
    config = prometheus_config()
    middleware = PrometheusMiddleware(app=None, config=config)  # type: ignore[arg-type]
    # the labels the middleware itself uses, in its order: made with any other set, the
    # metric would refuse the real requests' labels later in the same process
    labels: dict[str, str | int | float] = {
        "method": "GET",
        "path": "/",
        "status_code": 200,
        "app_name": config.app_name,
    }
    for make in (
        middleware.request_count,
        middleware.request_time,
        middleware.requests_in_progress,
        middleware.requests_error_count,
    ):
        make(labels)
    return {family.name for family in REGISTRY.collect()}


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.mark.parametrize("source", [alert_expressions, dashboard_expressions])
def test_every_named_metric_is_exported(source: Any) -> None:
    exported = exported_families()
    expressions = source()
    assert expressions
    named = {family(m) for expr in expressions for m in METRIC.findall(expr)}
    assert named, "no Usher metric named"
    assert named <= exported, f"not exported: {sorted(named - exported)}"
    for expr in expressions:
        for pattern in EVENT_TYPE.findall(expr):
            for event_type in pattern.split("|"):
                assert event_type in EVENT_TYPES, f"no event type {event_type}"


def test_alert_rules_parse_with_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian's prometheus package)")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_panels_are_laid_out() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"


def _snapshot_script() -> Any:
    """deploy/monitoring/snapshot.py, loaded from its file (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location("snapshot", MONITORING / "snapshot.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["snapshot"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_dashboard_snapshot_runs_every_panels_query_and_draws_every_panel() -> None:
    """The picture in docs/operations.md: every query of every panel is asked of Prometheus,
    and every panel is drawn, with its title and one legend entry per series."""
    snapshot = _snapshot_script()
    dashboard = json.loads(DASHBOARD.read_text())
    asked: list[str] = []

    def query(expr: str) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        asked.append(expr)
        return [({"group": "emails", "type": "x"}, [(0.0, 1.0), (60.0, 3.0)])]

    drawn = snapshot.collect(snapshot.panels(dashboard), query)
    in_file = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert sorted(asked) == sorted(in_file)
    assert {d.panel.title for d in drawn} == {panel["title"] for panel in dashboard["panels"]}
    page = snapshot.page(drawn, 0.0, 60.0, dashboard["title"], "note")
    for d in drawn:
        assert f"<h2>{html.escape(d.panel.title)}</h2>" in page
        assert len(d.series) == len(d.panel.targets)
    assert page.count("<polyline") == len(in_file)
    assert snapshot.legend("undelivered {{group}}", {"group": "emails"}) == "undelivered emails"
