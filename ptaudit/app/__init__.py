"""The application layer: it wires every other layer into ``ptaudit run`` (``run``,
``build``, ``supervise``) and serves people (``cli``, ``report``, ``live``, ``doctor``,
``demo``), and runs many of them (``fleet``). Nothing below imports it."""
