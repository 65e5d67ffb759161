"""QA readers of damaged files: SQuAD and BioASQ golden json give one clear error naming the
file and the JSON path of the field, never a traceback."""

import json
import re

import pytest

from biobert_tf.tasks.qa import data as qa_data

SQUAD = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "abc def", "qas": [
    {"id": "q1", "question": "what?", "answers": [{"text": "def", "answer_start": 4}]},
    {"id": "q2", "question": "which?", "answers": [{"text": "abc", "answer_start": 0}]}]}]}]}
GOLDEN = {"questions": [
    {"id": "f" * 24, "type": "factoid", "body": "which?", "exact_answer": [["abc", "ABC"]],
     "snippets": [{"text": "abc def"}]},
    {"id": "l" * 24, "type": "list", "body": "list?", "exact_answer": [["abc"], ["def"]],
     "snippets": [{"text": "abc def"}]},
    {"id": "y" * 24, "type": "yesno", "body": "is it?", "exact_answer": "Yes", "snippets": []},
    {"id": "s" * 24, "type": "summary", "body": "why?", "ideal_answer": ["because"]}]}


def write(tmp_path, document, name="qa.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def with_value(document, path, value):
    """A copy of `document` with the value at `path` (keys and indices) replaced."""
    document = json.loads(json.dumps(document))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


def error_of(read, path) -> str:
    with pytest.raises(qa_data.QaDataError) as error:
        read(path)
    message = str(error.value)
    assert message.startswith(path) and "\n" not in message
    return message


def test_clean_squad_and_golden(tmp_path):
    examples = qa_data.read_squad(write(tmp_path, SQUAD))
    assert [(x.id, x.answers[0].start) for x in examples] == [("q1", 4), ("q2", 0)]
    golden = write(tmp_path, GOLDEN, "golden.json")
    questions = qa_data.read_golden(golden)
    assert [q.exact_answer for q in questions] == [[["abc", "ABC"]], [["abc"], ["def"]], "yes",
                                                   None]
    assert qa_data.is_golden(golden) and not qa_data.is_golden(write(tmp_path, SQUAD))


ANSWER = ("data", 0, "paragraphs", 0, "qas", 1, "answers", 0)


@pytest.mark.parametrize("path, value, problem", [
    (ANSWER + ("answer_start",), 0.0, "must be an integer >= 0, got 0.0"),
    (ANSWER + ("answer_start",), False, "must be an integer >= 0, got false"),
    (ANSWER + ("answer_start",), -3, "must be an integer >= 0, got -3"),
    (ANSWER + ("answer_start",), "0", "must be an integer >= 0, got \"0\""),
    (ANSWER + ("text",), 5, "must be a non-empty string, got 5"),
    (ANSWER, "abc", "must be an object, got \"abc\""),
    (ANSWER[:-1], None, "must be an array, got null"),
    (("data", 0, "paragraphs", 0, "context"), ["abc def"], "must be a non-empty string"),
    (("data", 0, "paragraphs"), {}, "must be an array, got {}"),
    (("data",), "x", "must be an array"),
])
def test_squad_field_of_the_wrong_type_names_its_json_path(tmp_path, path, value, problem):
    where = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)[1:]
    text = error_of(qa_data.read_squad, write(tmp_path, with_value(SQUAD, path, value)))
    assert f": {where}: {problem}" in text


def test_squad_messages_give_the_full_path_and_the_question(tmp_path):
    bad = with_value(SQUAD, ANSWER + ("answer_start",), 1)
    assert error_of(qa_data.read_squad, write(tmp_path, bad)).endswith(
        "data[0].paragraphs[0].qas[1].answers[0] (id q2): answer_start 1 does not point at "
        "'abc' in the context")
    bad = with_value(SQUAD, ("data", 0, "paragraphs", 0, "qas", 1, "id"), "q1")
    assert "qas[1] (id q1): duplicate question id (first at data[0].paragraphs[0].qas[0])" in \
        error_of(qa_data.read_squad, write(tmp_path, bad))


@pytest.mark.parametrize("text, message", [
    ('{"data": [{"paragraphs": [{"context": NaN}]}]}',
     r"NaN is not a JSON number \(at data\[0\]\.paragraphs\[0\]\.context\)"),
    ('{"data": [], "data": []}', "the key 'data' occurs twice"),
    ('{"data": ' + "[" * 3000 + "]" * 3000 + "}", "JSON nested too deeply"),
    (json.dumps(SQUAD)[:-40], r":1: malformed JSON"),
    ("", "empty file"),
    ("[]", "expected a JSON object, got list"),
    ('{"data": []}', ": no questions"),
])
def test_damaged_squad_files(tmp_path, text, message):
    assert re.search(message, error_of(qa_data.read_squad, write(tmp_path, text)))


