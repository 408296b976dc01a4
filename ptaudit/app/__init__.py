"""The application layer: wires the core, policies, detectors, monitors, sandbox and grading into commands."""
