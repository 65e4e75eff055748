"""Development stack: embedded PostgreSQL and Redis, and the `make run` orchestrator."""
