"""A picture of deploy/monitoring/grafana-dashboard.json with real data, without Grafana.

    python deploy/monitoring/snapshot.py [--seconds 150] [--out docs/img/dashboard.png]

Grafana is not packaged by Debian and cannot be installed on the machine this was made on, so
this script does the part Grafana would: it creates its own database (`usher_snapshot_<random>`
on the local PostgreSQL, or --database-url), starts a real Usher (`usher serve --workers 2`,
`usher relay`, `usher worker`, `usher mail-sink`) and a private Prometheus server (Debian's
`prometheus` package) scraping all three every 2 s, drives a load of patrons against the API
(holds, confirmations, cancellations, releases, and refused holds on taken seats), then runs
every panel's PromQL from the dashboard file against that Prometheus' query_range API and draws
the panels in the dashboard's own grid, titles, legends and units as an HTML page of inline SVG
charts, which Debian's chromium (through Playwright) screenshots to --out. Everything it started
is stopped and its database dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "monitoring" / "grafana-dashboard.json"
CHROMIUM = "/usr/bin/chromium"
SCRAPE_SECONDS = 2


# -- the dashboard's panels and their queries -----------------------------------------------------


@dataclass
class Target:
    expr: str
    legend: str


@dataclass
class Panel:
    title: str
    unit: str
    x: int
    y: int
    w: int
    h: int
    targets: list[Target]


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]  # (unix time, value)


@dataclass
class Drawn:
    panel: Panel
    series: list[Series] = field(default_factory=list)


def panels(dashboard: dict[str, Any]) -> list[Panel]:
    """Every panel of a Grafana dashboard (rows' nested panels included), in grid order."""
    found: list[Panel] = []
    for raw in dashboard.get("panels", []):
        found.extend(panels(raw) if raw.get("type") == "row" else [])
        if raw.get("type") == "row":
            continue
        grid = raw["gridPos"]
        found.append(
            Panel(
                title=raw["title"],
                unit=raw.get("fieldConfig", {}).get("defaults", {}).get("unit", "short"),
                x=grid["x"],
                y=grid["y"],
                w=grid["w"],
                h=grid["h"],
                targets=[Target(t["expr"], t.get("legendFormat", "")) for t in raw["targets"]],
            )
        )
    return sorted(found, key=lambda p: (p.y, p.x))


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's `{{label}}` legend format."""
    text = template
    for name, value in labels.items():
        text = text.replace("{{" + name + "}}", value)
    return text.strip() or ", ".join(f"{k}={v}" for k, v in labels.items()) or "value"


Query = Callable[[str], list[tuple[dict[str, str], list[tuple[float, float]]]]]


def collect(all_panels: list[Panel], query: Query) -> list[Drawn]:
    """Run every target of every panel through `query` (PromQL -> [(labels, points)])."""
    drawn = []
    for panel in all_panels:
        one = Drawn(panel)
        for target in panel.targets:
            for labels, points in query(target.expr):
                one.series.append(Series(legend(target.legend, labels), points))
        drawn.append(one)
    return drawn


def prometheus_query(base: str, start: float, end: float, step: float) -> Query:
    """A Query against Prometheus' /api/v1/query_range."""

    def run(expr: str) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=30) as r:
            answer = json.load(r)
        if answer["status"] != "success":
            raise RuntimeError(f"{expr}: {answer}")
        return [
            (
                {k: v for k, v in s["metric"].items() if k != "__name__"},
                [(float(t), float(v)) for t, v in s["values"] if v not in ("NaN", "+Inf", "-Inf")],
            )
            for s in answer["data"]["result"]
        ]

    return run


# -- drawing --------------------------------------------------------------------------------------

COLOURS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a"]
WIDTH = 1440  # px for 24 grid columns
ROW = 30  # px per grid row (Grafana's)


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    number = f"{value:.0f}" if abs(value) >= 10 or value == 0 else f"{value:.2g}"
    if abs(value) >= 1000:
        number = f"{value / 1000:.1f}k"
    return {"reqps": f"{number} req/s", "ops": f"{number} ops/s"}.get(unit, number)


def svg(drawn: Drawn, width: int, height: int, start: float, end: float) -> str:
    left, right, top, bottom = 70, 10, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in drawn.series for _, v in s.points]
    high = max(values, default=1.0) or 1.0
    high *= 1.1

    def px(t: float, v: float) -> str:
        x = left + (t - start) / (end - start) * plot_w
        return f"{x:.1f},{top + plot_h - v / high * plot_h:.1f}"

    parts = [f'<svg width="{width}" height="{height}">']
    for i in range(5):
        v = high * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="g"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="ya">{fmt(v, drawn.panel.unit)}</text>'
        )
    for i in range(5):
        t = start + (end - start) * i / 4
        x = left + plot_w * i / 4
        label = datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")
        anchor = "end" if i == 4 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{height - 5}" text-anchor="{anchor}">{label}</text>')
    for n, series in enumerate(drawn.series):
        if series.points:
            line = " ".join(px(t, v) for t, v in series.points)
            parts.append(
                f'<polyline points="{line}" fill="none" stroke="{COLOURS[n % len(COLOURS)]}"'
                ' stroke-width="1.6"/>'
            )
    if not drawn.series:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" class="none">No data</text>')
    parts.append("</svg>")
    return "".join(parts)


