"""NER end to end: tsv sentences → model windows → training with early stopping → merged
word predictions → BioBERT's result files. `run_ner.py` is flags around `run`."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf import checkpoints, finetuning, ner_inputs, training
from biobert_tf.config import BertConfig
from biobert_tf.modeling import BertEncoder
from biobert_tf.ner import NerLabels, NerModel, NerTagger, NerTask, merge_windows, LABELS_FILE
from biobert_tf.ner_data import Sentence, convert_scheme, detect_scheme, label_list, read_conll, \
    write_conll
from biobert_tf.ner_metrics import format_report, ner_scores
from biobert_tf.optimization import create_optimizer
from biobert_tf.text_files import utf8_lines
from biobert_tf.tokenization import BertTokenizer

MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask", "word_ids")
HISTORY_FILE = "dev_history.json"
BEST_DIR = "best"


def encode(sentences: Sequence[Sentence], tokenizer: BertTokenizer, seq_length: int,
           stride: int, labels: NerLabels | None = None) -> dict[str, np.ndarray]:
    """Model windows of the sentences as numpy features (+ `label_ids`, -1 off first pieces)."""
    lengths = [len(s.tokens) for s in sentences]
    words = tf.RaggedTensor.from_row_lengths(
        tf.constant([t for s in sentences for t in s.tokens], tf.string), lengths)
    windows = ner_inputs.make_windows(ner_inputs.word_pieces(tokenizer, words), tokenizer,
                                      seq_length, stride)
    features = {k: v.numpy() for k, v in windows._asdict().items()}
    if labels is not None:
        ids = np.array([i for s in sentences
                        for i in labels.ids(s.labels, f"{s.path}:{s.line}")], np.int32)
        first_word = np.concatenate([[0], np.cumsum(lengths)])[features["sentence"]]
        word = features["word_ids"]
        features["label_ids"] = np.where(
            word >= 0, ids[np.clip(first_word[:, None] + word, 0, max(len(ids) - 1, 0))], -1
        ).astype(np.int32)
    return features


def predict_tags(trainer: training.Trainer, features: dict[str, np.ndarray],
                 words_per_sentence: Sequence[int], batch_size: int,
                 static_shapes: bool = False) -> tuple[list[list[int]], list[list[float]]]:
    """One tag id (and its probability) per word of every sentence."""
    count, seq_length = features["token_ids"].shape
    plan = finetuning.predict_plan(count, batch_size)
    inputs = {k: features[k] for k in MODEL_INPUTS}
    outputs = trainer.predict(
        lambda context: finetuning.make_dataset(inputs, plan, context, static_shapes,
                                                per_worker=True))

    def stacked(key):
        rows = [np.pad(o[key], [(0, 0), (0, seq_length - o[key].shape[1])]) for o in outputs]
        return np.concatenate(rows)[:count]

    tags, confidence = merge_windows(stacked("tags"), stacked("confidence"),
                                     features["sentence"], features["word_ids"],
                                     features["owned"], np.asarray(words_per_sentence))
    return tags.to_list(), confidence.to_list()


@dataclasses.dataclass
class NerRun:
    """Everything `run` needs, mirroring BioBERT's run_ner.py flags."""

    data_dir: str
    output_dir: str
    init_checkpoint: str | None
    bert_config_file: str | None = None
    vocab_file: str | None = None
    do_lower_case: bool = True
    max_seq_length: int = 128
    window_stride: int = 0  # 0: half a window
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    train_file: str = "train_dev.tsv"
    dev_file: str = "devel.tsv"
    test_file: str = "test.tsv"
    tag_scheme: str = "auto"
    use_crf: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    early_stopping_patience: int = 0
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 1000
    keep_checkpoint_max: int = 2
    seed: int = 42
    mixed_precision: str = "none"
    jit_compile: bool = False
    progress_bar: bool = False
    export_dir: str | None = None


