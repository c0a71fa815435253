"""The embedded local runtime: real servers on 127.0.0.1 (``python -m infra.local up|down|status``)."""
