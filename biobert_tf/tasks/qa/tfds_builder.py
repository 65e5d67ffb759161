"""`biobert_qa`: BioBERT's BioASQ sets as a TFDS builder, two configs per challenge year.

    import biobert_tf.tasks.qa.tfds_builder  # registers biobert_qa
    import tensorflow_datasets as tfds
    pairs = tfds.load("biobert_qa/bioasq_4b", split="test", download_and_prepare_kwargs={
        "download_config": tfds.download.DownloadConfig(manual_dir="datasets")})

Splits: `test` is the year's test questions: its whole-year file, or else its five batch
files in order. Each batch is also a split of its own (`test_batch_1..5`) when its file is
there, since BioASQ and BioBERT score batch by batch and report the mean (BioBERT's first
release has the batch files; biobert-pytorch's has the whole-year files). `train` is the
year's training file when the folder has it. BioASQ has no validation set (BioBERT tunes on
none), so neither config has a `validation` split.

- `bioasq_Nb` (N = 4…7): BioBERT's SQuAD-format factoid files, an example per (question,
  snippet) pair as `data.read_squad` reads it: `id` (`<24-char question id>_NNN`), `question`,
  `context`, `answers` (`text`, `answer_start`: a character offset into the context; none in
  the test batches), `where` (the file and JSON location). Files:
  `BioASQ-{train,test}-factoid-Nb.json`, `BioASQ-test-factoid-Nb-k.json`.
- `bioasq_Nb_golden`: the official golden files of the test set (`NB_golden.json`,
  `NBk_golden.json`), a question of any type per example as `data.read_golden` reads it:
  `id`, `type`, `body`, `snippets`, `exact_answer` (canonical JSON of the file's value, `null`
  when absent: its shape depends on the type and year, and BioASQ's scorers need it
  unchanged), `source`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Sequence

import numpy as np
import tensorflow_datasets as tfds

from biobert_tf.engine import tfds_source
from biobert_tf.engine.tfds_source import BIOBERT, BIOBERT_LICENSE, ReleaseConfig
from biobert_tf.tasks.qa import data as qa_data
from biobert_tf.tasks.qa.data import Answer, GoldenQuestion, QaExample

_BIOASQ = """@article{tsatsaronis2015bioasq,
  title={An overview of the {BIOASQ} large-scale biomedical semantic indexing and question answering competition},
  author={Tsatsaronis, George and others}, journal={BMC Bioinformatics}, volume={16},
  pages={138}, year={2015}}"""
_LICENSE = (BIOBERT_LICENSE + " BioASQ's data needs a registration at bioasq.org, under its "
            "terms of use.")
YEARS = (4, 5, 6, 7)
BATCHES = 5
# Version 2 named the splits train, test and test_batch_k (1.0.0: train_factoid,
# test_factoid_k, batch_k and whole_year).
_VERSION = tfds.core.Version("2.0.0")
TEST_BATCHES = tuple(f"test_batch_{k}" for k in range(1, BATCHES + 1))


@dataclasses.dataclass
class QaConfig(ReleaseConfig):
    """A BioASQ year: its SQuAD-format pairs, or its golden questions."""

    golden: bool = False


def _pairs(year: int) -> QaConfig:
    files = {"train": f"QA/BioASQ/BioASQ-train-factoid-{year}b.json",
             "test": f"QA/BioASQ/BioASQ-test-factoid-{year}b.json",
             **{split: f"QA/BioASQ/BioASQ-test-factoid-{year}b-{k}.json"
                for k, split in enumerate(TEST_BATCHES, 1)}}
    return QaConfig(
        name=f"bioasq_{year}b", version=_VERSION,
        description=f"BioASQ {year}b factoid questions in BioBERT's SQuAD format: a (question, "
        "snippet) pair per example; the test questions have no answers (score them with "
        f"bioasq_{year}b_golden).", files=files, optional=("train", *TEST_BATCHES),
        combined={"test": TEST_BATCHES}, citation=_BIOASQ + "\n" + BIOBERT, license=_LICENSE)


def _golden(year: int) -> QaConfig:
    files = {"test": f"QA/BioASQ/{year}B_golden.json",
             **{split: f"QA/BioASQ/{year}B{k}_golden.json"
                for k, split in enumerate(TEST_BATCHES, 1)}}
    return QaConfig(
        name=f"bioasq_{year}b_golden", version=_VERSION,
        description=f"BioASQ {year}b's official golden questions (all types) with their "
        "snippets and exact answers.", files=files, optional=TEST_BATCHES,
        combined={"test": TEST_BATCHES}, citation=_BIOASQ + "\n" + BIOBERT, license=_LICENSE,
        golden=True)


CONFIGS = [config for year in YEARS for config in (_pairs(year), _golden(year))]


class BiobertQa(tfds_source.ReleaseBuilder):
    """BioBERT's BioASQ data sets (module docstring)."""

    VERSION = _VERSION
    RELEASE_NOTES = {"2.0.0": "Splits train, test (the whole year) and test_batch_1..5.",
                     "1.0.0": "First release."}
    BUILDER_CONFIGS = CONFIGS

    def _features(self) -> tfds.features.FeaturesDict:
        text = tfds.features.Text()
        if self.builder_config.golden:
            return tfds.features.FeaturesDict({
                "id": text, "type": tfds.features.ClassLabel(names=qa_data.QUESTION_TYPES),
                "body": text, "snippets": tfds.features.Sequence(text), "exact_answer": text,
                "source": text})
        return tfds.features.FeaturesDict({
            "id": text, "question": text, "context": text,
            "answers": tfds.features.Sequence({"text": text, "answer_start": np.int32}),
            "where": text})

    def _examples(self, paths: dict[str, str]) -> dict[str, list[tuple[str, dict]]]:
        if self.builder_config.golden:
            return {split: [(q.id, {"id": q.id, "type": q.type, "body": q.body,
                                    "snippets": q.snippets,
                                    "exact_answer": json.dumps(q.exact_answer),
                                    "source": self.builder_config.files[split]})
                            for q in qa_data.read_golden(path)]
                    for split, path in paths.items()}
        return {split: [(x.id, {"id": x.id, "question": x.question, "context": x.context,
                                "answers": {"text": [a.text for a in x.answers],
                                            "answer_start": [a.start for a in x.answers]},
                                "where": x.where})
                        for x in qa_data.read_squad(path)]
                for split, path in paths.items()}


