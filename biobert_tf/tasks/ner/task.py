"""NER as a `Task`: BioBERT tsv sentences → overlapping model windows → the BERT tagger →
word tags merged back from the windows → BioBERT's result files, raw-text entities and the
SavedModel. The BiLSTM-CRF (`bilstm.task`) is the same task with words instead of
wordpieces. `run_ner.py` runs either through the driver."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from biobert_tf import atomic_files
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.engine import distribute, prediction_formats, run_dir, training
from biobert_tf.engine.settings import FineTuningSettings, option
from biobert_tf.engine.task import DATA_SOURCE, Task
from biobert_tf.tasks.ner import inputs as ner_inputs, tfds_builder
from biobert_tf.tasks.ner.bilstm.settings import BiLstmSettings
from biobert_tf.tasks.ner.data import SCHEMES, Sentence, convert_scheme, detect_scheme, \
    label_list, read_conll, write_conll
from biobert_tf.tasks.ner.labels import LABELS_FILE, NerLabels
from biobert_tf.tasks.ner.metrics import format_report, ner_scores
from biobert_tf.tasks.ner.model import NerModel, NerTagger, TaggingObjective, merge_windows

MODELS = ("bert", "bilstm_crf")


@dataclasses.dataclass
class NerSettings(FineTuningSettings, BiLstmSettings):
    """run_ner.py's settings: BioBERT's run_ner flags, ours, and the BiLSTM-CRF's."""

    task_name: str = option("ner", "Only for BioBERT-flag compatibility (NER).")
    model: str = option("bert", "bert: BERT fine-tuning (BioBERT); bilstm_crf: Sachan et al.'s "
                        "word + char-CNN BiLSTM-CRF (no BERT weights). Saved with a trained "
                        "model.", choices=MODELS)
    train_file: str = option("train_dev.tsv", "Training file in --data_dir (BioBERT trains on "
                             "train_dev.tsv; use train.tsv to early-stop on devel.tsv).")
    dev_file: str = option("devel.tsv", "Dev file in --data_dir.")
    test_file: str = option("test.tsv", "Test file in --data_dir.")
    tag_scheme: str = option("auto", "Tag scheme of the model (auto: as in the training file); "
                             "data in the other scheme is converted. Saved with a trained model "
                             "(labels.json).", choices=("auto", *SCHEMES))
    use_crf: bool = option(False, "A linear-chain CRF over the tag scores (Viterbi decoding). "
                           "Saved with a trained model.")
    window_stride: int = option(0, "Wordpieces between the windows of a long sentence (0: half "
                                "a window). Saved with a trained model.", minimum=0)
    init_bilm_checkpoint: str | None = option(
        None, "bilstm_crf: a `python -m biobert_tf.tasks.ner.bilstm.bilm` output_dir; its "
        "vocabulary, architecture and encoder weights are used.")
    word_vectors: str | None = option(None, "bilstm_crf without a BiLM: word2vec text file to "
                                      "initialise the word embeddings.")
    predict_text: str | None = option(None, "Raw text to tag: prints its entities and writes "
                                      "them to text_predictions.jsonl.")
    demo: bool = option(False, "Run the built-in demo (also what no flags at all does).")


def in_scheme(sentences: Sequence[Sentence], scheme: str) -> list[Sentence]:
    """The sentences with their tags rewritten in `scheme`, chunks unchanged (chunks that
    start with I-X, which conlleval reads as B-X, get their B-X)."""
    return [dataclasses.replace(s, labels=tuple(convert_scheme(s.labels, scheme)))
            for s in sentences]


