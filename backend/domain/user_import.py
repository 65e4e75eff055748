"""The rows of a user import file (CSV or JSON lines), checked before anything is stored.

Pure: reads text and yields, for every data row, either a user to import or the reason
the row is refused, with the line it starts on. What needs the database (roles that
exist in the tenant, emails already taken) is checked where the rows are imported.

Fields: `email` and `password_hash` (required), `full_name`, `status` (active or
disabled; active when empty) and `roles` (names, `;`-separated in CSV, a list in JSON).
A row whose email (compared case-insensitively) appeared on an earlier line is refused
as a duplicate of that line.
"""

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from backend.domain.emails import MAX_EMAIL_LENGTH, is_email
from backend.domain.errors import DomainError
from backend.domain.password_hashes import import_problem
from backend.domain.text import unstorable

FIELDS = ("email", "full_name", "status", "roles", "password_hash")
REQUIRED_FIELDS = ("email", "password_hash")
STATUSES = ("active", "disabled")
ROLE_SEPARATOR = ";"
MAX_FULL_NAME_LENGTH = 200
MAX_ROLE_NAME_LENGTH = 100
MAX_ROLES = 50
# A longer CSV field is refused with its line; at the csv module's own limit (128 KiB)
# it would end the whole file with an error instead.
MAX_CSV_FIELD = 1 << 20
# How much of a value a reason quotes.
_QUOTED = 40


class ImportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


_EXTENSIONS = {
    ".csv": ImportFormat.CSV,
    ".jsonl": ImportFormat.JSONL,
    ".ndjson": ImportFormat.JSONL,
}


class ImportFileError(DomainError):
    """The file as a whole cannot be imported: unknown format, a header that does not fit."""


@dataclass(frozen=True, slots=True)
class UserRow:
    """A row that passed every check it can pass on its own."""

    line: int
    email: str
    full_name: str
    status: str
    roles: tuple[str, ...]
    password_hash: str


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    reason: str
    # The row's email, when it is a valid one: it names the row in the report.
    email: str | None = None


Row = UserRow | RejectedRow


def format_for(file_name: str, given: str | None = None) -> ImportFormat:
    """The format asked for, or the one the file's extension names."""
    if given is not None:
        return ImportFormat(given)
    extension = os.path.splitext(file_name)[1].lower()
    if extension not in _EXTENSIONS:
        raise ImportFileError(
            f"cannot tell the format of {file_name!r} from its extension: "
            "name it .csv or .jsonl, or give --format"
        )
    return _EXTENSIONS[extension]


def read_rows(lines: Iterable[str], fmt: ImportFormat) -> Iterator[Row]:
    """Every data row of the file, in order, checked: a UserRow or a RejectedRow.

    `lines` are the file's lines with their endings (a file opened with newline="").
    """
    records = _csv_records(lines) if fmt is ImportFormat.CSV else _jsonl_records(lines)
    first_line: dict[str, int] = {}
    for line, record in records:
        row = record if isinstance(record, RejectedRow) else check_record(line, record)
        if isinstance(row, UserRow):
            # PostgreSQL's lower() may differ from Python's on a few characters; the
            # database's unique index has the last word (such a row is "exists").
            first = first_line.setdefault(row.email.lower(), line)
            if first != line:
                row = RejectedRow(
                    line,
                    f"duplicate of line {first} (emails compare case-insensitively)",
                    row.email,
                )
        yield row


Record = Mapping[str, object]


def _csv_records(lines: Iterable[str]) -> Iterator[tuple[int, Record | RejectedRow]]:
    csv.field_size_limit(MAX_CSV_FIELD)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(
            "the file is empty: expected a header line naming the columns"
        ) from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1 is not a CSV header: {exc}") from exc
    columns = _columns(header)
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, RejectedRow(line, f"malformed CSV: {exc}")
            continue
        if not cells:
            continue
        if len(cells) != len(columns):
            yield line, RejectedRow(line, f"expected {len(columns)} fields, found {len(cells)}")
            continue
        record: dict[str, object] = dict(zip(columns, cells, strict=True))
        if isinstance(roles := record.get("roles"), str):
            record["roles"] = [name for name in roles.split(ROLE_SEPARATOR) if name.strip()]
        yield line, record


