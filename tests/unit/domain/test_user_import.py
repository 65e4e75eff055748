"""Reading an import file: every data row becomes a user to import or a reason, by line."""

import io
import json

import pytest

from backend.domain.user_import import (
    ImportFileError,
    ImportFormat,
    RejectedRow,
    Row,
    UserRow,
    format_for,
    read_rows,
)

HASH = "$2b$04$" + "abcdefghijklmnopqrstuvwxyz./ABCDEFGHIJKLMNOPQRSTUVWXY"
HEADER = "email,full_name,status,roles,password_hash\n"


def csv_rows(text: str) -> list[Row]:
    return list(read_rows(io.StringIO(text, newline=""), ImportFormat.CSV))


def jsonl_rows(*lines: str) -> list[Row]:
    return list(read_rows(io.StringIO("".join(f"{line}\n" for line in lines)), ImportFormat.JSONL))


def reasons(rows: list[Row]) -> dict[int, str]:
    return {row.line: row.reason for row in rows if isinstance(row, RejectedRow)}


def test_a_good_csv_row_keeps_every_field() -> None:
    [row] = csv_rows(HEADER + f" Ann@Example.com ,Ann Example,disabled,admin; member ;,{HASH}\n")
    assert row == UserRow(
        line=2,
        email="Ann@Example.com",
        full_name="Ann Example",
        status="disabled",
        roles=("admin", "member"),
        password_hash=HASH,
    )


def test_optional_columns_may_be_left_out_and_empty_cells_take_defaults() -> None:
    rows = csv_rows(f"password_hash,email\n{HASH},a@example.com\n")
    assert rows == [UserRow(2, "a@example.com", "", "active", (), HASH)]
    [row] = csv_rows(HEADER + f"b@example.com,,,,{HASH}\n")
    assert (row.status, row.roles) == ("active", ())  # type: ignore[union-attr]


def test_rejected_csv_rows_carry_their_line_and_reason() -> None:
    text = HEADER + "\n".join(
        [
            f"good@example.com,Good,active,,{HASH}",  # 2
            f"not-an-email,,active,,{HASH}",  # 3
            f"c@example.com,,retired,,{HASH}",  # 4
            "d@example.com,,active,,md5$seasalt$3f86d0d3d465b7b458c231bf3555c0e3",  # 5
            f"GOOD@example.com,,active,,{HASH}",  # 6
            f"e@example.com,Eve\x00,active,,{HASH}",  # 7
            f"f@example.com,{'x' * 201},active,,{HASH}",  # 8
            f"{'g' * 64}@{'h' * 300}.com,,active,,{HASH}",  # 9
            "h@example.com,,active",  # 10
            f"i@example.com,\udcff,active,,{HASH}",  # 11
            f"j@example.com,,active,{'r' * 101},{HASH}",  # 12
            f'k@example.com,"a "quoted" name",active,,{HASH}',  # 13
            f"l@example.com,,active,,{HASH}",  # 14
            "",
        ]
    )
    rows = csv_rows(text)
    assert [row.line for row in rows] == list(range(2, 15))
    assert reasons(rows) == {
        3: "email 'not-an-email' is not a valid address",
        4: "unknown status 'retired' (expected active or disabled)",
        5: "unknown password hash format (expected bcrypt, argon2 or pbkdf2-sha256)",
        6: "duplicate of line 2 (emails compare case-insensitively)",
        7: "full_name contains a NUL character",
        8: "full_name is longer than 200 characters",
        9: "email is longer than 320 characters",
        10: "expected 5 fields, found 3",
        11: "full_name is not valid UTF-8 (or holds a lone surrogate)",
        12: "a role name is longer than 100 characters",
        13: "malformed CSV: ',' expected after '\"'",
    }
    duplicate = next(row for row in rows if row.line == 6)
    assert isinstance(duplicate, RejectedRow)
    assert duplicate.email == "GOOD@example.com"


def test_a_quoted_field_over_several_lines_keeps_the_line_numbers_exact() -> None:
    text = HEADER + f'a@example.com,"Ann\nof two lines",active,,{HASH}\nbad,,active,,{HASH}\n'
    rows = csv_rows(text)
    assert rows[0] == UserRow(2, "a@example.com", "Ann\nof two lines", "active", (), HASH)
    assert reasons(rows) == {4: "email 'bad' is not a valid address"}


def test_bytes_that_are_not_utf8_refuse_only_their_row() -> None:
    raw = (HEADER + f"a@example.com,Ann,active,,{HASH}\n").encode() + b"b@example.com,B\xff\xfe,,,"
    raw += HASH.encode() + b"\n"
    text = raw.decode("utf-8", errors="surrogateescape")
    rows = csv_rows(text)
    assert isinstance(rows[0], UserRow)
    assert reasons(rows) == {3: "full_name is not valid UTF-8 (or holds a lone surrogate)"}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "the file is empty"),
        ("email,fullname,password_hash\n", "unknown column(s) 'fullname'"),
        ("email,full_name\n", "missing column(s) password_hash"),
        ("email,email,password_hash\n", "a column is named twice"),
    ],
)
def test_a_header_that_does_not_fit_refuses_the_whole_file(header: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        csv_rows(header)


def test_a_byte_order_mark_before_the_header_is_ignored() -> None:
    assert len(csv_rows("\ufeff" + HEADER + f"a@example.com,,,,{HASH}\n")) == 1


def test_jsonl_rows_take_roles_as_a_list_and_refuse_what_is_not_a_user() -> None:
    good = {"email": "a@example.com", "password_hash": HASH, "roles": ["admin"], "status": None}
    rows = jsonl_rows(
        json.dumps(good),  # 1
        "",  # 2: blank lines are skipped
        "{not json",  # 3
        "[1, 2]",  # 4
        json.dumps({**good, "email": "b@example.com", "is_superuser": True}),  # 5
        json.dumps({**good, "email": "c@example.com", "roles": "admin"}),  # 6
        json.dumps({**good, "email": "d@example.com", "full_name": "\ud800"}),  # 7
        json.dumps({**good, "email": 7}),  # 8
        json.dumps({"email": "e@example.com"}),  # 9
        "[" * 100_000,  # 10
        json.dumps({**good, "email": "f@example.com", "roles": ["a\u0000b"]}),  # 11
    )
    assert rows[0] == UserRow(1, "a@example.com", "", "active", ("admin",), HASH)
    assert reasons(rows) == {
        3: "not valid JSON: Expecting property name enclosed in double quotes at column 2",
        4: "expected a JSON object",
        5: "unknown field(s) 'is_superuser'",
        6: "roles must be a list of role names",
        7: "full_name is not valid UTF-8 (or holds a lone surrogate)",
        8: "email must be text",
        9: "password_hash is missing",
        10: "not valid JSON: nested too deeply",
        11: "a role name contains a NUL character",
    }


def test_a_reason_quotes_a_value_cut_short_and_escaped() -> None:
    status = "\x1b[31m" + "z" * 60
    [row] = csv_rows(HEADER + f"a@example.com,,{status},,{HASH}\n")
    assert isinstance(row, RejectedRow)
    assert row.reason == f"unknown status '\\x1b[31m{'z' * 35}…' (expected active or disabled)"


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("users.csv", None, ImportFormat.CSV),
        ("USERS.CSV", None, ImportFormat.CSV),
        ("users.jsonl", None, ImportFormat.JSONL),
        ("users.ndjson", None, ImportFormat.JSONL),
        ("export.txt", "csv", ImportFormat.CSV),
    ],
)
def test_the_format_comes_from_the_flag_or_the_extension(
    name: str, given: str | None, expected: ImportFormat
) -> None:
    assert format_for(name, given) is expected


def test_an_unknown_extension_without_a_flag_is_refused() -> None:
    with pytest.raises(ImportFileError, match="give --format"):
        format_for("export.txt")
