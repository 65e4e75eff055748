"""Passkeys' own rules (domain/passkeys.py): the signature counter and the amr method."""

import pytest

from backend.domain.assurance import HARDWARE_KEY, SOFTWARE_KEY
from backend.domain.passkeys import counter_advanced, key_method
from backend.domain.policy import TenantPolicy


@pytest.mark.parametrize(
    ("stored", "presented", "advanced"),
    [
        (0, 0, True),  # an authenticator that keeps no counter, for ever
        (0, 1, True),
        (5, 6, True),
        (5, 2**32 - 1, True),
        (5, 5, False),  # the same count twice: a replay or a copy of the key
        (5, 4, False),  # backwards
        (5, 0, False),  # a counting credential that now sends 0
        (2**32 - 1, 0, False),
    ],
)
def test_a_counter_must_go_up_once_it_has_counted(
    stored: int, presented: int, advanced: bool
) -> None:
    assert counter_advanced(stored, presented) is advanced


def test_a_key_that_can_leave_its_authenticator_is_software_s() -> None:
    assert key_method(backup_eligible=True) == SOFTWARE_KEY == "swk"
    assert key_method(backup_eligible=False) == HARDWARE_KEY == "hwk"


@pytest.mark.parametrize(
    ("raw", "on"),
    [
        ({}, False),
        ({"passkey_login": True}, True),
        ({"passkey_login": "true"}, False),
        ({"passkey_login": 1}, False),
        ({"passkey_login": None}, False),
        # Second factors off turn every factor off, passkeys alone included.
        ({"passkey_login": True, "mfa": "off"}, False),
        ({"passkey_login": True, "mfa": "required"}, True),
    ],
)
def test_passkey_login_is_on_only_for_json_true(raw: dict[str, object], on: bool) -> None:
    assert TenantPolicy.from_json(raw).allows_passkey_login is on
