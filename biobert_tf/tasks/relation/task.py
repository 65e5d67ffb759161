"""Relation extraction end to end: data files → entity representation → training (early
stopping on dev) → BioBERT's result files, cross-validation, raw-sentence prediction and
the SavedModel. `run_re.py` is flags around `RelationRunner` and `cross_validate`."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf.tasks.relation import data as re_data
from biobert_tf.tasks.relation import metrics as re_metrics
from biobert_tf.engine import training
from biobert_tf.tasks.classification import ClassificationTask
from biobert_tf.engine.file_prediction import predict_file
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.tasks.relation.data import RelationExample
from biobert_tf.tasks.relation.inputs import RelationEncoder, has_sentinel
from biobert_tf.tasks.relation.model import MODEL_INPUTS, RelationClassifier, RelationModel, RelationSpec
from biobert_tf.engine.runner import RunConfig, TaskRunner, trained_run_file

SPEC_FILE = "relation_model.json"
SPLITS = ("train", "dev", "test")
ENCODE_BATCH = 512  # sentences per call of the in-graph encoder


@dataclasses.dataclass
class RelationRun(RunConfig):
    """The RE settings beyond the shared ones (BioBERT's run_re.py plus ours)."""

    task_name: str | None = None  # BioBERT's: gad, euadr, chemprot, ddi13, ...
    data_format: str = "auto"  # or one of re_data.FORMATS
    entity_mode: str = "auto"  # blind | markers | auto (as the data comes)
    head: str = "cls"
    lstm_units: int = 128
    placeholders: tuple[str, str] = re_data.DEFAULT_PLACEHOLDERS
    train_file: str | None = None  # default: train.tsv / train.jsonl by format
    dev_file: str | None = None
    test_file: str | None = None


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


def scores(gold: Sequence[str], pred: Sequence[str], spec: RelationSpec) -> dict:
    """BioBERT's binary scores for one positive class against a negative one (GAD, EU-ADR),
    else micro/macro over the positive classes (ChemProt, DDI; all classes without a
    negative one). Either way `f1` is the task's main score."""
    if len(spec.labels) == 2 and spec.negative is not None:
        positive = next(label for label in spec.labels if label != spec.negative)
        return re_metrics.binary_scores(gold, pred, positive)
    return re_metrics.multiclass_scores(gold, pred, spec.labels, spec.negative)


class RelationRunner(TaskRunner):
    """Labels, entity representation and relation model of a `RelationRun`."""

    task_name = "re"
    model_inputs = MODEL_INPUTS

    def __init__(self, run: RelationRun, strategy: tf.distribute.Strategy):
        super().__init__(run, strategy)
        if run.task_name and run.data_format == "auto":
            self.data_format = re_data.format_for_task(run.task_name)
        else:
            self.data_format = run.data_format
        self.train_examples = self.read("train") if run.do_train else None
        self.spec = self._spec()
        self.encoder = RelationEncoder(self.tokenizer, run.max_seq_length, self.spec.entity_mode)

    # ---- data --------------------------------------------------------------------------
    def path(self, split: str) -> str:
        run = self.run
        name = {"train": run.train_file, "dev": run.dev_file, "test": run.test_file}[split]
        if name is None:
            extension = "tsv" if self.data_format in ("auto", "biobert_tsv") else "jsonl"
            name = f"{split}.{extension}"
            if self.data_format == "auto" and not os.path.exists(
                    os.path.join(run.data_dir, name)):
                name = f"{split}.jsonl"
        return os.path.join(run.data_dir, name)

    def read(self, split: str) -> list[RelationExample]:
        return re_data.read_relations(self.path(split), self.data_format)

    def _spec(self) -> RelationSpec:
        if self.train_examples is None:
            return RelationSpec.load(trained_run_file(self.run.output_dir, SPEC_FILE))
        run = self.run
        # Labels of every split there is, so that none is missing at evaluation.
        examples = list(self.train_examples)
        for split in ("dev", "test"):
            if os.path.exists(self.path(split)):
                examples += self.read(split)
        mode = run.entity_mode
        if mode == "auto":
            mode = "blind" if all(is_blinded(x) for x in self.train_examples) else "markers"
        spec = RelationSpec(tuple(re_data.label_list(examples)), mode, run.head, run.lstm_units)
        if len(spec.labels) < 2:
            raise ValueError(f"{self.path('train')}: only one label ({spec.labels[0]!r}); a "
                             "relation classifier needs at least two")
        logging.info("labels %s (negative: %s), entity mode %s, head %s", list(spec.labels),
                     spec.negative, spec.entity_mode, spec.head)
        tf.io.gfile.makedirs(run.output_dir)
        spec.save(os.path.join(run.output_dir, SPEC_FILE))
        return spec

    def encode(self, examples: Sequence[RelationExample]) -> dict[str, np.ndarray]:
        """Model inputs (and `label_id`) of the examples; a malformed one raises path:line."""
        texts = []
        for x in examples:
            text = model_text(x, self.spec.entity_mode, self.run.placeholders)
            if has_sentinel(text):
                raise ValueError(f"{x.path}:{x.line}: the sentence holds a private-use "
                                 "character U+E000..U+E003, which the encoder reserves")
            texts.append(text)
        parts = [{k: v.numpy() for k, v in self.encoder(tf.constant(texts[i:i + ENCODE_BATCH]))
                  .items()} for i in range(0, len(texts), ENCODE_BATCH)]
        features = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        for i in np.flatnonzero(~features["valid"]):
            x = examples[i]
            raise ValueError(f"{x.path}:{x.line}: the {self.spec.entity_mode} sentence "
                             f"{texts[i][:200]!r} does not hold exactly the two entities")
        truncated, cut = int((features["num_truncated"] > 0).sum()), features["entities_cut"]
        if truncated:
            logging.warning("%d of %d sentences are longer than max_seq_length=%d: windows "
                            "around their entities are kept", truncated, len(texts),
                            self.run.max_seq_length)
        if cut.any():
            where = ", ".join(f"{examples[i].path}:{examples[i].line}"
                              for i in np.flatnonzero(cut)[:5])
            logging.warning("%d sentences have their entities farther apart than "
                            "max_seq_length=%d allows; their windows start at the first entity "
                            "(%s%s)", cut.sum(), self.run.max_seq_length, where,
                            ", ..." if cut.sum() > 5 else "")
        index = {label: i for i, label in enumerate(self.spec.labels)}
        unknown = [x for x in examples if x.label not in index]
        if unknown:
            raise ValueError(f"{unknown[0].path}:{unknown[0].line}: label "
                             f"{unknown[0].label!r} is not one of the model's labels "
                             f"{list(self.spec.labels)}")
        features["label_id"] = np.array([index[x.label] for x in examples], np.int32)
        return features

    # ---- model -------------------------------------------------------------------------
    def make_model(self) -> RelationModel:
        return RelationModel(BertEncoder.from_bert_config(self.config), len(self.spec.labels),
                             self.spec.head, self.config.hidden_dropout_prob,
                             self.spec.lstm_units)

    def make_task(self, model: RelationModel) -> ClassificationTask:
        return ClassificationTask(model)

    def dummy_inputs(self) -> dict[str, tf.Tensor]:
        return {k: tf.zeros([1] if k.endswith("_start") else [1, 8], tf.int32)
                for k in MODEL_INPUTS}

    # ---- phases ------------------------------------------------------------------------
    def fit(self) -> training.Trainer:
        """Trains on the training file; with early stopping, on the dev file's F1."""
        features = self.encode(self.train_examples)
        dev = self.read("dev") if (self.run.early_stopping_patience and
                                   os.path.exists(self.path("dev"))) else None
        if self.run.early_stopping_patience and dev is None:
            logging.warning("no %s: --early_stopping_patience is ignored", self.path("dev"))
        dev_features = self.encode(dev) if dev else None
        return self.train({k: features[k] for k in MODEL_INPUTS + ("label_id",)},
                          (lambda trainer: self.evaluate(trainer, dev, features=dev_features)
                           ["f1"]) if dev else None)

    def evaluate(self, trainer: training.Trainer, examples: Sequence[RelationExample],
                 batch_size: int | None = None, features: dict | None = None) -> dict:
        """Scores (see `scores`) plus each example's `probabilities` and `predicted` label
        (`features`: the examples already encoded)."""
        features = self.encode(examples) if features is None else features
        probabilities = self.predict(trainer, features,
                                     batch_size or self.run.eval_batch_size)["probabilities"]
        predicted = [self.spec.labels[i] for i in probabilities.argmax(1)]
        result = scores([x.label for x in examples], predicted, self.spec)
        result["probabilities"], result["predicted"] = probabilities, predicted
        return result

    def write_results(self, examples: Sequence[RelationExample], result: dict,
                      prefix: str) -> None:
        """`<prefix>_results.txt` (report) and `<prefix>_metrics.json`; for the test set also
        BioBERT's `test_results.tsv` (class probabilities, one row per example, test order)
        and `predictions.jsonl`."""
        out = self.run.output_dir
        report = re_metrics.format_report(result)
        metrics = {k: v for k, v in result.items() if k not in ("probabilities", "predicted")}
        with open(os.path.join(out, f"{prefix}_results.txt"), "w") as f:
            f.write(report)
        with open(os.path.join(out, f"{prefix}_metrics.json"), "w") as f:
            json.dump(metrics, f, indent=1)
        logging.info("%s results:\n%s", prefix, report)
        if prefix != "test":
            return
        with open(os.path.join(out, "test_results.tsv"), "w") as f:
            for row in result["probabilities"]:
                f.write("\t".join(str(p) for p in row) + "\n")
        with open(os.path.join(out, "predictions.jsonl"), "w", encoding="utf-8") as f:
            for x, row, label in zip(examples, result["probabilities"], result["predicted"]):
                f.write(json.dumps({
                    "id": x.id, "source": f"{x.path}:{x.line}",
                    "text": model_text(x, self.spec.entity_mode, self.run.placeholders),
                    "gold": x.label, "pred": label,
                    "probabilities": {k: round(float(p), 6) for k, p in
                                      zip(self.spec.labels, row)}}, ensure_ascii=False) + "\n")

    # ---- raw sentences -----------------------------------------------------------------
    def classifier(self) -> RelationClassifier:
        return RelationClassifier(self.model, self.encoder, self.spec.labels)

    def export(self, export_dir: str) -> None:
        """SavedModel: raw sentences in → label probabilities out (see RelationClassifier)."""
        self.save_serving_module(self.classifier(), export_dir, "relation classifier")
        self.spec.save(os.path.join(export_dir, SPEC_FILE))


def classify(classifier: RelationClassifier, texts: Sequence[str]) -> list[dict]:
    """[{text, label, score, probabilities: {label: p}}] for raw sentences; a sentence
    without the entities its mode needs gets `"error"` instead."""
    out = {k: v.numpy() for k, v in classifier(tf.constant(list(texts))).items()}
    labels = [label.decode() for label in classifier.labels.numpy()]
    results = []
    for row, text in enumerate(texts):
        if not out["valid"][row]:
            results.append({"text": text, "error": "the sentence does not hold exactly the two "
                            f"entities ({classifier.encoder.entity_mode} mode)"})
            continue
        results.append({"text": text, "label": out["label"][row].decode(),
                        "score": round(float(out["score"][row]), 6),
                        "probabilities": {k: round(float(p), 6) for k, p in
                                          zip(labels, out["probabilities"][row])}})
    return results


def classify_file(classifier: RelationClassifier, path: str, output_path: str,
                  batch_size: int = 32, progress: bool = True) -> int:
    """Classifies every line (a sentence) of a large file, streamed and resumable (see
    file_prediction). Returns the sentences classified now."""
    return predict_file(lambda texts: classify(classifier, texts), path, output_path,
                        batch_size, progress)


def run_phases(runner: RelationRunner, do_eval: bool, do_predict: bool) -> dict | None:
    """Train (or restore), score dev and test, write the results; the test scores."""
    trainer = runner.fit() if runner.run.do_train else runner.restore()
    chief = training.is_chief(runner.strategy)
    test_scores = None
    if do_eval:
        dev = runner.read("dev")
        result = runner.evaluate(trainer, dev)
        if chief:
            runner.write_results(dev, result, "eval")
    if do_predict:
        test = runner.read("test")
        test_scores = runner.evaluate(trainer, test, runner.run.predict_batch_size)
        if chief:
            runner.write_results(test, test_scores, "test")
    return test_scores


def cross_validate(run: RelationRun, strategy: tf.distribute.Strategy, folds: int
                   ) -> dict:
    """BioBERT's k-fold protocol (GAD, EU-ADR): `data_dir/1..k/{train,test}` each trained
    and scored into `output_dir/1..k`; `cv_results.json` / `.txt` hold every score's mean ±
    sample std over the folds. Finished folds are read back, not retrained."""
    fold_scores = []
    for fold in range(1, folds + 1):
        fold_run = dataclasses.replace(run, data_dir=os.path.join(run.data_dir, str(fold)),
                                       output_dir=os.path.join(run.output_dir, str(fold)))
        done = os.path.join(fold_run.output_dir, "test_metrics.json")
        if os.path.exists(done):
            with open(done) as f:
                fold_scores.append(json.load(f))
            logging.info("fold %d: already scored (%s)", fold, done)
            continue
        logging.info("fold %d of %d: %s", fold, folds, fold_run.data_dir)
        result = run_phases(RelationRunner(fold_run, strategy), do_eval=False, do_predict=True)
        fold_scores.append({k: v for k, v in result.items()
                            if k not in ("probabilities", "predicted")})
    summary = re_metrics.cv_summary(fold_scores)
    if training.is_chief(strategy):
        with open(os.path.join(run.output_dir, "cv_results.json"), "w") as f:
            json.dump(summary, f, indent=1)
        lines = [f"{folds}-fold cross-validation (mean ± sample std over folds)"]
        lines += [f"{key:16s} {100 * s['mean']:6.2f} ± {100 * s['std']:5.2f}   folds: "
                  + " ".join(f"{100 * v:.2f}" for v in s["values"])
                  for key, s in summary.items()]
        with open(os.path.join(run.output_dir, "cv_results.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        logging.info("\n".join(lines))
    return summary
