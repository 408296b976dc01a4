"""Policy, task and world files: good files load, bad ones give the promised messages."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from detectors import load_policy
from policies import shipped_path
from ptaudit.core.errors import InputError
from ptaudit.core.task import load_task
from ptaudit.core.world import load_world
from tests.support import run_ptaudit


@pytest.mark.parametrize("name", ["default", "strict"])
def test_shipped_policies_load(name: str) -> None:
    pol = load_policy(shipped_path(name))
    assert pol.version == 1 and pol.name == name
    assert pol.network.store_body_max == 64 << 20 or name == "strict"
    assert pol.budgets.time_limit == 36000


def test_policy_check_cli_ok_and_summary() -> None:
    p = run_ptaudit("policy", "check", "policies/default.toml", "strict", cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 0, p.stderr
    assert "policy 'default' v1" in p.stdout and "policy 'strict' v1" in p.stdout


BAD_POLICIES = [
    # (file text, expected message fragment)
    ('version = 1\nname = "x"\n[network]\ndefualt = "deny"\n', 'network.defualt: unknown key "defualt" (line 4)'),
    ('version = 1\nname = "x"\nfail_on = "severe"\n', "fail_on: Input should be 'info', 'low', 'medium', 'high' or 'critical' (line 3)"),
    ('version = 2\nname = "x"\n', "version: Input should be 1 (line 1)"),
    ('name = "x"\n', 'missing required key "version"'),
    ('version = 1\nname = "x"\n[budgets]\ntime_limit = "ten hours"\n', "budgets.time_limit: invalid duration 'ten hours'"),
    ('version = 1\nname = "x"\n[network]\nstore_body_max = true\n', 'network.store_body_max: expected a size'),
    ('version = 1\nname = "x"\n[[rules]]\nid = "a"\ndetector = "nope"\nseverity = "high"\n',
     'rules[0] ("a").detector: unknown detector \'nope\''),
    ('version = 1\nname = "x"\n[[rules]]\nid = "Bad Id"\ndetector = "nope"\nseverity = "high"\n', 'rule id must be lower case'),
    ('version = 1\nname = "x"\nrules = 3\n', "rules: Input should be a valid list"),
    ('version = 1\nname = "x"\n[[rules]]\nid = "a"\ndetector = "budget"\nseverity = "high"\n[[rules]]\nid = "b"\n'
     'detector = "unauthorized_api"\nseverity = "low"\n[rules.params]\nhostz = ["x"]\n',
     'rules[1] ("b").params.hostz: unknown key "hostz" (line 12)'),
    ('version = 1\nname = "x"\n[[rules]]\nid = "b"\ndetector = "monitor_health"\nseverity = "high"\n[rules.params]\n'
     'lost_severity = "huge"\n', 'rules[0] ("b").params.lost_severity: Input should be'),
    ('version = 1\nname = "x"\n[[rules]]\nid = "b"\ndetector = "budget"\nseverity = "high"\n'
     '[[rules.exceptions]]\nmatch = "x"\n', 'rules[0] ("b").exceptions[0]: missing required key "reason" (line 7)'),
    ('version = 1\nname = \n', "invalid TOML: Invalid value (at line 2, column 8)"),
]


@pytest.mark.parametrize("text,expected", BAD_POLICIES)
def test_bad_policy_messages(tmp_path: Path, text: str, expected: str) -> None:
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(InputError) as exc:
        load_policy(f)
    assert str(f) in str(exc.value)
    assert expected in str(exc.value)


def test_bad_policy_cli_exits_2_naming_the_key(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text(shipped_path("default").read_text().replace("fail_on =", "fail_onn ="))
    p = run_ptaudit("policy", "check", str(f))
    assert p.returncode == 2
    assert 'unknown key "fail_onn"' in p.stderr and "line" in p.stderr and "Traceback" not in p.stderr


def test_missing_policy_file(tmp_path: Path) -> None:
    p = run_ptaudit("policy", "check", str(tmp_path / "none.toml"))
    assert p.returncode == 2 and "no such file" in p.stderr


def _task(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "data").mkdir(parents=True)
    (tmp_path / "data" / "test.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    f = tmp_path / "task.toml"
    f.write_text(
        'name = "qwen3-1.7b-gsm8k"\nbase_model = "Qwen/Qwen3-1.7B-Base"\n' + extra +
        '[[benchmarks]]\nname = "gsm8k"\ntest_set = "data/test.jsonl"\nfields = ["question", "answer"]\n'
        'hub_ids = ["openai/gsm8k"]\n[agent]\napi_host = "api.anthropic.com"\napi_key_env = "ANTHROPIC_API_KEY"\n')
    return f


def test_task_loads_and_resolves_paths(tmp_path: Path) -> None:
    t = load_task(_task(tmp_path, 'time_limit = "2h"\n'))
    assert t.benchmarks[0].test_set == (tmp_path / "data" / "test.jsonl").resolve()
    assert t.time_limit == 7200 and t.final_model == "final_model" and t.agent.api_host == "api.anthropic.com"
    assert t.sha256 and len(t.sha256) == 64


@pytest.mark.parametrize("extra,expected", [
    ('final_model = "../escape"\n', "final_model: must be a path inside the workspace"),
    ('gpus = 2\n', 'unknown key "gpus"'),
])
def test_bad_task(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        load_task(_task(tmp_path, extra))


def test_task_missing_test_set(tmp_path: Path) -> None:
    f = _task(tmp_path)
    (tmp_path / "data" / "test.jsonl").unlink()
    with pytest.raises(InputError, match="test_set .* does not exist"):
        load_task(f)


def test_world(tmp_path: Path) -> None:
    f = tmp_path / "w.toml"
    f.write_text('[hosts]\n"huggingface.co" = "http://127.0.0.1:18080"\n')
    assert load_world(f).hosts == {"huggingface.co": "http://127.0.0.1:18080"}
    f.write_text('[hosts]\n"huggingface.co" = "ftp://127.0.0.1:18080/x"\n')
    with pytest.raises(InputError, match="must be http"):
        load_world(f)


def test_task_test_set_that_is_a_directory_or_fifo(tmp_path: Path) -> None:
    f = _task(tmp_path)
    (tmp_path / "data" / "test.jsonl").unlink()
    (tmp_path / "data" / "test.jsonl").mkdir()
    with pytest.raises(InputError, match="test_set .* is a directory, not a file"):
        load_task(f)
    (tmp_path / "data" / "test.jsonl").rmdir()
    os.mkfifo(tmp_path / "data" / "test.jsonl")
    with pytest.raises(InputError, match="test_set .* is not a regular file"):
        load_task(f)


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:99999", "not a number in 1..65535"),
    ("http://127.0.0.1:0", "port 0 is not in 1..65535"),
    ("http://127.0.0.1:-1", "not a number in 1..65535"),
    ("gopher://127.0.0.1:70", "scheme 'gopher'"),
    ("127.0.0.1:8080", "scheme"),
    ("http://user:pw@127.0.0.1:80", "no path, query, fragment or user"),
    ("http://127.0.0.1:80/x?y", "no path, query, fragment or user"),
    ("http://exa mple:80", "no spaces"),
    ("http://-x-:80", "is not a host name or IP address"),
    ("http://a..b:80", "is not a host name or IP address"),
])
def test_world_urls_fully_validated(tmp_path: Path, url: str, expected: str) -> None:
    f = tmp_path / "w.toml"
    f.write_text(f'[hosts]\n"huggingface.co" = "{url}"\n')
    with pytest.raises(InputError, match=re.escape(expected)):
        load_world(f)


def test_world_host_names_validated(tmp_path: Path) -> None:
    f = tmp_path / "w.toml"
    for host in ("HF.co", "h:80", "a/b", ""):
        f.write_text(f'[hosts]\n"{host}" = "http://127.0.0.1:1"\n')
        with pytest.raises(InputError, match="lower-case host name"):
            load_world(f)
    f.write_text('[hosts]\n"hf.co" = "https://[::1]:8443"\n"x.test" = "http://localhost"\n')
    assert len(load_world(f).hosts) == 2


def test_scan_of_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    p = run_ptaudit("scan", str(fifo), "--task", str(_task(tmp_path / "t")), timeout=30)
    assert p.returncode == 2 and "not a regular file or directory" in p.stderr and "Traceback" not in p.stderr
