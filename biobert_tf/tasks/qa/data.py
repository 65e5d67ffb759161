"""QA data: SQuAD v1.1 json (SQuAD, BioASQ-in-SQuAD) and official BioASQ golden json.

- `read_squad`: every (question, context) pair of a SQuAD-format file as a `QaExample`, its
  gold answers as character spans of the context. BioBERT's BioASQ files are SQuAD files
  with one paragraph per (question, snippet or abstract) pair and ids `<24-char id>_NNN`;
  test files have no answers.
- `read_golden`: the questions of a BioASQ golden file (factoid, list, yes/no, summary) with
  their `exact_answer` and snippets. A test-set file (BioASQ's format without the answers)
  reads the same: its questions' `exact_answer` is None.
- `span_examples` builds extractive training pairs from golden questions (BioASQ's factoid
  training files are not public): each snippet in which an exact answer or one of its
  synonyms occurs (case-insensitively) gives one example per answer item found, at its
  first whole-word occurrence (else its first); `pair_examples` gives every (question,
  snippet) pair for prediction and yes/no classification.

A malformed file raises `QaDataError` naming the file and the JSON location
(`data[3].paragraphs[0].qas[2].answers[0].answer_start`, `questions[17]`) and the question id
(`biobert_tf.json_files` reads the JSON). An empty file or one without questions is an error.
`answers` (SQuAD), `snippets` and `exact_answer` (golden) may be absent; a summary's
`exact_answer` is not read.
"""

from __future__ import annotations

import collections
import dataclasses
import unicodedata
from collections.abc import Iterable, Sequence
from typing import NoReturn

from biobert_tf import json_files

QUESTION_TYPES = ("factoid", "list", "yesno", "summary")
ID_LENGTH = 24  # BioASQ question ids; pair ids add "_NNN"


class QaDataError(ValueError):
    """A QA data file is malformed; the message names the file and where in it."""


@dataclasses.dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset into the context

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclasses.dataclass(frozen=True)
class QaExample:
    """One (question, context) pair; `answers` empty for prediction-only data."""

    id: str
    question: str
    context: str
    answers: tuple[Answer, ...] = ()
    label: str | None = None  # yes/no pairs: "yes" or "no"
    where: str = ""  # file and JSON location, for messages


@dataclasses.dataclass(frozen=True)
class GoldenQuestion:
    """A BioASQ question: `exact_answer` is factoid synonyms, list items (each a list of
    synonyms), "yes"/"no", or None (a summary, or a test-set question)."""

    id: str
    type: str
    body: str
    exact_answer: object
    snippets: tuple[str, ...]


def _load_json(path: str) -> json_files.Node:
    return json_files.load(path, QaDataError)


def _fail(node: json_files.Node, qid: str, problem: str) -> NoReturn:
    raise QaDataError(f"{node.where} (id {qid}): {problem}")


def is_golden(path: str) -> bool:
    """Whether a json file is BioASQ golden (`questions`) rather than SQuAD (`data`)."""
    return _load_json(path).has("questions")


def read_squad(path: str) -> list[QaExample]:
    """Every question of a SQuAD v1.1-format file, in file order."""
    examples, seen = [], {}
    for article in _load_json(path).field("data").items():
        for paragraph in article.field("paragraphs").items():
            context = paragraph.field("context").string()
            for qa in paragraph.field("qas").items():
                qid = qa.field("id").string()
                if qid in seen:
                    _fail(qa, qid, f"duplicate question id (first at {seen[qid]})")
                seen[qid] = qa.path
                answers = []
                for answer in qa.optional("answers", []).items():
                    text = answer.field("text").string()
                    start = answer.field("answer_start").integer(minimum=0)
                    if context[start:start + len(text)] != text:
                        _fail(answer, qid, f"answer_start {start} does not point at {text!r} in "
                                           "the context")
                    answers.append(Answer(text, start))
                examples.append(QaExample(qid, qa.field("question").string(), context,
                                          tuple(answers), where=qa.where))
    if not examples:
        raise QaDataError(f"{path}: no questions")
    return examples


def read_golden(path: str) -> list[GoldenQuestion]:
    """The questions of a BioASQ golden json file."""
    questions = []
    for q in _load_json(path).field("questions").items():
        qid = q.field("id").string()
        kind = q.field("type").string()
        if kind not in QUESTION_TYPES:
            _fail(q, qid, f"unknown question type {kind!r}")
        snippets = tuple(s.field("text").string() for s in q.optional("snippets", []).items())
        questions.append(GoldenQuestion(qid, kind, q.field("body").string(),
                                        _exact_answer(q, kind, qid), snippets))
    if not questions:
        raise QaDataError(f"{path}: no questions")
    return questions


def _exact_answer(question: json_files.Node, kind: str, qid: str) -> object:
    """A yes/no answer lower-cased; factoid and list answers: arrays whose items are a synonym
    or an array of synonyms; None when absent (a test set); a summary's is not read."""
    if kind == "summary" or not question.has("exact_answer"):
        return None
    answer = question.field("exact_answer")
    if kind == "yesno":
        if not isinstance(answer.value, str) or answer.value.lower() not in ("yes", "no"):
            _fail(question, qid, "a yes/no exact_answer must be 'yes' or 'no', got "
                  f"{json_files.show(answer.value)}")
        return answer.value.lower()
    if not isinstance(answer.value, list):
        _fail(question, qid, f"a {kind} exact_answer must be a list, got "
                  f"{json_files.show(answer.value)}")
    for item in answer.items():
        for synonym in (item.items() if isinstance(item.value, list) else [item]):
            synonym.string(non_empty=False)  # real files have " " synonyms; never matched
    return answer.value


def answer_items(question: GoldenQuestion) -> list[list[str]]:
    """The gold items of a factoid or list question, each a list of synonyms (BioASQ writes
    a factoid answer as `["syn", ...]` or `[["syn", ...]]`, list items as `[["syn", ...]]`);
    none for a question without its answer."""
    answer = question.exact_answer
    if answer is None:
        return []
    if question.type == "factoid":
        synonyms = [s for item in answer for s in ([item] if isinstance(item, str) else item)]
        return [synonyms]
    return [[item] if isinstance(item, str) else list(item) for item in answer]


def _splits_words(char: str) -> bool:
    """Whether Google's BasicTokenizer ends a word at `char`: whitespace or punctuation
    (ASCII symbols and Unicode category P)."""
    return char.isspace() or (char.isascii() and not char.isalnum()) or \
        unicodedata.category(char).startswith("P")


def _whole_words(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] begins and ends on word boundaries."""
    return ((start == 0 or _splits_words(text[start - 1]) or _splits_words(text[start])) and
            (end == len(text) or _splits_words(text[end]) or _splits_words(text[end - 1])))


def _find(text: str, synonyms: Iterable[str]) -> Answer | None:
    """The best case-insensitive occurrence of any synonym: whole words before part of a
    word ("crypt" in "crypts" only when nothing better is there), then the earliest, then
    the longest."""
    # Lower-casing keeps offsets only where it keeps lengths (not for "İ"); else match case.
    fold = (lambda s: s.lower()) if len(text.lower()) == len(text) else (lambda s: s)
    lower, best, best_key = fold(text), None, None
    for synonym in synonyms:
        synonym = fold(synonym.strip())
        at = lower.find(synonym) if synonym else -1
        while at >= 0:
            end = at + len(synonym)
            key = (not _whole_words(text, at, end), at, -len(synonym))
            if best_key is None or key < best_key:
                best, best_key = Answer(text[at:end], at), key
            at = lower.find(synonym, at + 1)
    return best


def pair_id(question_id: str, k: int) -> str:
    return f"{question_id}_{k:03d}"


def span_examples(questions: Sequence[GoldenQuestion], types: Sequence[str] = ("factoid",)
                  ) -> tuple[list[QaExample], dict]:
    """Extractive training examples from golden questions of `types` (see the module
    docstring) and a report of how many questions and snippets yielded one."""
    examples, report = [], collections.Counter()
    for q in questions:
        if q.type not in types or q.exact_answer is None:
            continue
        report["questions"] += 1
        items = answer_items(q)
        found_any = False
        for k, snippet in enumerate(q.snippets):
            report["snippets"] += 1
            answers = [a for a in (_find(snippet, item) for item in items) if a is not None]
            if answers:
                report["snippets_with_answer"] += 1
                found_any = True
            for n, answer in enumerate(answers):
                examples.append(QaExample(pair_id(q.id, k) + (f"_{n}" if n else ""), q.body,
                                          snippet, (answer,), where=f"question {q.id}"))
        report["questions_with_example"] += found_any
    report["examples"] = len(examples)
    return examples, dict(report)


def pair_examples(questions: Sequence[GoldenQuestion], types: Sequence[str]) -> list[QaExample]:
    """Every (question, snippet) pair of the golden questions of `types`, with id
    `<question id>_NNN`; yes/no pairs carry the question's answer as `label`."""
    return [QaExample(pair_id(q.id, k), q.body, snippet,
                      label=q.exact_answer if q.type == "yesno" else None,
                      where=f"question {q.id}")
            for q in questions if q.type in types for k, snippet in enumerate(q.snippets)]


def question_id(example_id: str) -> str:
    """The BioASQ question of a pair id (`<24-char id>_NNN`), or the id itself."""
    return example_id[:ID_LENGTH] if len(example_id) > ID_LENGTH and \
        example_id[ID_LENGTH] == "_" else example_id