def test_squad_not_utf8_and_missing(tmp_path):
    path = tmp_path / "qa.json"
    path.write_bytes(json.dumps(SQUAD).encode()[:30] + b"\xff\n")
    assert "qa.json:1: not UTF-8" in error_of(qa_data.read_squad, str(path))
    with pytest.raises(qa_data.QaDataError, match="nope.json: not found"):
        qa_data.read_squad(str(tmp_path / "nope.json"))


@pytest.mark.parametrize("index, field, value, message", [
    (0, "exact_answer", [["abc", 3]], r"questions\[0\]\.exact_answer\[0\]\[1\]: must be a string"),
    (0, "exact_answer", [None], r"questions\[0\]\.exact_answer\[0\]: must be a string"),
    (0, "exact_answer", "abc", r"questions\[0\] \(id f+\): a factoid exact_answer must be a list"),
    (1, "exact_answer", {"abc": 1}, r"a list exact_answer must be a list, got \{"),
    (2, "exact_answer", True, r"questions\[2\] \(id y+\): a yes/no exact_answer must be 'yes'"),
    (0, "snippets", [{"text": 5}], r"questions\[0\]\.snippets\[0\]\.text: must be a non-empty"),
    (0, "snippets", {"text": "x"}, r"questions\[0\]\.snippets: must be an array"),
    (1, "type", "essay", r"questions\[1\] \(id l+\): unknown question type 'essay'"),
    (3, "body", None, r"questions\[3\]\.body: must be a non-empty string, got null"),
    (3, "id", 7, r"questions\[3\]\.id: must be a non-empty string, got 7"),
])
def test_golden_field_of_the_wrong_type_names_its_json_path(tmp_path, index, field, value,
                                                            message):
    bad = with_value(GOLDEN, ("questions", index, field), value)
    assert re.search(message, error_of(qa_data.read_golden, write(tmp_path, bad)))


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ('{"questions": []}', ": no questions"),
    ('{"questions": {}}', "questions: must be an array"),
    ('{"questions": [{"id": "x", "type": "yesno", "body": "?", "exact_answer": Infinity}]}',
     r"Infinity is not a JSON number \(at questions\[0\]\.exact_answer\)"),
])
def test_empty_or_damaged_golden_files(tmp_path, text, message):
    assert re.search(message, error_of(qa_data.read_golden, write(tmp_path, text)))


def test_a_test_set_golden_file_reads_without_answers(tmp_path):
    """BioASQ's test sets are golden files without `exact_answer`: read, never trained on."""
    document = json.loads(json.dumps(GOLDEN))
    for question in document["questions"]:
        question.pop("exact_answer", None)
    questions = qa_data.read_golden(write(tmp_path, document))
    assert [q.exact_answer for q in questions] == [None] * 4
    assert qa_data.answer_items(questions[0]) == []
    assert qa_data.span_examples(questions, ("factoid", "list"))[0] == []
    [pair] = qa_data.pair_examples(questions, ("factoid",))
    assert pair.label is None and pair.context == "abc def"
    # An explicit null is a damaged file, not a test set.
    null = with_value(GOLDEN, ("questions", 0, "exact_answer"), None)
    assert "must be a list, got null" in error_of(qa_data.read_golden, write(tmp_path, null))


@pytest.mark.parametrize("snippet, synonyms, found", [
    ("The crypts of the crypt.", ["crypt"], ("crypt", 18)),  # the whole word, though later
    ("IL-21 and IL-2 (IL-2R).", ["IL-2"], ("IL-2", 10)),
    ("Deep in the crypts.", ["crypt"], ("crypt", 12)),  # only part of a word: still found
    ("aducanumab, or Aducanumab", ["ADUCANUMAB", "aduca"], ("aducanumab", 0)),
    ("no answer here", ["crypt"], None),
])
def test_answers_are_found_as_whole_words_first(tmp_path, snippet, synonyms, found):
    path = write(tmp_path, {"questions": [{"id": "q" * 24, "type": "factoid", "body": "?",
                                           "exact_answer": synonyms,
                                           "snippets": [{"text": snippet}]}]})
    examples, _ = qa_data.span_examples(qa_data.read_golden(path))
    assert [(x.answers[0].text, x.answers[0].start) for x in examples] == (
        [found] if found else [])