def _columns(header: list[str]) -> list[str]:
    columns = [name.strip().lstrip("\ufeff").lower() for name in header]
    unknown = [name for name in columns if name not in FIELDS]
    if unknown:
        raise ImportFileError(
            f"unknown column(s) {', '.join(map(_quoted, unknown))} on line 1; "
            f"the columns are {', '.join(FIELDS)}"
        )
    if len(set(columns)) != len(columns):
        raise ImportFileError("a column is named twice on line 1")
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise ImportFileError(f"missing column(s) {', '.join(missing)} on line 1")
    return columns


def _jsonl_records(lines: Iterable[str]) -> Iterator[tuple[int, Record | RejectedRow]]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield line, RejectedRow(line, f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:
            yield line, RejectedRow(line, "not valid JSON: nested too deeply")
            continue
        if not isinstance(value, dict):
            yield line, RejectedRow(line, "expected a JSON object")
            continue
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            yield line, RejectedRow(line, f"unknown field(s) {', '.join(map(_quoted, unknown))}")
            continue
        yield line, value


def check_record(line: int, record: Record) -> Row:
    """One row's fields, checked: types, NUL and lone surrogates, lengths, formats."""
    email = record.get("email")
    full_name = record.get("full_name") or ""
    status = record.get("status") or "active"
    roles = record.get("roles") or []
    password_hash = record.get("password_hash")
    if not isinstance(email, str):
        return RejectedRow(line, "email is missing" if email is None else "email must be text")
    if not isinstance(password_hash, str):
        reason = (
            "password_hash is missing" if password_hash is None else "password_hash must be text"
        )
        return RejectedRow(line, reason)
    if not (isinstance(full_name, str) and isinstance(status, str)):
        return RejectedRow(line, "full_name and status must be text")
    if not (isinstance(roles, list) and all(isinstance(name, str) for name in roles)):
        return RejectedRow(line, "roles must be a list of role names")
    texts = [("email", email), ("full_name", full_name), ("status", status)]
    texts += [("password_hash", password_hash), *(("a role name", name) for name in roles)]
    for field, text in texts:
        if problem := _unstorable(field, text):
            return RejectedRow(line, problem)
    email = email.strip()
    valid_email = email if is_email(email) else None
    problem = _problem(email, full_name, status, roles, password_hash)
    if problem is not None:
        return RejectedRow(line, problem, valid_email)
    names = tuple(dict.fromkeys(name.strip() for name in roles))
    return UserRow(line, email, full_name, status, names, password_hash)


def _problem(
    email: str, full_name: str, status: str, roles: list[str], password_hash: str
) -> str | None:
    if len(email) > MAX_EMAIL_LENGTH:
        return f"email is longer than {MAX_EMAIL_LENGTH} characters"
    if not is_email(email):
        return f"email {_quoted(email)} is not a valid address"
    if len(full_name) > MAX_FULL_NAME_LENGTH:
        return f"full_name is longer than {MAX_FULL_NAME_LENGTH} characters"
    if status not in STATUSES:
        return f"unknown status {_quoted(status)} (expected active or disabled)"
    if len(roles) > MAX_ROLES:
        return f"more than {MAX_ROLES} roles"
    if any(len(name.strip()) > MAX_ROLE_NAME_LENGTH for name in roles):
        return f"a role name is longer than {MAX_ROLE_NAME_LENGTH} characters"
    return import_problem(password_hash)


def _unstorable(field: str, text: str) -> str | None:
    problem = unstorable(text)
    return None if problem is None else f"{field} {problem}"


def _quoted(value: str) -> str:
    """A value for a reason: cut short, and escaped so a terminal shows it as text."""
    return repr(value if len(value) <= _QUOTED else value[:_QUOTED] + "…")
