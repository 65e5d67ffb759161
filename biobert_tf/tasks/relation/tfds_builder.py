"""`biobert_re`: BioBERT's relation-extraction sets as a TFDS builder, one config per data set
(and per cross-validation fold).

    import biobert_tf.tasks.relation.tfds_builder  # registers biobert_re
    import tensorflow_datasets as tfds
    fold = tfds.load("biobert_re/gad_fold1", split="train", download_and_prepare_kwargs={
        "download_config": tfds.download.DownloadConfig(manual_dir="datasets")})

Each example is a sentence with its two entities as `data.read_relations` reads it: `text`,
`label` (a `ClassLabel` named by the labels in the config's files, negatives first), `e1` and
`e2` (start, end: character offsets of the placeholder, e.g. `@GENE$`, in the BioBERT tsv sets;
of the mention in the marker-free sentence in SciBERT's ChemProt), the reader's `id`, and where
it came from (`source`, `line`). GAD and EU-ADR have no validation split, as in the release.

The release has `RE/GAD/1..10/` and `RE/euadr/1..10/`. ChemProt and DDI are not in it: their
tsv files are BLUE's (Peng et al. 2019), read from BLUE's folders put under `RE/`
(`RE/ChemProt/`, `RE/ddi2013-type/`); SciBERT's ChemProt jsonl goes in `RE/ChemProt/` too.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import tensorflow_datasets as tfds

from biobert_tf.engine import tfds_source
from biobert_tf.engine.tfds_source import BIOBERT, BIOBERT_LICENSE, ReleaseConfig
from biobert_tf.tasks.relation import data as re_data
from biobert_tf.tasks.relation.data import RelationExample

_GAD = """@article{bravo2015extraction,
  title={Extraction of relations between genes and diseases from text and large-scale data analysis: implications for translational research},
  author={Bravo, {\\`A}lex and Pi{\\~n}ero, Janet and Queralt-Rosinach, N{\\'u}ria and Rautschka, Michael and Furlong, Laura I},
  journal={BMC Bioinformatics}, volume={16}, pages={55}, year={2015}}"""
_EUADR = """@article{vanmulligen2012euadr,
  title={The {EU-ADR} corpus: annotated drugs, diseases, targets, and their relationships},
  author={van Mulligen, Erik M and others}, journal={Journal of Biomedical Informatics},
  volume={45}, number={5}, pages={879--884}, year={2012}}"""
_CHEMPROT = """@inproceedings{krallinger2017chemprot,
  title={Overview of the {BioCreative VI} chemical-protein interaction track},
  author={Krallinger, Martin and others},
  booktitle={Proceedings of the Sixth BioCreative Challenge Evaluation Workshop},
  pages={141--146}, year={2017}}"""
_SCIBERT = """@inproceedings{beltagy2019scibert,
  title={{SciBERT}: A Pretrained Language Model for Scientific Text},
  author={Beltagy, Iz and Lo, Kyle and Cohan, Arman}, booktitle={EMNLP-IJCNLP},
  pages={3615--3620}, year={2019}}"""
_DDI = """@article{herrero2013ddi,
  title={The {DDI} corpus: An annotated corpus with pharmacological substances and drug--drug interactions},
  author={Herrero-Zazo, Mar{\\'\\i}a and Segura-Bedmar, Isabel and Mart{\\'\\i}nez, Paloma and Declerck, Thierry},
  journal={Journal of Biomedical Informatics}, volume={46}, number={5}, pages={914--920}, year={2013}}"""
_BLUE = """@inproceedings{peng2019transfer,
  title={Transfer Learning in Biomedical Natural Language Processing: An Evaluation of {BERT} and {ELMo} on Ten Benchmarking Datasets},
  author={Peng, Yifan and Yan, Shankai and Lu, Zhiyong}, booktitle={BioNLP Workshop},
  pages={58--65}, year={2019}}"""
FOLDS = 10
# The split each file of the run scripts' data folders (train.tsv, dev.jsonl, ...) stands for.
SPLITS = {"train": "train", "dev": "validation", "test": "test"}


@dataclasses.dataclass
class ReConfig(ReleaseConfig):
    """A relation set: its files' format (`data.FORMATS`) besides the release's config."""

    data_format: str = "biobert_tsv"


def _config(name: str, files: dict[str, str], data_format: str, description: str,
            citation: str, license: str = BIOBERT_LICENSE) -> ReConfig:
    return ReConfig(name=name, version=tfds.core.Version("1.0.0"), description=description,
                         files=files, citation=citation + "\n" + BIOBERT, license=license,
                         data_format=data_format)


def _fold_configs(name: str, folder: str, what: str, citation: str) -> list[ReConfig]:
    return [_config(f"{name}_fold{k}", {"train": f"RE/{folder}/{k}/train.tsv",
                                        "test": f"RE/{folder}/{k}/test.tsv"}, "biobert_tsv",
                    f"{what}, fold {k} of BioBERT's {FOLDS}-fold cross-validation (train and "
                    "test only); entities blinded as @GENE$, @DISEASE$.", citation)
            for k in range(1, FOLDS + 1)]


def _three(folder: str, extension: str) -> dict[str, str]:
    return {split: f"RE/{folder}/{file}.{extension}"
            for split, file in (("train", "train"), ("validation", "dev"), ("test", "test"))}


CONFIGS = [
    *_fold_configs("gad", "GAD", "GAD gene-disease associations (binary)", _GAD),
    *_fold_configs("euadr", "euadr", "EU-ADR gene-disease relations (binary)", _EUADR),
    _config("chemprot", _three("ChemProt", "tsv"), "biobert_tsv",
            "ChemProt chemical-protein relations as BioBERT/BLUE's tsv (CPR:3,4,5,6,9 and false; "
            "entities blinded as @CHEMICAL$, @GENE$).", _CHEMPROT + "\n" + _BLUE),
    _config("chemprot_scibert", _three("ChemProt", "jsonl"), "scibert_jsonl",
            "ChemProt as SciBERT's jsonl (13 labels; entities marked << >> and [[ ]], the "
            "markers removed and the mentions' spans kept).", _CHEMPROT + "\n" + _SCIBERT,
            "Apache-2.0 (SciBERT's release); the corpus from BioCreative VI under its terms."),
    _config("ddi", _three("ddi2013-type", "tsv"), "biobert_tsv",
            "DDI 2013 drug-drug interactions as BLUE's tsv (advise, effect, int, mechanism and "
            "false; entities blinded as @DRUG$).", _DDI + "\n" + _BLUE),
]


class BiobertRe(tfds_source.ReleaseBuilder):
    """BioBERT's relation-extraction data sets (module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = CONFIGS

    def _features(self) -> tfds.features.FeaturesDict:
        span = tfds.features.Tensor(shape=(2,), dtype=np.int32)
        return tfds.features.FeaturesDict({
            "text": tfds.features.Text(), "label": tfds.features.ClassLabel(),  # named later
            "e1": span, "e2": span, "id": tfds.features.Text(),
            "source": tfds.features.Text(), "line": tfds.features.Scalar(np.int32),
        })

    def _examples(self, paths: dict[str, str]) -> dict[str, list[tuple[str, dict]]]:
        read = {split: re_data.read_relations(path, self.builder_config.data_format)
                for split, path in paths.items()}
        self.info.features["label"].names = re_data.label_list(
            [x for split in read.values() for x in split])
        return {split: [(f"{x.line}", {"text": x.text, "label": x.label, "e1": x.e1, "e2": x.e2,
                                       "id": x.id, "source": self.builder_config.files[split],
                                       "line": x.line}) for x in examples]
                for split, examples in read.items()}


def relation_examples(rows: Sequence[dict], info: tfds.core.DatasetInfo,
                      manual_dir: str | None) -> list[RelationExample]:
    """TFDS examples of `biobert_re` back as the examples `read_relations` gives."""
    names = info.features["label"].names
    return [RelationExample(row["text"].decode("utf-8"), names[row["label"]],
                            tuple(int(i) for i in row["e1"]), tuple(int(i) for i in row["e2"]),
                            row["id"].decode("utf-8"),
                            tfds_source.source_path(row["source"], info, manual_dir),
                            int(row["line"]))
            for row in rows]
