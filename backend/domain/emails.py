"""What counts as an email address: one rule for the API's schemas and the user import."""

import re

# A pragmatic check, not RFC 5322: one @, a dotted domain, no spaces or control
# characters, a local part of at most 64. Deliverability is the invitation's test.
EMAIL = re.compile(
    r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f.][^@\s\x00-\x1f\x7f]*\.[^@\s\x00-\x1f\x7f.]+"
)
MAX_EMAIL_LENGTH = 320


def is_email(value: str) -> bool:
    """Whether `value` (already stripped) is an address Tessera accepts."""
    return len(value) <= MAX_EMAIL_LENGTH and EMAIL.fullmatch(value) is not None
