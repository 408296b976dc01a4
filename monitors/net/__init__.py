"""The network monitor: single-concern mitmproxy addons (listed, in order, in
``mitmdump_entry.py``) that record and enforce every flow and fail closed. They run inside
mitmdump (its own process), which ``monitors.netproxy`` launches with
``mitmdump -s monitors/net/mitmdump_entry.py``. Nothing here is imported by ``ptaudit
run`` itself: the addons load mitmproxy, which only mitmdump needs."""
