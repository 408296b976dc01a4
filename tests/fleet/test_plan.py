"""Plan files: good ones expand to the expected runs; bad ones give one clear error with the
plan file, the key and its line (exit 2 from the CLI, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptaudit.app.fleet.expand import expand
from ptaudit.app.fleet.plan import load_plan
from ptaudit.app.fleet.store import FleetStore
from ptaudit.core.errors import InputError
from tests.fleet.support import demo_inputs, plan_text
from tests.support import run_ptaudit


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return demo_inputs(tmp_path_factory.mktemp("plan-inputs"))


def _plan(tmp: Path, inputs: dict[str, Path], text: str) -> Path:
    p = tmp / "plan.toml"
    p.write_text(text)
    return p


def _two_by_two(inputs: dict[str, Path], **kw: object) -> str:
    return plan_text(
        agents=[{"name": "honest", "command": ["python3", "/workspace/agent.py", "--seed", "{seed}"],
                 "workspace": str(inputs["agent"])},
                {"name": "strict-one", "command": ["true"], "policy": "strict"}],
        tasks=[{"name": "arith", "file": str(inputs["task"]), "gpus": 1},
               {"name": "arith-b", "file": str(inputs["task"]), "weight": 2.5, "policy": "default"}],
        seeds=[0, 7], **kw)  # type: ignore[arg-type]


def test_plan_expands_agents_tasks_seeds_with_policies(tmp_path: Path, inputs: dict[str, Path]) -> None:
    plan = load_plan(_plan(tmp_path, inputs, _two_by_two(inputs, extra='policy = "strict"\nmax_attempts = 3')))
    runs = expand(plan)
    assert [r.key for r in runs] == [f"{a}/{t}/seed-{s}" for a in ("honest", "strict-one")
                                     for t in ("arith", "arith-b") for s in (0, 7)]
    by = {r.key: r for r in runs}
    # the most specific policy wins: agent, then task, then plan
    assert by["strict-one/arith-b/seed-0"].policy == "strict"
    assert by["honest/arith-b/seed-0"].policy == "default"
    assert by["honest/arith/seed-0"].policy == "strict"
    assert by["honest/arith/seed-7"].render_command(2) == ["python3", "/workspace/agent.py", "--seed", "7"]
    assert [by["honest/arith/seed-0"].gpus, by["honest/arith-b/seed-0"].gpus] == [1, 0]
    assert by["honest/arith-b/seed-0"].weight == 2.5
    assert plan.out == (tmp_path / "out").resolve() and plan.max_attempts == 3


def test_fleet_directory_refuses_a_changed_plan(tmp_path: Path, inputs: dict[str, Path]) -> None:
    p = _plan(tmp_path, inputs, _two_by_two(inputs))
    store = FleetStore(tmp_path / "out")
    meta = store.ensure(load_plan(p))
    assert len(meta.runs) == 8 and json.loads((tmp_path / "out" / "fleet.json").read_text())["name"] == "study"
    assert store.ensure(load_plan(p)).created == meta.created  # same plan: the same fleet
    p.write_text(p.read_text().replace("seeds = [0, 7]", "seeds = [0, 7, 8]"))
    with pytest.raises(InputError, match="created from another version of the plan"):
        store.ensure(load_plan(p))


def test_attempt_numbers_are_taken_exclusively(tmp_path: Path) -> None:
    store = FleetStore(tmp_path)
    assert [store.allocate("a/b/seed-0", 3) for _ in range(4)] == [1, 2, 3, None]


BAD = [
    ('name = "x"\nout = "o"\n[[agents]]\nname = "a"\ncommand = ["true"]\ncolour = 1\n', 'agents[0] ("a").colour: unknown key "colour" (line 6)'),
    ('name = "x"\nout = "o"\n[[agents]]\nname = "a"\ncommand = ["--seed={sed}"]\n',
     'agents[0] ("a").command: \'--seed={sed}\': unknown placeholder {sed}'),
    ('name = "x"\nout = "o"\n[[agents]]\nname = "a b"\ncommand = ["true"]\n', 'agents[0] ("a b").name: must be 1-63 letters'),
    ('name = "x"\nout = "o"\non_fail = "ignore"\n', "on_fail: Input should be 'withhold', 'base' or 'flag' (line 3)"),
    ('name = "x"\nout = "o"\nseeds = [1, 1]\n', "seeds: seeds repeat (line 3)"),
    ('name = "x"\nout = "o"\n[[tasks]]\nname = "t"\nfile = "nope.toml"\n', "does not exist (line 5)"),
    ('name = "x"\nout = "o"\npolicy = "lenient"\n', "policy 'lenient' is neither a file next to the plan nor a shipped policy"),
    ('name = "x"\nout = "o"\nmax_attempts = 0\n', "max_attempts: Input should be greater than or equal to 1 (line 3)"),
    ('name = "x"\nout = "o"\ntime_limit = "soon"\n', "time_limit: invalid duration 'soon'"),
    ('name = "x"\n', 'missing required key "out"'),
    ('name = "x"\nout = "o"\n[executor.slurm]\npartitoin = "gpu"\n', 'executor.slurm.partitoin: unknown key "partitoin" (line 4)'),
    ('name = "x"\nout = "o"\n[executor.k8s]\nimage = "i"\nclaim = "Not_DNS"\n', "executor.k8s.claim: must be a DNS-1123 label"),
    ('name = \n', "invalid TOML"),
]


@pytest.mark.parametrize("text,expected", BAD)
def test_bad_plans_name_file_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    p = _plan(tmp_path, {}, text)
    with pytest.raises(InputError) as exc:
        load_plan(p)
    assert str(p) in str(exc.value) and expected in str(exc.value), str(exc.value)


def test_task_file_errors_and_gpu_mismatch(tmp_path: Path, inputs: dict[str, Path]) -> None:
    bad_task = tmp_path / "task.toml"
    bad_task.write_text('name = "t"\nbase_model = "not-a-hub-id"\n')
    p = _plan(tmp_path, inputs, plan_text(agents=[{"name": "a", "command": ["true"]}],
                                           tasks=[{"name": "t", "file": "task.toml"}]))
    with pytest.raises(InputError, match=r'tasks\[0\] \("t"\).file: task file does not load: .*base_model'):
        load_plan(p)
    gpu_task = tmp_path / "gpu.toml"
    gpu_task.write_text(inputs["task"].read_text().replace("time_limit", "gpu = true\ntime_limit")
                        .replace('"data/', f'"{inputs["task"].parent}/data/'))
    p.write_text(plan_text(agents=[{"name": "a", "command": ["true"]}], tasks=[{"name": "t", "file": "gpu.toml", "gpus": 0}]))
    with pytest.raises(InputError, match="gpus = 0 but the task asks for a GPU"):
        load_plan(p)


def test_cli_bad_plan_exits_2_without_traceback(tmp_path: Path) -> None:
    p = _plan(tmp_path, {}, 'name = "x"\nout = "o"\nseeds = "all"\n')
    for verb in (["fleet", "submit", str(p)], ["fleet", "k8s", str(p)]):
        r = run_ptaudit(*verb)
        assert r.returncode == 2, r.stderr
        assert "seeds: Input should be a valid list (line 3)" in r.stderr and "Traceback" not in r.stderr
