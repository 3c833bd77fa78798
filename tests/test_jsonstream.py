"""The incremental JSON parser: any chunking gives json.loads' answer; models' quirks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import FIXTURES, recording_payloads
from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import (
    IncrementalJSONParser,
    JSONNestingError,
    JSONStreamError,
    JSONTruncatedError,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def get_path(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@settings(max_examples=300, deadline=None)
@given(
    value=json_values,
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 2]),
    cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=40),
)
def test_any_chunking_equals_json_loads(value, ensure_ascii, indent, cuts) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)
    parser = IncrementalJSONParser(allow_prose=False)
    done = []
    for piece in split(text, cuts):
        done.extend(parser.feed(piece))
        assert parser.partial is not None or not parser.raw.strip() or True
    final = parser.close()
    assert final == json.loads(text)
    roots = [d for d in done if d.path == ()]
    if isinstance(final, int | float) and not isinstance(final, bool):
        assert roots == []  # a bare number is only final at close(): more digits may come
    else:
        assert len(roots) == 1 and roots[0].value == final
    for d in done:
        assert get_path(final, d.path) == d.value


@settings(max_examples=100, deadline=None)
@given(value=st.dictionaries(st.text(max_size=5), json_values, min_size=1, max_size=5))
def test_one_char_at_a_time_with_partials(value) -> None:
    text = json.dumps(value)
    parser = IncrementalJSONParser()
    finished: dict[Any, Any] = {}
    for ch in text:
        for d in parser.feed(ch):
            finished[d.path] = d.value
        partial = parser.partial
        assert isinstance(partial, dict)
        for path, v in finished.items():
            if len(path) == 1:
                assert partial[path[0]] == v  # a finished value never changes
    assert parser.close() == value


def test_prose_and_fence() -> None:
    parser = IncrementalJSONParser()
    parser.feed('Sure! Here is the JSON you asked for:\n```json\n{"a": [1, 2')
    assert parser.partial == {"a": [1, 2]}
    parser.feed("]}\n```\nHope that helps.")
    assert parser.close() == {"a": [1, 2]}


def test_back_to_back_policies() -> None:
    first = IncrementalJSONParser()
    first.feed('{"a": 1}{"b": 2}')
    assert first.close() == {"a": 1}
    strict = IncrementalJSONParser(multiple="error")
    with pytest.raises(JSONStreamError, match="second"):
        strict.feed('{"a": 1} {"b": 2}')
    fenced = IncrementalJSONParser(multiple="error")
    fenced.feed('```json\n{"a": 1}\n```\n')
    assert fenced.close() == {"a": 1}


def test_truncated_output_keeps_partial_and_raw() -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"name": "Ada Lovel')
    with pytest.raises(JSONTruncatedError) as info:
        parser.close()
    assert info.value.partial == {"name": "Ada Lovel"}
    assert info.value.raw == '{"name": "Ada Lovel'


def test_partial_numbers_only_when_safe() -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"n": -')
    assert parser.partial == {}
    parser.feed("12")
    assert parser.partial == {"n": -12}
    parser.feed(".")
    assert parser.partial == {}
    parser.feed("5e")
    assert parser.partial == {}
    parser.feed("2}")
    assert parser.close() == {"n": -1250.0}


@pytest.mark.parametrize("cut", range(1, 13))
def test_unicode_escapes_and_surrogates_split_anywhere(cut: int) -> None:
    text = '["\\u00e9\\ud83d\\ude00x"]'
    parser = IncrementalJSONParser()
    parser.feed(text[:cut])
    parser.feed(text[cut:])
    assert parser.close() == json.loads(text) == ["é😀x"]


def test_deep_nesting_without_recursion_error() -> None:
    text = "[" * 10_000 + "]" * 10_000
    parser = IncrementalJSONParser()
    parser.feed(text)
    value = parser.close()
    depth = 0
    while value:
        value = value[0]
        depth += 1
    assert depth == 9_999
    too_deep = IncrementalJSONParser(max_depth=100)
    with pytest.raises(JSONNestingError):
        too_deep.feed("[" * 101)


@pytest.mark.parametrize("bad", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_nan_and_infinity_rejected(bad: str) -> None:
    parser = IncrementalJSONParser()
    with pytest.raises(JSONStreamError):
        parser.feed(bad)
        parser.close()


def test_huge_numbers_and_duplicates() -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"big": 123456789012345678901234567890, "x": 1, "x": 2, "f": 1e400}')
    assert parser.close() == json.loads(
        '{"big": 123456789012345678901234567890, "x": 1, "x": 2, "f": 1e400}'
    )


@pytest.mark.parametrize(
    ("bad", "where"),
    [('{"a" 1}', 5), ('{"a": tru}', 9), ('{"a": "\\q"}', 8), ('{"a": 01}', 8), ("[1,,2]", 3)],
)
def test_invalid_json_position(bad: str, where: int) -> None:
    parser = IncrementalJSONParser()
    with pytest.raises(JSONStreamError) as info:
        parser.feed(bad)
        parser.close()
    assert abs(info.value.position - where) <= 2


def test_no_json_at_all() -> None:
    parser = IncrementalJSONParser()
    parser.feed("I cannot help with that.")
    with pytest.raises(JSONStreamError, match="no JSON"):
        parser.close()


@pytest.mark.parametrize("name", ["json-object-gpt-4o.sse", "json-schema-gpt-4o.sse"])
def test_partials_on_real_recordings(name: str) -> None:
    pieces = []
    for _, data in recording_payloads(FIXTURES / "openai-chat" / name):
        if data != "[DONE]":
            for choice in data.get("choices") or []:
                pieces.append(choice["delta"].get("content") or "")
    parser = IncrementalJSONParser()
    snapshots = []
    for piece in pieces:
        parser.feed(piece)
        snapshots.append(json.dumps(parser.partial))
    final = parser.close()
    assert final == json.loads("".join(pieces))
    # Partials grow monotonically toward the final value: complete keys stay.
    assert snapshots[-1] == json.dumps(final)
    assert len(set(snapshots)) > 3
