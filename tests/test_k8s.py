"""deploy/k8s against the Kubernetes API schemas (kubernetes-validate, offline), each file and the
rendered kustomization; and what the schemas cannot say: the autoscalers point at real
workloads, every consumer group has a lag trigger, every long-running workload has a disruption
budget and spreads over nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from workers.registry import CONSUMERS

K8S = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
KUBERNETES = "1.30.0"  # the oldest release still supported when this was written
CUSTOM = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
LONG_RUNNING = ("usher-api", "usher-worker", "usher-relay")


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def rendered() -> list[dict[str, Any]]:
    """What `kubectl kustomize deploy/k8s` gives for this kustomization: its resources in order,
    with the image override applied (the only transformation it uses)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "resources", "images"}, "render by hand"
    images = {i["name"]: i for i in kustomization["images"]}
    out = []
    for resource in kustomization["resources"]:
        for document in documents(K8S / resource):
            for container in _containers(document):
                image = images.get(container["image"])
                if image:
                    name = image.get("newName", container["image"])
                    container["image"] = f"{name}:{image['newTag']}"
            out.append(document)
    return out


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    template = document.get("spec", {}).get("template", {})
    found: list[dict[str, Any]] = template.get("spec", {}).get("containers", [])
    return found


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered() if d["kind"] == kind}


@pytest.mark.parametrize("path", sorted(p.name for p in K8S.glob("*.yaml")))
def test_each_manifest_is_valid(path: str) -> None:
    for document in documents(K8S / path):
        if (
            document["kind"] == "Kustomization"
            or (document["apiVersion"], document["kind"]) in CUSTOM
        ):
            continue
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_rendered_kustomization_is_valid() -> None:
    docs = rendered()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "HorizontalPodAutoscaler", "ScaledObject", "PodDisruptionBudget"} <= kinds
    for document in docs:
        if (document["apiVersion"], document["kind"]) not in CUSTOM:
            kubernetes_validate.validate(document, KUBERNETES, strict=True)
        for container in _containers(document):
            assert ":" in container["image"], "the image override applies"


def test_the_api_scales_on_cpu_and_the_deployment_leaves_replicas_to_it() -> None:
    (autoscaler,) = by_kind("HorizontalPodAutoscaler").values()
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "usher-api")
    assert "replicas" not in by_kind("Deployment")["usher-api"]["spec"]
    assert autoscaler["spec"]["minReplicas"] >= 2


def test_workers_scale_on_the_lag_of_every_consumer_group() -> None:
    (scaled,) = by_kind("ScaledObject").values()
    assert scaled["spec"]["scaleTargetRef"]["name"] == "usher-worker"
    groups = set()
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["type"] == "redis-streams"
        metadata = trigger["metadata"]
        assert metadata["stream"] == "usher:events"  # USHER_REDIS_PREFIX + events
        assert int(metadata["lagCount"]) > 0
        groups.add(metadata["consumerGroup"])
        auth = trigger["authenticationRef"]["name"]
        assert auth in by_kind("TriggerAuthentication")
    assert groups == {c.group for c in CONSUMERS}
    config = by_kind("ConfigMap")["usher-config"]["data"]
    assert config["USHER_REDIS_PREFIX"] == "usher:"
    assert "REDIS_ADDRESS" in config


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_workload_has_a_budget_and_spreads(name: str) -> None:
    workload = by_kind("Deployment")[name]
    labels = workload["spec"]["template"]["metadata"]["labels"]
    budgets = [
        b
        for b in by_kind("PodDisruptionBudget").values()
        if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
    ]
    assert len(budgets) == 1, name
    (spread,) = workload["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"].items() <= labels.items()
