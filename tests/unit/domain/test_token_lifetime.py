from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from backend.domain.scopes import Scope
from backend.domain.token_lifetime import Carried, carried

ISSUED = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
AT = int(ISSUED.timestamp())


def test_scopes_that_never_lapse_leave_the_lifetime_alone() -> None:
    assert carried({Scope.ME, Scope.USERS_READ}, {Scope.ME: None}, AT) == Carried(
        frozenset({Scope.ME, Scope.USERS_READ}), None
    )


def test_the_first_lapse_among_the_carried_scopes_caps_the_token() -> None:
    lapses = {
        Scope.ME: ISSUED + timedelta(minutes=5, microseconds=999_999),
        Scope.AUDIT_READ: ISSUED + timedelta(minutes=1),
        # Not carried: it limits nothing.
        Scope.USERS_READ: ISSUED + timedelta(seconds=2),
    }
    assert carried({Scope.ME}, lapses, AT) == Carried(frozenset({Scope.ME}), AT + 300)
    assert carried({Scope.ME, Scope.AUDIT_READ}, lapses, AT).not_after == AT + 60


def test_a_scope_lapsing_within_the_first_second_is_left_out() -> None:
    lapses = {Scope.AUDIT_READ: ISSUED + timedelta(milliseconds=900), Scope.USERS_READ: ISSUED}
    assert carried({Scope.ME, Scope.AUDIT_READ, Scope.USERS_READ}, lapses, AT) == Carried(
        frozenset({Scope.ME}), None
    )


@given(
    st.dictionaries(
        st.sampled_from(sorted(Scope)),
        st.none() | st.integers(-5_000, 5_000).map(lambda ms: ISSUED + timedelta(milliseconds=ms)),
    ),
    st.sets(st.sampled_from(sorted(Scope))),
)
def test_a_token_never_outlives_a_scope_it_carries(
    lapses: dict[Scope, datetime | None], scopes: set[Scope]
) -> None:
    result = carried(scopes, lapses, AT)
    assert result.scopes <= scopes
    for scope in result.scopes:
        lapse = lapses.get(scope)
        if lapse is not None:
            assert result.not_after is not None
            assert AT < result.not_after <= lapse.timestamp()
    # Only what lapses within the first second is dropped.
    for scope in scopes - result.scopes:
        lapse = lapses.get(scope)
        assert lapse is not None
        assert lapse.timestamp() < AT + 1
