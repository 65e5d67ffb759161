"""BioASQ answers: gold of golden files with and without answers, which predict files are
BioASQ questions, and the submission file."""

import json

import pytest

from biobert_tf.tasks.qa import bioasq
from biobert_tf.tasks.qa import data as qa_data

QUESTIONS = [
    {"id": "f" * 24, "type": "factoid", "body": "which?", "exact_answer": [["abc", "ABC"]]},
    {"id": "g" * 24, "type": "factoid", "body": "what?", "exact_answer": ["def"]},
    {"id": "l" * 24, "type": "list", "body": "list?", "exact_answer": [["abc"], ["def"]]},
    {"id": "y" * 24, "type": "yesno", "body": "is it?", "exact_answer": "No"}]


def write(tmp_path, questions):
    path = tmp_path / "golden.json"
    path.write_text(json.dumps({"questions": questions}))
    return str(path)


def gold(path, question_type):
    return bioasq.golden_answers(qa_data.read_golden(path), question_type, path)


def test_golden_answers_of_each_type(tmp_path):
    path = write(tmp_path, QUESTIONS)
    assert gold(path, "factoid") == {"f" * 24: ["abc", "ABC"], "g" * 24: ["def"]}
    assert gold(path, "list") == {"l" * 24: [["abc"], ["def"]]}
    assert gold(path, "yesno") == {"y" * 24: "no"}


def test_a_test_set_has_no_gold_and_partial_gold_counts_the_answered(tmp_path):
    unanswered = [{k: v for k, v in q.items() if k != "exact_answer"} for q in QUESTIONS]
    path = write(tmp_path, unanswered)
    assert all(gold(path, kind) == {} for kind in ("factoid", "list", "yesno"))
    path = write(tmp_path, QUESTIONS[:1] + unanswered[1:])
    assert gold(path, "factoid") == {"f" * 24: ["abc", "ABC"]}
    with pytest.raises(qa_data.QaDataError, match="golden.json: no summary questions"):
        gold(path, "summary")


def test_bioasq_pairs_are_told_from_squad_ids():
    assert bioasq.is_bioasq(["5118dd1305c10fae75000001_000", "5118dd1305c10fae75000001_001_1"])
    assert not bioasq.is_bioasq(["56be4db0acb8001400a502ec", "5118dd1305c10fae75000001_000"])
    assert not bioasq.is_bioasq([])


@pytest.mark.parametrize("kind, answers, written", [
    ("factoid", {"q": ["a", "b"]}, [["a"], ["b"]]),
    ("list", {"q": []}, []),
    ("yesno", {"q": "no"}, "no"),
])
def test_submission_format(tmp_path, kind, answers, written):
    path = tmp_path / bioasq.ANSWER_FILE
    bioasq.write_answers(str(path), kind, answers)
    assert json.loads(path.read_text()) == {
        "questions": [{"id": "q", "type": kind, "exact_answer": written}]}


def test_factoid_submission_keeps_the_top_five():
    merged = {"q": [(str(k), 1.0 / (k + 1)) for k in range(8)], "r": []}
    assert bioasq.factoid_answers(merged) == {"q": ["0", "1", "2", "3", "4"], "r": []}
