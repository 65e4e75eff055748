"""Importing users from another system's export: `tessera import users`.

Two halves. The operator's CLI stages every row of the file, checked, with a tracked
job in one transaction (`stage`); the worker then imports the pending rows a batch per
transaction (`step`). What a batch committed stays, and a run stopped half-way (its
worker killed, a batch failed) goes on from the first pending row when the task is
redelivered or the job resumed: nothing is lost, nothing imported twice.

The rules:
- a user is found by email, case-insensitively: an email already in the tenant is left
  as it is and its row reported as `exists` (an import never overwrites), so running
  the same file again changes nothing;
- the roles named must exist in the tenant; the operator may grant any of them (the
  no-escalation rule guards admins' API calls, not the operator's console), and a row
  that names no role gets the built-in member role, as POST /users gives;
- password hashes are stored as they are and replaced by argon2id at the user's first
  successful login (see backend/domain/password_hashes.py for the formats);
- every imported user gets one `user.imported` audit event, in the batch's transaction.
"""

import uuid
from collections.abc import Collection, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy
from sqlalchemy import func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from backend.db.models import ImportOutcome, ImportRow, Job, Role, User, UserStatus
from backend.domain.errors import NotFoundError
from backend.domain.jobs import JobKind
from backend.domain.password_hashes import scheme_of
from backend.domain.roles import MEMBER
from backend.domain.user_import import RejectedRow, Row
from backend.services import audit, jobs, tenants
from backend.services.effects import Effects
from backend.services.jobs import Batch, JobRun

EXISTS_REASON = "a user with this email is already in the tenant; left unchanged"
DISABLED_REASON = "imported"
_STAGED_PER_STATEMENT = 1_000


def stage(
    db: Session,
    effects: Effects,
    tenant_slug: str,
    rows: Iterable[Row],
    *,
    params: dict[str, Any],
) -> Job:
    """Record an import job and its rows; the worker gets it once this transaction commits.

    Rows refused by the file's own checks are stored already done (rejected, with their
    reason), so the job's progress counts them from the start.
    """
    tenant = tenants.enter_by_slug(db, tenant_slug)
    if tenant is None:
        raise NotFoundError(f"tenant {tenant_slug!r}")
    job = jobs.enqueue_for(db, effects, tenant.id, audit.SYSTEM, JobKind.IMPORT_USERS, params)
    total = rejected = 0
    for chunk in _chunks(rows, _STAGED_PER_STATEMENT):
        db.execute(insert(ImportRow), [_staged(tenant.id, job.id, row) for row in chunk])
        total += len(chunk)
        rejected += sum(isinstance(row, RejectedRow) for row in chunk)
    job.progress_total, job.progress_done = total, rejected
    db.flush()
    return job


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _staged(tenant_id: uuid.UUID, job_id: uuid.UUID, row: Row) -> dict[str, Any]:
    staged: dict[str, Any] = {"tenant_id": tenant_id, "job_id": job_id, "line": row.line}
    if isinstance(row, RejectedRow):
        return staged | {
            "outcome": ImportOutcome.REJECTED,
            "reason": row.reason,
            "email": row.email,
            "full_name": None,
            "status": None,
            "roles": None,
            "password_hash": None,
        }
    return staged | {
        "outcome": ImportOutcome.PENDING,
        "reason": None,
        "email": row.email,
        "full_name": row.full_name,
        "status": UserStatus(row.status),
        "roles": list(row.roles),
        "password_hash": row.password_hash,
    }


