"""The incremental JSON parser: any chunking gives json.loads' answer; models' quirks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _budget import examples
from conftest import FIXTURES, recording_payloads
from hypothesis import given, settings
from hypothesis import strategies as st

from steer_trio import (
    IncrementalJSONParser,
    JSONNestingError,
    JSONStreamError,
    JSONTruncatedError,
    _jsonstream,
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


def assert_prefix_of(partial: Any, final: Any) -> None:
    """``partial`` is a possible snapshot on the way to ``final``: containers hold a
    subset, strings a prefix, and numbers and literals their final value (never half)."""
    if isinstance(partial, dict):
        assert isinstance(final, dict) and set(partial) <= set(final)
        for key, value in partial.items():
            assert_prefix_of(value, final[key])
    elif isinstance(partial, list):
        assert isinstance(final, list) and len(partial) <= len(final)
        for value, whole in zip(partial, final, strict=False):
            assert_prefix_of(value, whole)
    elif isinstance(partial, str):
        assert isinstance(final, str)
        # An escaped surrogate pair split between pieces shows its first half alone.
        shown = partial[:-1] if partial and "\ud800" <= partial[-1] <= "\udbff" else partial
        assert final.startswith(shown), (partial, final)
    else:
        assert partial == final and type(partial) is type(final)


@settings(max_examples=examples(300), deadline=None)
@given(
    value=json_values,
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 2]),
    cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=40),
)
def test_any_chunking_equals_json_loads(value, ensure_ascii, indent, cuts) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)
    bare_scalar = not isinstance(value, dict | list | str)
    parser = IncrementalJSONParser(allow_prose=False)
    done = []
    kept: list[tuple[Any, str]] = []
    fed = ""
    for piece in split(text, cuts):
        done.extend(parser.feed(piece))
        fed += piece
        partial = parser.partial
        kept.append((partial, json.dumps(partial)))
        # Done exactly when the whole value was seen (a bare number only at close()).
        bare_number = bare_scalar and isinstance(value, int | float) and not isinstance(value, bool)
        assert parser.done == (fed == text and not bare_number)
        if bare_scalar and not parser.done:
            assert partial is None
    final = parser.close()
    assert parser.done
    assert final == json.loads(text)
    assert parser.raw == text
    for partial, dumped in kept:
        assert json.dumps(partial) == dumped  # no snapshot changed afterwards
        if partial is not None or final is None:  # None: nothing to show yet
            assert_prefix_of(partial, final)
    roots = [d for d in done if d.path == ()]
    if isinstance(final, int | float) and not isinstance(final, bool):
        assert roots == []  # a bare number is only final at close(): more digits may come
    else:
        assert len(roots) == 1 and roots[0].value == final
    for d in done:
        assert get_path(final, d.path) == d.value


def done_pairs(parser: IncrementalJSONParser, pieces: list[str]) -> list[tuple[Any, str]]:
    out = []
    for piece in pieces:
        out += [(d.path, json.dumps(d.value)) for d in parser.feed(piece)]
    return out


@settings(max_examples=examples(200), deadline=None)
@given(value=json_values, indent=st.sampled_from([None, 2]))
def test_whole_values_and_character_reading_agree(value, indent) -> None:
    # A piece holding whole values is parsed in C; one character at a time, in Python:
    # the same values, the same done events in the same order, the same snapshots.
    text = json.dumps({"v": value, "after": [1]}, indent=indent)
    whole = IncrementalJSONParser()
    by_char = IncrementalJSONParser()
    assert done_pairs(whole, [text]) == done_pairs(by_char, list(text))
    assert whole.partial == by_char.partial == whole.close() == by_char.close()


def test_duplicate_keys_give_one_done_event_each() -> None:
    text = '{"a": {"x": 1}, "a": [2], "b": 3}'
    for pieces in ([text], list(text)):
        parser = IncrementalJSONParser()
        assert done_pairs(parser, pieces) == [
            (("a", "x"), "1"),
            (("a",), '{"x": 1}'),
            (("a", 0), "2"),
            (("a",), "[2]"),
            (("b",), "3"),
            ((), '{"a": [2], "b": 3}'),
        ]
        assert list(parser.close()) == ["a", "b"]


def test_whole_values_respect_max_depth() -> None:
    parser = IncrementalJSONParser(max_depth=3)
    with pytest.raises(JSONNestingError, match="at character 3") as info:
        parser.feed("[[[[]]]]")  # whole, but one level too deep
    assert info.value.position == 3
    ok = IncrementalJSONParser(max_depth=3)
    ok.feed("[[[]]]")
    assert ok.close() == [[[]]]


@pytest.mark.parametrize(
    "text", ['{"a": NaN}', '{"a": [Infinity]}', '{"a": -Infinity}', '["\\x"]', '{"a" 1}']
)
def test_invalid_whole_values_fall_back_to_exact_errors(text: str) -> None:
    whole = IncrementalJSONParser()
    by_char = IncrementalJSONParser()
    with pytest.raises(JSONStreamError) as first:
        whole.feed(text)
    with pytest.raises(JSONStreamError) as second:
        for ch in text:
            by_char.feed(ch)
    assert first.value.position == second.value.position
    assert str(first.value) == str(second.value)


@settings(max_examples=examples(100), deadline=None)
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
    assert parser.partial == {"a": [1]}  # the 2 may be the start of 23
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
    assert not parser.done


def test_numbers_and_literals_are_shown_only_once_complete() -> None:
    parser = IncrementalJSONParser()
    seen = []
    for piece in [
        '{"population": ',
        "21",
        "00",
        "000",
        ', "ok": tr',
        "ue",
        ', "x": -1.',
        "5e",
        "2}",
    ]:
        parser.feed(piece)
        seen.append(parser.partial)
    assert seen == [
        {},
        {},
        {},
        {},
        {"population": 2100000},  # its end (the comma) was seen
        {"population": 2100000, "ok": True},  # no literal is a prefix of another
        {"population": 2100000, "ok": True},
        {"population": 2100000, "ok": True},
        {"population": 2100000, "ok": True, "x": -150.0},
    ]
    assert parser.close() == {"population": 2100000, "ok": True, "x": -150.0}


def test_array_elements_wait_for_their_end() -> None:
    parser = IncrementalJSONParser()
    parser.feed("[1, nul")
    assert parser.partial == [1]
    parser.feed("l, 3")
    assert parser.partial == [1, None]
    parser.feed("]")
    assert parser.partial == [1, None, 3]
    assert parser.done


def test_strings_are_shown_as_they_arrive_keys_only_when_complete() -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"na')
    assert parser.partial == {}
    parser.feed('me": "Ad')
    assert parser.partial == {"name": "Ad"}
    parser.feed('a", "tags": ["x')
    assert parser.partial == {"name": "Ada", "tags": ["x"]}


def test_partials_are_snapshots_that_never_change() -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"a": [1, {"b": "x')
    first = parser.partial
    assert first == {"a": [1, {"b": "x"}]}
    parser.feed('y"}, 2], "c": {"d": ')
    second = parser.partial
    parser.feed("[true]}}")
    final = parser.close()
    assert first == {"a": [1, {"b": "x"}]}
    assert second == {"a": [1, {"b": "xy"}, 2], "c": {}}
    assert final == {"a": [1, {"b": "xy"}, 2], "c": {"d": [True]}}
    assert first is not second and second is not final
    assert parser.partial is final  # once done, the final value is the snapshot


def test_partial_without_change_is_the_same_snapshot() -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"a": 1, "b": 12')
    snapshot = parser.partial
    parser.feed("34")  # a number in progress: nothing visible changes
    assert parser.partial is snapshot
    assert parser.partial == {"a": 1}
    parser.feed(', "c')  # its end, then a key in progress
    snapshot = parser.partial
    assert snapshot == {"a": 1, "b": 1234}
    parser.feed('d": 5')
    assert parser.partial is snapshot
    parser.feed(",")
    assert parser.partial == {"a": 1, "b": 1234, "cd": 5}


def test_a_long_string_of_escapes_is_kept_in_blocks() -> None:
    parser = IncrementalJSONParser()
    parser.feed('["')
    for _ in range(3000):
        parser.feed("\\n\\u00e9")
    limit = _jsonstream._PACK + 1
    assert len(parser._str.blocks) <= limit and len(parser._str.tail) <= limit
    assert parser._str.length() == 6000
    parser.feed('"]')
    assert parser.close() == ["\né" * 3000]


def test_long_strings_are_refreshed_by_eighths() -> None:
    exact = _jsonstream._EXACT_STRING
    parser = IncrementalJSONParser()
    parser.feed('{"s": "')
    parser.feed("a" * exact)
    assert parser.partial == {"s": "a" * exact}  # exact up to the limit
    parser.feed("b")
    assert parser.partial == {"s": "a" * exact}  # past it: one more char is not enough
    step = exact // 8 - 1
    parser.feed("b" * (step - 1))
    assert parser.partial == {"s": "a" * exact}
    parser.feed("b")  # now an eighth more than shown has arrived
    assert parser.partial == {"s": "a" * exact + "b" * (step + 1)}
    parser.feed('"}')
    assert parser.close() == {"s": "a" * exact + "b" * (step + 1)}


def test_root_string_and_root_scalars() -> None:
    text = IncrementalJSONParser(allow_prose=False)
    text.feed('"hel')
    assert text.partial == "hel"
    assert not text.done
    text.feed('lo"')
    assert text.done and text.partial == "hello" and text.close() == "hello"
    number = IncrementalJSONParser(allow_prose=False)
    number.feed("12")
    assert number.partial is None and not number.done
    assert number.close() == 12 and number.done
    literal = IncrementalJSONParser(allow_prose=False)
    literal.feed(" nul")
    assert literal.partial is None
    literal.feed("l ")
    assert literal.done and literal.close() is None


def test_root_number_that_turns_invalid() -> None:
    parser = IncrementalJSONParser(allow_prose=False)
    parser.feed("1")
    assert parser.partial is None
    parser.feed(".")
    assert parser.partial is None
    with pytest.raises(JSONStreamError, match="invalid number '1.'") as info:
        parser.close()
    assert info.value.position == 2  # the end: nothing came to finish "1."
    assert info.value.raw == "1."


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
    [
        ('{"a" 1}', 5),  # the 1 where ':' belongs
        ('{"a": tru}', 9),  # "tru" could still become true: the "}" is wrong
        ('{"a": trux}', 9),
        ('{"a": nulll}', 10),
        ('{"a": "\\q"}', 8),  # the q: "\\" may start an escape
        ('{"a": "\\u12G4"}', 11),
        ('{"a": 01}', 7),  # "0" is a whole number: nothing may follow it
        ('{"a": 1.}', 8),
        ('{"a": 1.e5}', 8),
        ('{"a": --1}', 7),
        ('{"a": -Infinity}', 7),
        ('{"a": NaN}', 6),
        ('{"a": é}', 6),
        ("[1,,2]", 3),
        ("[1,]", 3),
        ('{"a": 1,}', 8),
        ('{"a": 1]', 7),  # an object closed with "]"
        ("[1}", 2),
        ('{"a": "x\ny"}', 8),  # a raw control character inside a string
        ("{1: 2}", 1),
    ],
)
@pytest.mark.parametrize("chunked", [False, True])
def test_invalid_json_position(bad: str, where: int, chunked: bool) -> None:
    parser = IncrementalJSONParser()
    with pytest.raises(JSONStreamError) as info:
        for piece in [bad[i : i + 1] for i in range(len(bad))] if chunked else [bad]:
            parser.feed(piece)
        parser.close()
    assert info.value.position == where, str(info.value)
    assert f"at character {where}" in str(info.value)
    assert info.value.raw == bad[: where + 1] if chunked else bad
    # The error is final: the parser says it again rather than read on.
    with pytest.raises(JSONStreamError) as again:
        parser.feed(" ")
    assert again.value is info.value
    with pytest.raises(JSONStreamError) as at_close:
        parser.close()
    assert at_close.value is info.value


def test_second_value_position_under_error_policy() -> None:
    parser = IncrementalJSONParser(multiple="error")
    with pytest.raises(JSONStreamError, match="second") as info:
        parser.feed('{"a": 1} \n {"b": 2}')
    assert info.value.position == 11
    assert parser.done


def test_nesting_error_position_and_raw() -> None:
    parser = IncrementalJSONParser(max_depth=2)
    parser.feed("[[")
    with pytest.raises(JSONNestingError, match="max_depth=2 at character 3") as info:
        parser.feed(" [")
    assert (info.value.position, info.value.raw) == (3, "[[ [")


def test_number_too_long_for_python_is_a_json_error() -> None:
    parser = IncrementalJSONParser()
    digits = "9" * 4400  # past int()'s limit, under the parser's
    with pytest.raises(JSONStreamError, match="number too long") as info:
        parser.feed(f'{{"n": {digits}}}')
    assert info.value.position == 6
    endless = IncrementalJSONParser()
    endless.feed('{"n": ')
    with pytest.raises(JSONStreamError, match="over 5000 characters"):
        for _ in range(1000):
            endless.feed("12345678")


def test_raw_is_kept_in_blocks_not_one_string_per_piece() -> None:
    parser = IncrementalJSONParser()
    text = json.dumps({"s": "x" * 100_000, "n": list(range(2000))})
    for i in range(len(text)):
        parser.feed(text[i])
    limit = _jsonstream._PACK + 1
    assert len(parser._raw.blocks) <= limit and len(parser._raw.tail) <= limit
    assert parser._raw.length() == len(text)
    assert parser.raw == text
    assert parser._raw.blocks == [text] and parser._raw.tail == []
    assert parser.close() == json.loads(text)


def test_no_json_at_all() -> None:
    parser = IncrementalJSONParser()
    parser.feed("I cannot help with that.")
    assert parser.partial is None and not parser.done
    with pytest.raises(JSONStreamError, match="no JSON") as info:
        parser.close()
    assert info.value.position == 24
    assert info.value.raw == "I cannot help with that."


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


def test_error_defaults_and_messages() -> None:
    bare = JSONStreamError("bad")
    assert (str(bare), bare.raw, bare.position) == ("bad", "", 0)
    parser = IncrementalJSONParser()
    parser.feed('{"a": "x')
    with pytest.raises(JSONTruncatedError) as cut:
        parser.close()
    assert str(cut.value) == (
        "the JSON text ended before the value was complete (was the output cut at max tokens?)"
    )
    for text, message in [
        ('{"a": trux}', "invalid literal 'trux' at character 9"),
        ('{"a": NaN}', "NaN and Infinity are not JSON at character 6"),
        ('{"a": 01}', "invalid number '01' at character 7"),
        ("[1 2]", "expected ',' or a closing bracket, found '2' at character 3"),
    ]:
        with pytest.raises(JSONStreamError) as info:
            IncrementalJSONParser().feed(text)
        assert str(info.value) == message


def test_uppercase_exponent() -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"a": 1E2, "b": [2E-1]}')
    assert parser.close() == {"a": 100.0, "b": [0.2]}
    chars = IncrementalJSONParser()
    for ch in "[1E2]":
        chars.feed(ch)
    assert chars.close() == [100.0]


def test_literal_surrogates_in_the_text_stay_as_they_are() -> None:
    # Only escaped pairs (\\ud83d\\ude00) are joined, as json.loads does.
    text = '["\ud83d\ude00 and more'
    parser = IncrementalJSONParser()
    parser.feed(text)
    assert parser.partial == ["\ud83d\ude00 and more"]
    assert len(parser.partial[0]) == 11
    parser.feed('"]')
    assert parser.close() == json.loads(text + '"]')


def test_whole_value_helpers() -> None:
    assert _jsonstream._dict_without_duplicates([("a", 1), ("b", 2)]) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="^duplicate key$"):
        _jsonstream._dict_without_duplicates([("a", 1), ("a", 2)])
    with pytest.raises(ValueError, match="^NaN is not JSON$"):
        _jsonstream._refuse_constant("NaN")


def test_pieces_buffer() -> None:
    pieces = _jsonstream._Pieces()
    for _ in range(600):
        pieces.tail.append("ab")
        if len(pieces.tail) > _jsonstream._PACK:
            pieces.pack()
    assert pieces.length() == 1200 and len(pieces.blocks) == 2
    assert pieces.value() == "ab" * 600 and pieces.blocks == ["ab" * 600]
    pieces.clear()
    assert (pieces.length(), pieces.value(), pieces.blocks, pieces.tail) == (0, "", [], [])
    pieces.tail.append("x")
    assert pieces.length() == 1


def test_a_literal_cut_at_close_and_errors_raised_by_close_are_final() -> None:
    parser = IncrementalJSONParser(allow_prose=False)
    parser.feed("tru")
    with pytest.raises(JSONStreamError, match="invalid literal 'tru' at character 3") as first:
        parser.close()
    with pytest.raises(JSONStreamError) as again:
        parser.close()
    assert again.value is first.value
    with pytest.raises(JSONStreamError) as fed:
        parser.feed("e")
    assert fed.value is first.value


def test_literal_and_number_messages_whatever_the_pieces() -> None:
    for pieces, message in [
        (['{"a": fals', "ey}"], "invalid literal 'falsey' at character 11"),
        (['{"a": -', "Infinity}"], "invalid number '-' (Infinity is not JSON) at character 7"),
        (["[1.", "]"], "invalid number '1.' at character 3"),
        (["[1e", "+]"], "invalid number '1e+' at character 4"),
    ]:
        parser = IncrementalJSONParser()
        with pytest.raises(JSONStreamError) as info:
            for piece in pieces:
                parser.feed(piece)
        assert str(info.value) == message


def test_numbers_up_to_the_length_limit() -> None:
    limit = _jsonstream._MAX_NUMBER
    longest = "0." + "1" * (limit - 2)
    parser = IncrementalJSONParser()
    parser.feed(f"[{longest}]")
    assert parser.close() == [float(longest)]
    for pieces in ([f"[ {longest}1]"], [f"[ {longest}", "1]"]):
        too_long = IncrementalJSONParser()
        with pytest.raises(JSONStreamError, match="over 5000 characters") as info:
            for piece in pieces:
                too_long.feed(piece)
        assert info.value.position == 2
    text_run = IncrementalJSONParser()  # the same run inside a string is just text
    text_run.feed(f'["{longest}1"]')
    assert text_run.close() == [longest + "1"]


def test_surrogate_flag_is_per_string() -> None:
    # The first string has an escaped pair; the second holds literal surrogates, which
    # stay as they are (as json.loads leaves them).
    text = '["\\ud83d\\ude00", "\ud83d\ude00"]'
    for pieces in ([text], list(text)):
        parser = IncrementalJSONParser()
        for piece in pieces:
            parser.feed(piece)
        assert parser.close() == ["😀", "\ud83d\ude00"] == json.loads(text)


@pytest.fixture
def whole_scans(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Where the C scanner was tried, and whether it took a whole value there."""
    calls: list[tuple[int, bool]] = []
    real = _jsonstream._scan_whole

    def spy(text: str, pos: int) -> Any:
        try:
            result = real(text, pos)
        except BaseException:
            calls.append((pos, False))
            raise
        calls.append((pos, True))
        return result

    monkeypatch.setattr(_jsonstream, "_scan_whole", spy)
    return calls


