"""``fleet k8s``: one Job per run, validated offline against the Kubernetes schemas
(kubernetes-validate ships them), with one GPU limit per GPU job and the fleet volume."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.fleet.support import demo_inputs, plan_text
from tests.netns import enter_loopback_netns, leave_netns
from tests.support import run_ptaudit

K8S = """
[executor.k8s]
image = "registry.example/ptaudit:0.1.0"
namespace = "audits"
claim = "ptaudit-fleet"
secret = "agent-keys"
node_selector = { "cloud.google.com/gke-accelerator" = "nvidia-h100-80gb" }
"""


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    tmp = tmp_path_factory.mktemp("k8s")
    inputs = demo_inputs(tmp / "inputs")
    plan = tmp / "plan.toml"
    plan.write_text(plan_text(
        name="PTB-Study_1", agents=[{"name": "claude", "command": ["python3", "/workspace/agent.py", "{seed}"]},
                                    {"name": "codex.v2", "command": ["true"]}],
        tasks=[{"name": "gsm8k-qwen3-1.7b", "file": str(inputs["task"]), "gpus": 1},
               {"name": "cpu-only", "file": str(inputs["task"])}],
        seeds=[0, 1], extra='max_attempts = 3\ntime_limit = "10h"', tail=K8S))
    out = tmp / "manifests"
    r = run_ptaudit("fleet", "k8s", str(plan), "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert "8 Jobs and 1 NetworkPolicy" in r.stdout and "validated against the Kubernetes 1.30 schemas" in r.stdout
    docs = [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]
    return {"plan": plan, "out": out}, docs


def test_manifests_validate_offline_against_the_kubernetes_schemas(manifests: tuple[dict, list[dict]]) -> None:
    _, docs = manifests
    handle = enter_loopback_netns()  # no network: the schemas must come from the package
    try:
        for version in ("1.30", kubernetes_validate.utils.latest_version()):
            for d in docs:
                kubernetes_validate.validate(d, version, strict=True)
        # not vacuous: a broken Job is rejected
        bad = copy.deepcopy(next(d for d in docs if d["kind"] == "Job"))
        bad["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = ["nvidia.com/gpu"]
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, "1.30", strict=True)
        bad = copy.deepcopy(bad)
        bad["spec"]["template"]["spec"]["runtimeClass"] = "gvisor"  # the key is runtimeClassName
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(bad, "1.30", strict=True)
    finally:
        leave_netns(handle)


def test_one_job_per_run_with_one_gpu_limit_and_the_fleet_volume(manifests: tuple[dict, list[dict]]) -> None:
    paths, docs = manifests
    jobs = [d for d in docs if d["kind"] == "Job"]
    keys = {j["metadata"]["annotations"]["ptaudit.dev/run"] for j in jobs}
    assert keys == {f"{a}/{t}/seed-{s}" for a in ("claude", "codex.v2") for t in ("gsm8k-qwen3-1.7b", "cpu-only")
                    for s in (0, 1)}
    assert len({j["metadata"]["name"] for j in jobs}) == len(jobs)
    for j in jobs:
        name = j["metadata"]["name"]
        assert len(name) <= 63 and name == name.lower()
        key = j["metadata"]["annotations"]["ptaudit.dev/run"]
        spec = j["spec"]
        assert spec["backoffLimit"] == 2 and spec["activeDeadlineSeconds"] == (36000 + 1800) * 3
        assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [2]
        pod = spec["template"]["spec"]
        assert pod["restartPolicy"] == "Never" and len(pod["containers"]) == 1
        c = pod["containers"][0]
        gpu = c["resources"]["limits"].get("nvidia.com/gpu")
        if "/gsm8k-qwen3-1.7b/" in key:
            assert gpu == "1" and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
        else:
            assert gpu is None and "tolerations" not in pod
        assert [k for k in c["resources"]["limits"] if "gpu" in k] == (["nvidia.com/gpu"] if gpu else [])
        assert c["securityContext"] == {"privileged": True}  # design (b): ptaudit run's own runsc
        assert "runtimeClassName" not in pod
        assert c["command"][:3] == ["python3", "-m", "ptaudit.app.fleet.job"]
        assert c["command"][c["command"].index("--run") + 1] == key
        assert c["command"][c["command"].index("--plan") + 1] == "/fleet/plan/plan.toml"
        assert c["command"][c["command"].index("--out") + 1] == "/fleet/out"  # run directories on the volume
        assert c["volumeMounts"] == [{"name": "fleet", "mountPath": "/fleet"}]
        assert pod["volumes"] == [{"name": "fleet", "persistentVolumeClaim": {"claimName": "ptaudit-fleet"}}]
        assert c["envFrom"] == [{"secretRef": {"name": "agent-keys"}}]
        assert j["metadata"]["labels"]["ptaudit.dev/fleet"] == "PTB-Study_1"
    (np,) = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert np["spec"]["ingress"] == [] and "169.254.0.0/16" in np["spec"]["egress"][0]["to"][0]["ipBlock"]["except"]
    assert np["spec"]["podSelector"]["matchLabels"] == {"ptaudit.dev/fleet": "PTB-Study_1"}


def test_plan_without_k8s_table_is_a_clear_error(tmp_path: Path) -> None:
    inputs = demo_inputs(tmp_path / "inputs")
    plan = tmp_path / "plan.toml"
    plan.write_text(plan_text(agents=[{"name": "a", "command": ["true"]}], tasks=[{"name": "t", "file": str(inputs["task"])}]))
    r = run_ptaudit("fleet", "k8s", str(plan))
    assert r.returncode == 2 and "the plan has no [executor.k8s] table" in r.stderr and "Traceback" not in r.stderr
