"""The owner rule as a pure function: who must stay so a lasting owner is kept."""

from hypothesis import given
from hypothesis import strategies as st

from backend.domain.owners import must_stay

people = st.frozensets(st.integers(0, 7), max_size=8)


@given(owners=people, lasting_share=people, leaving=people)
def test_a_lasting_owner_stays_and_nobody_is_held_back_for_nothing(
    owners: frozenset[int], lasting_share: frozenset[int], leaving: frozenset[int]
) -> None:
    lasting = owners & lasting_share
    staying = must_stay(owners, lasting, leaving)
    assert staying <= leaving & owners
    gone = leaving - staying
    if lasting:
        assert lasting - gone, "the tenant lost its last lasting owner"
    if lasting - leaving:
        assert staying == frozenset(), "a removal was held back though an owner stays"


def test_the_last_lasting_owner_stays_beside_time_bound_ones() -> None:
    # 1 holds the owner role for good, 2 until some time: 2 is no keeper.
    assert must_stay({1, 2}, {1}, [1]) == {1}
    assert must_stay({1, 2}, {1}, [2]) == frozenset()
    assert must_stay({1, 2}, {1, 2}, [1]) == frozenset()


def test_removing_several_at_once_keeps_the_owners_among_them() -> None:
    assert must_stay({1, 2}, {1, 2}, [1, 2, 3]) == {1, 2}
    assert must_stay({1, 2, 4}, {1, 2, 4}, [1, 2, 3]) == frozenset()
    assert must_stay({1}, {1}, [3, 5]) == frozenset()


def test_a_tenant_with_only_time_bound_owners_keeps_them() -> None:
    """Possible only in data from before the rule: no owner may go until one is lasting."""
    assert must_stay({1, 2}, set(), [1]) == {1}