def test_whole_values_in_a_piece_skip_the_character_reading(
    whole_scans: list[tuple[int, bool]], monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = IncrementalJSONParser()
    monkeypatch.setattr(parser, "_start_string", None)  # the slow path would call it
    parser.feed('{"a": [1, "x", {"b": null}]}')
    assert whole_scans == [(0, True)]
    assert parser.close() == {"a": [1, "x", {"b": None}]}


def test_values_cut_by_the_end_of_the_piece_are_not_tried(
    whole_scans: list[tuple[int, bool]],
) -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"a": "xy')  # no "}" and no closing quote after the starts: no attempt
    assert whole_scans == []
    parser.feed('z", "b": ["", 1')  # the empty string is whole; its array is not
    assert whole_scans == [(10, True)]
    parser.feed(', {"c": 2}, [3]]}')
    assert whole_scans == [(10, True), (2, True), (12, True)]
    assert parser.close() == {"a": "xyz", "b": ["", 1, {"c": 2}, [3]]}


def test_whole_values_are_not_tried_deep_down(whole_scans: list[tuple[int, bool]]) -> None:
    depth = _jsonstream._WHOLE_MAX_DEPTH
    parser = IncrementalJSONParser()
    parser.feed("[" * (depth - 1))
    parser.feed("[[1]]")  # the outer one at depth - 1 open containers: tried
    assert whole_scans == [(0, True)]
    parser.feed(", [")
    parser.feed("[2]")  # at depth open containers: not tried
    assert whole_scans == [(0, True)]
    parser.feed("]" * depth)
    assert parser.done


