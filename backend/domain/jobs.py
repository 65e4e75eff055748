"""Job kinds: the background jobs the worker runs (services.job_runner)."""

from enum import StrEnum


class JobKind(StrEnum):
    """What a job does; stored in `jobs.kind` and shown by the jobs API, so the values
    never change."""

    OFFBOARD = "offboard"
    BULK_DISABLE = "bulk_disable"
    BULK_OFFBOARD = "bulk_offboard"
    IMPORT_USERS = "import_users"