def step(db: Session, effects: Effects, job: JobRun, chunk: int, after: int | None) -> Batch:
    """Import the next `chunk` pending rows after line `after`, in line order.

    The rows are locked, so two runs of one job (a redelivery while the first still
    runs) never import a row twice. A batch is a handful of statements, whatever its
    size: the rows, the tenant's roles, the users, their grants, their audit events,
    and the rows' outcomes.
    """
    # Only new users: nobody's standing or profile changes, so `effects` is not used.
    rows = db.execute(
        select(*_PENDING_COLUMNS)
        .where(
            ImportRow.tenant_id == job.tenant_id,
            ImportRow.job_id == job.job_id,
            ImportRow.outcome == ImportOutcome.PENDING,
            ImportRow.line > (after or 0),
        )
        .order_by(ImportRow.line)
        .limit(chunk)
        .with_for_update()
    ).all()
    role_ids = dict(
        db.execute(select(Role.name, Role.id).where(Role.tenant_id == job.tenant_id)).all()
    )
    outcomes: dict[int, tuple[ImportOutcome, str | None]] = {}
    fresh: dict[uuid.UUID, tuple[Pending, list[str]]] = {}
    for row in rows:
        names = row.roles or [MEMBER.name]
        unknown = [name for name in names if name not in role_ids]
        if unknown:
            reason = f"unknown role(s): {', '.join(map(repr, unknown))}"
            outcomes[row.line] = (ImportOutcome.REJECTED, reason)
        else:
            fresh[uuid.uuid4()] = (row, names)
    created = _insert_users(db, job.tenant_id, fresh)
    events: list[tuple[str, dict[str, Any] | None]] = []
    grants: list[tuple[uuid.UUID, uuid.UUID]] = []
    for user_id, (row, names) in fresh.items():
        if user_id not in created:
            outcomes[row.line] = (ImportOutcome.EXISTS, EXISTS_REASON)
            continue
        grants += [(user_id, role_ids[name]) for name in names]
        events.append((f"user:{user_id}", _event_data(job.job_id, row, names)))
        outcomes[row.line] = (ImportOutcome.IMPORTED, None)
    if grants:
        user_ids, granted = zip(*grants, strict=True)
        db.execute(
            _GRANT_ROLES,
            {"tenant_id": job.tenant_id, "user_ids": list(user_ids), "role_ids": list(granted)},
        )
    if events:
        audit.record_each(
            db, tenant_id=job.tenant_id, actor=job.actor, action="user.imported", events=events
        )
    _finish(db, job, outcomes)
    return Batch(len(rows), rows[-1].line if len(rows) == chunk else None)


# What importing a staged row needs of it.
_PENDING_COLUMNS = (
    ImportRow.line,
    ImportRow.email,
    ImportRow.full_name,
    ImportRow.status,
    ImportRow.roles,
    ImportRow.password_hash,
)
Pending = sqlalchemy.Row[
    int, str | None, str | None, UserStatus | None, list[str] | None, str | None
]
# A batch's grants, one statement: (user, role) pairs side by side in two arrays.
_GRANT_ROLES = text(
    "INSERT INTO grants (tenant_id, user_id, role_id) "
    "SELECT :tenant_id, g.user_id, g.role_id "
    "FROM unnest(CAST(:user_ids AS uuid[]), CAST(:role_ids AS uuid[])) AS g(user_id, role_id)"
)
# A batch's outcomes, one statement; a done row forgets its name, roles and hash.
_FINISH_ROWS = text(
    "UPDATE import_rows AS r SET outcome = d.outcome, reason = d.reason, "
    "full_name = NULL, roles = NULL, password_hash = NULL "
    "FROM unnest(CAST(:lines AS integer[]), CAST(:outcomes AS varchar[]), "
    "CAST(:reasons AS text[])) AS d(line, outcome, reason) "
    "WHERE r.tenant_id = :tenant_id AND r.job_id = :job_id AND r.line = d.line"
)


def _finish(
    db: Session, job: JobRun, outcomes: dict[int, tuple[ImportOutcome, str | None]]
) -> None:
    """Record each row's outcome (and reason) in one statement."""
    if not outcomes:
        return
    lines = list(outcomes)
    db.execute(
        _FINISH_ROWS,
        {
            "tenant_id": job.tenant_id,
            "job_id": job.job_id,
            "lines": lines,
            "outcomes": [outcomes[line][0].value for line in lines],
            "reasons": [outcomes[line][1] for line in lines],
        },
    )