def test_closing_without_a_value() -> None:
    for text, position in [("", 0), ("Sure!", 5)]:
        parser = IncrementalJSONParser()
        parser.feed(text)
        with pytest.raises(JSONStreamError) as info:
            parser.close()
        assert str(info.value) == "no JSON value found in the text"
        assert info.value.position == position
    for text, partial in [('"ab', "ab"), ('{"a":', {}), ("[", [])]:
        parser = IncrementalJSONParser(allow_prose=False)
        parser.feed(text)
        with pytest.raises(JSONTruncatedError) as cut:
            parser.close()
        assert cut.value.partial == partial


# -- memory: no second copy of the text, of a long string, of every key -----------------


def fed_run(
    parser: IncrementalJSONParser, pieces: list[str], kept: list[str] | None = None
) -> list[Any]:
    """What a caller sees piece by piece: done events and partials, then the end.
    ``kept``: the caller's own copy of the text, appended to before each feed."""
    seen: list[Any] = []
    for piece in pieces:
        if kept is not None:
            kept.append(piece)
        try:
            seen.append([(d.path, json.dumps(d.value)) for d in parser.feed(piece)])
        except JSONStreamError as exc:
            return [*seen, ("error", str(exc), exc.position, exc.raw)]
        seen.append(json.dumps(parser.partial))
    try:
        return [*seen, ("value", json.dumps(parser.close()), parser.raw)]
    except (JSONStreamError, JSONTruncatedError) as exc:
        return [*seen, ("end", type(exc).__name__, str(exc), exc.raw)]


