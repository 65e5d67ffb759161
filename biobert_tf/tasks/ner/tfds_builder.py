"""`biobert_ner`: BioBERT's NER sets as a TFDS builder, one config per data set.

    import biobert_tf.tasks.ner.tfds_builder  # registers biobert_ner
    import tensorflow_datasets as tfds
    train = tfds.load("biobert_ner/ncbi_disease", split="train", download_and_prepare_kwargs={
        "download_config": tfds.download.DownloadConfig(manual_dir="datasets")})

Each example is a sentence of the tsv files: `tokens` and `tags` (a `ClassLabel` whose names
are the tags found in the config's files, in `data.label_list`'s order), and where it came
from (`source`, the file relative to the manual folder, and its first `line`). The files are
read by `data.read_conll`, so a bad line stops the preparation with its file:line. The
release's `train_dev.tsv` is not read: it is train + devel (`TRAIN_FILE_SPLITS` maps it to
TFDS's "train+validation").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow_datasets as tfds

from biobert_tf.engine import tfds_source
from biobert_tf.engine.tfds_source import BIOBERT, BIOBERT_LICENSE, ReleaseConfig
from biobert_tf.tasks.ner.data import Sentence, label_list, read_conll


# (config, release folder, what it tags, the corpus's citation)
_SETS = [
    ("ncbi_disease", "NCBI-disease", "diseases", """@article{dogan2014ncbi,
  title={{NCBI} disease corpus: a resource for disease name recognition and concept normalization},
  author={Do{\\u{g}}an, Rezarta Islamaj and Leaman, Robert and Lu, Zhiyong},
  journal={Journal of Biomedical Informatics}, volume={47}, pages={1--10}, year={2014}}"""),
    ("bc5cdr_chem", "BC5CDR-chem", "chemicals", "BC5CDR"),
    ("bc5cdr_disease", "BC5CDR-disease", "diseases", "BC5CDR"),
    ("bc4chemd", "BC4CHEMD", "chemicals and drugs", """@article{krallinger2015chemdner,
  title={The {CHEMDNER} corpus of chemicals and drugs and its annotation principles},
  author={Krallinger, Martin and others}, journal={Journal of Cheminformatics},
  volume={7}, number={Suppl 1}, pages={S2}, year={2015}}"""),
    ("bc2gm", "BC2GM", "genes and proteins", """@article{smith2008bc2gm,
  title={Overview of {BioCreative II} gene mention recognition},
  author={Smith, Larry and others}, journal={Genome Biology}, volume={9},
  number={Suppl 2}, pages={S2}, year={2008}}"""),
    ("jnlpba", "JNLPBA", "genes, proteins, cell lines and cell types (as one type)",
     """@inproceedings{kim2004jnlpba,
  title={Introduction to the bio-entity recognition task at {JNLPBA}},
  author={Kim, Jin-Dong and Ohta, Tomoko and Tsuruoka, Yoshimasa and Tateisi, Yuka and Collier, Nigel},
  booktitle={Proceedings of the International Joint Workshop on Natural Language Processing in Biomedicine and its Applications (JNLPBA)},
  pages={70--75}, year={2004}}"""),
    ("linnaeus", "linnaeus", "species", """@article{gerner2010linnaeus,
  title={{LINNAEUS}: a species name identification system for biomedical literature},
  author={Gerner, Martin and Nenadic, Goran and Bergman, Casey M},
  journal={BMC Bioinformatics}, volume={11}, pages={85}, year={2010}}"""),
    ("s800", "s800", "species", """@article{pafilis2013species,
  title={The {SPECIES} and {ORGANISMS} resources for fast and accurate identification of taxonomic names in text},
  author={Pafilis, Evangelos and others}, journal={PLoS ONE}, volume={8}, number={6},
  pages={e65390}, year={2013}}"""),
]
_BC5CDR = """@article{li2016biocreative,
  title={{BioCreative V CDR} task corpus: a resource for chemical disease relation extraction},
  author={Li, Jiao and others}, journal={Database}, volume={2016}, pages={baw068}, year={2016}}"""
_CRICHTON = """@article{crichton2017neural,
  title={A neural network multi-task learning approach to biomedical named entity recognition},
  author={Crichton, Gamal and Pyysalo, Sampo and Chiu, Billy and Korhonen, Anna},
  journal={BMC Bioinformatics}, volume={18}, pages={368}, year={2017}}"""

# The release's file of each TFDS split, and the split each file name stands for on the run
# scripts' command line (--train_file=train_dev.tsv: both).
SPLIT_FILES = {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}
TRAIN_FILE_SPLITS = {**{f: s for s, f in SPLIT_FILES.items()},
                     "train_dev.tsv": "train+validation"}


def _config(name: str, folder: str, description: str, citation: str,
            license: str = BIOBERT_LICENSE) -> ReleaseConfig:
    return ReleaseConfig(
        name=name, version=tfds.core.Version("1.0.0"), description=description,
        files={split: f"NER/{folder}/{file}" for split, file in SPLIT_FILES.items()},
        citation=citation + "\n" + BIOBERT, license=license)


CONFIGS = [_config(name, folder, f"{folder} as in BioBERT's NER benchmark: sentences with the "
                   f"{what} tagged B/I/O (untyped).", _BC5CDR if cite == "BC5CDR" else cite)
           for name, folder, what, cite in _SETS] + [
    _config("bc5cdr_typed", "BC5CDR-typed", "BC5CDR's chemicals and diseases in one typed "
            "IOB2 tagging (B-Chemical, I-Disease, ...; Crichton et al.'s BC5CDR-IOB).",
            _BC5CDR + "\n" + _CRICHTON, "CC BY 4.0 (Crichton et al. 2017).")]


class BiobertNer(tfds_source.ReleaseBuilder):
    """BioBERT's NER data sets (module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = CONFIGS

    def _features(self) -> tfds.features.FeaturesDict:
        # The tag names are unknown until the files are read (_examples sets them).
        return tfds.features.FeaturesDict({
            "tokens": tfds.features.Sequence(tfds.features.Text()),
            "tags": tfds.features.Sequence(tfds.features.ClassLabel()),
            "source": tfds.features.Text(),
            "line": tfds.features.Scalar(np.int32),
        })

    def _examples(self, paths: dict[str, str]) -> dict[str, list[tuple[str, dict]]]:
        sentences = {split: read_conll(path) for split, path in paths.items()}
        self.info.features["tags"].feature.names = label_list(
            [s for split in sentences.values() for s in split])
        return {split: [(f"{s.line}", {"tokens": s.tokens, "tags": s.labels,
                                       "source": self.builder_config.files[split],
                                       "line": s.line}) for s in split_sentences]
                for split, split_sentences in sentences.items()}


def sentences(rows: Sequence[dict], info: tfds.core.DatasetInfo,
              manual_dir: str | None) -> list[Sentence]:
    """TFDS examples of `biobert_ner` back as the sentences `read_conll` gives, their path
    the file under `manual_dir` (else "tfds:NAME/FILE")."""
    names = info.features["tags"].feature.names
    return [Sentence(tuple(t.decode("utf-8") for t in row["tokens"]),
                     tuple(names[i] for i in row["tags"]),
                     tfds_source.source_path(row["source"], info, manual_dir), int(row["line"]))
            for row in rows]
