"""Form bodies of the OAuth endpoints, parsed without a streaming parser's per-byte cost.

`/token` and `/revoke` take `application/x-www-form-urlencoded` bodies of a few hundred
bytes. Starlette hands them to python-multipart's streaming QuerystringParser, whose
callbacks per field were ~9% of a refresh grant's CPU. `FormRequest` parses such a body
in one pass with the same result (tests/unit/api/test_forms.py compares the two on
generated bodies) and the same limits and 400s; any other content type goes to
Starlette as before. FastAPI validates the fields as it always does.
"""

from urllib.parse import unquote_plus

from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

URLENCODED = b"application/x-www-form-urlencoded"


class FormLimitError(ValueError):
    """A body over the fields or field-size limit (Starlette answers these 400)."""


def parse_urlencoded(body: bytes, *, max_fields: float, max_part_size: int) -> FormData:
    """What Starlette's FormParser makes of `body`: fields split on `&` (empty ones
    skipped), the name up to the first `=`, both unquoted from latin-1 with `+` as space."""
    items: list[tuple[str, str | UploadFile]] = []
    for field in body.split(b"&"):
        if not field:
            continue
        name, _, value = field.partition(b"=")
        # The parser counts the raw bytes of name and value (not the `=`).
        if len(name) + len(value) > max_part_size:
            raise FormLimitError(f"Field exceeded maximum size of {int(max_part_size / 1024)}KB.")
        if len(items) + 1 > max_fields:
            raise FormLimitError(f"Too many fields. Maximum number of fields is {max_fields}.")
        items.append((unquote_plus(name.decode("latin-1")), unquote_plus(value.decode("latin-1"))))
    return FormData(items)


class FormRequest(Request):
    """A request whose urlencoded form is parsed by `parse_urlencoded`."""

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        if self._form is None:
            content_type, _ = parse_options_header(self.headers.get("Content-Type"))
            if content_type == URLENCODED:
                try:
                    self._form = parse_urlencoded(
                        await self.body(), max_fields=max_fields, max_part_size=max_part_size
                    )
                except FormLimitError as exc:
                    raise HTTPException(status_code=400, detail=str(exc)) from exc
        return await super()._get_form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )
