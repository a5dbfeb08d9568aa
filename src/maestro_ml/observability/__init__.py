"""Metrics, traces, structured logs and SLOs of the platform itself."""
