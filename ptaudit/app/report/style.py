"""The HTML report's inline stylesheet and script (kept apart so html.py stays about markup)."""

from __future__ import annotations

import base64
import hashlib

CSS = """
:root{--fg:#1d2327;--muted:#6b7378;--line:#e3e6e8;--bg:#f6f7f8;--pass:#1f8a4c;--fail:#c1121f}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1240px;margin:0 auto;padding:20px 24px 40px}
header{display:flex;align-items:baseline;gap:18px;padding:18px 24px;border-radius:10px;color:#fff}
header.pass{background:var(--pass)} header.fail{background:var(--fail)}
.verdict{font-size:40px;font-weight:800;letter-spacing:.06em}
.vsub{font-size:17px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:14px 18px;margin-top:16px}
h2{font-size:17px;margin:0 0 10px}
table{border-collapse:collapse}
.facts{margin-top:14px;background:#fff;border:1px solid var(--line);border-radius:10px;width:100%}
.facts th{width:90px;text-align:left;color:var(--muted);font-weight:600;padding:5px 14px;vertical-align:top}
.facts td{padding:5px 14px 5px 0;word-break:break-all}
.small{font-size:12.5px;width:100%}
.small th{text-align:left;background:#f1f3f4;padding:5px 8px;font-weight:600}
.small td{padding:4px 8px;border-top:1px solid var(--line);vertical-align:top}
.kv th{width:80px;background:none;color:var(--muted)}
td.url{word-break:break-all;max-width:560px}
.mono,code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
code{background:#f1f3f4;border-radius:4px;padding:1px 4px;word-break:break-all}
.match{border:1px solid var(--line);border-radius:8px;padding:8px 10px;margin-top:8px}
.match .side{display:grid;grid-template-columns:1fr 1fr;gap:10px}
.match pre{max-height:240px;word-break:normal;overflow-wrap:anywhere}
mark{background:#ffe08a;color:inherit;padding:0 1px;border-radius:2px}
pre{background:#f8f9fa;border:1px solid var(--line);border-radius:6px;padding:8px;overflow:auto;max-height:320px;margin:4px 0 0;white-space:pre-wrap;word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(120px,1fr));gap:10px}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 10px}
.cv{font-size:20px;font-weight:700}.ck{color:var(--muted);font-size:12px}
.sev{display:inline-block;color:#fff;border-radius:4px;padding:1px 7px;font-size:12px;font-weight:700;margin-right:4px;text-transform:uppercase}
.cat{color:var(--muted);font-weight:600;margin-right:6px}
details.finding{border:1px solid var(--line);border-radius:8px;margin:8px 0;padding:6px 10px}
details.finding[open]{background:#fffdfa}
details.finding summary{cursor:pointer;font-size:14px}
details.finding:target{outline:3px solid #f4a261}
.msg{font-weight:600}
.kind{display:inline-block;background:#e9ecef;border-radius:4px;padding:0 5px;font-family:ui-monospace,monospace;font-size:11.5px}
.event{padding:6px 0;border-top:1px solid var(--line)} .event:target{background:#fff4e0}
.note{color:var(--muted);font-size:12.5px}
.ok{color:var(--pass);font-weight:700}.bad{color:var(--fail);font-weight:700}.warn{color:#b7791f;font-weight:700}
.banner{margin-top:12px;padding:10px 16px;border-radius:8px;font-weight:600}
.warnbg{background:#fff3cd;border:1px solid #f0d78c}.badbg{background:#fde2e4;border:1px solid #f5a3a9}
.okbox{color:var(--pass);font-weight:600}
tr.blockedrow td{background:#fff0f0}
.procs td:nth-child(-n+4),.procs th:nth-child(-n+4){width:64px;white-space:nowrap}
.hosts{width:auto;min-width:60%;margin-bottom:10px}.small td.n{text-align:right}
details>summary{cursor:pointer}
details.prov{border:1px solid var(--line);border-radius:8px;margin:6px 0;padding:4px 10px}
ul.tree{list-style:none;margin:2px 0 2px 6px;padding-left:14px;border-left:1px dotted #bbb;font-size:13px}
.tainted{background:#fde2e1;border-radius:4px;padding:0 3px}
.proc{padding:6px 0;border-top:1px solid var(--line)} .proc ul{margin:4px 0 0;padding-left:22px}
a.blob{font-family:ui-monospace,monospace;font-size:12px}
.cols{display:flex;gap:16px;align-items:flex-start}.cols table{flex:1}
svg{display:block;margin:6px 0}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px}
.meta{font-size:12.5px;margin:6px 0;line-height:1.7}
.matrix{margin-top:12px;width:auto;min-width:60%}.matrix td.n{text-align:center;min-width:64px}
svg .lane{fill:#f8f9fa;stroke:#e9ecef}
svg .grid{stroke:#e3e6e8;stroke-width:1}
svg .tick{font-size:11px;fill:#6b7378}
svg .lanename{font-size:12px;fill:#1d2327;font-weight:600}
svg .ctitle{font-size:13px;font-weight:700;fill:#1d2327}
svg .legend{font-size:11.5px;font-weight:600}
nav{position:sticky;top:0;z-index:2;display:flex;gap:4px;flex-wrap:wrap;margin-top:12px;padding:6px 8px;
background:#fff;border:1px solid var(--line);border-radius:10px}
nav a{color:var(--fg);text-decoration:none;padding:3px 10px;border-radius:6px;font-weight:600;font-size:13px}
nav a:hover{background:#f1f3f4}
section{scroll-margin-top:56px}
footer{color:var(--muted);font-size:12px;margin-top:16px;text-align:center}
"""

# Opens a collapsed finding when its anchor is the target (timeline diamonds link there).
JS = """
function openTarget(){var t=location.hash&&document.getElementById(location.hash.slice(1));
if(t&&t.tagName==='DETAILS'){t.open=true;}}
window.addEventListener('hashchange',openTarget);openTarget();
"""

JS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
