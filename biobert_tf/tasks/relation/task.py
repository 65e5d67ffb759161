"""Relation extraction as a `Task`: data files → entity representation → the relation model
→ BioBERT's result files, raw-sentence prediction and the SavedModel. `run_re.py` runs it
through the driver (or `cross_validation` over BioBERT's folds)."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf import atomic_files
from biobert_tf.annotation.document import AnnotatedDocument, Entity, Passage, Relation, \
    merge_entities
from biobert_tf.tasks.relation import data as re_data
from biobert_tf.tasks.relation import metrics as re_metrics, tfds_builder as re_tfds
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine import distribute, run_dir, tfds_source, training
from biobert_tf.engine.settings import FineTuningSettings, option
from biobert_tf.engine.task import DATA_SOURCE, Task
from biobert_tf.tasks.classification import ClassificationObjective
from biobert_tf.tasks.relation.data import ReDataError, RelationExample
from biobert_tf.tasks.relation.inputs import ENTITY_MODES, RelationEncoder, has_sentinel
from biobert_tf.tasks.relation.model import HEADS, MODEL_INPUTS, RelationClassifier, \
    RelationModel, RelationSpec

SPEC_FILE = "relation_model.json"
ENCODE_BATCH = 512  # sentences per call of the in-graph encoder


@dataclasses.dataclass
class RelationSettings(FineTuningSettings):
    """run_re.py's settings: BioBERT's run_re flags and ours."""

    task_name: str | None = option(
        None, "BioBERT's task: " + ", ".join(re_data.TASK_FORMATS) + " (sets the data format; "
        "any other data: --data_format).")
    data_format: str = option(
        "auto", "biobert_tsv (@GENE$ placeholders), scibert_jsonl (<< >> [[ ]] markers) or "
        "jsonl (character spans); auto: from --task_name, else from each file.",
        choices=("auto", *re_data.FORMATS))
    entity_mode: str = option(
        "auto", "blind: entities as @NAME$ placeholders (BioBERT); markers: wrapped in "
        "[E1] [/E1] [E2] [/E2], reserved [unusedN] tokens; auto: as the data has them. Saved "
        "with a trained model.", choices=("auto", *ENTITY_MODES))
    head: str = option("cls", "The classifier input: cls (BioBERT), entity_start, mean_pool, "
                       "max_pool, sll_att (Su & Vijay-Shanker), lstm, bilstm. Saved with a "
                       "trained model.", choices=HEADS)
    lstm_units: int = option(128, "Units of the lstm/bilstm heads (per direction).")
    placeholders: tuple[str, ...] = option(
        re_data.DEFAULT_PLACEHOLDERS, "Placeholders for e1,e2 when blinding data that names "
        "its entities.")
    entity_types: tuple[str, ...] = option(
        (), "The entity types the model relates: X,Y (e1 of every training example is an X "
        "entity, e2 a Y) or one type for pairs of the same type (DRUG). Blinded data names "
        "them by its placeholders (@GENE$ → GENE); there the flag may only fix their order. "
        "Saved with a trained model; annotation needs them.")
    train_file: str | None = option(None, "Training file in --data_dir (default train.tsv or "
                                    "train.jsonl).")
    dev_file: str | None = option(None, "Dev file in --data_dir (default dev.tsv or dev.jsonl).")
    test_file: str | None = option(None, "Test file in --data_dir (default test.tsv or "
                                   "test.jsonl).")
    cross_validation_folds: int = option(
        0, "Train and score --data_dir/1..N (BioBERT's GAD/EU-ADR folds) and report each "
        "score's mean ± std over the folds.")
    predict_text: str | None = option(
        None, "A sentence (with markers or placeholders) to classify: prints the label "
        "probabilities and writes them to text_predictions.jsonl.")


def is_blinded(example: RelationExample) -> bool:
    """Whether both entities are `@NAME$` placeholders already (BioBERT's tsv data)."""
    return all(re_data.PLACEHOLDER_RE.fullmatch(m) for m in example.mentions)


def model_text(example: RelationExample, entity_mode: str,
               placeholders: tuple[str, str] = re_data.DEFAULT_PLACEHOLDERS) -> str:
    """The sentence as the model reads it: entities wrapped in markers, or placeholders
    (kept as the data has them, else `placeholders` for e1 and e2)."""
    if entity_mode == "markers":
        return re_data.mark(example).text
    return example.text if is_blinded(example) else re_data.blind(example, placeholders).text


def placeholder_types(examples: Sequence[RelationExample]) -> dict[str, str]:
    """{type: placeholder} of blinded examples, in the order their e1/e2 first name them (GAD:
    GENE → @GENE$, DISEASE → @DISEASE$); a joint placeholder (@CHEM-GENE$) names none. A third
    type raises ReDataError naming the example's file:line."""
    found: dict[str, str] = {}
    for x in examples:
        for placeholder in x.mentions:
            name = placeholder[1:-1]
            if "-" in name or name in found:
                continue
            if len(found) == 2:
                raise ReDataError(f"{x.path}:{x.line}: a third entity type {placeholder} after "
                                  f"{', '.join(found.values())}: a relation model relates two")
            found[name] = placeholder
    return found


def entity_types_of(train: Sequence[RelationExample], entity_mode: str,
                    given: tuple[str, ...] = (),
                    placeholders: tuple[str, ...] = re_data.DEFAULT_PLACEHOLDERS
                    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The spec's (entity_types, placeholders): blinded training data's own (`given`, the
    --entity_types setting, may reorder them; other names are an error), else `given` with
    `placeholders` (the --placeholders setting) when blind mode writes those."""
    if all(is_blinded(x) for x in train):
        seen = {name.casefold(): p for name, p in placeholder_types(train).items()}
        if not given:
            return tuple(p[1:-1] for p in seen.values()), tuple(seen.values())
        if sorted(seen) != sorted(name.casefold() for name in given):
            raise ValueError(f"--entity_types={','.join(given)} contradicts the placeholders of "
                             f"{train[0].path}: {', '.join(seen.values()) or 'none'}")
        return given, tuple(seen[name.casefold()] for name in given)
    return given, (tuple(placeholders) if given and entity_mode == "blind" else ())


def prediction_document(record: dict, spec: RelationSpec) -> AnnotatedDocument:
    """A line of --predict_file's output (a sentence as the model reads it, and its prediction)
    as a document: the two entities — placeholders typed by their names (@GENE$: GENE), or the
    marked mentions typed by the model's entity types (E1 and E2 without them) — and, unless the
    label is the negative class or the sentence could not be read, the relation from e1 to e2
    with the label's probability. A combined placeholder (@CHEM-GENE$) is one mention, both
    ends of the relation."""
    text = record["text"]
    ends = _entity_spans(text, spec)
    entities = merge_entities(Entity("", start, end, text[start:end], kind, 1.0, "")
                              for start, end, kind in ends)
    ids = {(e.start, e.end, e.type): e.id for e in entities}
    relations = []
    if len(ends) == 2 and record.get("label", spec.negative) != spec.negative:
        e1, e2 = (ids[end] for end in ends)
        relations = [Relation("R0", record["label"], e1, e2, record["score"], "")]
    return AnnotatedDocument(str(record["line"]), "", [Passage("text", 0, text)], entities,
                             relations)


def _entity_spans(text: str, spec: RelationSpec) -> list[tuple[int, int, str]]:
    """(start, end, type) of e1 and e2 in a sentence as the model reads it ([] when it does
    not hold them)."""
    try:
        if spec.entity_mode == "blind":
            return [(start, end, text[start + 1:end - 1])
                    for start, end in re_data.placeholder_spans(text)]
        types = (spec.entity_types[0], spec.entity_types[-1]) if spec.entity_types \
            else ("E1", "E2")
        markers = re_data.DEFAULT_MARKERS
        spans = []
        for (opening, closing), kind in zip((markers[:2], markers[2:]), types):
            start, end = re_data.find_marked(text, opening, closing)
            mention = text[start + len(opening):end]
            start += len(opening) + len(mention) - len(mention.lstrip())
            spans.append((start, start + len(mention.strip()), kind))
        return spans
    except ValueError:
        return []


def scores(gold: Sequence[str], pred: Sequence[str], spec: RelationSpec) -> dict:
    """BioBERT's binary scores for one positive class against a negative one (GAD, EU-ADR),
    else micro/macro over the positive classes (ChemProt, DDI; all classes without a
    negative one). Either way `f1` is the task's main score."""
    if len(spec.labels) == 2 and spec.negative is not None:
        positive = next(label for label in spec.labels if label != spec.negative)
        return re_metrics.binary_scores(gold, pred, positive)
    return re_metrics.multiclass_scores(gold, pred, spec.labels, spec.negative)


class RelationTask(Task):
    """Relation extraction: labels and entity representation from the data, the relation
    model with its head, BioBERT's result files, the raw-sentence classifier."""

    name = "re"
    settings_class = RelationSettings
    model_settings = ("do_lower_case", "max_seq_length", "head", "lstm_units", "placeholders")
    data_settings = (*DATA_SOURCE, "task_name", "data_format", "train_file", "dev_file",
                     "test_file")
    spec_file = SPEC_FILE
    model_inputs = MODEL_INPUTS
    label_features = ("label_id",)
    writes_documents = True
    tfds_builder = "biobert_re"

    # ---- data --------------------------------------------------------------------------
    @functools.cached_property
    def data_format(self) -> str:
        s = self.settings
        if s.task_name and s.data_format == "auto":
            return re_data.format_for_task(s.task_name)
        return s.data_format

    def split_path(self, split: str) -> str:
        s = self.settings
        name = self.file_flag(split)[1]
        if name is None:
            extension = "tsv" if self.data_format in ("auto", "biobert_tsv") else "jsonl"
            name = f"{split}.{extension}"
            if self.data_format == "auto" and not os.path.exists(
                    os.path.join(s.data_dir or "", name)):
                name = f"{split}.jsonl"
        return os.path.join(s.data_dir or "", name)

    def read_file(self, path: str) -> list[RelationExample]:
        return re_data.read_relations(path, self.data_format)

    def tfds_split(self, split: str) -> str:
        flag, name = self.file_flag(split)
        stem = os.path.splitext(name)[0] if name else split
        if stem not in re_tfds.SPLITS:
            raise ValueError(f"--{flag}={name}: with --tfds_name the files are train, dev and "
                             "test (.tsv or .jsonl)")
        return re_tfds.SPLITS[stem]

    def from_tfds(self, rows, info, source) -> list[RelationExample]:
        return re_tfds.relation_examples(rows, info, source.manual_dir)

    def validate(self) -> None:
        if len(self.settings.placeholders) != 2:
            raise ValueError(f"--placeholders needs two values, got "
                             f"{','.join(self.settings.placeholders)}")
        if len(self.settings.entity_types) > 2 or not all(self.settings.entity_types):
            raise ValueError(f"--entity_types needs one or two names (X,Y or X), got "
                             f"{','.join(self.settings.entity_types)}")
        super().validate()
        self.relation_encoder  # noqa: B018 (reads the vocabulary and config)

    # ---- spec --------------------------------------------------------------------------
    def derive_spec(self) -> RelationSpec:
        s = self.settings
        train = self.examples("train")
        # Labels of every split there is, so that none is missing at evaluation.
        examples = list(train)
        for split in ("dev", "test"):
            if tfds_source.exists(self.split_source(split)):
                examples += self.examples(split) if split in self.data_files() else \
                    self.read_source(self.split_source(split))
        mode = s.entity_mode
        if mode == "auto":
            mode = "blind" if all(is_blinded(x) for x in train) else "markers"
        types, placeholders = entity_types_of(train, mode, s.entity_types, s.placeholders)
        check_labels(train, examples[len(train):], s.task_name)
        spec = RelationSpec(tuple(re_data.label_list(examples)), mode, s.head, s.lstm_units,
                            types, placeholders)
        if len(spec.labels) < 2:
            raise ValueError(f"{self.split_source('train')}: only one label "
                             f"({spec.labels[0]!r}); a relation classifier needs at least two")
        logging.info("labels %s (negative: %s), entity mode %s, head %s, entity types %s",
                     list(spec.labels), spec.negative, spec.entity_mode, spec.head,
                     list(spec.entity_types) or "not named")
        return spec

    def load_spec(self, path: str) -> RelationSpec:
        spec = RelationSpec.load(path)
        run_dir.check_matches("entity_mode", self.settings.entity_mode, spec.entity_mode, path)
        given = self.settings.entity_types
        if given and [t.casefold() for t in given] != [t.casefold() for t in spec.entity_types]:
            raise run_dir.conflict("entity_types", list(given), list(spec.entity_types), path)
        return spec

    def save_spec(self, spec: RelationSpec, path: str) -> None:
        spec.save(path)

    # ---- features and model ------------------------------------------------------------
    @functools.cached_property
    def relation_encoder(self) -> RelationEncoder:
        return RelationEncoder(self.tokenizer, self.settings.max_seq_length,
                               self.spec.entity_mode)

    def encode(self, examples: Sequence[RelationExample]) -> dict[str, np.ndarray]:
        """Model inputs and `label_id` of the examples; a malformed one raises path:line."""
        texts = []
        for x in examples:
            text = model_text(x, self.spec.entity_mode, self.settings.placeholders)
            if has_sentinel(text):
                raise ValueError(f"{x.path}:{x.line}: the sentence holds a private-use "
                                 "character U+E000..U+E003, which the encoder reserves")
            texts.append(text)
        parts = [{k: v.numpy() for k, v in self.relation_encoder(
            tf.constant(texts[i:i + ENCODE_BATCH])).items()}
            for i in range(0, len(texts), ENCODE_BATCH)]
        features = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        for i in np.flatnonzero(~features["valid"]):
            x = examples[i]
            raise ValueError(f"{x.path}:{x.line}: the {self.spec.entity_mode} sentence "
                             f"{texts[i][:200]!r} does not hold exactly the two entities")
        self._log_windows(examples, features)
        index = {label: i for i, label in enumerate(self.spec.labels)}
        unknown = [x for x in examples if x.label not in index]
        if unknown:
            raise ValueError(f"{unknown[0].path}:{unknown[0].line}: label "
                             f"{unknown[0].label!r} is not one of the model's labels "
                             f"{list(self.spec.labels)}")
        features["label_id"] = np.array([index[x.label] for x in examples], np.int32)
        return features

    def _log_windows(self, examples: Sequence[RelationExample], features: dict) -> None:
        truncated, cut = int((features["num_truncated"] > 0).sum()), features["entities_cut"]
        seq_length = self.settings.max_seq_length
        if truncated:
            logging.warning("%d of %d sentences are longer than max_seq_length=%d: windows "
                            "around their entities are kept", truncated, len(examples),
                            seq_length)
        if cut.any():
            where = ", ".join(f"{examples[i].path}:{examples[i].line}"
                              for i in np.flatnonzero(cut)[:5])
            logging.warning("%d sentences have their entities farther apart than "
                            "max_seq_length=%d allows; their windows start at the first entity "
                            "(%s%s)", cut.sum(), seq_length, where, ", ..." if cut.sum() > 5 else "")

    def make_model(self) -> RelationModel:
        return RelationModel(BertEncoder.from_bert_config(self.bert_config),
                             len(self.spec.labels), self.spec.head,
                             self.bert_config.hidden_dropout_prob, self.spec.lstm_units)

    def make_objective(self, model: RelationModel) -> ClassificationObjective:
        return ClassificationObjective(model)

    def dummy_inputs(self) -> dict[str, tf.Tensor]:
        return {k: tf.zeros([1] if k.endswith("_start") else [1, 8], tf.int32)
                for k in MODEL_INPUTS}

    # ---- scores and results ------------------------------------------------------------
    def evaluate(self, trainer: training.Trainer, split: str) -> dict:
        """Scores (see `scores`) plus each example's `probabilities` and `predicted` label."""
        examples = self.examples(split)
        batch_size = (self.settings.predict_batch_size if split == "test"
                      else self.settings.eval_batch_size)
        probabilities = self.predict(trainer, self.features(split), batch_size)["probabilities"]
        predicted = [self.spec.labels[i] for i in probabilities.argmax(1)]
        result = scores([x.label for x in examples], predicted, self.spec)
        result["probabilities"], result["predicted"] = probabilities, predicted
        return result

    def write_results(self, split: str, result: dict) -> None:
        """`<prefix>_results.txt` (report) and `<prefix>_metrics.json` (prefix: eval for dev,
        test); for the test set also BioBERT's `test_results.tsv` (class probabilities, one
        row per example, test order) and `predictions.jsonl`."""
        prefix = "eval" if split == "dev" else split
        report = re_metrics.format_report(result)
        metrics = {k: v for k, v in result.items() if k not in ("probabilities", "predicted")}
        atomic_files.write_text(self.result_path(f"{prefix}_results.txt"), report)
        atomic_files.write_text(self.result_path(f"{prefix}_metrics.json"),
                             json.dumps(metrics, indent=1))
        logging.info("%s results:\n%s", prefix, report)
        if split != "test":
            return
        examples = self.examples(split)
        atomic_files.write_text(self.result_path("test_results.tsv"), "".join(
            "\t".join(str(p) for p in row) + "\n" for row in result["probabilities"]))
        atomic_files.write_text(self.result_path("predictions.jsonl"), "".join(
            json.dumps({"id": x.id, "source": f"{x.path}:{x.line}",
                        "text": model_text(x, self.spec.entity_mode, self.settings.placeholders),
                        "gold": x.label, "pred": label,
                        "probabilities": {k: round(float(p), 6) for k, p in
                                          zip(self.spec.labels, row)}},
                       ensure_ascii=False) + "\n"
            for x, row, label in zip(examples, result["probabilities"], result["predicted"])))

    # ---- raw sentences -----------------------------------------------------------------
    @functools.cached_property
    def classifier(self) -> RelationClassifier:
        """Raw sentences in, label probabilities out (also the SavedModel's module)."""
        return RelationClassifier(self.model, self.relation_encoder, self.spec.labels,
                                  jit_compile=distribute.xla_in_serving(self.xla_default))

    def serving_module(self) -> RelationClassifier:
        return self.classifier

    def predict_texts(self, texts: Sequence[str]) -> list[dict]:
        return classify(self.classifier, texts, self.spec.labels, self.spec.entity_mode)

    def prediction_document(self, record: dict) -> AnnotatedDocument:
        return prediction_document(record, self.spec)


def check_labels(train: Sequence[RelationExample], others: Sequence[RelationExample],
                 task_name: str | None) -> None:
    """A label outside a fixed task's set is an error naming its line; a dev or test label that
    no training example has is a warning (a typo, most often: the model gets a class for it
    that it cannot learn)."""
    known = re_data.TASK_LABELS.get(task_name or "")
    for x in [*train, *others]:
        if known and x.label not in known:
            raise ValueError(f"{x.path}:{x.line}: label {x.label!r} is not one of {task_name}'s "
                             f"labels {list(known)}")
    seen = {x.label for x in train}  # and the labels already warned of
    for x in others:
        if x.label not in seen:
            seen.add(x.label)
            logging.warning("%s:%d: label %r is in no training example (a typo?); the model "
                            "gets a class for it that it cannot learn", x.path, x.line, x.label)


def classify(classifier: Callable[[tf.Tensor], dict[str, tf.Tensor]], texts: Sequence[str],
             labels: Sequence[str], entity_mode: str) -> list[dict]:
    """[{text, label, score, probabilities: {label: p}}] for raw sentences; a sentence
    without the entities its mode needs gets `"error"` instead. `classifier` is a
    `RelationClassifier` or its SavedModel restored by `tf.saved_model.load`; `labels` and
    `entity_mode` are its spec's (`relation_model.json` beside either)."""
    out = {k: v.numpy() for k, v in classifier(tf.constant(list(texts))).items()}
    results = []
    for row, text in enumerate(texts):
        if not out["valid"][row]:
            results.append({"text": text, "error": "the sentence does not hold exactly the two "
                            f"entities ({entity_mode} mode)"})
            continue
        results.append({"text": text, "label": out["label"][row].decode(),
                        "score": round(float(out["score"][row]), 6),
                        "probabilities": {k: round(float(p), 6) for k, p in
                                          zip(labels, out["probabilities"][row])}})
    return results
