"""``fleet k8s``: Kubernetes Job manifests for a plan, one Job per run (docs/fleet.md).

Design: a **privileged pod runs ``ptaudit run`` itself**, with its own runsc inside, the
same job body as on Slurm (``python -m ptaudit.app.fleet.job``). Chosen over the platform's
gVisor RuntimeClass with ptaudit as sidecars because it keeps the whole audit as tested:
the sandbox's only egress is a Unix socket to the proxy, trace points, the process tree,
fail-closed coupling (a dead proxy stops the agent, a kill rule stops it), one recorder as
the single writer, and the same run directory that ``verify`` checks. docs/fleet.md says
what each design keeps and loses.

Each Job: ``restartPolicy: Never`` and ``backoffLimit = max_attempts - 1`` (each new pod
takes the next attempt number, so Kubernetes does the resubmission), exit status 2 (a bad
plan) fails the Job at once, one GPU resource limit when the task needs GPUs, the fleet
volume (a ReadWriteMany claim holding the plan's directory and the fleet directory)
mounted at ``mount``. A NetworkPolicy lets the fleet's pods reach the internet, and DNS,
but no private, link-local (cloud metadata) or carrier-grade NAT range, and nothing in.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from .expand import FleetRun, expand
from .plan import K8sExec, Plan

PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"]
LABEL = "ptaudit.dev"
MARGIN_S = 1800
STOP_GRACE_S = 180


def dns_name(*parts: str, limit: int = 63) -> str:
    raw = "-".join(parts).lower()
    name = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{name[: limit - 9].rstrip('-')}-{digest}"


def label_value(v: str) -> str:
    v = re.sub(r"[^A-Za-z0-9_.-]", "-", v)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", v)


def _labels(plan: Plan, run: FleetRun | None = None) -> dict[str, str]:
    out = {"app.kubernetes.io/name": "ptaudit", "app.kubernetes.io/component": "audited-run",
           f"{LABEL}/fleet": label_value(plan.name)}
    if run is not None:
        out.update({f"{LABEL}/agent": label_value(run.agent), f"{LABEL}/task": label_value(run.task),
                    f"{LABEL}/seed": str(run.seed)})
    return out


def job_manifest(plan: Plan, k: K8sExec, run: FleetRun) -> dict[str, Any]:
    assert plan.source is not None
    plan_in_pod = f"{k.mount}/{k.plan_dir.strip('/')}/{plan.source.name}"
    out_in_pod = f"{k.mount}/{k.out_dir.strip('/')}"
    limits: dict[str, str] = {"cpu": k.cpu, "memory": k.memory}
    if run.gpus:
        limits[k.gpu_resource] = str(run.gpus)
    container: dict[str, Any] = {
        "name": "ptaudit",
        "image": k.image,
        "command": ["python3", "-m", "ptaudit.app.fleet.job", "--plan", plan_in_pod, "--run", run.key,
                    "--out", out_in_pod, "--executor", "k8s"],
        "env": [{"name": "PTAUDIT_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "PYTHONUNBUFFERED", "value": "1"}],
        "resources": {"limits": limits, "requests": {"cpu": k.cpu, "memory": k.memory}},
        # runsc creates namespaces, mounts and cgroups for the agent's sandbox
        "securityContext": {"privileged": True},
        "volumeMounts": [{"name": "fleet", "mountPath": k.mount}],
    }
    if k.secret:
        container["envFrom"] = [{"secretRef": {"name": k.secret}}]
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": STOP_GRACE_S,  # SIGTERM -> ptaudit stops the agent and seals
        "containers": [container],
        "volumes": [{"name": "fleet", "persistentVolumeClaim": {"claimName": k.claim}}],
    }
    if k.node_selector:
        pod["nodeSelector"] = dict(k.node_selector)
    if run.gpus:
        pod["tolerations"] = [{"key": k.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}]
    deadline = int(((plan.time_limit or 36000) + MARGIN_S) * plan.max_attempts)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": dns_name("pta", plan.name, run.agent, run.task, f"s{run.seed}"),
                     "namespace": k.namespace, "labels": _labels(plan, run),
                     "annotations": {f"{LABEL}/run": run.key, f"{LABEL}/plan-sha256": plan.sha256 or ""}},
        "spec": {
            "backoffLimit": plan.max_attempts - 1,
            "activeDeadlineSeconds": deadline,
            "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
                "containerName": "ptaudit", "operator": "In", "values": [2]}}]},
            "template": {"metadata": {"labels": _labels(plan, run)}, "spec": pod},
        },
    }


def network_policy(plan: Plan, k: K8sExec) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": dns_name("pta", plan.name, "egress"), "namespace": k.namespace,
                     "labels": _labels(plan)},
        "spec": {
            "podSelector": {"matchLabels": {f"{LABEL}/fleet": label_value(plan.name)}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE)}}]},
                {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                 "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            ],
        },
    }


def manifests(plan: Plan) -> list[dict[str, Any]]:
    if plan.executor.k8s is None:
        from ptaudit.core.errors import InputError

        raise InputError(f"{plan.source}: the plan has no [executor.k8s] table (image, claim ...); see docs/fleet.md")
    k = plan.executor.k8s
    return [network_policy(plan, k)] + [job_manifest(plan, k, r) for r in expand(plan)]


def validate(docs: list[dict[str, Any]], version: str) -> str | None:
    """Check against the Kubernetes schemas when kubernetes-validate is installed (offline:
    it ships them). Returns the schema version used, None when the validator is absent."""
    try:
        import kubernetes_validate
    except ImportError:
        return None
    used = version
    for d in docs:
        try:
            used = kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            from ptaudit.core.errors import InfraError

            where = ".".join(str(p) for p in exc.path)
            raise InfraError(f"manifest {d['kind']}/{d['metadata']['name']} does not validate against Kubernetes "
                             f"{exc.version}: {where}: {exc.message}") from None
    return used


def write(docs: list[dict[str, Any]], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in docs:
        name = ("00-" if d["kind"] == "NetworkPolicy" else "") + f"{d['kind'].lower()}-{d['metadata']['name']}.yaml"
        p = out / name
        p.write_text(yaml.safe_dump(d, sort_keys=False, default_flow_style=False))
        paths.append(p)
    return paths