def is_golden(name: str) -> bool:
    """Whether a data set (`biobert_qa/<config>`) holds golden questions."""
    return name.endswith("_golden")


def golden_name(name: str) -> str:
    """The data set of the golden questions of a year (`biobert_qa/bioasq_Nb[_golden]`)."""
    return name if is_golden(name) else f"{name}_golden"


def _text(value: bytes) -> str:
    return value.decode("utf-8")


def qa_examples(rows: Sequence[dict]) -> list[QaExample]:
    """TFDS examples of a `bioasq_Nb` config back as `read_squad`'s examples."""
    return [QaExample(_text(row["id"]), _text(row["question"]), _text(row["context"]),
                      tuple(Answer(_text(t), int(s)) for t, s in
                            zip(row["answers"]["text"], row["answers"]["answer_start"])),
                      where=_text(row["where"]))
            for row in rows]


def golden_questions(rows: Sequence[dict]) -> list[GoldenQuestion]:
    """TFDS examples of a `bioasq_Nb_golden` config back as `read_golden`'s questions."""
    return [GoldenQuestion(_text(row["id"]), qa_data.QUESTION_TYPES[row["type"]],
                           _text(row["body"]), json.loads(_text(row["exact_answer"])),
                           tuple(_text(s) for s in row["snippets"]))
            for row in rows]
