"""Logs and metrics: structured JSON logs with the request id, Prometheus metrics."""
