"""biobert_tf.json_files: every refusal names the file and the JSON path; and every JSON reader
of the project survives random mutations of a real small file (bench/fuzz_readers.py)."""

import functools
import json
import random
import re
import sys

import hypothesis
import hypothesis.strategies as st
import pytest

from biobert_tf import json_files
from helpers import REPO, shared_file

sys.path.insert(0, str(REPO / "bench"))
import fuzz_readers  # noqa: E402


class ReaderError(ValueError):
    """The caller's error class: the loader raises it, never another."""


def load(tmp_path, content, **options):
    path = tmp_path / "data.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return json_files.load(str(path), ReaderError, **options)


def refused(tmp_path, content, message, **options):
    """The one-line message of loading `content`, checked against `message` (after the path)."""
    with pytest.raises(ReaderError) as error:
        load(tmp_path, content, **options)
    text = str(error.value)
    assert "\n" not in text
    assert re.match(re.escape(str(tmp_path / "data.json")) + message, text), text
    return text


def test_a_clean_file_loads_with_a_bom_and_any_line_ending(tmp_path):
    document = {"data": [{"id": "q1", "start": 3, "score": 0.5, "ok": True, "note": None}]}
    for ending in ("\n", "\r\n", "\r"):
        text = json.dumps(document, indent=1).replace("\n", ending)
        assert load(tmp_path, b"\xef\xbb\xbf" + text.encode()).value == document
    assert json_files.load(tmp_path / "data.json").value == document  # a pathlib.Path too


@pytest.mark.parametrize("content, message", [
    ('{"a": 1,\n "b": }', r":2: malformed JSON: Expecting value \(column 7\)"),
    ('{"a": [1,\r "b"', r":2: malformed JSON: .*\(column 5\)"),  # CR-only: line 2 all the same
    ('{"a": [1, 2', r":1: malformed JSON"),
    (b'{"a": "\xff"}', r":1: not UTF-8 \(invalid start byte at byte 7\)"),
    (b'{\n"a":\n "\xc3"}', r":3: not UTF-8"),
    ("", r": empty file \(expected a JSON object\)"),
    (" \r\n\t", r": empty file"),
    ("[1, 2]", r": expected a JSON object, got list"),
    ('{"a": 1' + "0" * 5000 + "}", r": malformed JSON: Exceeds the limit"),
], ids=["truncated", "cr-only", "unclosed", "not-utf8", "not-utf8-line3", "empty", "blank",
        "top-level", "huge-int"])
def test_unreadable_files_are_one_line_naming_file_and_line(tmp_path, content, message):
    refused(tmp_path, content, message)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_where_they_are(tmp_path, constant):
    refused(tmp_path, '{"data": [{"x": 1}, {"x": %s}]}' % constant,
            f": {constant} is not a JSON number \\(at data\\[1\\]\\.x\\)")


def test_a_number_too_large_for_a_float_is_refused_unless_the_reader_checks_ranges(tmp_path):
    refused(tmp_path, '{"a": [1e999]}', r": 1e999 is too large for a number \(at a\[0\]\)")
    assert load(tmp_path, '{"a": [1e999]}', allow_overflow=True).value == {"a": [float("inf")]}


def test_a_key_twice_is_refused(tmp_path):
    refused(tmp_path, '{"a": {"b": 1, "c": 2, "b": 3}}',
            r": the key 'b' occurs twice in this object \(at a\)")


@pytest.mark.parametrize("depth", [json_files.MAX_DEPTH + 1, 5000, 200_000])
def test_deep_nesting_is_refused(tmp_path, depth):
    refused(tmp_path, '{"a": ' + "[" * depth + "]" * depth + "}", r": JSON nested too deeply")


def test_a_lone_surrogate_is_not_text_but_an_escaped_pair_is(tmp_path):
    refused(tmp_path, '{"a": ["\\ud800"]}', r": a lone UTF-16 surrogate .* \(at a\[0\]\)")
    refused(tmp_path, '{"\\udfff": 1}', r": a lone UTF-16 surrogate .* \(at the top level\)")
    assert load(tmp_path, '{"a": "\\ud83d\\ude00"}').value == {"a": "\U0001f600"}


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ReaderError, match=r"nope.json: not found"):
        json_files.load(str(tmp_path / "nope.json"), ReaderError)
    with pytest.raises(ReaderError, match=r": not a file"):
        json_files.load(str(tmp_path), ReaderError)


