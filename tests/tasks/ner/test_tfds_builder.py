"""`biobert_ner` built from cuts of the real NER sets: the TFDS examples are `read_conll`'s
sentences, the tag names are the files' tags, a bad file stops the preparation with its
file:line, and `tfds.load` works as the README shows."""

import pytest
import tensorflow_datasets as tfds

from biobert_tf.tasks.ner import tfds_builder
from biobert_tf.tasks.ner.data import NerDataError, label_list, read_conll
from helpers import shared_file, tfds_rows

CUTS = {"NCBI-disease": (30, 10, 10), "BC5CDR-typed": (20, 5, 5)}


def first_sentences(path, count):
    return "\n\n".join(path.read_text(encoding="utf-8").strip().split("\n\n")[:count]) + "\n"


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory):
    """Cuts of two sets in the release's layout, its NER/ folder lower-cased as in
    ../shared/data."""
    root = tmp_path_factory.mktemp("manual")
    for folder, counts in CUTS.items():
        (root / "ner" / folder).mkdir(parents=True)
        for name, count in zip(("train.tsv", "devel.tsv", "test.tsv"), counts):
            (root / "ner" / folder / name).write_text(
                first_sentences(shared_file("ner", folder, name), count), encoding="utf-8")
    return root


def load(name, split, data_dir, manual_dir):
    rows, info = tfds_rows(name, split, data_dir, manual_dir)
    return tfds_builder.sentences(rows, info, str(manual_dir)), info


@pytest.mark.parametrize("config, folder", [("ncbi_disease", "NCBI-disease"),
                                            ("bc5cdr_typed", "BC5CDR-typed")])
def test_examples_are_the_readers_sentences_and_tags_the_files_tags(manual_dir, tmp_path,
                                                                     config, folder):
    files = {split: manual_dir / "ner" / folder / name
             for split, name in tfds_builder.SPLIT_FILES.items()}
    expected = {split: read_conll(path) for split, path in files.items()}
    name = f"biobert_ner/{config}"
    for split, counts in zip(files, CUTS[folder]):
        sentences, info = load(name, split, tmp_path, manual_dir)
        assert sentences == expected[split] and len(sentences) == counts
    names = label_list([s for split in expected.values() for s in split])
    assert info.features["tags"].feature.names == names
    assert set(names) == ({"O", "B", "I"} if config == "ncbi_disease" else
                          {"O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"})
    both, _ = load(name, "train+validation", tmp_path, manual_dir)
    assert both == expected["train"] + expected["validation"]
    # A fresh builder on the prepared data has the names (saved beside the records).
    restored = tfds.builder(name, data_dir=str(tmp_path))
    assert restored.info.features["tags"].feature.names == names
    assert restored.info.splits["train"].num_examples == CUTS[folder][0]
    assert "BioBERT" in restored.info.citation


def test_tfds_load_as_the_readme_shows(manual_dir, tmp_path):
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    dataset = tfds.load("biobert_ner/ncbi_disease", split="test", data_dir=str(tmp_path),
                        download_and_prepare_kwargs={"download_config": config})
    first = next(iter(tfds.as_numpy(dataset)))
    expected = read_conll(manual_dir / "ner" / "NCBI-disease" / "test.tsv")[0]
    assert [t.decode() for t in first["tokens"]] == list(expected.tokens)
    assert first["source"] == b"NER/NCBI-disease/test.tsv" and first["line"] == 1


def test_a_bad_line_stops_the_preparation_with_its_file_and_line(manual_dir, tmp_path):
    bad = tmp_path / "manual"
    (bad / "NER" / "NCBI-disease").mkdir(parents=True)
    for name in tfds_builder.SPLIT_FILES.values():
        text = (manual_dir / "ner" / "NCBI-disease" / name).read_text(encoding="utf-8")
        if name == "devel.tsv":
            text = text.replace("\tO\n", "\n", 1)  # a token without a tag
        (bad / "NER" / "NCBI-disease" / name).write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(
        (bad / "NER" / "NCBI-disease" / "devel.tsv").read_text().split("\n"), 1)
        if row and "\t" not in row)
    with pytest.raises(NerDataError, match=f"NCBI-disease/devel.tsv:{line}:"):
        load("biobert_ner/ncbi_disease", "train", tmp_path / "data", bad)
    assert not tfds.builder("biobert_ner/ncbi_disease", data_dir=str(tmp_path / "data")
                            ).is_prepared()


def test_every_config_names_three_release_files_a_citation_and_a_licence():
    assert [c.name for c in tfds_builder.CONFIGS] == [
        "ncbi_disease", "bc5cdr_chem", "bc5cdr_disease", "bc4chemd", "bc2gm", "jnlpba",
        "linnaeus", "s800", "bc5cdr_typed"]
    for config in tfds_builder.CONFIGS:
        assert list(config.files) == ["train", "validation", "test"]
        assert all(path.startswith("NER/") for path in config.files.values())
        assert "@article{lee2020biobert" in config.citation and config.license
        assert config.citation.count("@") >= 2, config.name  # the corpus and BioBERT


def test_the_run_scripts_file_names_map_to_splits():
    assert tfds_builder.TRAIN_FILE_SPLITS == {
        "train.tsv": "train", "devel.tsv": "validation", "test.tsv": "test",
        "train_dev.tsv": "train+validation"}


@pytest.mark.slow
@pytest.mark.parametrize("config, folder", [("ncbi_disease", "NCBI-disease"), ("bc2gm", "BC2GM"),
                                            ("bc5cdr_chem", "BC5CDR-chem"),
                                            ("bc5cdr_typed", "BC5CDR-typed")])
def test_whole_real_sets_prepare_to_the_readers_sentences(tmp_path, config, folder):
    manual = shared_file("ner").parent  # ../shared/data: ner/ as the release's NER/
    for split, name in tfds_builder.SPLIT_FILES.items():
        sentences, _ = load(f"biobert_ner/{config}", split, tmp_path, manual)
        assert sentences == read_conll(manual / "ner" / folder / name)
