"""Fault injection: one audited run with a component killed at a chosen moment (driver.py),
the checks every such run must pass (checks.py), and the soak loop (soak.py, ``make soak``)."""
