"""`biobert_re` built from cuts of GAD and SciBERT's ChemProt: the TFDS examples are
`read_relations`' examples, the label names the files' labels, GAD has no validation split, and
the RE task reads the same examples and derives the same spec from either source."""

import dataclasses

import pytest
import tensorflow as tf

from biobert_tf.engine import tfds_source
from biobert_tf.tasks.relation import tfds_builder
from biobert_tf.tasks.relation.data import label_list, read_relations
from biobert_tf.tasks.relation.task import RelationSettings, RelationTask
from helpers import shared_file, tfds_rows

# (release folder, files, lines of each kept: the test tsv's header is a line)
CUTS = {"GAD/1": ({"train": "train.tsv", "test": "test.tsv"}, (40, 11)),
        "ChemProt": ({"train": "train.jsonl", "validation": "dev.jsonl", "test": "test.jsonl"},
                     (30, 10, 10))}


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory):
    """The cuts in the release's layout, its RE/ folder lower-cased as in ../shared/data."""
    root = tmp_path_factory.mktemp("manual")
    for folder, (files, counts) in CUTS.items():
        (root / "re" / folder).mkdir(parents=True)
        for name, count in zip(files.values(), counts):
            lines = shared_file("re", folder, name).read_text(encoding="utf-8").splitlines()
            (root / "re" / folder / name).write_text("\n".join(lines[:count]) + "\n",
                                                     encoding="utf-8")
    return root


def load(name, split, data_dir, manual_dir):
    rows, info = tfds_rows(name, split, data_dir, manual_dir)
    return tfds_builder.relation_examples(rows, info, str(manual_dir)), info


@pytest.mark.parametrize("config, folder", [("gad_fold1", "GAD/1"),
                                            ("chemprot_scibert", "ChemProt")])
def test_examples_are_the_readers_and_labels_the_files_labels(manual_dir, tmp_path, config,
                                                              folder):
    files = CUTS[folder][0]
    expected = {split: read_relations(manual_dir / "re" / folder / name)
                for split, name in files.items()}
    for split in files:
        examples, info = load(f"biobert_re/{config}", split, tmp_path, manual_dir)
        assert examples == expected[split] and examples
    assert info.features["label"].names == label_list(
        [x for split in expected.values() for x in split])
    assert list(info.splits) == list(files)  # GAD: no validation split, as in the release
    assert tfds_source.exists(tfds_source.Split(f"biobert_re/{config}", "validation")) == (
        "validation" in files)
    if "validation" not in files:  # e.g. --do_eval on a GAD fold
        with pytest.raises(ValueError, match=rf"^biobert_re/{config} has no validation split "
                                             r"\(its splits: train, test\)$"):
            load(f"biobert_re/{config}", "validation", tmp_path, manual_dir)


def test_the_task_reads_the_same_examples_and_derives_the_same_spec(manual_dir, tmp_path):
    folder = manual_dir / "re" / "GAD" / "1"
    # The same fold as config and as folder, through the task's own data path.
    tfds = RelationSettings(do_train=True, do_predict=True, task_name="gad",
                            tfds_name="biobert_re/gad_fold1", tfds_data_dir=str(tmp_path),
                            tfds_manual_dir=str(manual_dir), output_dir=str(tmp_path / "a"))
    tsv = dataclasses.replace(tfds, tfds_name=None, data_dir=str(folder),
                              output_dir=str(tmp_path / "b"))
    strategy = tf.distribute.get_strategy()
    from_tfds, from_files = RelationTask(tfds, strategy), RelationTask(tsv, strategy)
    for split in ("train", "test"):
        assert from_tfds.examples(split) == from_files.examples(split)
    assert "dev" not in from_tfds.data_files()
    assert from_tfds.derive_spec() == from_files.derive_spec()
    with pytest.raises(ValueError, match=r"--test_file=eval.tsv: with --tfds_name the files "
                                         r"are train, dev and test"):
        RelationTask(dataclasses.replace(tfds, test_file="eval.tsv"), strategy).data_files()


def test_every_config_names_its_release_files_a_citation_and_a_licence():
    names = [c.name for c in tfds_builder.CONFIGS]
    assert names == [f"gad_fold{k}" for k in range(1, 11)] + [
        f"euadr_fold{k}" for k in range(1, 11)] + ["chemprot", "chemprot_scibert", "ddi"]
    for config in tfds_builder.CONFIGS:
        assert all(path.startswith("RE/") for path in config.files.values())
        assert set(config.files) in ({"train", "test"}, {"train", "validation", "test"})
        assert "@article{lee2020biobert" in config.citation and config.license
        assert config.citation.count("@") >= 2, config.name


@pytest.mark.slow
@pytest.mark.parametrize("config, folder", [*((f"gad_fold{k}", f"GAD/{k}") for k in range(1, 11)),
                                            ("chemprot_scibert", "ChemProt")])
def test_whole_real_sets_prepare_to_the_readers_examples(tmp_path, config, folder):
    manual = shared_file("re").parent  # ../shared/data: re/ as the release's RE/
    for split, name in tfds_builder.CONFIGS[[c.name for c in tfds_builder.CONFIGS].index(
            config)].files.items():
        examples, _ = load(f"biobert_re/{config}", split, tmp_path, manual)
        assert examples == read_relations(manual / name.replace("RE/", "re/", 1))
