"""Development secrets kept on disk: created once, never half-written, never widened."""

import os
import secrets
from pathlib import Path


def write_once(path: Path, content: bytes) -> None:
    """Create `path` (mode 0600) holding `content`, unless some process already did.

    Written aside, created 0600 from the start, then hard-linked into place: the API,
    worker and beat may start together, and link() lets exactly one of them win without
    a half-written file, while the others read the winner's content.
    """
    draft = _draft(path, content)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def replace(path: Path, content: bytes) -> None:
    """Put `content` at `path` (mode 0600), replacing what was there in one step.

    Readers see the old file or the new one, never a partial write, and never a moment
    when the content is readable by others.
    """
    draft = _draft(path, content)
    try:
        draft.replace(path)
    except BaseException:
        draft.unlink()
        raise


def _draft(path: Path, content: bytes) -> Path:
    """`content` in a new 0600 file beside `path`, to be moved or linked into place."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.parent / f".{path.name}.{secrets.token_hex(8)}"
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
        file.write(content)
    return draft
