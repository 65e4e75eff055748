"""The files `tessera ... apply` reads: TOML with one `[[kind]]` table per thing declared.

Pure: the TOML is parsed here, unknown keys and wrong shapes refused, and every table
handed back with the lines it spans, so each check of a kind (domain/api_manifest.py,
domain/client_manifest.py) and each check against the database names the line it is about.
"""

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from backend.domain.errors import DomainError

_TOML_LINE = re.compile(r"at line (\d+)")


class ManifestError(DomainError):
    """A file `apply` refuses: `line` (1-based; 0 when no line can be named) and why."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}" if line else reason)


@dataclass(frozen=True, slots=True)
class Table:
    """One `[[kind]]` table of the file and the lines [start, end) it spans (0-based)."""

    kind: str
    values: dict[str, Any]
    lines: list[str]
    start: int
    end: int

    @property
    def header(self) -> int:
        """The 1-based line of the table's `[[kind]]` header."""
        return self.start + 1

    def line_of(self, key: str) -> int:
        """The 1-based line where `key` is assigned (bare or quoted), or the header's."""
        pattern = re.compile(r'^\s*(?:"|\')?' + re.escape(key) + r'(?:"|\')?\s*=')
        for number in range(self.start, self.end):
            if pattern.match(self.lines[number]):
                return number + 1
        return self.header

    def require(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            if key not in self.values:
                raise ManifestError(self.header, f"[[{self.kind}]] needs {key!r}")

    def string(self, key: str, default: str | None = None) -> str:
        """The value of `key`, which must be a string; `default` when absent."""
        value = self.values.get(key, default)
        if not isinstance(value, str):
            raise ManifestError(self.line_of(key), f"{key!r} must be a string")
        return value

    def strings(self, key: str) -> list[str]:
        """The value of `key`, which must be an array of strings; [] when absent."""
        value = self.values.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ManifestError(self.line_of(key), f"{key!r} must be an array of strings")
        return value


def read_tables(text: str, kind: str, keys: frozenset[str]) -> list[Table]:
    """Every `[[kind]]` table of the TOML `text`, each holding only `keys`; ManifestError
    with the line otherwise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        raise ManifestError(int(found.group(1)) if found else 0, f"not TOML: {exc}") from None
    lines = text.splitlines()
    whole = Table(kind, data, lines, 0, len(lines))
    unknown = sorted(set(data) - {kind})
    if unknown:
        raise ManifestError(whole.line_of(unknown[0]), f"unknown key {unknown[0]!r}")
    tables = data.get(kind, [])
    if not isinstance(tables, list):
        raise ManifestError(whole.line_of(kind), f"{kind!r} must be [[{kind}]] tables")
    header = re.compile(r"^\s*\[\[\s*" + re.escape(kind) + r"\s*\]\]")
    starts = [i for i, line in enumerate(lines) if header.match(line)]
    read: list[Table] = []
    for index, values in enumerate(tables):
        start = starts[index] if index < len(starts) else 0
        end = starts[index + 1] if index + 1 < len(starts) else len(lines)
        if not isinstance(values, dict):
            raise ManifestError(start + 1, f"each [[{kind}]] must be a table")
        table = Table(kind, values, lines, start, end)
        for key in sorted(set(values) - keys):
            raise ManifestError(table.line_of(key), f"unknown key {key!r} in [[{kind}]]")
        read.append(table)
    return read
