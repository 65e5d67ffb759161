"""The manual folder of the TFDS builders: casing of the release's first folder, and one-line
errors for a missing, empty or partial folder and for unknown data sets or configs (the
builders themselves: tests/tasks/*/test_tfds_builder.py)."""

import pytest

from biobert_tf.engine import tfds_source
from biobert_tf.engine.tfds_source import ReleaseConfig
from biobert_tf.tasks.ner import tfds_builder  # noqa: F401 (registers biobert_ner)

CONFIG = ReleaseConfig(name="toy", files={"train": "NER/Toy/train.tsv",
                                          "test": "NER/Toy/test.tsv"})


def test_the_first_folder_is_matched_without_regard_to_case(tmp_path):
    assert tfds_source.release_path(str(tmp_path), "NER/Toy/a.tsv") == f"{tmp_path}/NER/Toy/a.tsv"
    (tmp_path / "ner" / "Toy").mkdir(parents=True)
    assert tfds_source.release_path(str(tmp_path), "NER/Toy/a.tsv") == f"{tmp_path}/ner/Toy/a.tsv"
    (tmp_path / "ner" / "Toy" / "train.tsv").write_text("a\tO\n")
    (tmp_path / "ner" / "Toy" / "test.tsv").write_text("a\tO\n")
    assert tfds_source.check_manual_dir("b/toy", CONFIG, str(tmp_path)) == {
        "train": f"{tmp_path}/ner/Toy/train.tsv", "test": f"{tmp_path}/ner/Toy/test.tsv"}


def test_a_missing_empty_or_partial_folder_names_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="b/toy: no manual folder with BioBERT's "
                                                "datasets here: put the datasets/ folder"):
        tfds_source.check_manual_dir("b/toy", CONFIG, str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="no manual folder"):
        tfds_source.check_manual_dir("b/toy", CONFIG, str(tmp_path))
    (tmp_path / "RE").mkdir()
    with pytest.raises(FileNotFoundError, match=r"b/toy: none of its files is here \(expected "
                                                r"NER/Toy/train.tsv, NER/Toy/test.tsv\)"):
        tfds_source.check_manual_dir("b/toy", CONFIG, str(tmp_path))
    (tmp_path / "NER" / "Toy").mkdir(parents=True)
    (tmp_path / "NER" / "Toy" / "test.tsv").write_text("a\tO\n")
    with pytest.raises(FileNotFoundError, match=r"b/toy: missing NER/Toy/train.tsv \(found "
                                                r"NER/Toy/test.tsv\)"):
        tfds_source.check_manual_dir("b/toy", CONFIG, str(tmp_path))


def test_an_optional_file_that_is_absent_leaves_its_split_out(tmp_path):
    config = ReleaseConfig(name="toy", files={"test": "QA/t.json", "train": "QA/train.json"},
                           optional=("train",))
    (tmp_path / "QA").mkdir()
    (tmp_path / "QA" / "t.json").write_text("{}")
    assert tfds_source.check_manual_dir("b/toy", config, str(tmp_path)) == {
        "test": f"{tmp_path}/QA/t.json"}
    (tmp_path / "QA" / "train.json").write_text("{}")
    assert list(tfds_source.check_manual_dir("b/toy", config, str(tmp_path))) == ["test", "train"]
    (tmp_path / "QA" / "t.json").unlink()
    with pytest.raises(FileNotFoundError,
                       match=r"b/toy: missing QA/t.json \(found QA/train.json\)"):
        tfds_source.check_manual_dir("b/toy", config, str(tmp_path))


def test_a_combined_split_is_its_own_file_or_else_all_of_its_parts(tmp_path):
    config = ReleaseConfig(name="toy", files={"test": "QA/all.json", "b1": "QA/b1.json",
                                              "b2": "QA/b2.json"},
                           optional=("b1", "b2"), combined={"test": ("b1", "b2")})
    (tmp_path / "QA").mkdir()
    (tmp_path / "QA" / "b1.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"b/toy: missing QA/all.json \(or QA/b2.json\) "
                                                r"\(found QA/b1.json\)"):
        tfds_source.check_manual_dir("b/toy", config, str(tmp_path))
    (tmp_path / "QA" / "b2.json").write_text("{}")  # the parts make the split
    assert list(tfds_source.check_manual_dir("b/toy", config, str(tmp_path))) == ["b1", "b2"]
    (tmp_path / "QA" / "all.json").write_text("{}")  # its own file, besides the parts
    assert list(tfds_source.check_manual_dir("b/toy", config, str(tmp_path))) == [
        "test", "b1", "b2"]


def test_unknown_data_sets_and_configs_are_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"^--tfds_name=mnist: not one of BioBERT's data sets"):
        tfds_source.builder("mnist")
    with pytest.raises(ValueError, match=r"^--tfds_name=nothing_here/x: not one of"):
        tfds_source.builder("nothing_here/x")
    with pytest.raises(ValueError, match=r"^--tfds_name=biobert_ner/ncbi: biobert_ner has the "
                                         r"configs ncbi_disease, bc5cdr_chem, "):
        tfds_source.builder("biobert_ner/ncbi")
    with pytest.raises(ValueError, match=r"^--tfds_name=biobert_ner: biobert_ner has the"):
        tfds_source.builder("biobert_ner")


def test_a_split_exists_when_its_config_has_a_file_for_every_part(tmp_path):
    split = tfds_source.Split("biobert_ner/bc2gm", "train+validation", str(tmp_path))
    assert tfds_source.exists(split) and str(split) == "biobert_ner/bc2gm:train+validation"
    assert not tfds_source.exists(tfds_source.Split("biobert_ner/bc2gm", "dev", str(tmp_path)))
    (tmp_path / "f.tsv").write_text("")
    assert tfds_source.exists(str(tmp_path / "f.tsv"))
    assert not tfds_source.exists(str(tmp_path / "g.tsv"))
    # Unprepared, without a manual folder: the one-line error, before TFDS's AssertionError.
    with pytest.raises(FileNotFoundError, match="biobert_ner/bc2gm: no manual folder"):
        tfds_source.load_split(tfds_source.Split("biobert_ner/bc2gm", "train", str(tmp_path)))
