"""cap_depth: a document within the depth bound is untouched; deeper values become a marker."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from connectors.deep_json import TOO_DEEP, cap_depth, loads_capped

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:\n'),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(alphabet='[]{}"\\k'), inner, max_size=3),
    max_leaves=30)


@given(_json)
def test_a_document_within_the_bound_is_left_exactly_as_it_was(value) -> None:
    text = json.dumps(value)
    assert cap_depth(text) == text


@given(st.integers(min_value=2, max_value=20), st.integers(min_value=0, max_value=40))
def test_values_below_the_bound_become_the_marker_and_the_rest_is_kept(bound: int,
                                                                      extra: int) -> None:
    depth = bound + extra
    deep = "[" * depth + "]" * depth
    text = f'[{{"id": 1, "v": {deep}}}, {{"id": "x[{{"}}]'
    capped = json.loads(cap_depth(text, bound))
    assert capped[1] == {"id": "x[{"}
    # The outer list and the record are levels 1 and 2; "v" opens level 3.
    value, level = capped[0]["v"], 3
    while isinstance(value, list):
        value, level = (value[0] if value else None), level + 1
    if depth + 2 <= bound:   # kept whole: the innermost (empty) list is at depth + 2
        assert value is None and level == depth + 3
    else:                    # the list that would open level bound + 1 is the marker
        assert value == TOO_DEEP and level == bound + 1


def test_a_hundred_thousand_levels_read_without_recursion() -> None:
    assert loads_capped("[" * 100_000 + "]" * 100_000) is not None
