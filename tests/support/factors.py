"""Enrolling a user's TOTP factor over HTTP, with codes the test computes itself.

A code is accepted once per 30-second step, within one step of drift. Enrolment
confirms with the code of the step before now, which leaves two fresh codes (now's and
the next step's) for the test: `next_code` hands them out in order, as an app would
once time moves on.
"""

import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pyotp
from fastapi.testclient import TestClient

from tests.conftest import bearer
from tests.factories import DEFAULT_PASSWORD

STEP = 30


@dataclass
class Enrolled:
    secret: str
    recovery_codes: list[str]
    factor_id: str
    last_step: int

    def next_code(self) -> str:
        """The code of the step after the last one used; at most one step ahead of now."""
        self.last_step += 1
        assert self.last_step <= int(time.time()) // STEP + 1, "no fresh code left this step"
        return pyotp.TOTP(self.secret).at(self.last_step * STEP)

    def wrong_code(self) -> str:
        """A code no step in the window has (checked, not assumed)."""
        generator, now = pyotp.TOTP(self.secret), time.time()
        window = {generator.at(now + offset * STEP) for offset in (-1, 0, 1)}
        return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in window)


def secret_of(otpauth_uri: str) -> str:
    return parse_qs(urlsplit(otpauth_uri).query)["secret"][0]


def enrol_totp(client: TestClient, access_token: str) -> Enrolled:
    started = client.post("/me/factors/totp", headers=bearer(access_token), json={"label": "phone"})
    assert started.status_code == 201, started.text
    secret = secret_of(started.json()["otpauth_uri"])
    # Tried again if a step boundary passed between computing the code and checking it.
    for _ in range(2):
        step = int(time.time()) // STEP - 1
        confirmed = client.post(
            "/me/factors/totp/confirm",
            headers=bearer(access_token),
            json={"code": pyotp.TOTP(secret).at(step * STEP)},
        )
        if confirmed.status_code == 200:
            break
    assert confirmed.status_code == 200, confirmed.text
    body = started.json()
    return Enrolled(secret, confirmed.json()["recovery_codes"], body["factor_id"], step)


MFA_GRANT = "urn:tessera:params:oauth:grant-type:mfa"


def log_in_with_factor(client: TestClient, username: str, enrolled: Enrolled) -> str:
    """An access token from the password and the mfa grant: `amr` holds `mfa`."""
    first = client.post(
        "/token",
        data={"grant_type": "password", "username": username, "password": DEFAULT_PASSWORD},
    )
    assert first.json()["error"] == "mfa_required", first.text
    second = client.post(
        "/token",
        data={
            "grant_type": MFA_GRANT,
            "mfa_token": first.json()["mfa_token"],
            "otp": enrolled.next_code(),
        },
    )
    assert second.status_code == 200, second.text
    token: str = second.json()["access_token"]
    return token
