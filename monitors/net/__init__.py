"""The network monitor: mitmproxy addons that record and enforce every flow, run inside
mitmdump (its own process), which ``monitors.netproxy`` launches with
``mitmdump -s monitors/net/mitmdump_entry.py``. Nothing here is imported by ``ptaudit
run`` itself: the addons load mitmproxy, which only mitmdump needs."""