texts_with_strings = st.one_of(
    json_values.map(json.dumps),
    st.lists(st.text(), min_size=1, max_size=3).map(lambda v: json.dumps({"s": v})),
    # Escapes cut anywhere, surrogate pairs and lone ones, and invalid text.
    st.lists(
        st.sampled_from(["ab", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\ud800", "é", "\\"]),
        max_size=30,
    ).map(lambda parts: '["' + "".join(parts) + '", 1]'),
    st.text(alphabet='{}[]",:\\ u0123e-tn', max_size=40),
)


@settings(max_examples=examples(300), deadline=None)
@given(
    text=texts_with_strings,
    cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=40),
    external=st.booleans(),
)
def test_strings_read_back_from_the_text_match_strings_kept(text, cuts, external) -> None:
    # Every string is "long" here (and pieces are packed at once): read back from the
    # text, given by the caller or kept by the parser. All that is seen is the same.
    pieces = split(text, cuts)
    expected = fed_run(IncrementalJSONParser(), pieces)
    kept: list[str] = []
    source = (lambda: "".join(kept) + '"} more text, ignored') if external else None
    parser = IncrementalJSONParser(raw_text=source)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_jsonstream, "_LONG_STRING", 1)
        patch.setattr(_jsonstream, "_PACK", 1)
        got = fed_run(parser, pieces, kept)
    assert got == expected
    if external:
        assert parser._raw.length() == 0  # no copy of its own


