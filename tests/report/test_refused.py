"""Hosts refused by the allow-list: one table (host, count, first seen, process) in every
format, never findings; deterministic in report.json."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from ptaudit.app.report import build_report, render_html, render_json, render_text
from ptaudit.core.session import RunSession


def _run(out: Path) -> Path:
    with RunSession.create(out, command=["agent"]) as s:
        s.emit("proc", "proc.exec", {"pid": 7, "tid": 7, "comm": "python3", "argv": ["python3", "exfil.py"]})
        s.emit("proc", "proc.connect", {"pid": 7, "tid": 7, "comm": "python3",
                                        "address": {"family": "inet", "host": "127.0.0.1", "port": 3128}, "result": 0})
        for i, host in enumerate(["pastebin.com", "api.openai.com", "pastebin.com", "<b>x.test</b>"]):
            s.emit("net", "net.request", {"flow": f"f{i}", "method": "POST", "url": f"https://{host}/p", "host": host,
                                          "blocked": True, "rule": "network.deny_hosts" if host == "pastebin.com"
                                          else "network.default", "reason": "not allowed"})
        # a URL-rule block is a finding's business, not the allow-list's: not in the table
        s.emit("net", "net.request", {"flow": "f9", "method": "GET", "host": "huggingface.co", "blocked": True,
                                      "url": "https://huggingface.co/Other/Instruct/resolve/main/model.safetensors",
                                      "rule": "net.hf-other-models"})
        # a raw TCP tunnel refused at connect time
        s.emit("net", "net.blocked", {"stage": "server_connect", "rule": "network.default", "host": "tcp.example",
                                      "port": 22, "reason": "not allowed"})
    return out


def test_refused_hosts_table(tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    rep = build_report(run)
    rows = rep.data["refused_hosts"]
    assert [(r["host"], r["count"], r["rule"]) for r in rows] == [
        ("<b>x.test</b>", 1, "network.default"), ("api.openai.com", 1, "network.default"),
        ("pastebin.com", 2, "network.deny_hosts"), ("tcp.example", 1, "network.default")]
    assert rows[2]["process"]["cmdline"] == "python3 exfil.py" and isinstance(rows[2]["first_seq"], int)
    assert rep.data["findings"] == []  # refusals are not findings
    assert render_json(rep) == render_json(build_report(run))  # deterministic
    console = Console(record=True, width=200)
    render_text(rep, console)
    text = console.export_text()
    assert "refused by the allow-list (4 hosts" in text and "pastebin.com  2x" in text and "python3 exfil.py" in text
    page = render_html(rep)
    assert 'id="s-refused"' in page and "&lt;b&gt;x.test&lt;/b&gt;" in page and "<b>x.test</b>" not in page
    assert json.loads(render_json(rep))["refused_hosts"][0]["host"] == "<b>x.test</b>"
