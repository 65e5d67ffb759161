"""Exported NER and RE models over corpus documents: entities and relations in document offsets
(issue 20; `tfrecords_tools.annotate` is the command).

Every sentence of every passage goes through each NER model; the entities of all models are
merged (`merge_entities`). Each RE model then reads every candidate pair of its entity types
within a sentence (`relation.pairs.candidate_pairs`), and a pair becomes a relation when the
model's most probable positive label has at least the threshold's probability.

The texts of a chunk of documents go through a model in batches of similar length (sorted by
length, ties in document order): faster than document order, and the same batches whatever
process annotates the chunk, so the output bytes do not depend on the runner.

A model is named on the command line as ``DIR`` or ``DIR=NAME``. NAME names the model in the
output (else DIR's base name); for an untyped NER model (BioBERT's ``B``/``I`` data, whose type
is ``ENTITY``) it is also the type its entities get, and for an RE model with one positive
label (GAD's "1") the type of its relations.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence

from biobert_tf.annotation.document import AnnotatedDocument, Entity, Relation, \
    merge_entities, number_relations
from biobert_tf.engine import serving
from biobert_tf.tasks.ner import labels as ner_labels
from biobert_tf.tasks.ner.labels import LABELS_FILE, NerLabels
from biobert_tf.tasks.ner.task import tag_texts
from biobert_tf.tasks.relation.model import RelationSpec
from biobert_tf.tasks.relation.pairs import candidate_pairs
from biobert_tf.tasks.relation.task import SPEC_FILE, classify
from tfrecords_tools.corpus import Document

NER_FLAG, RE_FLAG = "--ner_model", "--re_model"


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """One entry of --ner_model / --re_model: the export folder, the model's name, and whether
    the name was given (``DIR=NAME``: it then also names the type, see the module docstring)."""

    path: str
    name: str
    renamed: bool = False

    @classmethod
    def parse_list(cls, flag: str, value: str) -> list[ModelRef]:
        """The models of a comma-separated flag value ``DIR[=NAME],...``."""
        refs = []
        for entry in filter(None, (part.strip() for part in value.split(","))):
            path, equals, name = entry.rpartition("=")
            if not equals:
                path, name = entry, os.path.basename(os.path.normpath(entry))
            if not path or not name:
                raise ValueError(f"{flag}={entry}: expected DIR or DIR=NAME")
            refs.append(cls(path, name, bool(equals)))
        return refs


@dataclasses.dataclass(frozen=True)
class _Tagger:
    ref: ModelRef
    labels: NerLabels

    def entity_type(self, found: str) -> str:
        """The output type of an entity the model tags with type `found`."""
        return self.ref.name if self.ref.renamed else found


@dataclasses.dataclass(frozen=True)
class _Classifier:
    ref: ModelRef
    spec: RelationSpec

    @property
    def positive(self) -> list[str]:
        return [label for label in self.spec.labels if label != self.spec.negative]

    def relation_type(self, label: str) -> str:
        return self.ref.name if self.ref.renamed else label


def _read_spec(ref: ModelRef, flag: str, spec_file: str, other_flag: str, other_file: str):
    """The spec file beside a SavedModel; a one-line error for a folder that is no export, or
    an export of the other task."""
    serving.check_saved_model(ref.path, flag)
    path = os.path.join(ref.path, spec_file)
    if not os.path.exists(path):
        if os.path.exists(os.path.join(ref.path, other_file)):
            raise ValueError(f"{flag}={ref.path}: an export of the other task (it has "
                             f"{other_file}): give it as {other_flag}")
        raise ValueError(f"{flag}={ref.path}: no {spec_file} beside the SavedModel")
    return path


class Annotator:
    """NER and RE SavedModels, each loaded once (`load`), over chunks of documents (`annotate`).

    Construction reads only the models' spec files and checks them against each other (one-line
    ValueErrors), so an Annotator is cheap to build in a pipeline's main process and to send to
    workers, which `load` the models.
    """

    def __init__(self, ner: Sequence[ModelRef], re: Sequence[ModelRef], threshold: float,
                 ner_batch: int = 64, re_batch: int = 64):
        if not ner:
            raise ValueError(f"{NER_FLAG}: give at least one NER model")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"--re_threshold={threshold}: must be in [0, 1]")
        self.taggers = [self._tagger(ref) for ref in ner]
        self.classifiers = [self._classifier(ref) for ref in re]
        self.threshold, self.ner_batch, self.re_batch = threshold, ner_batch, re_batch
        self._check_entity_types()
        self._models: dict[str, object] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _tagger(ref: ModelRef) -> _Tagger:
        labels = NerLabels.load(_read_spec(ref, NER_FLAG, LABELS_FILE, RE_FLAG, SPEC_FILE))
        if ref.renamed and labels.types != [""]:
            raise ValueError(f"{NER_FLAG}={ref.path}={ref.name}: the model tags typed entities "
                             f"({', '.join(labels.types)}); =NAME renames an untyped model's")
        return _Tagger(ref, labels)

    @staticmethod
    def _classifier(ref: ModelRef) -> _Classifier:
        spec = RelationSpec.load(_read_spec(ref, RE_FLAG, SPEC_FILE, NER_FLAG, LABELS_FILE))
        if not spec.entity_types:
            raise ValueError(f"{RE_FLAG}={ref.path}: {SPEC_FILE} names no entity types: "
                             "retrain it with --entity_types=X,Y")
        classifier = _Classifier(ref, spec)
        if ref.renamed and len(classifier.positive) != 1:
            raise ValueError(f"{RE_FLAG}={ref.path}={ref.name}: the model has the positive labels "
                             f"{', '.join(classifier.positive)}; =NAME renames a model with one")
        return classifier

    def entity_types(self) -> list[str]:
        """The types the NER models give their entities, sorted."""
        return sorted({tagger.entity_type(t or ner_labels.UNTYPED)
                       for tagger in self.taggers for t in tagger.labels.types})

    def _check_entity_types(self) -> None:
        tagged = {t.casefold() for t in self.entity_types()}
        for classifier in self.classifiers:
            missing = [t for t in classifier.spec.entity_types if t.casefold() not in tagged]
            if missing:
                raise ValueError(
                    f"{RE_FLAG}={classifier.ref.path}: relates {', '.join(missing)} entities, "
                    f"which no {NER_FLAG} tags (they tag {', '.join(self.entity_types())}; "
                    "=NAME types an untyped model's entities)")

    def describe(self) -> list[dict]:
        """Each model: flag, folder, name, weights checksum and spec (for a run's record)."""
        models = [(NER_FLAG, t.ref, {"labels": t.labels.labels, "scheme": t.labels.scheme})
                  for t in self.taggers]
        models += [(RE_FLAG, c.ref, dataclasses.asdict(c.spec)) for c in self.classifiers]
        return [{"flag": flag, "path": os.path.abspath(ref.path), "name": ref.name,
                 "renamed": ref.renamed, "sha256": serving.saved_model_sha256(ref.path),
                 "spec": spec} for flag, ref, spec in models]

    def __getstate__(self) -> dict:
        # Sent to pipeline workers without loaded models (each worker loads its own).
        return {k: v for k, v in self.__dict__.items() if k not in ("_models", "_lock")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _models={}, _lock=threading.Lock())

    def load(self) -> None:
        """Loads every model's SavedModel once (a folder named twice is loaded once)."""
        with self._lock:
            for ref, flag in [(t.ref, NER_FLAG) for t in self.taggers] + \
                             [(c.ref, RE_FLAG) for c in self.classifiers]:
                if ref.path not in self._models:
                    self._models[ref.path] = serving.load(ref.path, flag)

    def annotate(self, docs: Sequence[Document]) -> tuple[list[AnnotatedDocument], int]:
        """The documents with their entities and relations, and how many candidate pairs no
        RE model could read (a character its encoder reserves, or an entity its window cut)."""
        self.load()
        annotated = [AnnotatedDocument(doc.doc_id, doc.source, list(doc.passages))
                     for doc in docs]
        sentences = [(doc, passage.offset + start, passage.text[start:end])
                     for doc in annotated for passage in doc.passages
                     for start, end in passage.sentences]
        found: dict[int, list[Entity]] = {id(doc): [] for doc in annotated}
        for tagger in self.taggers:
            for (doc, offset, _), entities in zip(sentences, self._tag(tagger, sentences)):
                found[id(doc)].extend(dataclasses.replace(e, start=e.start + offset,
                                                          end=e.end + offset)
                                      for e in entities)
        for doc in annotated:
            doc.entities = merge_entities(found[id(doc)])
        relations, unread = self._relations(annotated, sentences)
        for doc in annotated:
            doc.relations = number_relations(relations[id(doc)])
            doc.check_offsets()  # a failure here is a bug: it raises
        return annotated, unread

    def _tag(self, tagger: _Tagger, sentences: list[tuple]) -> list[list[Entity]]:
        """Each sentence's entities, in sentence offsets."""
        texts = [text for _, _, text in sentences]
        results = _in_length_order(texts, lambda batch: tag_texts(
            self._models[tagger.ref.path], batch, len(batch)), self.ner_batch)
        return [[Entity("", e["start"], e["end"], text[e["start"]:e["end"]],
                        tagger.entity_type(e["type"]), e["score"], tagger.ref.name)
                 for e in result["entities"]]
                for text, result in zip(texts, results)]

    def _relations(self, annotated: list[AnnotatedDocument], sentences: list[tuple]
                   ) -> tuple[dict[int, list[Relation]], int]:
        """Each document's relations (unnumbered), and the candidate pairs left unread."""
        relations: dict[int, list[Relation]] = {id(doc): [] for doc in annotated}
        unread = 0
        for classifier in self.classifiers:
            candidates = []  # (document, e1 id, e2 id, model text)
            for doc, offset, text in sentences:
                inside = [e for e in doc.entities
                          if offset <= e.start and e.end <= offset + len(text)]
                pairs, skipped = candidate_pairs(
                    text, [(e.start - offset, e.end - offset, e.type) for e in inside],
                    classifier.spec)
                unread += skipped
                candidates += [(doc, inside[p.e1].id, inside[p.e2].id, p.text) for p in pairs]
            results = _in_length_order([text for *_, text in candidates], lambda batch: classify(
                self._models[classifier.ref.path], batch, classifier.spec.labels,
                classifier.spec.entity_mode), self.re_batch)
            for (doc, e1, e2, _), result in zip(candidates, results):
                if "error" in result:
                    unread += 1
                    continue
                label = max(classifier.positive, key=lambda k: result["probabilities"][k])
                score = result["probabilities"][label]
                if score >= self.threshold:
                    relations[id(doc)].append(Relation("", classifier.relation_type(label), e1,
                                                       e2, round(score, 4), classifier.ref.name))
        return relations, unread


def _in_length_order(texts: list[str], run: Callable[[list[str]], list], batch_size: int
                     ) -> list:
    """`run` over batches of `batch_size` of `texts` sorted by length (ties in order), its
    results put back in `texts`' order."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    ordered = [texts[i] for i in order]
    results = [r for start in range(0, len(ordered), batch_size)
               for r in run(ordered[start:start + batch_size])]
    placed = [None] * len(texts)
    for i, result in zip(order, results):
        placed[i] = result
    return placed