def test_a_long_string_is_read_back_from_the_text_not_kept() -> None:
    long = _jsonstream._LONG_STRING
    parser = IncrementalJSONParser()
    parser.feed('{"s": "')
    for _ in range(long // 50 + 300):
        parser.feed("a" * 48 + "\\n")
    assert parser._str_in_raw == 7  # where the string starts in the text
    # What is kept of it: at most the pieces since the last pack, not the string.
    assert parser._str.blocks == [] and len(parser._str.tail) <= _jsonstream._PACK
    value = ("a" * 48 + "\n") * (long // 50 + 300)
    assert parser.partial == {"s": value}
    parser.feed("\\u00")  # an escape cut in the middle is not shown
    assert parser.partial == {"s": value}
    parser.feed("e9" + "b" * (len(value) // 4))  # an eighth more than shown: refreshed
    assert parser.partial == {"s": value + "é" + "b" * (len(value) // 4)}
    parser.feed('", "k": 1}')
    assert parser._str_in_raw is None
    assert parser.close() == {"s": value + "é" + "b" * (len(value) // 4), "k": 1}


def test_a_string_short_next_to_the_text_so_far_is_kept() -> None:
    # Reading a string back costs the whole text: only one as long as an eighth of it
    # is read back, so the cost stays linear however many long strings come.
    long = _jsonstream._LONG_STRING
    parser = IncrementalJSONParser()
    parser.feed("[" + "1, " * (long * 3) + '"')
    pieces = "x" * 100
    for _ in range(long // 100 + 300):
        parser.feed(pieces)
    assert parser._str_in_raw is None and parser._str.blocks != []
    for _ in range(long // 100 * 8):
        parser.feed(pieces)
    assert parser._str_in_raw == 2 + 3 * long * 3
    parser.feed('"]')
    assert parser.close()[-1] == "x" * (100 * (long // 100 * 9 + 300))


def test_a_long_key_is_read_back_too() -> None:
    parser = IncrementalJSONParser()
    parser.feed('{"')
    key = "k" * (_jsonstream._LONG_STRING + 30_000)
    for start in range(0, len(key), 10):
        parser.feed(key[start : start + 10])
    assert parser._str_in_raw == 2
    assert parser.partial == {}  # a key shows with its value
    parser.feed('": 1}')
    assert parser.close() == {key: 1}


def test_raw_text_from_the_caller() -> None:
    kept: list[str] = []
    parser = IncrementalJSONParser(raw_text=lambda: "".join(kept) + " not fed yet")
    for piece in ('{"a": [1, ', "2], ", '"b": tru', "x"):
        kept.append(piece)
        if piece != "x":
            parser.feed(piece)
    assert parser.raw == '{"a": [1, 2], "b": tru'
    with pytest.raises(JSONStreamError) as info:
        parser.feed("x")
    assert (info.value.position, info.value.raw) == (22, '{"a": [1, 2], "b": trux')
    assert parser._raw.length() == 0
    exact = IncrementalJSONParser(raw_text=lambda: '{"a": ')
    exact.feed('{"a": ')
    with pytest.raises(JSONTruncatedError) as cut:
        exact.close()
    assert cut.value.raw == '{"a": '


def test_keys_are_shared_between_objects() -> None:
    text = '[{"name": 1, "id": 2}, {"name": 3, "id": 4}, {"na\\u006de": 5}]'
    # One character at a time, and a key cut by the end of a piece (the third object,
    # whole in its piece, is read in C: its key is its own then).
    for pieces, shared in [(list(text), 3), ([text[:5], text[5:30], text[30:]], 2)]:
        parser = IncrementalJSONParser()
        for piece in pieces:
            parser.feed(piece)
        records = parser.close()
        assert records == json.loads(text)
        names = [next(iter(record)) for record in records]
        assert all(name is names[0] for name in names[:shared])
        assert list(records[0])[1] is list(records[1])[1]


def test_past_the_memo_keys_are_still_shared_but_no_more_kept() -> None:
    limit = _jsonstream._KEY_MEMO
    parser = IncrementalJSONParser()
    parser.feed("[{")
    for i in range(limit + 10):
        parser.feed(f'"k{i}": {i}, ')
    parser.feed('"k0": 0}, {"k0": 1, ')
    parser.feed(f'"k{limit + 5}": 2' + "}]")
    assert len(parser._key_memo) == limit
    first, second = parser.close()
    assert len(first) == limit + 10
    shared, fresh = list(second)
    assert shared is next(iter(first))
    assert fresh == f"k{limit + 5}" and fresh not in parser._key_memo


def test_tokens_whole_in_a_piece_and_cut_agree() -> None:
    text = '{"a" : -1.5e+3, "b":true,"c" :null, "d": [false, 0, -0.0, 12E2], "e": 7}'
    expected = json.loads(text)
    for cut in range(len(text) + 1):
        for pieces in (
            [text[:cut], text[cut:]],
            [text[:cut], text[cut : cut + 3], text[cut + 3 :]],
        ):
            parser = IncrementalJSONParser()
            done = []
            for piece in pieces:
                done += [(d.path, d.value) for d in parser.feed(piece)]
            assert parser.close() == expected
            assert done == [(d.path, d.value) for d in _all_done(text)]


def _all_done(text: str) -> list[Any]:
    parser = IncrementalJSONParser()
    return [d for ch in text for d in parser.feed(ch)]


def test_number_fast_path_keeps_the_checks() -> None:
    for text, message in [
        ('{"n": 0.' + "0" * 5000 + "}", "number too long (over 5000 characters) at character 6"),
        ('{"n": 01}', "invalid number '01' at character 7"),
        ('{"n": 1.}', "invalid number '1.' at character 8"),
        ('{"n": -}', "invalid number '-' (Infinity is not JSON) at character 7"),
        ('{"n": truex}', "invalid literal 'truex' at character 10"),
        ('{"n": nulll}', "invalid literal 'nulll' at character 10"),
        ('{"n" "x"}', "expected ':' after a key, found '\"' at character 5"),
    ]:
        with pytest.raises(JSONStreamError) as info:
            IncrementalJSONParser().feed(text)
        assert str(info.value) == message
    parser = IncrementalJSONParser(allow_prose=False)
    parser.feed("12")  # a bare number is final only at close(): more digits may come
    assert parser.partial is None
    parser.feed("3 ")
    assert parser.partial == 123 and parser.done


@pytest.fixture
def slow_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Strings, numbers and literals read character by character (not at once)."""
    calls: list[str] = []
    start_string = IncrementalJSONParser._start_string
    start_scalar = IncrementalJSONParser._start_scalar

    def string_spy(self: IncrementalJSONParser, start: int, *, is_key: bool) -> None:
        calls.append("key" if is_key else "string")
        start_string(self, start, is_key=is_key)

    def scalar_spy(self: IncrementalJSONParser, mode: int, pos: int) -> None:
        calls.append("number" if mode == _jsonstream._NUMBER else "literal")
        start_scalar(self, mode, pos)

    monkeypatch.setattr(IncrementalJSONParser, "_start_string", string_spy)
    monkeypatch.setattr(IncrementalJSONParser, "_start_scalar", scalar_spy)
    return calls


def test_whole_tokens_are_read_at_once(slow_reads: list[str]) -> None:
    parser = IncrementalJSONParser()
    parser.feed("[")
    # Cut containers: the tokens inside, whole in their piece, are read at once.
    parser.feed('{"k": 12, "t": true, "f": false, "n": null, "x": -1.5e3, "')
    assert slow_reads == ["key"]
    parser.feed('y": 0.' + "0" * (_jsonstream._MAX_NUMBER - 2) + ", " + " " * 6000 + '"z":1')
    # A number as long as allowed, far into the piece, at once; one cut by the end of
    # the piece (and a literal) character by character.
    assert slow_reads == ["key", "number"]
    parser.feed("2}, tru")
    assert slow_reads == ["key", "number", "literal"]
    parser.feed("e]")
    assert parser.close() == [
        {"k": 12, "t": True, "f": False, "n": None, "x": -1500.0, "y": 0.0, "z": 12},
        True,
    ]


def test_whole_values_longer_than_a_number_are_scanned_whole(slow_reads: list[str]) -> None:
    # Only a value holding a run of number characters past the limit is read character
    # by character (it may be a number too long): here the second string.
    long = "s" * (_jsonstream._MAX_NUMBER + 10)
    run = "1" * (_jsonstream._MAX_NUMBER + 1)
    parser = IncrementalJSONParser()
    parser.feed("[" + " " * 6000)
    parser.feed(f'"{long}", ["{long}"], "{run}", 1]')
    assert slow_reads == ["string"]
    assert parser.close() == [long, [long], run, 1]


def test_a_number_as_long_as_allowed_cut_in_pieces() -> None:
    digits = "0." + "5" * (_jsonstream._MAX_NUMBER - 2)
    parser = IncrementalJSONParser()
    parser.feed("[")
    for start in range(0, len(digits), 7):
        parser.feed(digits[start : start + 7])
    parser.feed("]")
    assert parser.close() == [float(digits)]


def test_default_depth_limit_and_policy_messages() -> None:
    assert IncrementalJSONParser().max_depth == 10_000
    deep = IncrementalJSONParser()
    deep.feed("[" * 10_000)
    with pytest.raises(JSONNestingError, match="max_depth=10000 at character 10000"):
        deep.feed("[")
    with pytest.raises(ValueError, match="^multiple must be 'first' or 'error'$"):
        IncrementalJSONParser(multiple="last")
    assert IncrementalJSONParser().allow_prose is True
    assert IncrementalJSONParser(allow_prose=False).allow_prose is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("]", "expected a JSON value, found ']' at character 0"),
        ("[_]", "expected a JSON value, found '_' at character 1"),
        ("[`]", "expected a JSON value, found '`' at character 1"),
        ("[@]", "expected a JSON value, found '@' at character 1"),
        ("[a]", "invalid literal 'a' at character 1"),
        ("[z]", "invalid literal 'z' at character 1"),
        ("[A]", "invalid literal 'A' at character 1"),
        ("[Z]", "invalid literal 'Z' at character 1"),
    ],
)
def test_what_can_start_a_value(text: str, message: str) -> None:
    with pytest.raises(JSONStreamError) as info:
        IncrementalJSONParser(allow_prose=False).feed(text)
    assert str(info.value) == message


def test_a_string_exactly_long_enough_is_read_back() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_jsonstream, "_LONG_STRING", 4)
        patch.setattr(_jsonstream, "_PACK", 1)
        parser = IncrementalJSONParser()
        parser.feed('["')
        parser.feed("ab")
        parser.feed("c")
        assert parser._str_in_raw is None  # three characters: kept
        short = IncrementalJSONParser()
        short.feed('["')
        short.feed("ab")
        short.feed("cd")  # packed at the second piece: four characters
        assert short._str_in_raw == 2
        short.feed('e"]')
        assert short.close() == ["abcde"]


def test_an_ended_long_string_is_decoded_from_the_text_in_place() -> None:
    import tracemalloc

    value = "abcdefgh" * 200_000
    text = json.dumps([value, 1])
    parser = IncrementalJSONParser(raw_text=lambda: text)
    for start in range(0, len(text) - 5, 1000):
        parser.feed(text[start : min(start + 1000, len(text) - 5)])
    assert parser._str_in_raw == 2
    tracemalloc.start()
    try:
        parser.feed(text[-5:])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The value itself, not a copy of the text it is read from as well.
    assert len(value) <= peak < 1.5 * len(value)
    assert parser.close() == [value, 1]


def test_a_bad_unicode_escape_read_character_by_character() -> None:
    for pieces in (['["\\u12x"]'], ['["\\u1', '2x"]']):
        parser = IncrementalJSONParser()
        with pytest.raises(JSONStreamError) as info:
            for piece in pieces:
                parser.feed(piece)
        assert str(info.value) == "invalid \\u escape: expected 4 hex digits at character 6"


@pytest.mark.parametrize(
    ("pieces", "message"),
    [
        (['{"a": "x', '\x01"}'], "control character '\\x01' inside a string at character 8"),
        (["{", "1: 2}"], "expected a string key, found '1' at character 1"),
        (['["a', '\\q"]'], "invalid escape '\\q' at character 4"),
        (['{"a": 1}', " x"], "a second JSON value (or text) after the first at character 9"),
    ],
)
def test_character_level_error_messages(pieces: list[str], message: str) -> None:
    parser = IncrementalJSONParser(multiple="error")
    with pytest.raises(JSONStreamError) as info:
        for piece in pieces:
            parser.feed(piece)
    assert str(info.value) == message
