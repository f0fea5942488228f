"""The record table evaluates a plan's condition over every record at once, as bit sets; it must
admit exactly the records `holds` admits one by one, whatever the values (missing, null, sets,
1 and True), and page through them from any start."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from suite_authz.engine.core.plan import (
    And,
    Condition,
    Const,
    Eq,
    In,
    IsNull,
    Not,
    Or,
    holds,
)
from suite_authz.engine.core.record_table import RecordTable

PATHS = ("status", "submitted_by", "folder")
SCALARS = st.sampled_from(["draft", "sent", "asha", "", 1, 0, True, False])
VALUES = st.one_of(SCALARS, st.none(), st.just(["draft"]), st.just({"a": 1}))
RECORDS = st.lists(
    st.dictionaries(st.sampled_from(PATHS), VALUES, max_size=len(PATHS)), max_size=40
)


def conditions() -> st.SearchStrategy[Condition]:
    leaves = st.one_of(
        st.builds(Const, st.booleans()),
        st.builds(Eq, st.sampled_from(PATHS), SCALARS),
        st.builds(In, st.sampled_from(PATHS), st.lists(SCALARS, max_size=3).map(tuple)),
        st.builds(IsNull, st.sampled_from(PATHS)),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(Not, inner),
            st.builds(And, st.lists(inner, min_size=1, max_size=3).map(tuple)),
            st.builds(Or, st.lists(inner, min_size=1, max_size=3).map(tuple)),
        ),
        max_leaves=8,
    )


def table_of(records: list[dict[str, Any]]) -> RecordTable:
    return RecordTable([f"r{n:03}" for n in range(len(records))], records)


@given(RECORDS, conditions())
def test_the_table_admits_what_holds_admits(
    records: list[dict[str, Any]], condition: Condition
) -> None:
    table = table_of(records)
    admitted = table.admitted(condition)
    expected = [n for n, attrs in enumerate(records) if holds(condition, attrs)]
    assert table.positions(admitted, 0, len(records) + 1) == expected
    # asked again (its masks kept), the same
    assert table.positions(table.admitted(condition), 0, len(records) + 1) == expected


@given(RECORDS, conditions(), st.integers(0, 45), st.integers(0, 45))
def test_positions_page_from_any_start(
    records: list[dict[str, Any]], condition: Condition, start: int, limit: int
) -> None:
    table = table_of(records)
    expected = [n for n, attrs in enumerate(records) if holds(condition, attrs) and n >= start]
    assert table.positions(table.admitted(condition), start, limit) == expected[:limit]


def test_null_and_missing_are_alike_and_a_set_is_neither_null_nor_equal() -> None:
    table = table_of([{"status": None}, {}, {"status": ["draft"]}, {"status": "draft"}])
    assert table.positions(table.admitted(IsNull("status")), 0, 10) == [0, 1]
    assert table.positions(table.admitted(Eq("status", "draft")), 0, 10) == [3]
    assert table.positions(table.admitted(Not(IsNull("status"))), 0, 10) == [2, 3]


def test_one_and_true_meet_as_python_equality_does() -> None:
    table = table_of([{"folder": 1}, {"folder": True}, {"folder": "1"}])
    assert table.positions(table.admitted(Eq("folder", True)), 0, 10) == [0, 1]
