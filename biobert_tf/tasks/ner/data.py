"""NER data: BioBERT tsv / CoNLL readers, tag-scheme conversion, label lists, conlleval output files.

Input files have one token per line with the token in the first column and the tag in the last
(BioBERT's `TOKEN<TAB>TAG`; CoNLL-2003's `TOKEN POS CHUNK TAG`), and a blank line between sentences.
Tags are IOB2/IOB1 or BIOES, typed (`B-Disease`) or untyped (`B`, as in BioBERT's data). Chunk
boundaries follow conlleval (see `biobert_tf.tasks.ner.metrics`), so an `I-X` that starts a chunk is read as
a chunk start when converting between schemes.

Every problem in a file raises `NerDataError` naming `path:line` (1-based); nothing is dropped silently.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from biobert_tf.tasks.ner.labels import split_label, tag_order
from biobert_tf.tasks.ner.metrics import get_entities
from biobert_tf.text_files import utf8_lines

DOCSTART = "-DOCSTART-"
SCHEMES = ("bio", "bioes")
# Only ASCII whitespace makes a line blank: a line holding e.g. a lone no-break space is a token
# without a tag (an error), not a sentence break.
_ASCII_SPACE = " \t\r\n\f\v"


class NerDataError(ValueError):
    """An NER data file is malformed; the message names `path:line`."""


@dataclass(frozen=True)
class Sentence:
    """One sentence of a file: its tokens and tags, and where it starts (`line` is 1-based)."""

    tokens: tuple[str, ...]
    labels: tuple[str, ...]
    path: str
    line: int

    def __post_init__(self):
        if len(self.tokens) != len(self.labels):
            raise ValueError(f"{self.path}:{self.line}: {len(self.tokens)} tokens but "
                             f"{len(self.labels)} labels")


def read_conll(path: str | os.PathLike) -> list[Sentence]:
    """Reads a BioBERT NER tsv or CoNLL file (token first column, tag last column).

    Columns are split on tabs when the line has one, else on whitespace; middle columns are ignored.
    Tolerates a UTF-8 BOM, CRLF, trailing whitespace, runs of blank lines, `-DOCSTART-` lines and a
    missing final blank line.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "NER data file not found", path)
    sentences: list[Sentence] = []
    tokens: list[str] = []
    labels: list[str] = []
    first_line = 0

    def flush() -> None:
        nonlocal tokens, labels
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(labels), path, first_line))
            tokens, labels = [], []

    line_number = 0
    for line_number, line in utf8_lines(path, NerDataError):
        if not line.strip(_ASCII_SPACE):
            flush()
            continue
        line = line.rstrip()  # the line end and trailing spaces
        fields = line.split("\t") if "\t" in line else line.split()
        if fields and fields[0] == DOCSTART:  # document marker, not a sentence
            flush()
            continue
        if len(fields) < 2:
            raise NerDataError(f"{path}:{line_number}: no tag: expected TOKEN<TAB>TAG "
                               f"(token first, tag last), got {line!r}")
        token, tag = fields[0], fields[-1].strip()
        if not token:
            raise NerDataError(f"{path}:{line_number}: empty token in {line!r}")
        if any(c.isspace() for c in token):  # a tab-separated token may hold spaces
            raise NerDataError(f"{path}:{line_number}: the token {token!r} contains whitespace; "
                               "a token is one word (NER_result_conll.txt separates columns by "
                               "spaces)")
        try:
            split_label(tag)
        except ValueError as e:
            raise NerDataError(f"{path}:{line_number}: {e}") from None
        if not tokens:
            first_line = line_number
        tokens.append(token)
        labels.append(tag)
    flush()
    if not sentences:
        raise NerDataError(f"{path}:{max(line_number, 1)}: no sentences in {path} "
                           f"({line_number} lines, none with a token and a tag)")
    return sentences


def _labels_of(sentence: Sentence | Sequence[str]) -> Sequence[str]:
    return sentence.labels if isinstance(sentence, Sentence) else sentence


def detect_scheme(sentences: Iterable[Sentence | Sequence[str]]) -> str:
    """Returns "bioes" when any tag is an E or S tag, else "bio" (IOB2, or IOB1, read the same way)."""
    for sentence in sentences:
        for label in _labels_of(sentence):
            if split_label(label)[0] in ("E", "S"):
                return "bioes"
    return "bio"


def convert_scheme(labels: Sequence[str], scheme: str) -> list[str]:
    """One sentence's tags rewritten in `scheme` ("bio" = IOB2, or "bioes"), chunks unchanged.

    Chunks are read with conlleval's rules, so IOB1 input (`O I-X`) becomes `O B-X` / `O S-X`, and a
    type change inside a run (`B-A I-B`) gives two chunks.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    out = ["O"] * len(labels)
    # Every non-O tag belongs to exactly one conlleval chunk, so rewriting chunks covers every token.
    for type_, start, end in get_entities(labels):
        suffix = f"-{type_}" if type_ else ""
        if scheme == "bioes" and end - start == 1:
            out[start] = "S" + suffix
            continue
        out[start] = "B" + suffix
        for i in range(start + 1, end):
            out[i] = "I" + suffix
        if scheme == "bioes":
            out[end - 1] = "E" + suffix
    return out


def label_list(sentences: Iterable[Sentence | Sequence[str]]) -> list[str]:
    """The tags found in the data: "O" first (always), then by (type, prefix order B, I, E, S).

    Pass every split the model will see (train, devel, test) so that no label is missing.
    """
    found = {"O"}
    for sentence in sentences:
        found.update(_labels_of(sentence))
    return sorted(found, key=tag_order)


def write_conll(path: str | os.PathLike, sentences_tokens: Sequence[Sequence[str]],
                gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    """Writes BioBERT's NER_result_conll.txt: `token gold pred` per line, a blank line after each
    sentence; conlleval.pl (and `read_conll`, which takes the last column, i.e. pred) read it."""
    if not len(sentences_tokens) == len(gold) == len(pred):
        raise ValueError(f"{len(sentences_tokens)} token sentences, {len(gold)} gold and "
                         f"{len(pred)} predicted label sentences")
    lines = []
    for i, (tokens, g, p) in enumerate(zip(sentences_tokens, gold, pred)):
        if not len(tokens) == len(g) == len(p):
            raise ValueError(f"sentence {i}: {len(tokens)} tokens, {len(g)} gold labels and "
                             f"{len(p)} predicted labels")
        for j, (token, g_label, p_label) in enumerate(zip(tokens, g, p)):
            # Columns are space-separated, so a token with whitespace would shift them.
            if not token or any(c.isspace() for c in token):
                raise ValueError(f"sentence {i}, token {j}: {token!r} is empty or contains "
                                 f"whitespace; the conll output separates columns by spaces")
            for label in (g_label, p_label):
                try:
                    split_label(label)
                except ValueError as e:
                    raise ValueError(f"sentence {i}, token {j}: {e}") from None
            lines.append(f"{token} {g_label} {p_label}\n")
        lines.append("\n")
    directory = os.path.dirname(os.fspath(path))
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(lines)
