"""`tessera import ...`: users from another system's export, imported by the worker.

`import users` reads and checks the file here, stages its rows with a tracked job in
one transaction, and follows the job's progress row with a progress bar until the
worker is done; then it reports every row it did not import, by line. Stopping the
CLI (Ctrl-C) stops only the following: the job goes on in the worker.

Exit status: 0 when every row was imported or already there, 1 when rows were
rejected, 2 when nothing could start (no such tenant, an unreadable file or header),
3 when the job failed (what it committed stays: `import resume` goes on from there).
"""

import argparse
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from backend.db.models import ImportOutcome, Job, JobStatus
from backend.db.session import unit_of_work
from backend.domain.user_import import ImportFileError, ImportFormat, format_for, read_rows
from backend.runtime import Runtime
from backend.services import audit, jobs, user_import

EXIT_REJECTED_ROWS = 1
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130
# How often the progress row is read, and when a queued job earns a hint.
POLL_SECONDS = 0.25
QUEUED_HINT_SECONDS = 10.0
# Rejected rows printed at the end of `import users`; `import report` prints them all.
SHOWN_REJECTED = 100
_REPORT_PAGE = 1_000
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    group = commands.add_parser(
        "import", help="import users from another system's export (runs on the worker)"
    )
    actions = group.add_subparsers(dest="import_command", required=True)

    users = actions.add_parser(
        "users",
        help="import users from a CSV or JSON lines file (see docs/migrating.md)",
        description="Columns: email, password_hash (required), full_name, status "
        "(active|disabled), roles (';'-separated in CSV, a list in JSON lines). "
        "Existing emails are left unchanged; re-running a file changes nothing.",
    )
    users.add_argument("--tenant", required=True, metavar="SLUG")
    users.add_argument("file", type=Path, metavar="FILE")
    users.add_argument(
        "--format",
        choices=[f.value for f in ImportFormat],
        help="the file's format; by default its extension (.csv, .jsonl or .ndjson)",
    )
    users.add_argument(
        "--no-wait", action="store_true", help="stage the rows and exit; the worker imports them"
    )
    users.set_defaults(handler=_import_users)

    resume = actions.add_parser(
        "resume", help="send a failed or stalled import job to the worker again"
    )
    _name_job(resume)
    resume.add_argument("--no-wait", action="store_true", help="exit once the job is sent")
    resume.set_defaults(handler=_resume)

    report = actions.add_parser(
        "report", help="an import job's state and every row it did not import"
    )
    _name_job(report)
    report.add_argument(
        "--exists", action="store_true", help="also list the rows whose user was already there"
    )
    report.set_defaults(handler=_report_command)


def _name_job(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, metavar="SLUG")
    parser.add_argument("job_id", type=uuid.UUID, metavar="JOB_ID")


def _import_users(runtime: Runtime, args: argparse.Namespace) -> int:
    fmt = format_for(args.file.name, args.format)
    try:
        # Bytes that are not UTF-8 become lone surrogates: their row is refused, by line.
        lines = args.file.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise ImportFileError(f"cannot read {args.file}: {exc.strerror}") from exc
    with lines, unit_of_work(runtime.database.sessions) as db:
        job = user_import.stage(
            db,
            runtime.effects,
            args.tenant,
            read_rows(lines, fmt),
            params={"file": args.file.name, "format": fmt.value},
        )
        job_id, total, refused = job.id, job.progress_total, job.progress_done
    print(f"import job {job_id}: {total} rows staged from {args.file.name}, {refused} refused")
    if args.no_wait:
        print(f"the worker imports them; see: {_command('report', args.tenant, job_id)}")
        return 0
    return _follow(runtime, args.tenant, job_id)


def _resume(runtime: Runtime, args: argparse.Namespace) -> int:
    with unit_of_work(runtime.database.sessions) as db:
        job = user_import.find_job(db, args.tenant, args.job_id)
        jobs.resume(db, runtime.effects, job.tenant_id, job.id, actor=audit.SYSTEM)
    print(f"import job {args.job_id} sent to the worker; it goes on from its first pending row")
    if args.no_wait:
        return 0
    return _follow(runtime, args.tenant, args.job_id)


