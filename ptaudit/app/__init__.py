"""The application layer: it wires every other layer into ``ptaudit run`` (``run``,
``build``, ``supervise``) and serves people (``cli``, ``report``, ``live``, ``doctor``,
``demo``). Nothing below imports it."""
