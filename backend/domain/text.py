"""Text PostgreSQL can store: the one rule every string input is held to.

A `text` value cannot hold NUL, and a lone UTF-16 surrogate (which JSON's `\\ud800`
escapes make, and which is what bytes that are not UTF-8 become when a file is read
with `surrogateescape`) has no UTF-8 form. Either would fail deep in a query, or in
encoding an answer that quotes it, as a 500; refused at the edge, they are a 4xx that
names the field.
"""

_SURROGATES = range(0xD800, 0xE000)


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    if any(ord(char) in _SURROGATES for char in text):
        return "is not valid UTF-8 (or holds a lone surrogate)"
    return None


def printable(text: str) -> str:
    """`text` with NUL, other control characters and lone surrogates escaped (`\\x00`,
    `\\ud800`): safe to quote in an answer or a log line, whatever a client sent."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )
