"""QA data: SQuAD v1.1 json (SQuAD, BioASQ-in-SQuAD) and official BioASQ golden json.

- `read_squad`: every (question, context) pair of a SQuAD-format file as a `QaExample`, its
  gold answers as character spans of the context. BioBERT's BioASQ files are SQuAD files
  with one paragraph per (question, snippet or abstract) pair and ids `<24-char id>_NNN`;
  test files have no answers.
- `read_golden`: the questions of a BioASQ golden file (factoid, list, yes/no, summary) with
  their `exact_answer` and snippets.
- `span_examples` builds extractive training pairs from golden questions (BioASQ's factoid
  training files are not public): each snippet in which an exact answer or one of its
  synonyms occurs (case-insensitively) gives one example per answer item found, at its
  first occurrence; `pair_examples` gives every (question, snippet) pair for prediction
  and yes/no classification.

A malformed file raises `QaDataError` naming the file and the JSON location
(`data[3].paragraphs[0].qas[2]`, `questions[17]`) or the question id.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from collections.abc import Iterable, Sequence

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
    synonyms), "yes"/"no", or None (summary)."""

    id: str
    type: str
    body: str
    exact_answer: object
    snippets: tuple[str, ...]


def _load_json(path: str) -> dict:
    if not os.path.exists(path):
        raise FileNotFoundError(f"QA data file not found: {path}")
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise QaDataError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise QaDataError(f"{path}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise QaDataError(f"{path}: expected a JSON object at the top, got "
                          f"{type(data).__name__}")
    return data


def _field(record, key: str, kind: type, where: str):
    value = record.get(key) if isinstance(record, dict) else None
    if not isinstance(value, kind) or (kind is str and not value.strip()):
        got = "missing" if not isinstance(record, dict) or key not in record else repr(value)[:80]
        raise QaDataError(f"{where}: {key!r} must be a non-empty {kind.__name__} ({got})")
    return value


def is_golden(path: str) -> bool:
    """Whether a json file is BioASQ golden (`questions`) rather than SQuAD (`data`)."""
    return "questions" in _load_json(path)


def read_squad(path: str) -> list[QaExample]:
    """Every question of a SQuAD v1.1-format file, in file order."""
    data = _load_json(path)
    examples, seen = [], {}
    for i, article in enumerate(_field(data, "data", list, path)):
        for j, paragraph in enumerate(_field(article, "paragraphs", list,
                                             f"{path}: data[{i}]")):
            where_p = f"{path}: data[{i}].paragraphs[{j}]"
            context = _field(paragraph, "context", str, where_p)
            for k, qa in enumerate(_field(paragraph, "qas", list, where_p)):
                where = f"{where_p}.qas[{k}]"
                qid = _field(qa, "id", str, where)
                if qid in seen:
                    raise QaDataError(f"{where}: duplicate question id {qid!r} (first at "
                                      f"{seen[qid]})")
                seen[qid] = where
                answers = []
                for a, answer in enumerate(qa.get("answers") or []):
                    text = _field(answer, "text", str, f"{where}.answers[{a}]")
                    start = answer.get("answer_start")
                    if not isinstance(start, int) or context[start:start + len(text)] != text:
                        raise QaDataError(f"{where}.answers[{a}] (id {qid}): answer_start "
                                          f"{start!r} does not point at {text!r} in the context")
                    answers.append(Answer(text, start))
                examples.append(QaExample(qid, _field(qa, "question", str, where), context,
                                          tuple(answers), where=where))
    if not examples:
        raise QaDataError(f"{path}: no questions")
    return examples


def read_golden(path: str) -> list[GoldenQuestion]:
    """The questions of a BioASQ golden json file."""
    data = _load_json(path)
    questions = []
    for i, q in enumerate(_field(data, "questions", list, path)):
        where = f"{path}: questions[{i}]"
        qid = _field(q, "id", str, where)
        kind = _field(q, "type", str, where)
        if kind not in QUESTION_TYPES:
            raise QaDataError(f"{where} (id {qid}): unknown question type {kind!r}")
        answer = q.get("exact_answer")
        if kind == "yesno" and (not isinstance(answer, str) or answer.lower() not in ("yes", "no")):
            raise QaDataError(f"{where} (id {qid}): a yes/no exact_answer must be 'yes' or "
                              f"'no', got {answer!r}")
        if kind in ("factoid", "list") and not isinstance(answer, list):
            raise QaDataError(f"{where} (id {qid}): a {kind} exact_answer must be a list, got "
                              f"{answer!r}")
        snippets = tuple(_field(s, "text", str, f"{where}.snippets[{k}]")
                         for k, s in enumerate(q.get("snippets") or []))
        questions.append(GoldenQuestion(qid, kind, _field(q, "body", str, where),
                                        answer.lower() if kind == "yesno" else answer,
                                        snippets))
    return questions


def answer_items(question: GoldenQuestion) -> list[list[str]]:
    """The gold items of a factoid or list question, each a list of synonyms (BioASQ writes
    a factoid answer as `["syn", ...]` or `[["syn", ...]]`, list items as `[["syn", ...]]`)."""
    answer = question.exact_answer
    if question.type == "factoid":
        synonyms = [s for item in answer for s in ([item] if isinstance(item, str) else item)]
        return [synonyms]
    return [[item] if isinstance(item, str) else list(item) for item in answer]


def _find(text: str, synonyms: Iterable[str]) -> Answer | None:
    """The earliest case-insensitive occurrence of any synonym (the longest at a tie)."""
    # Lower-casing keeps offsets only where it keeps lengths (not for "İ"); else match case.
    fold = (lambda s: s.lower()) if len(text.lower()) == len(text) else (lambda s: s)
    lower, best = fold(text), None
    for synonym in synonyms:
        synonym = synonym.strip()
        at = lower.find(fold(synonym)) if synonym else -1
        if at >= 0 and (best is None or (at, -len(synonym)) < (best.start, -len(best.text))):
            best = Answer(text[at:at + len(synonym)], at)
    return best


def pair_id(question_id: str, k: int) -> str:
    return f"{question_id}_{k:03d}"


def span_examples(questions: Sequence[GoldenQuestion], types: Sequence[str] = ("factoid",)
                  ) -> tuple[list[QaExample], dict]:
    """Extractive training examples from golden questions of `types` (see the module
    docstring) and a report of how many questions and snippets yielded one."""
    examples, report = [], collections.Counter()
    for q in questions:
        if q.type not in types:
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

