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
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = path.parent / f".{path.name}.{secrets.token_hex(8)}"
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
        file.write(content)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
