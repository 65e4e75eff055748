"""What use cases set off outside their transaction: handed to them, never looked up.

A use case that changes a standing forgets the principal cache's entries and publishes
on the standings feed once its transaction commits (services.cutoff); one that records
a job has it sent to the worker then (services.jobs), and one that mails has the mail
queued then (services.mail). Both reach this process's objects
through an `Effects` passed in by the API (a dependency), the worker and the CLI (from
their Runtime), so a function's signature shows that it has effects beyond the database.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from backend.mail.messages import Mail
from backend.security.principal_cache import PrincipalCache
from backend.security.standings_feed import StandingsFeed

# Sends a job's task to the worker: (tenant_id, job_id). Never raises for a broker down.
Dispatcher = Callable[[uuid.UUID, uuid.UUID], None]
# Queues a mail for the worker to send. Never raises for a broker down.
Mailer = Callable[[Mail], None]


@dataclass(frozen=True, slots=True)
class Effects:
    """This process's principal cache, standings feed, job dispatcher and mailer."""

    principal_cache: PrincipalCache
    standings: StandingsFeed
    dispatch: Dispatcher
    mail: Mailer