def _report_command(runtime: Runtime, args: argparse.Namespace) -> int:
    return _report(runtime, args.tenant, args.job_id, limit=None, exists=args.exists)


@dataclass(frozen=True, slots=True)
class _Progress:
    status: JobStatus
    done: int
    total: int | None


def _progress(runtime: Runtime, slug: str, job_id: uuid.UUID) -> _Progress:
    with unit_of_work(runtime.database.sessions) as db:
        job = user_import.find_job(db, slug, job_id)
        return _Progress(job.status, job.progress_done, job.progress_total)


def _follow(runtime: Runtime, slug: str, job_id: uuid.UUID) -> int:
    """Show the job's progress row as a bar until the job is done; then the report."""
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    started = time.monotonic()
    hinted = False
    try:
        with Progress(*columns, console=Console(stderr=True)) as bar:
            task = bar.add_task("import", total=None)
            while True:
                now = _progress(runtime, slug, job_id)
                bar.update(task, total=now.total, completed=now.done)
                if now.status in _FINISHED:
                    break
                waited = time.monotonic() - started
                if now.status is JobStatus.QUEUED and not hinted and waited > QUEUED_HINT_SECONDS:
                    bar.console.print("still queued: is a worker running? (`make worker`)")
                    hinted = True
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        print(
            f"stopped following; the job goes on in the worker. See: "
            f"{_command('report', slug, job_id)}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return _report(runtime, slug, job_id, limit=SHOWN_REJECTED, exists=False)


def _report(
    runtime: Runtime, slug: str, job_id: uuid.UUID, *, limit: int | None, exists: bool
) -> int:
    """Print the job's state, its counts and its rows not imported; the exit status."""
    listed = [ImportOutcome.REJECTED, *([ImportOutcome.EXISTS] if exists else [])]
    with unit_of_work(runtime.database.sessions) as db:
        job = user_import.find_job(db, slug, job_id)
        status, error, done, total = job.status, job.error, job.progress_done, job.progress_total
        counts = user_import.counts(db, job.tenant_id, job.id)
        rows = _rows(db, job, listed, limit)
    print(f"import job {job_id}: {status.value}, {done} of {total} rows done")
    print(_counts_line(counts, finished=status is JobStatus.SUCCEEDED))
    for line, email, outcome, reason in rows:
        named = f" ({_printable(email)})" if email else ""
        print(f"line {line}{named}: {outcome.value}: {_printable(reason or '')}")
    shown = sum(1 for row in rows if row[2] is ImportOutcome.REJECTED)
    if counts["rejected"] > shown:
        more = counts["rejected"] - shown
        print(f"... and {more} more rejected rows: {_command('report', slug, job_id)}")
    if status is JobStatus.FAILED:
        print(f"the job failed: {_printable(error or '')}", file=sys.stderr)
        print(
            f"what it imported stays; go on with: {_command('resume', slug, job_id)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_REJECTED_ROWS if counts["rejected"] else 0


def _rows(
    db: Session, job: Job, outcomes: list[ImportOutcome], limit: int | None
) -> list[tuple[int, str | None, ImportOutcome, str | None]]:
    """The rows to list, in line order: all of them, or the first `limit`."""
    rows: list[tuple[int, str | None, ImportOutcome, str | None]] = []
    while limit is None or len(rows) < limit:
        page = _REPORT_PAGE if limit is None else min(_REPORT_PAGE, limit - len(rows))
        found = user_import.rows_of(
            db, job, outcomes, after_line=rows[-1][0] if rows else 0, limit=page
        )
        rows += found
        if len(found) < page:
            break
    return rows


def _counts_line(counts: dict[str, int], *, finished: bool) -> str:
    prefix = "no changes: " if finished and not counts["imported"] else ""
    parts = [
        f"{counts['imported']} imported",
        f"{counts['exists']} already there (left unchanged)",
        f"{counts['rejected']} rejected",
    ]
    if counts.get("pending"):
        parts.append(f"{counts['pending']} pending")
    return prefix + ", ".join(parts)


def _command(action: str, slug: str, job_id: uuid.UUID) -> str:
    return f"tessera import {action} --tenant {slug} {job_id}"


def _printable(text: str) -> str:
    """Text from the file, shown as text: a control character is printed escaped."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