class NerRunner:
    """Builds the tokenizer, labels, model and trainer for a `NerRun` and runs its phases."""

    def __init__(self, run: NerRun, strategy: tf.distribute.Strategy):
        self.run, self.strategy = run, strategy
        self.static_shapes = isinstance(strategy, tf.distribute.TPUStrategy)
        self.init = (checkpoints.read_checkpoint(run.init_checkpoint, run.bert_config_file)
                     if run.init_checkpoint else None)
        if run.bert_config_file:
            self.config = BertConfig.from_json_file(run.bert_config_file)
        elif self.init is not None:
            self.config = self.init.config
        else:
            raise ValueError("--init_checkpoint or --bert_config_file is required")
        self.vocab_file = run.vocab_file or (self.init.vocab_file if self.init else None)
        if not self.vocab_file:
            raise ValueError("no vocab.txt beside --init_checkpoint: pass --vocab_file")
        checkpoints.check_vocab(self.config, self.vocab_file)
        self.tokenizer = BertTokenizer(self.vocab_file, do_lower_case=run.do_lower_case)
        self.stride = run.window_stride or (run.max_seq_length - 2) // 2
        self.train = self._read(run.train_file) if run.do_train else None
        self.labels = self._labels()

    # ---- data --------------------------------------------------------------------------
    def _read(self, name: str) -> list[Sentence]:
        return read_conll(os.path.join(self.run.data_dir, name))

    def _in_scheme(self, sentences: list[Sentence]) -> list[Sentence]:
        scheme = self.labels.scheme
        if detect_scheme(sentences) == scheme:
            return sentences
        return [dataclasses.replace(s, labels=tuple(convert_scheme(s.labels, scheme)))
                for s in sentences]

    def _labels(self) -> NerLabels:
        saved = os.path.join(self.run.output_dir, LABELS_FILE)
        if self.train is None:
            if not os.path.exists(saved):
                raise ValueError(f"no {saved}: train first (--do_train) or point --output_dir "
                                 "at a trained model")
            return NerLabels.load(saved)
        scheme = detect_scheme(self.train) if self.run.tag_scheme == "auto" else self.run.tag_scheme
        # Also repairs chunks that start with I-X (conlleval reads them as B-X), which a CRF
        # that forbids O → I-X could not learn.
        repaired = [dataclasses.replace(s, labels=tuple(convert_scheme(s.labels, scheme)))
                    for s in self.train]
        changed = sum(a != b for s, r in zip(self.train, repaired)
                      for a, b in zip(s.labels, r.labels))
        if changed:
            logging.info("%d training tags rewritten to the %s scheme", changed, scheme)
        self.train = repaired
        labels = NerLabels(label_list(self.train), scheme)
        tf.io.gfile.makedirs(self.run.output_dir)
        labels.save(saved)
        return labels

    # ---- model -------------------------------------------------------------------------
    def build(self, num_train_steps: int = 1, warmup_steps: int = 0) -> training.Trainer:
        run = self.run
        with self.strategy.scope():
            self.model = NerModel(BertEncoder.from_bert_config(self.config), self.labels,
                                  run.use_crf, self.config.hidden_dropout_prob)
            self.model(self._dummy_inputs())
            optimizer = create_optimizer(run.learning_rate, num_train_steps, warmup_steps,
                                         aggregate_gradients=False)
            if run.mixed_precision == "float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return training.Trainer(self.strategy, NerTask(self.model), optimizer, training.LoopConfig(
            run.output_dir, num_train_steps, run.iterations_per_loop, run.save_checkpoints_steps,
            run.keep_checkpoint_max, run.train_batch_size, run.jit_compile, run.progress_bar))

    def _dummy_inputs(self) -> dict[str, tf.Tensor]:
        return {k: tf.zeros([1, 8], tf.int32) for k in MODEL_INPUTS}

    def _initialize(self) -> None:
        if self.init is None:
            logging.warning("no --init_checkpoint: the encoder starts from random weights")
            return
        ignored = checkpoints.assign_weights(self.model.encoder, self.init.weights,
                                             self.init.source)
        logging.info("encoder initialised from %s (%d variables not used)", self.init.source,
                     len(ignored))

    # ---- phases ------------------------------------------------------------------------
    def fit(self) -> training.Trainer:
        run = self.run
        features = encode(self.train, self.tokenizer, run.max_seq_length, self.stride,
                          self.labels)
        count = len(features["token_ids"])
        plan_schedule = finetuning.schedule(count, run.train_batch_size, run.num_train_epochs)
        logging.info("%d training sentences → %d windows; %d steps per epoch × %d epochs",
                     len(self.train), count, plan_schedule.steps_per_epoch,
                     plan_schedule.num_epochs)
        trainer = self.build(plan_schedule.num_train_steps,
                             plan_schedule.warmup_steps(run.warmup_proportion))
        plan = finetuning.train_plan(features["padding_mask"].sum(1), run.train_batch_size,
                                     plan_schedule.num_epochs, run.seed)
        inputs = {k: features[k] for k in MODEL_INPUTS + ("label_ids",)}

        def dataset_fn(context, start_step):
            return finetuning.make_dataset(inputs, plan, context, self.static_shapes, start_step)

        dev = self._read(run.dev_file) if run.early_stopping_patience else None
        if dev is not None and run.train_file == "train_dev.tsv":
            logging.warning("early stopping on %s, which is part of %s", run.dev_file,
                            run.train_file)
        history = self._load_history()
        for epoch in range(plan_schedule.num_epochs):
            trainer.fit(dataset_fn, self._initialize,
                        stop_at=(epoch + 1) * plan_schedule.steps_per_epoch)
            if dev is None:
                continue
            if len(history) <= epoch:
                f1 = self.evaluate(trainer, dev)["f1"]
                history.append(f1)
                if f1 >= max(history) and training.is_chief(self.strategy):
                    tf.train.Checkpoint(model=self.model).write(
                        os.path.join(run.output_dir, BEST_DIR, "model"))
                self._save_history(history)
                logging.info("epoch %d: dev entity F1 %.4f (best %.4f, epoch %d)", epoch + 1,
                             f1, max(history), int(np.argmax(history)) + 1)
            if epoch - int(np.argmax(history)) >= run.early_stopping_patience:
                logging.info("early stopping: no dev F1 gain in %d epochs",
                             run.early_stopping_patience)
                break
        if dev is not None:
            tf.train.Checkpoint(model=self.model).read(
                os.path.join(run.output_dir, BEST_DIR, "model")).expect_partial()
            logging.info("kept the weights of epoch %d (dev F1 %.4f)",
                         int(np.argmax(history)) + 1, max(history))
        return trainer

    def _load_history(self) -> list[float]:
        path = os.path.join(self.run.output_dir, HISTORY_FILE)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return json.load(f)

    def _save_history(self, history: list[float]) -> None:
        with open(os.path.join(self.run.output_dir, HISTORY_FILE), "w") as f:
            json.dump(history, f)

    def restore(self) -> training.Trainer:
        """A trainer around the trained weights in output_dir (for eval/predict alone)."""
        trainer = self.build()
        best = os.path.join(self.run.output_dir, BEST_DIR, "model")
        latest = tf.train.latest_checkpoint(self.run.output_dir)
        if tf.io.gfile.exists(best + ".index"):
            tf.train.Checkpoint(model=self.model).read(best).expect_partial()
        elif latest:
            tf.train.Checkpoint(model=self.model).restore(latest).expect_partial()
        else:
            raise ValueError(f"no trained model in {self.run.output_dir}: run --do_train first")
        return trainer

    def evaluate(self, trainer: training.Trainer, sentences: list[Sentence],
                 batch_size: int | None = None) -> dict:
        sentences = self._in_scheme(sentences)
        features = encode(sentences, self.tokenizer, self.run.max_seq_length, self.stride)
        tags, confidence = predict_tags(trainer, features, [len(s.tokens) for s in sentences],
                                        batch_size or self.run.eval_batch_size,
                                        self.static_shapes)
        predicted = [[self.labels.labels[t] for t in row] for row in tags]
        scores = ner_scores([s.labels for s in sentences], predicted)
        scores["predicted"], scores["confidence"] = predicted, confidence
        return scores

    def write_eval(self, scores: dict, name: str) -> None:
        """`<name>` with conlleval's report (BioBERT: eval_results.txt / test_results.txt)."""
        with open(os.path.join(self.run.output_dir, name), "w") as f:
            f.write(format_report(scores))
        logging.info("%s:\n%s", name, format_report(scores))

    def write_predictions(self, sentences: list[Sentence], scores: dict) -> None:
        """NER_result_conll.txt (token gold pred, every test token in order) and
        predictions.jsonl (one sentence per line with tags and probabilities)."""
        sentences = self._in_scheme(sentences)
        out = self.run.output_dir
        write_conll(os.path.join(out, "NER_result_conll.txt"), [s.tokens for s in sentences],
                    [s.labels for s in sentences], scores["predicted"])
        with open(os.path.join(out, "predictions.jsonl"), "w", encoding="utf-8") as f:
            for s, tags, probs in zip(sentences, scores["predicted"], scores["confidence"]):
                f.write(json.dumps({"source": f"{s.path}:{s.line}", "tokens": list(s.tokens),
                                    "gold": list(s.labels), "pred": tags,
                                    "prob": [round(p, 4) for p in probs]}) + "\n")

    def tagger(self) -> NerTagger:
        return NerTagger(self.model, self.tokenizer, self.run.max_seq_length, self.stride)

    def export(self, export_dir: str) -> None:
        """SavedModel: raw strings in → entity spans out (see NerTagger)."""
        tagger = self.tagger()
        tf.saved_model.save(tagger, export_dir,
                            signatures={"serving_default": tagger.__call__})
        self.labels.save(os.path.join(export_dir, LABELS_FILE))
        tf.io.gfile.copy(self.vocab_file, os.path.join(export_dir, "vocab.txt"), overwrite=True)
        logging.info("exported the tagger SavedModel to %s", export_dir)


