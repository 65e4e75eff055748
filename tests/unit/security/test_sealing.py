"""Sealing with a rotatable key: the current key seals, retired ones only open."""

import pytest

from backend.security.sealing import Purpose, Sealer, UnsealError

OLD, NEW, OTHER = b"o" * 40, b"n" * 40, b"x" * 40
WHERE = b"factor-id"


def test_a_retired_key_opens_what_it_sealed_and_the_current_one_seals() -> None:
    sealed_before = Sealer(OLD, Purpose.TOTP_SECRET).seal(b"secret", WHERE)
    rotated = Sealer(NEW, Purpose.TOTP_SECRET, retired=[OLD])
    assert rotated.open(sealed_before, WHERE) == b"secret"
    sealed_after = rotated.seal(b"secret", WHERE)
    assert Sealer(NEW, Purpose.TOTP_SECRET).open(sealed_after, WHERE) == b"secret"
    with pytest.raises(UnsealError):
        Sealer(OLD, Purpose.TOTP_SECRET).open(sealed_after, WHERE)


def test_reseal_moves_a_retired_value_and_leaves_a_current_one() -> None:
    rotated = Sealer(NEW, Purpose.TOTP_SECRET, retired=[OTHER, OLD])
    old_value = Sealer(OLD, Purpose.TOTP_SECRET).seal(b"secret", WHERE)
    fresh = rotated.reseal(old_value, WHERE)
    assert fresh is not None
    assert Sealer(NEW, Purpose.TOTP_SECRET).open(fresh, WHERE) == b"secret"
    assert rotated.reseal(fresh, WHERE) is None


@pytest.mark.parametrize(
    "sealed",
    [
        Sealer(OTHER, Purpose.TOTP_SECRET).seal(b"secret", WHERE),
        # The right key for another purpose, or for another row, opens nothing either.
        Sealer(OLD, Purpose.QUEUED_TASK).seal(b"secret", WHERE),
        Sealer(OLD, Purpose.TOTP_SECRET).seal(b"secret", b"another-row"),
        b"",
        b"\x00" * 5,
    ],
    ids=["unknown-key", "other-purpose", "other-row", "empty", "short"],
)
def test_what_no_configured_key_opens_is_refused(sealed: bytes) -> None:
    rotated = Sealer(NEW, Purpose.TOTP_SECRET, retired=[OLD])
    with pytest.raises(UnsealError):
        rotated.open(sealed, WHERE)
    with pytest.raises(UnsealError):
        rotated.reseal(sealed, WHERE)
