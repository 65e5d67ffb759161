"""Entity-level NER scores as the CoNLL `conlleval` perl script computes them, plus token accuracy.

A chunk (entity) is a maximal run of tokens that conlleval's `startOfChunk`/`endOfChunk` rules group
together; a predicted chunk is correct when a gold chunk has the same start, end and type. Each
sentence is scored on its own: conlleval sees a blank line between sentences, so no chunk spans one.

Why not seqeval at run time: its default mode uses these very rules, but importing its metrics
imports scikit-learn and SciPy, and its only release (1.2.2) is an sdist whose build has broken
before with new setuptools_scm releases. The rules are ~30 lines, so they live here; the tests check
them against a line-by-line transcription of conlleval.pl's counting loop and against seqeval (in
the `test` extra only).

Tags are read by `biobert_tf.tasks.ner.labels.split_label` (BioBERT's data is untyped: its chunks
have type ""). For IOB1/IOB2 tags (B, I, O) the rules are exactly conlleval.pl's, including
its treatment of an `I-X` after `O` or after another type as the start of a new chunk. conlleval.pl
predates BIOES: it has no rule for `S` (it would merge `S-X S-X` into one chunk and ignore untyped
`S`) and none for `E` followed by `B`; for those tags the rules are seqeval's extension (`E` and `S`
always end a chunk, `S` always starts one), which only adds the rules conlleval.pl lacks.

Scores in the dict are fractions in [0, 1]; `format_report` prints percentages like conlleval. A
ratio with a zero denominator is 0.0, as in conlleval (so no predictions give precision 0, not an error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from biobert_tf.tasks.ner.labels import UNTYPED, split_label


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval.pl's endOfChunk for B/I/O (+ E/I/O rules), with seqeval's E/S extension."""
    if prev_tag in ("E", "S"):  # a BIOES chunk ends with its E or S token
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_type != type_  # a type change always ends a chunk


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval.pl's startOfChunk, with seqeval's E/S extension."""
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev_tag in ("O", "E", "S"):  # IOB1: an I after O starts a chunk
        return True
    return tag != "O" and prev_type != type_  # I-B after I-A starts a B chunk


def get_entities(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """Chunks of one sentence as `(type, start, end)`, end exclusive, in order; type "" if untyped.

    >>> get_entities(["B-A", "I-A", "O", "I-B", "B-B"])
    [('A', 0, 2), ('B', 3, 4), ('B', 4, 5)]
    """
    if isinstance(labels, str):
        raise TypeError("get_entities takes one sentence's labels (a sequence of str), not a str")
    chunks = []
    prev_tag, prev_type, begin = "O", "", 0
    # A trailing "O" closes a chunk that runs to the end of the sentence.
    for i, label in enumerate([*labels, "O"]):
        try:
            tag, type_ = split_label(label)
        except ValueError as e:
            raise ValueError(f"label {i}: {e}") from None
        if _end_of_chunk(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i))
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _prf(correct: int, gold: int, pred: int) -> tuple[float, float, float]:
    precision = correct / pred if pred else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def ner_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """conlleval's scores for sentence-aligned gold and predicted labels.

    Returns `precision`, `recall`, `f1` (fractions), `token_accuracy` (exact label match),
    `num_gold`, `num_pred`, `num_correct` (chunks), `num_tokens`, `num_correct_tokens`, and
    `per_type`: {type: {precision, recall, f1, num_gold, num_pred, num_correct}} for every type seen
    in gold or predictions, sorted by type name (untyped chunks have type ""; reports show it as
    `UNTYPED`).
    """
    if isinstance(gold, str) or isinstance(pred, str):
        raise TypeError("ner_scores takes sequences of sentences (each a sequence of labels)")
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")
    n_gold, n_pred, n_correct = Counter(), Counter(), Counter()
    num_tokens = num_correct_tokens = 0
    for i, (g, p) in enumerate(zip(gold, pred)):
        if isinstance(g, str) or isinstance(p, str):
            raise TypeError(f"sentence {i}: expected a sequence of labels, got a str "
                            f"(pass a list of sentences, not one flat list of labels)")
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold labels but {len(p)} predicted labels")
        try:
            g_chunks = get_entities(g)
        except ValueError as e:
            raise ValueError(f"gold sentence {i}, {e}") from None
        try:
            p_chunks = get_entities(p)
        except ValueError as e:
            raise ValueError(f"predicted sentence {i}, {e}") from None
        n_gold.update(t for t, _, _ in g_chunks)
        n_pred.update(t for t, _, _ in p_chunks)
        n_correct.update(t for t, _, _ in set(g_chunks) & set(p_chunks))
        num_tokens += len(g)
        num_correct_tokens += sum(a == b for a, b in zip(g, p))
    total_gold, total_pred, total_correct = (sum(c.values()) for c in (n_gold, n_pred, n_correct))
    precision, recall, f1 = _prf(total_correct, total_gold, total_pred)
    per_type = {}
    for t in sorted(set(n_gold) | set(n_pred)):
        p_t, r_t, f_t = _prf(n_correct[t], n_gold[t], n_pred[t])
        per_type[t] = {"precision": p_t, "recall": r_t, "f1": f_t, "num_gold": n_gold[t],
                       "num_pred": n_pred[t], "num_correct": n_correct[t]}
    return {
        "precision": precision, "recall": recall, "f1": f1,
        "token_accuracy": num_correct_tokens / num_tokens if num_tokens else 0.0,
        "num_gold": total_gold, "num_pred": total_pred, "num_correct": total_correct,
        "num_tokens": num_tokens, "num_correct_tokens": num_correct_tokens,
        "per_type": per_type,
    }


def _percent_line(correct: int, gold: int, pred: int) -> str:
    # Same arithmetic order as conlleval.pl (percentages first, FB1 from them) so that the
    # printed digits match it even when a value lies on a rounding boundary.
    precision = 100 * correct / pred if pred else 0.0
    recall = 100 * correct / gold if gold else 0.0
    fb1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"precision: {precision:6.2f}%; recall: {recall:6.2f}%; FB1: {fb1:6.2f}"


def format_report(scores: dict) -> str:
    """conlleval's text report for a `ner_scores` result (the untyped type is shown as UNTYPED)."""
    lines = [f"processed {scores['num_tokens']} tokens with {scores['num_gold']} phrases; "
             f"found: {scores['num_pred']} phrases; correct: {scores['num_correct']}."]
    if scores["num_tokens"]:  # conlleval prints no accuracy line for empty input
        accuracy = 100 * scores["num_correct_tokens"] / scores["num_tokens"]
        lines.append(f"accuracy: {accuracy:6.2f}%; "
                     + _percent_line(scores["num_correct"], scores["num_gold"], scores["num_pred"]))
    for type_, s in scores["per_type"].items():
        name = type_ or UNTYPED
        lines.append(f"{name:>17}: " + _percent_line(s["num_correct"], s["num_gold"], s["num_pred"])
                     + f"  {s['num_pred']}")
    return "\n".join(lines) + "\n"