def tag_texts(tagger: NerTagger, texts: Sequence[str], batch_size: int = 32) -> list[dict]:
    """[{text, entities: [{start, end, type, score, text}]}] for raw texts."""
    results = []
    for i in range(0, len(texts), batch_size):
        out = {k: v.numpy() for k, v in tagger(tf.constant(texts[i:i + batch_size])).items()}
        for row, text in enumerate(texts[i:i + batch_size]):
            entities = [{"start": int(out["start"][row, j]), "end": int(out["end"][row, j]),
                         "type": out["type"][row, j].decode(),
                         "score": round(float(out["score"][row, j]), 4),
                         "text": out["text"][row, j].decode()}
                        for j in range(out["num_entities"][row])]
            results.append({"text": text, "entities": entities})
    return results


def iter_texts(path: str):
    """(line number, text) of every non-blank line of a UTF-8 file, streamed."""
    for number, line in utf8_lines(path):
        if line.strip():
            yield number, line.strip()


def tag_file(tagger: NerTagger, path: str, output_path: str, batch_size: int = 32,
             progress: bool = True) -> int:
    """Tags every line of a (PubMed-scale) text file into JSON lines, streaming in constant
    memory and resumable: lines already in `output_path` from an interrupted run are skipped
    (each output line names its input line). Returns the number of documents tagged now."""
    import itertools

    import tqdm
    done = 0
    if tf.io.gfile.exists(output_path):
        with open(output_path, encoding="utf-8") as f:
            done = sum(1 for line in f if line.endswith("\n"))
        # Drop a half-written last line left by a kill.
        with open(output_path, "rb+") as f:
            content = f.read()
            f.seek(0)
            f.truncate()
            f.write(content[:content.rfind(b"\n") + 1])
    texts = itertools.islice(iter_texts(path), done, None)
    tagged = 0
    with open(output_path, "a", encoding="utf-8") as out, \
            tqdm.tqdm(desc=f"tagging {os.path.basename(path)}", unit="doc", initial=done,
                      disable=not progress) as bar:
        while batch := list(itertools.islice(texts, batch_size)):
            numbers, lines = zip(*batch)
            for number, result in zip(numbers, tag_texts(tagger, list(lines), batch_size)):
                out.write(json.dumps({"line": number, **result}, ensure_ascii=False) + "\n")
            out.flush()
            tagged += len(batch)
            bar.update(len(batch))
    if done + tagged == 0:
        raise ValueError(f"{path}: no text to tag")
    return tagged