def test_parse_line_names_the_line_and_column(tmp_path):
    with pytest.raises(ReaderError, match=r"^f.jsonl:7: invalid JSON \(.* at column 8\)$"):
        json_files.parse_line('{"a": 1', "f.jsonl", 7, ReaderError)
    with pytest.raises(ReaderError, match=r"^f.jsonl:7: expected a JSON object per line, got list"):
        json_files.parse_line("[]", "f.jsonl", 7, ReaderError)
    assert json_files.parse_line("[]", "f.jsonl", 7, kind=None).value == []


@pytest.mark.parametrize("value, read, message", [
    (True, lambda n: n.integer(), "must be an integer, got true"),
    (3.0, lambda n: n.integer(), "must be an integer, got 3.0"),
    (-1, lambda n: n.integer(minimum=0), "must be an integer >= 0, got -1"),
    ("3", lambda n: n.number(), "must be a finite number, got \"3\""),
    (False, lambda n: n.number(), "must be a finite number, got false"),
    (0, lambda n: n.boolean(), "must be true or false, got 0"),
    (" ", lambda n: n.string(), "must be a non-empty string, got \" \""),
    (["a"], lambda n: n.string(non_empty=False), "must be a string, got \\[\"a\"\\]"),
    ({}, lambda n: n.items(), "must be an array, got {}"),
    ([], lambda n: n.field("x"), "must be an object, got \\[\\]"),
    ({"y": 1}, lambda n: n.field("x"), "the field 'x' is missing"),
])
def test_accessors_never_convert_and_name_the_json_path(tmp_path, value, read, message):
    root = load(tmp_path, json.dumps({"data": [{"v": value}]}))
    node = root.field("data").items()[0].field("v")
    with pytest.raises(ReaderError, match=f"^{re.escape(str(tmp_path / 'data.json'))}: "
                                          rf"data\[0\]\.v: {message}$"):
        read(node)


def test_accessors_return_the_values(tmp_path):
    root = load(tmp_path, '{"n": 3, "f": 0.5, "s": "x", "b": false, "l": [1]}')
    assert (root.field("n").integer(minimum=3), root.field("f").number(), root.field("s").string(),
            root.field("b").boolean(), [x.value for x in root.field("l").items()]) == \
        (3, 0.5, "x", False, [1])
    assert root.optional("absent", []).items() == [] and root.has("n") and not root.has("absent")


@functools.cache
def _json_readers() -> dict:
    shared_file("qa")  # a skip with the reason when ../shared/data is absent
    return {r.name: r for r in fuzz_readers.readers() if r.is_json}


@functools.cache
def _clean(name: str) -> bytes:
    return _json_readers()[name].clean()


JSON_READERS = ["squad", "bioasq_golden", "qa_spec", "re_scibert_jsonl", "re_jsonl",
                "re_cv_fold_scores", "bert_config", "hf_config", "bilstm_word_vocab",
                "ner_labels", "run_record", "relation_spec", "bilstm_config", "dev_history"]


def test_every_json_reader_is_fuzzed():
    assert sorted(_json_readers()) == sorted(JSON_READERS)


@pytest.mark.parametrize("name", JSON_READERS)
@hypothesis.settings(max_examples=25, deadline=None, derandomize=True,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(seed=st.integers(0, 2**32))
def test_json_reader_gives_the_clean_result_or_one_clear_error(tmp_path, name, seed):
    """Byte flips, truncation, type swaps of any field, NaN, deep nesting, keys twice, other
    line endings: parsed (to the clean result where the mutation cannot change the meaning)
    or a ValueError naming the file in one line."""
    reader = _json_readers()[name]
    path = str(tmp_path / reader.file_name)
    clean = _clean(name)
    (tmp_path / reader.file_name).write_bytes(clean)
    expected = repr(reader.read(path))
    mutation, data, strict = fuzz_readers.mutate(random.Random(seed), reader, clean)
    result, detail = fuzz_readers.outcome(reader, path, data, strict, expected)
    assert result in ("parsed", "clear error"), f"{mutation}: {result}: {detail}"