def page(drawn: list[Drawn], start: float, end: float, title: str, note: str) -> str:
    unit = WIDTH / 24
    boxes = []
    for d in drawn:
        p = d.panel
        w, h = int(p.w * unit) - 8, p.h * ROW - 8
        keys = "".join(
            f'<span><i style="background:{COLOURS[n % len(COLOURS)]}"></i>'
            f"{html.escape(s.name)}</span>"
            for n, s in enumerate(d.series)
        )
        boxes.append(
            f'<div class="panel" style="left:{p.x * unit:.0f}px;top:{p.y * ROW}px;'
            f'width:{w}px;height:{h}px"><h2>{html.escape(p.title)}</h2>'
            f"{svg(d, w - 12, h - 58, start, end)}<div class='keys'>{keys}</div></div>"
        )
    bottom = max(d.panel.y + d.panel.h for d in drawn) * ROW
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body{{margin:0;background:#111217;color:#ccccdc;font:12px Inter,Helvetica,Arial,sans-serif}}
header{{padding:10px 14px;font-size:16px}} header small{{color:#8e8e9e;font-size:12px}}
.grid{{position:relative;margin:0 10px;height:{bottom}px;width:{WIDTH}px}}
.panel{{position:absolute;background:#181b1f;border:1px solid #2c2f36;border-radius:3px;
padding:6px}}
h2{{font-size:13px;font-weight:500;margin:0 0 4px}}
line{{stroke:#2c2f36}} text{{fill:#8e8e9e;font-size:10px}} .ya{{text-anchor:end}}
.none{{text-anchor:middle;font-size:13px}}
.keys span{{margin-right:12px;white-space:nowrap}}
.keys i{{display:inline-block;width:12px;height:3px;margin:0 4px 3px 0;vertical-align:middle}}
</style></head><body><header>{html.escape(title)}<br><small>{html.escape(note)}</small></header>
<div class="grid">{"".join(boxes)}</div></body></html>"""


def screenshot(document: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        view = browser.new_page(viewport={"width": WIDTH + 20, "height": 800})
        view.set_content(document)
        out.parent.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(out), full_page=True)
        browser.close()


# -- a running Usher, a Prometheus, and a load ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(url: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def processes(folder: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115
        started.append(subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=log))
        return started[-1]

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def prepare(url: str) -> list[str]:
    """Migrate, load the demo programme; the screenings on sale."""
    sys.path.insert(0, str(ROOT))
    from services.db import connect
    from services.db.migrate import apply_migrations
    from services.demo import load_demo_data

    conn = await connect(url)
    try:
        await apply_migrations(conn)
        await load_demo_data(conn, date.today())
        rows = await conn.fetch(
            "SELECT id FROM screening WHERE starts_at > now() + interval '1 day' ORDER BY starts_at"
        )
        return [str(r["id"]) for r in rows]
    finally:
        await conn.close()


async def load(api: str, screenings: list[str], phases: list[tuple[float, int]]) -> dict[int, int]:
    """Patrons at the box office: each holds 1-4 seats (best available), confirms most and
    releases some, cancels some bookings, and now and then asks for seats someone just booked
    (refused: taken). `phases` are (seconds, patrons at once)."""
    import httpx

    answers: dict[int, int] = {}
    rng = random.Random(7)
    booked: list[tuple[str, list[str]]] = []

    async def patron(client: httpx.AsyncClient, n: int, until: float) -> None:
        k = 0
        while time.monotonic() < until:
            k += 1
            who = {"X-Forwarded-For": f"10.{n % 250}.{k // 250 % 250}.{k % 250}"}
            screening = rng.choice(screenings)
            if booked and rng.random() < 0.15:  # someone else's seats
                taken_screening, seats = rng.choice(booked)
                r = await client.post(
                    f"/v1/screenings/{taken_screening}/holds", json={"seats": seats}, headers=who
                )
                answers[r.status_code] = answers.get(r.status_code, 0) + 1
                continue
            await client.get(f"/v1/screenings/{screening}/seats")
            r = await client.post(
                f"/v1/screenings/{screening}/holds",
                json={"count": rng.randint(1, 4)},
                headers=who,
            )
            answers[r.status_code] = answers.get(r.status_code, 0) + 1
            if r.status_code != 201:
                continue
            hold = r.json()
            token = {"X-Hold-Token": hold["token"]}
            if rng.random() < 0.2:
                await client.delete(f"/v1/holds/{hold['id']}", headers=token)
                continue
            seats = [s["label"] for s in hold["seats"]]
            r = await client.post(
                f"/v1/holds/{hold['id']}/confirm",
                json={
                    "patron": {"name": f"Patron {n}-{k}", "email": f"p{n}.{k}@patrons.example"},
                    "tickets": [{"seat": s, "ticket_type": "adult"} for s in seats],
                },
                headers={**token, "Idempotency-Key": secrets.token_hex(8)},
            )
            answers[r.status_code] = answers.get(r.status_code, 0) + 1
            if r.status_code != 201:
                continue
            booking = r.json()
            booked.append((screening, seats))
            if rng.random() < 0.25:
                await client.post(
                    f"/v1/bookings/{booking['reference']}/cancel",
                    json={"reason": "plans changed"},
                    headers={"X-Booking-Secret": booking["secret"]},
                )
                booked.pop()
            await asyncio.sleep(rng.uniform(0.02, 0.1))

    async with httpx.AsyncClient(base_url=api, timeout=30) as client:
        for seconds, count in phases:
            until = time.monotonic() + seconds
            await asyncio.gather(*(patron(client, n, until) for n in range(count)))
    return answers


def run(args: argparse.Namespace) -> None:
    prometheus = shutil.which("prometheus")
    if not prometheus:
        raise SystemExit("needs Prometheus: apt-get install --no-install-recommends prometheus")
    sys.path.insert(0, str(ROOT))
    import asyncpg

    from services.door.codes import new_key_entry

    name = f"usher_snapshot_{secrets.token_hex(4)}"
    parts = urllib.parse.urlsplit(args.database_url)
    url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    prefix = f"usher-snapshot-{secrets.token_hex(3)}:"
    api_port, relay_port, worker_port, smtp_port, prom_port = (free_port() for _ in range(5))

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(args.database_url)
        await conn.execute(sql)
        await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    folder = Path(tempfile.mkdtemp(prefix="usher-snapshot-"))
    try:
        screenings = asyncio.run(prepare(url))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "USHER_DATABASE_URL": url,
            "USHER_REDIS_URL": args.redis_url,
            "USHER_REDIS_PREFIX": prefix,
            "USHER_SECRET_KEY": secrets.token_urlsafe(48),
            "USHER_DOOR_SIGNING_KEYS": new_key_entry(1),
            "USHER_TRUSTED_PROXIES": "127.0.0.1",
            "USHER_RATE_HOLDS": "100000/minute",
            "USHER_SMTP_HOST": "127.0.0.1",
            "USHER_SMTP_PORT": str(smtp_port),
        }
        usher = [sys.executable, "-m", "services.cli"]
        config = folder / "prometheus.yml"
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": f"{SCRAPE_SECONDS}s"},
                    "scrape_configs": [
                        {
                            "job_name": job,
                            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                        }
                        for job, port in (
                            ("api", api_port),
                            ("relay", relay_port),
                            ("worker", worker_port),
                        )
                    ],
                }
            )
        )
        with processes(folder) as start:
            start(
                "mail-sink",
                [*usher, "mail-sink", "--port", str(smtp_port), "--dir", str(folder / "mail")],
                env,
            )
            start("api", [*usher, "serve", "--workers", "2", "--port", str(api_port)], env)
            start("relay", [*usher, "relay"], {**env, "USHER_METRICS_PORT": str(relay_port)})
            start("worker", [*usher, "worker"], {**env, "USHER_METRICS_PORT": str(worker_port)})
            start(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                env,
            )
            api = f"http://127.0.0.1:{api_port}"
            base = f"http://127.0.0.1:{prom_port}"
            for ready in (
                f"{api}/readyz",
                f"http://127.0.0.1:{relay_port}/metrics",
                f"http://127.0.0.1:{worker_port}/metrics",
                f"{base}/-/ready",
            ):
                wait_http(ready)
            began = time.time()
            s = args.seconds
            phases = [(s * 0.25, 4), (s * 0.4, 12), (s * 0.35, 3)]
            answers = asyncio.run(load(api, screenings, phases))
            time.sleep(3 * SCRAPE_SECONDS)  # the last scrapes
            ended = time.time()
            print(f"load done: answers by status {dict(sorted(answers.items()))}")
            query = prometheus_query(base, began - 20, ended, SCRAPE_SECONDS * 2)
            dashboard = json.loads(DASHBOARD.read_text())
            drawn = collect(panels(dashboard), query)
        note = (
            "The dashboard's panels and PromQL (deploy/monitoring/grafana-dashboard.json), drawn "
            "by deploy/monitoring/snapshot.py from a private Prometheus scraping a real Usher "
            f"during "
            f"a {args.seconds:.0f} s load; not Grafana itself. "
            f"{datetime.fromtimestamp(began, UTC):%Y-%m-%d %H:%M} UTC."
        )
        document = page(drawn, began - 20, ended, dashboard.get("title", "Usher"), note)
        (folder / "dashboard.html").write_text(document)
        screenshot(document, Path(args.out))
        print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} kB)")
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
        asyncio.run(_forget_redis(args.redis_url, prefix))


async def _forget_redis(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    async for key in redis.scan_iter(match=f"*{prefix}*", count=1000):
        await redis.delete(key)
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "dashboard.png"))
    parser.add_argument("--keep", action="store_true", help="keep the logs and the HTML page")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
