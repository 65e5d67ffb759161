"""BioBERT's benchmark sets as TFDS datasets, prepared from the files a user already has.

TFDS users expect `tfds.load("biobert_ner/ncbi_disease")`: named splits, typed features, a
dataset card, and a cached, versioned `tf.data` pipeline. The data cannot be downloaded (the
corpora have their own terms), so every builder here prepares from a *manual* folder: the
`datasets/` folder of BioBERT's preprocessed release (`NER/`, `RE/`, `QA/`), or a copy with
other casing of those three (`ner/`, ...). Each config names the files it reads, split by
split (`ReleaseConfig.files`); a missing folder or file is one line naming what was expected,
checked before TFDS's own check (which raises a bare AssertionError).

A task's builder (`tasks/<task>/tfds_builder.py`) subclasses `ReleaseBuilder` and reads the
files with the task's own reader, so a TFDS example is the task's example by construction; the
run scripts read TFDS splits back into those examples (`--tfds_name`, `load_split`).
"""

from __future__ import annotations

import abc
import dataclasses
import errno
import os

import tensorflow_datasets as tfds

RELEASE_URL = "https://github.com/dmis-lab/biobert"
# Every config cites BioBERT (beside its corpus) and names the release's licence.
BIOBERT = """@article{lee2020biobert,
  title={{BioBERT}: a pre-trained biomedical language representation model for biomedical text mining},
  author={Lee, Jinhyuk and Yoon, Wonjin and Kim, Sungdong and Kim, Donghyeon and Kim, Sunkyu and So, Chan Ho and Kang, Jaewoo},
  journal={Bioinformatics}, volume={36}, number={4}, pages={1234--1240}, year={2020}}"""
BIOBERT_LICENSE = ("The BioBERT authors' preprocessed release (MIT); the corpus under its own "
                   "terms.")


@dataclasses.dataclass
class ReleaseConfig(tfds.core.BuilderConfig):
    """One data set of the release: the files of its splits (relative to the manual folder,
    e.g. {"train": "NER/NCBI-disease/train.tsv"}; the `optional` splits' files may be absent:
    the split is then left out), the splits that are the others `combined` in order when their
    own file is absent (BioASQ's `test`: the year's file, or its five batch files) and the
    dataset card."""

    files: dict[str, str] = dataclasses.field(default_factory=dict)
    optional: tuple[str, ...] = ()
    combined: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    homepage: str = RELEASE_URL
    citation: str = ""
    license: str = ""


def release_path(manual_dir: str, relative: str) -> str:
    """`relative` under `manual_dir`, its first folder matched without regard to case (the
    release has NER/, RE/, QA/; copies often lower-case them)."""
    first, _, rest = relative.partition("/")
    if os.path.isdir(manual_dir) and not os.path.exists(os.path.join(manual_dir, first)):
        for entry in sorted(os.listdir(manual_dir)):
            if entry.lower() == first.lower():
                first = entry
                break
    return os.path.join(manual_dir, first, rest)


def source_path(source: bytes, info: tfds.core.DatasetInfo, manual_dir: str | None) -> str:
    """The file an example came from (its `source` feature), for messages that name file:line:
    under `manual_dir`, else "tfds:NAME/FILE"."""
    relative = source.decode("utf-8")
    return (release_path(manual_dir, relative) if manual_dir
            else f"tfds:{info.full_name}/{relative}")


def check_manual_dir(name: str, config: ReleaseConfig, manual_dir: str) -> dict[str, str]:
    """{split: path} of the config's files found under `manual_dir`, when they make every split
    that is not optional (a `combined` split: its own file or all of its parts'); a
    FileNotFoundError naming the missing files (and the ones found) otherwise."""
    if not os.path.isdir(manual_dir) or not os.listdir(manual_dir):
        raise FileNotFoundError(
            errno.ENOENT, f"{name}: no manual folder with BioBERT's datasets here: put the "
            f"datasets/ folder of its preprocessed release ({RELEASE_URL}) there, or pass "
            "--tfds_manual_dir (tfds: DownloadConfig(manual_dir=...))", manual_dir)
    paths = {split: release_path(manual_dir, f) for split, f in config.files.items()}
    found = {split: path for split, path in paths.items() if os.path.isfile(path)}

    def missing(split: str) -> str | None:  # what the split lacks, if it cannot be made
        parts = config.combined.get(split, ())
        if split in found or split in config.optional or (parts and set(parts) <= set(found)):
            return None
        absent_parts = [config.files[part] for part in parts if part not in found]
        return config.files[split] + (f" (or {', '.join(absent_parts)})" if absent_parts else "")

    lacking = [m for m in map(missing, config.files) if m]
    if not found:
        raise FileNotFoundError(errno.ENOENT, f"{name}: none of its files is here (expected "
                                f"{', '.join(lacking)})", manual_dir)
    if lacking:
        raise FileNotFoundError(errno.ENOENT, f"{name}: missing {', '.join(lacking)} (found "
                                f"{', '.join(config.files[s] for s in found)})", manual_dir)
    return found


