"""TOTP (RFC 6238) codes through pyotp: 6 digits, 30-second steps, SHA-1 (what every
authenticator app reads from an otpauth:// URI), and ±1 step of clock drift."""

import hmac
import io

import pyotp
import segno

DIGITS = 6
STEP_SECONDS = 30
# Steps either side of now whose code is accepted: clocks drift, people type slowly.
DRIFT_STEPS = 1


def new_secret() -> str:
    """160 random bits, base32: RFC 4226's recommended length."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as a QR code, an SVG document with no script and no external reference."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False)
    return out.getvalue().decode()


def matching_step(secret: str, code: str, now: float, after_step: int | None) -> int | None:
    """The time step within the drift window whose code `code` is, if any is later than
    `after_step` (a code of that step or earlier is a replay); compared in constant time."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now) // STEP_SECONDS
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = totp.at(step * STEP_SECONDS)
        # Every step is compared, so the time taken does not tell which one matched.
        if hmac.compare_digest(expected.encode(), code.encode()) and (
            after_step is None or step > after_step
        ):
            found = step if found is None else found
    return found
