"""The core layer: what every other layer builds on, and which imports none of them.

Events and their typed payloads, the hash-chained run log and its single writer (the
recorder) with its client, blobs, the run directory and its recording session,
verification, findings and the verdict rule, input files (task, world), registries of
extensions (``plugins``), and small shared helpers (units, sniffing, disk usage, errors).

Layers (``docs/ARCHITECTURE.md``; enforced by the import contract in pyproject.toml)::

    ptaudit.core <- policies <- detectors <- monitors | sandbox <- grading <- ptaudit.app
"""
