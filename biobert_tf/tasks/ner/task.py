"""NER end to end: tsv sentences → model windows → training with early stopping → merged
word predictions → BioBERT's result files. `run_ner.py` is flags around `NerRunner`."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf.tasks.ner import inputs as ner_inputs
from biobert_tf.engine import training
from biobert_tf.tasks.ner.bilstm.model import CONFIG_FILE as BILSTM_CONFIG_FILE, BiLstmConfig, BiLstmSettings, \
    BiLstmTagger
from biobert_tf.engine.file_prediction import predict_file
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.tasks.ner.model import NerLabels, NerModel, NerTagger, NerTask, merge_windows, LABELS_FILE
from biobert_tf.tasks.ner.data import Sentence, convert_scheme, detect_scheme, label_list, read_conll, \
    write_conll
from biobert_tf.tasks.ner.metrics import format_report, ner_scores
from biobert_tf.engine.runner import RunConfig, TaskRunner, trained_checkpoint, trained_run_file
from biobert_tf.tasks.ner.bilstm.vocab import VOCAB_FILE, WordVocab, read_word_vectors


def encode(sentences: Sequence[Sentence], featurizer, seq_length: int, stride: int,
           labels: NerLabels | None = None) -> dict[str, np.ndarray]:
    """Model windows of the sentences as numpy features (+ `label_ids`, -1 off first
    pieces); `featurizer`: ner_inputs.WordpieceFeatures or WordFeatures."""
    lengths = [len(s.tokens) for s in sentences]
    words = tf.RaggedTensor.from_row_lengths(
        tf.constant([t for s in sentences for t in s.tokens], tf.string), lengths)
    windows = ner_inputs.make_windows(featurizer.sentence_pieces(words), featurizer,
                                      seq_length, stride)
    features = {k: v.numpy() for k, v in windows._asdict().items() if v is not None}
    if labels is not None:
        ids = np.array([i for s in sentences
                        for i in labels.ids(s.labels, f"{s.path}:{s.line}")], np.int32)
        first_word = np.concatenate([[0], np.cumsum(lengths)])[features["sentence"]]
        word = features["word_ids"]
        features["label_ids"] = np.where(
            word >= 0, ids[np.clip(first_word[:, None] + word, 0, max(len(ids) - 1, 0))], -1
        ).astype(np.int32)
    return features


@dataclasses.dataclass
class NerRun(BiLstmSettings, RunConfig):
    """The NER settings beyond the shared ones, mirroring BioBERT's run_ner.py flags, and
    those of the BiLSTM-CRF (`model="bilstm_crf"`)."""

    window_stride: int = 0  # 0: half a window
    train_file: str = "train_dev.tsv"
    dev_file: str = "devel.tsv"
    test_file: str = "test.tsv"
    tag_scheme: str = "auto"
    use_crf: bool = False
    model: str = "bert"  # or "bilstm_crf"
    init_bilm_checkpoint: str | None = None  # a `python -m biobert_tf.tasks.ner.bilstm.bilm` output_dir
    word_vectors: str | None = None  # word2vec text file for the BiLSTM's embeddings


class NerRunner(TaskRunner):
    """The tag set, windows and tagging model of a `NerRun`, on the shared TaskRunner."""

    task_name = "ner"
    sequence_outputs = ("tags", "confidence")

    def __init__(self, run: NerRun, strategy: tf.distribute.Strategy):
        self.run = run
        self.train_sentences = self._read(run.train_file) if run.do_train else None
        super().__init__(run, strategy)
        self.model_inputs = self.featurizer.model_inputs
        self.stride = run.window_stride or (run.max_seq_length - 2) // 2
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
        if self.train_sentences is None:
            return NerLabels.load(trained_run_file(self.run.output_dir, LABELS_FILE))
        train = self.train_sentences
        scheme = detect_scheme(train) if self.run.tag_scheme == "auto" else self.run.tag_scheme
        # Also repairs chunks that start with I-X (conlleval reads them as B-X), which a CRF
        # that forbids O → I-X could not learn.
        repaired = [dataclasses.replace(s, labels=tuple(convert_scheme(s.labels, scheme)))
                    for s in train]
        changed = sum(a != b for s, r in zip(train, repaired) for a, b in zip(s.labels, r.labels))
        if changed:
            logging.info("%d training tags rewritten to the %s scheme", changed, scheme)
        self.train_sentences = repaired
        labels = NerLabels(label_list(repaired), scheme)
        tf.io.gfile.makedirs(self.run.output_dir)
        labels.save(os.path.join(self.run.output_dir, LABELS_FILE))
        return labels

    # ---- model -------------------------------------------------------------------------
    def setup_encoder(self) -> None:
        super().setup_encoder()
        self.featurizer = ner_inputs.WordpieceFeatures(self.tokenizer)

    def make_model(self) -> NerModel:
        return NerModel(BertEncoder.from_bert_config(self.config), self.labels,
                        self.run.use_crf, self.config.hidden_dropout_prob)

    def make_task(self, model: NerModel) -> NerTask:
        return NerTask(model)

    # ---- phases ------------------------------------------------------------------------
    def fit(self) -> training.Trainer:
        """Trains on the training file; with early stopping, on devel entity F1."""
        run = self.run
        features = encode(self.train_sentences, self.featurizer, run.max_seq_length,
                          self.stride, self.labels)
        dev = self._read(run.dev_file) if run.early_stopping_patience else None
        if dev is not None and run.train_file == "train_dev.tsv":
            logging.warning("early stopping on %s, which is part of %s", run.dev_file,
                            run.train_file)
        return self.train(
            {k: features[k] for k in self.model_inputs + ("label_ids",)},
            (lambda trainer: self.evaluate(trainer, dev)["f1"]) if dev else None,
            f"windows of {len(self.train_sentences)} training sentences")

    def evaluate(self, trainer: training.Trainer, sentences: list[Sentence],
                 batch_size: int | None = None) -> dict:
        sentences = self._in_scheme(sentences)
        features = encode(sentences, self.featurizer, self.run.max_seq_length, self.stride)
        outputs = self.predict(trainer, features, batch_size or self.run.eval_batch_size)
        tags, confidence = merge_windows(outputs["tags"], outputs["confidence"],
                                         features["sentence"], features["word_ids"],
                                         features["owned"],
                                         np.array([len(s.tokens) for s in sentences]))
        tags, confidence = tags.to_list(), confidence.to_list()
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
        return NerTagger(self.model, self.featurizer, self.run.max_seq_length, self.stride)

    def export(self, export_dir: str) -> None:
        """SavedModel: raw strings in → entity spans out (see NerTagger)."""
        self.save_serving_module(self.tagger(), export_dir, "tagger")
        self.labels.save(os.path.join(export_dir, LABELS_FILE))


class BiLstmNerRunner(NerRunner):
    """Sachan et al.'s BiLSTM-CRF (`--model=bilstm_crf`): the NER pipeline with words and
    characters instead of wordpieces. The vocabulary and architecture come from
    `init_bilm_checkpoint` (whose encoder weights initialise the tagger), from output_dir
    when resuming or predicting, else from the training words."""

    task_name = "ner_bilstm"

    def setup_encoder(self) -> None:
        run = self.run
        source = run.init_bilm_checkpoint or (
            run.output_dir if os.path.exists(os.path.join(run.output_dir, VOCAB_FILE)) else None)
        if source:
            self.vocab = WordVocab.load(os.path.join(source, VOCAB_FILE))
            self.bilstm_config = BiLstmConfig.load(os.path.join(source, BILSTM_CONFIG_FILE))
        elif self.train_sentences is not None:
            self.vocab = WordVocab.build((s.tokens for s in self.train_sentences), min_count=1,
                                         lowercase=run.lowercase_words)
            self.bilstm_config = run.bilstm_config(self.vocab)
        else:
            raise ValueError(f"no {VOCAB_FILE} in {run.output_dir}: train first (--do_train)")
        self.featurizer = ner_inputs.WordFeatures(self.vocab)

    def save_encoder_files(self, directory: str) -> None:
        self.vocab.save(os.path.join(directory, VOCAB_FILE))
        self.bilstm_config.save(os.path.join(directory, BILSTM_CONFIG_FILE))

    def make_model(self) -> BiLstmTagger:
        return BiLstmTagger(self.bilstm_config, self.labels, use_crf=True)

    def dummy_inputs(self) -> dict[str, tf.Tensor]:
        return {"token_ids": tf.zeros([1, 8], tf.int32), "word_ids": tf.zeros([1, 8], tf.int32),
                "padding_mask": tf.ones([1, 8], tf.int32),
                "chars": tf.zeros([1, 8, self.vocab.max_word_chars], tf.int32)}

    def initialize(self) -> None:
        run = self.run
        if run.init_bilm_checkpoint:
            path = trained_checkpoint(run.init_bilm_checkpoint)
            if path is None:
                raise ValueError(f"no trained BiLM in {run.init_bilm_checkpoint}")
            tf.train.Checkpoint(model=tf.train.Checkpoint(encoder=self.model.encoder)).read(
                path).assert_existing_objects_matched().expect_partial()
            logging.info("embeddings, char CNN and LSTMs initialised from the BiLM %s", path)
        elif run.word_vectors:
            matrix, found = read_word_vectors(run.word_vectors, self.vocab,
                                              self.bilstm_config.word_embedding_dim)
            self.model.encoder.word_embedding.embeddings.assign(matrix)
            logging.info("word embeddings: %d of %d words found in %s", found, len(self.vocab),
                         run.word_vectors)
        else:
            logging.info("the BiLSTM-CRF starts from random weights")


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


def tag_file(tagger: NerTagger, path: str, output_path: str, batch_size: int = 32,
             progress: bool = True) -> int:
    """Tags every line of a (PubMed-scale) text file into JSON lines `{line, text, entities}`,
    streamed and resumable (see file_prediction). Returns the documents tagged now."""
    return predict_file(lambda texts: tag_texts(tagger, texts, batch_size), path, output_path,
                        batch_size, progress)
