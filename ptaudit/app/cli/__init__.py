"""The ``ptaudit`` command: one module per verb; ``main`` wires them and maps errors to exit codes."""