def _insert_users(
    db: Session, tenant_id: uuid.UUID, fresh: dict[uuid.UUID, tuple[Pending, list[str]]]
) -> set[uuid.UUID]:
    """Insert the users whose email is still free; the ids of those inserted.

    The unique index decides, so a user created meanwhile (by the API, or by another
    run of this job) makes the row `exists` rather than failing the batch.
    """
    if not fresh:
        return set()
    now = datetime.now(UTC)
    values = []
    for user_id, (row, _) in fresh.items():
        disabled = row.status is UserStatus.DISABLED
        values.append(
            {
                "tenant_id": tenant_id,
                "id": user_id,
                "email": row.email,
                "full_name": row.full_name or "",
                "password_hash": row.password_hash,
                "status": row.status or UserStatus.ACTIVE,
                "disabled_at": now if disabled else None,
                "disabled_reason": DISABLED_REASON if disabled else None,
            }
        )
    statement = (
        pg_insert(User)
        .on_conflict_do_nothing(index_elements=[User.tenant_id, User.email_lower])
        .returning(User.id)
    )
    return set(db.scalars(statement, values))


def _event_data(job_id: uuid.UUID, row: Pending, roles: list[str]) -> dict[str, Any]:
    """What the audit log keeps of an imported user; the hash's scheme, never the hash."""
    status = row.status or UserStatus.ACTIVE
    return {
        "job": str(job_id),
        "line": row.line,
        "after": {"email": row.email, "full_name": row.full_name or "", "status": status.value},
        "roles": roles,
        "password_hash": str(scheme_of(row.password_hash or "")),
    }


def summary(db: Session, job: JobRun, done: int) -> dict[str, Any]:
    """The job's result: how many rows were imported, already there, and rejected."""
    return counts(db, job.tenant_id, job.job_id)


def counts(db: Session, tenant_id: uuid.UUID, job_id: uuid.UUID) -> dict[str, int]:
    """How many of a job's rows have each outcome (pending ones only while any are)."""
    found = dict(
        db.execute(
            select(ImportRow.outcome, func.count())
            .where(ImportRow.tenant_id == tenant_id, ImportRow.job_id == job_id)
            .group_by(ImportRow.outcome)
        ).all()
    )
    return {
        outcome.value: found.get(outcome, 0)
        for outcome in ImportOutcome
        if outcome is not ImportOutcome.PENDING or outcome in found
    }


def find_job(db: Session, tenant_slug: str, job_id: uuid.UUID) -> Job:
    """An import job of the tenant named, with the transaction bound to that tenant."""
    tenant = tenants.enter_by_slug(db, tenant_slug)
    if tenant is None:
        raise NotFoundError(f"tenant {tenant_slug!r}")
    job = db.get(Job, (tenant.id, job_id), populate_existing=True)
    if job is None or job.kind != JobKind.IMPORT_USERS:
        raise NotFoundError("import job")
    return job


def rows_of(
    db: Session,
    job: Job,
    outcomes: Collection[ImportOutcome],
    *,
    after_line: int = 0,
    limit: int = 1_000,
) -> list[tuple[int, str | None, ImportOutcome, str | None]]:
    """(line, email, outcome, reason) of a job's rows with these outcomes, in line order."""
    return list(
        db.execute(
            select(ImportRow.line, ImportRow.email, ImportRow.outcome, ImportRow.reason)
            .where(
                ImportRow.tenant_id == job.tenant_id,
                ImportRow.job_id == job.id,
                ImportRow.outcome.in_(list(outcomes)),
                ImportRow.line > after_line,
            )
            .order_by(ImportRow.line)
            .limit(limit)
        ).all()
    )