def encode_windows(sentences: Sequence[Sentence], featurizer, seq_length: int, stride: int,
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


class NerTask(Task):
    """BioBERT's NER: the tag set and scheme from the training file, wordpiece windows, the
    BERT tagger (softmax or CRF), conlleval's scores and files, the raw-text tagger."""

    name = "ner"
    settings_class = NerSettings
    model_settings = ("do_lower_case", "max_seq_length", "window_stride", "use_crf", "model")
    data_settings = (*DATA_SOURCE, "train_file", "dev_file", "test_file")
    spec_file = LABELS_FILE
    model_inputs = ner_inputs.WordpieceFeatures.model_inputs
    label_features = ("label_ids",)
    sequence_outputs = ("tags", "confidence")
    writes_documents = True
    prediction_document = staticmethod(prediction_formats.entity_document)
    tfds_builder = "biobert_ner"

    # ---- data --------------------------------------------------------------------------
    def split_path(self, split: str) -> str:
        return os.path.join(self.settings.data_dir or "", self.file_flag(split)[1])

    def tfds_split(self, split: str) -> str:
        flag, name = self.file_flag(split)
        if name not in tfds_builder.TRAIN_FILE_SPLITS:
            raise ValueError(f"--{flag}={name}: with --tfds_name the files are "
                             f"{', '.join(tfds_builder.TRAIN_FILE_SPLITS)}")
        return tfds_builder.TRAIN_FILE_SPLITS[name]

    def read_file(self, path: str) -> list[Sentence]:
        return read_conll(path)

    def from_tfds(self, rows, info, source) -> list[Sentence]:
        return tfds_builder.sentences(rows, info, source.manual_dir)

    def validate(self) -> None:
        """Also the encoder files and the window stride, before training."""
        super().validate()
        s = self.settings
        self.featurizer  # noqa: B018 (reads the vocabulary and config)
        self.stride  # noqa: B018
        if self.early_stopping and "dev" in self.data_files() and \
                s.train_file == "train_dev.tsv":
            logging.warning("early stopping on %s, which is part of %s", s.dev_file,
                            s.train_file)

    # ---- spec: the tag set and its scheme ----------------------------------------------
    def derive_spec(self) -> NerLabels:
        train = self.examples("train")
        scheme = self.settings.tag_scheme
        if scheme == "auto":
            scheme = detect_scheme(train)
        repaired = in_scheme(train, scheme)
        changed = sum(a != b for s, r in zip(train, repaired) for a, b in zip(s.labels, r.labels))
        if changed:
            logging.info("%d training tags rewritten to the %s scheme", changed, scheme)
        return NerLabels(label_list(repaired), scheme)

    def load_spec(self, path: str) -> NerLabels:
        labels = NerLabels.load(path)
        run_dir.check_matches("tag_scheme", self.settings.tag_scheme, labels.scheme, path)
        return labels

    def save_spec(self, labels: NerLabels, path: str) -> None:
        labels.save(path)

    def gold(self, split: str) -> list[Sentence]:
        """A split's sentences with their tags in the model's scheme: as written when they
        are in it already (the gold column of the result files), else converted."""
        sentences = self.examples(split)
        if detect_scheme(sentences) == self.spec.scheme:
            return sentences
        return in_scheme(sentences, self.spec.scheme)

    # ---- features and model ------------------------------------------------------------
    @functools.cached_property
    def featurizer(self) -> ner_inputs.WordpieceFeatures:
        return ner_inputs.WordpieceFeatures(self.tokenizer)

    @functools.cached_property
    def stride(self) -> int:
        """Pieces between the windows of a long sentence."""
        s = self.settings
        span = s.max_seq_length - 2
        stride = s.window_stride or max(span // 2, 1)
        if not 0 < stride <= span:
            raise ValueError(f"--window_stride={s.window_stride} must be in [1, max_seq_length "
                             f"- 2 = {span}] (0: half a window)")
        return stride

    def encode(self, sentences: Sequence[Sentence]) -> dict[str, np.ndarray]:
        """Model windows of the sentences (see `encode_windows`)."""
        return encode_windows(sentences, self.featurizer, self.settings.max_seq_length,
                              self.stride)

    def features(self, split: str) -> dict[str, np.ndarray]:
        """Model windows of a split; the training windows also carry `label_ids`."""
        return self.training_features if split == "train" else super().features(split)

    @functools.cached_property
    def training_features(self) -> dict[str, np.ndarray]:
        """Training windows with each word's tag id (tags repaired into the model's scheme,
        so that a CRF never learns a chunk that starts with I-X)."""
        return encode_windows(in_scheme(self.examples("train"), self.spec.scheme),
                              self.featurizer, self.settings.max_seq_length, self.stride,
                              self.spec)

    def make_model(self) -> NerModel:
        return NerModel(BertEncoder.from_bert_config(self.bert_config), self.spec,
                        self.settings.use_crf, self.bert_config.hidden_dropout_prob)

    def make_objective(self, model: NerModel) -> TaggingObjective:
        return TaggingObjective(model)

    # ---- scores and results ------------------------------------------------------------
    def evaluate(self, trainer: training.Trainer, split: str) -> dict:
        """conlleval's scores of the split's words, plus each sentence's `predicted` tags and
        their `confidence`."""
        sentences, features = self.gold(split), self.features(split)
        batch_size = (self.settings.predict_batch_size if split == "test"
                      else self.settings.eval_batch_size)
        outputs = self.predict(trainer, features, batch_size)
        tags, confidence = merge_windows(outputs["tags"], outputs["confidence"],
                                         features["sentence"], features["word_ids"],
                                         features["owned"],
                                         np.array([len(s.tokens) for s in sentences]))
        predicted = [[self.spec.labels[t] for t in row] for row in tags.to_list()]
        scores = ner_scores([s.labels for s in sentences], predicted)
        scores["predicted"], scores["confidence"] = predicted, confidence.to_list()
        return scores

    def write_results(self, split: str, scores: dict) -> None:
        """conlleval's report (BioBERT: eval_results.txt for dev, test_results.txt); for the
        test set also NER_result_conll.txt (token gold pred, every test token in order) and
        predictions.jsonl (one sentence per line with tags and probabilities)."""
        name = "eval_results.txt" if split == "dev" else "test_results.txt"
        report = format_report(scores)
        atomic_files.write_text(self.result_path(name), report)
        logging.info("%s:\n%s", name, report)
        if split != "test":
            return
        sentences = self.gold(split)
        write_conll(self.result_path("NER_result_conll.txt"), [s.tokens for s in sentences],
                    [s.labels for s in sentences], scores["predicted"])
        atomic_files.write_text(self.result_path("predictions.jsonl"), "".join(
            json.dumps({"source": f"{s.path}:{s.line}", "tokens": list(s.tokens),
                        "gold": list(s.labels), "pred": tags,
                        "prob": [round(p, 4) for p in probs]}) + "\n"
            for s, tags, probs in zip(sentences, scores["predicted"], scores["confidence"])))

    # ---- raw text ----------------------------------------------------------------------
    @functools.cached_property
    def tagger(self) -> NerTagger:
        """Raw text in, entities out (also the SavedModel's module)."""
        return NerTagger(self.model, self.featurizer, self.settings.max_seq_length, self.stride,
                         jit_compile=distribute.xla_in_serving(self.xla_default))

    def serving_module(self) -> NerTagger:
        return self.tagger

    def predict_texts(self, texts: Sequence[str]) -> list[dict]:
        return tag_texts(self.tagger, texts)
