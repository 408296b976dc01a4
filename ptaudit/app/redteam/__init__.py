"""The red-team and benign scenario suite (docs/redteam.md).

Each scenario under tests/scenarios/ is a small agent run for real, in the sandbox,
against the simulated internet, under each policy; the suite reports what each policy
catches and where it raises false alarms. ``make redteam`` runs it
(``python -m ptaudit.app.redteam``); ``ptaudit policy eval`` compares an edited policy
with the shipped default on it.
"""