class ReleaseBuilder(tfds.core.GeneratorBasedBuilder, abc.ABC):
    """A builder over the release's files: the dataset card from the config, the manual
    folder checked, examples in file order (`disable_shuffling`: the order is part of the
    benchmark, as in the files), one TFDS split per file."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Put the datasets/ folder of BioBERT's preprocessed datasets ({RELEASE_URL}, "
        "datasets.tar.gz: NER/, RE/, QA/) in the manual folder.")

    @abc.abstractmethod
    def _features(self) -> tfds.features.FeaturesDict:
        """The features of one example."""

    @abc.abstractmethod
    def _examples(self, paths: dict[str, str]) -> dict[str, list[tuple[str, dict]]]:
        """{split: [(key, example), ...]} of the config's files (read with the task's reader,
        all of them before anything is written, so a bad file stops the preparation)."""

    def _info(self) -> tfds.core.DatasetInfo:
        config = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self, description=config.description, features=self._features(),
            homepage=config.homepage, citation=config.citation, license=config.license,
            disable_shuffling=True)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        paths = check_manual_dir(f"{self.name}/{config.name}", config,
                                 str(dl_manager.manual_dir))
        examples = self._examples(paths)
        for split, parts in config.combined.items():
            if split not in examples and set(parts) <= set(examples):
                # Keys prefixed by the part: unique across the parts.
                examples[split] = [(f"{part}/{key}", example) for part in parts
                                   for key, example in examples[part]]
        return {split: self._generate_examples(found) for split, found in examples.items()}

    def _generate_examples(self, examples: list[tuple[str, dict]]):
        yield from examples


@dataclasses.dataclass(frozen=True)
class Split:
    """A TFDS split as the run scripts name it: dataset (`builder/config`), split (TFDS's
    split syntax: "train+validation"), where TFDS keeps prepared data and the manual folder."""

    name: str
    split: str
    data_dir: str | None = None
    manual_dir: str | None = None

    def __str__(self) -> str:
        return f"{self.name}:{self.split}"


def builder(name: str, data_dir: str | None = None) -> ReleaseBuilder:
    """The builder of `name` (`builder/config`); a one-line ValueError naming the known data
    sets or configs otherwise."""
    builder_name, _, config = name.partition("/")
    try:
        found = tfds.builder_cls(builder_name)
    except tfds.core.registered.DatasetNotFoundError:
        found = None
    if found is None or not issubclass(found, ReleaseBuilder):
        raise ValueError(f"--tfds_name={name}: not one of BioBERT's data sets "
                         "(biobert_ner/<config>, ...)")
    configs = [c.name for c in found.BUILDER_CONFIGS]
    if config not in configs:
        raise ValueError(f"--tfds_name={name}: {builder_name} has the configs "
                         f"{', '.join(configs)}")
    return tfds.builder(name, data_dir=data_dir)


def exists(source: str | Split) -> bool:
    """Whether a data file exists, or the config of a TFDS split has a file for every part of
    the split ("train+validation")."""
    if not isinstance(source, Split):
        return os.path.exists(source)
    files = builder(source.name, source.data_dir).builder_config.files
    return all(part in files for part in source.split.split("+"))


def load_split(source: Split) -> tuple[list[dict], tfds.core.DatasetInfo]:
    """The examples of a split as dicts of numpy values (strings as bytes), in file order,
    and the dataset's info; the dataset is prepared from the manual folder on first use."""
    found = builder(source.name, source.data_dir)
    manual_dir = source.manual_dir or os.path.join(found.data_dir_root, "downloads", "manual")
    if not found.is_prepared():
        check_manual_dir(source.name, found.builder_config, manual_dir)
    tfds.display_progress_bar(False)  # the run scripts log their own progress
    found.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    absent = [part for part in source.split.split("+") if part not in found.info.splits]
    if absent:  # TFDS's own error would be a library ValueError: a traceback
        raise ValueError(f"{source.name} has no {' or '.join(absent)} split (its splits: "
                         f"{', '.join(found.info.splits)})")
    dataset = found.as_dataset(split=source.split, shuffle_files=False)
    return list(tfds.as_numpy(dataset)), found.info
