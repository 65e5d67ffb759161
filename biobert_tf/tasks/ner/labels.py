"""NER tags: the one parser of tag strings, and the tag set of a model.

A tag is `O`, or a prefix `B`, `I`, `E` or `S` optionally followed by `-TYPE`: IOB1/IOB2 or BIOES,
typed (`B-Disease`) or untyped (`B`, as in BioBERT's data, whose chunks have type ""). Every module
that reads a tag (metrics, data files, the model's tag set) goes through `split_label`.

TensorFlow is imported only to save a tag set (and to read one from gs://), so that the parser,
and the conlleval mirror `biobert_tf.tasks.ner.metrics` that uses it, work without TensorFlow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from biobert_tf import atomic_files, json_files

LABELS_FILE = "labels.json"  # a trained model's tag set, in its output directory

# How the untyped chunk type "" is shown in reports and predictions (conlleval would print an empty
# name). Score dicts and `NerLabels.types` keep the real type "", so it cannot collide with a real
# type "ENTITY".
UNTYPED = "ENTITY"

PREFIXES = "BIES"  # the chunk prefixes, in the order a tag set lists them within a type

# Same split as conlleval ("^([^-]*)-(.*)$", so a type may contain hyphens); whitespace is refused
# because the conll output files separate columns by spaces.
_LABEL_RE = re.compile(rf"(O)|([{PREFIXES}])(?:-(\S+))?")


def split_label(label: str) -> tuple[str, str]:
    """Prefix and type: `"B-Disease"` → `("B", "Disease")`, `"I"` → `("I", "")`,
    `"O"` → `("O", "")`. Raises ValueError for anything else.
    """
    match = _LABEL_RE.fullmatch(label) if isinstance(label, str) else None
    if match is None:
        raise ValueError(f"invalid tag {label!r}: expected O, B, I, E, S or B-TYPE, I-TYPE, "
                         f"E-TYPE, S-TYPE (TYPE non-empty, no spaces)")
    if match.group(1):
        return "O", ""
    return match.group(2), match.group(3) or ""


def tag_order(label: str) -> tuple[bool, str, int]:
    """Sort key of a tag set: "O" first, then by type, then by prefix (B, I, E, S)."""
    prefix, type_ = split_label(label)
    return prefix != "O", type_, PREFIXES.find(prefix)


class NerLabels:
    """The tag set of a model (discovered from the training data) and its scheme.

    `prefixes` and `type_ids` give each tag id's prefix ("O", "B", ...) and the index of its type in
    `types` (-1 for O); `types` is sorted and holds "" for untyped tags.
    """

    def __init__(self, labels: Sequence[str], scheme: str):
        if "O" not in labels:
            raise ValueError(f"the tag set {list(labels)} has no 'O'")
        self.labels, self.scheme = list(labels), scheme
        self.index = {label: i for i, label in enumerate(self.labels)}
        prefixes, types = zip(*(split_label(label) for label in self.labels))
        self.prefixes = list(prefixes)
        self.types = sorted({t for p, t in zip(prefixes, types) if p != "O"})
        self.type_ids = [-1 if p == "O" else self.types.index(t) for p, t in zip(prefixes, types)]

    def __len__(self) -> int:
        return len(self.labels)

    def ids(self, labels: Sequence[str], where: str = "") -> list[int]:
        """The tag ids of `labels`; an unknown tag is a ValueError that starts with `where`."""
        try:
            return [self.index[label] for label in labels]
        except KeyError as e:
            raise ValueError(f"{where}: tag {e.args[0]!r} is not in the model's tag set "
                             f"{self.labels}") from None

    def type_name(self, type_id: int) -> str:
        return self.types[type_id] or UNTYPED

    def save(self, path: str) -> None:
        atomic_files.write_text(path, json.dumps({"labels": self.labels, "scheme": self.scheme},
                                                 indent=1))

    @classmethod
    def load(cls, path: str) -> NerLabels:
        """The tag set saved at `path`: distinct valid tags, "O" among them, and a scheme name."""
        from biobert_tf.tasks.ner.data import SCHEMES  # here: the data module imports this one

        try:
            saved = json_files.load(path)
            tags = [tag.string() for tag in saved.field("labels").items()]
            scheme = saved.field("scheme").string()
            if scheme not in SCHEMES:
                saved.field("scheme").fail(f"must be one of {', '.join(SCHEMES)}, got {scheme!r}")
            if len(set(tags)) < len(tags):
                saved.field("labels").fail("a tag occurs twice")
            return cls(tags, scheme)
        except ValueError as e:
            raise ValueError(f"{path}: not a tag set saved by NerLabels.save ({e})") from None
