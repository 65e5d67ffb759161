"""The NER tag parser and a model's tag set: parsing, order, ids, types, files, no TF."""

import re
import subprocess
import sys

import pytest

from biobert_tf.tasks.ner import metrics, model
from biobert_tf.tasks.ner.labels import UNTYPED, NerLabels, split_label, tag_order


def test_one_parser_behind_the_old_names():
    assert metrics.split_label is split_label and metrics.UNTYPED is UNTYPED
    assert model.NerLabels is NerLabels


def test_split_label_refuses_what_conlleval_output_cannot_hold():
    assert split_label("E-Foo-Bar") == ("E", "Foo-Bar")
    for bad in [None, 3, "B-A\t", "I- A", "-A", "OO"]:
        with pytest.raises(ValueError, match="invalid tag"):
            split_label(bad)


def test_tag_order():
    tags = ["S-Chem", "I", "B-Dis", "E-Chem", "O", "B", "B-Chem", "I-Chem"]
    assert sorted(tags, key=tag_order) == ["O", "B", "I", "B-Chem", "I-Chem", "E-Chem", "S-Chem",
                                           "B-Dis"]


def test_tag_set_prefixes_and_types():
    labels = NerLabels(["O", "B-Dis", "I-Dis", "B-Chem", "I-Chem"], "bio")
    assert len(labels) == 5
    assert labels.prefixes == ["O", "B", "I", "B", "I"]
    assert labels.types == ["Chem", "Dis"]
    assert labels.type_ids == [-1, 1, 1, 0, 0]
    assert labels.type_name(0) == "Chem"
    assert labels.ids(["I-Chem", "O"]) == [4, 0]
    with pytest.raises(ValueError, match=r"^f.tsv:3: tag 'B-Gene' is not in the model's tag set"):
        labels.ids(["B-Gene"], where="f.tsv:3")


def test_untyped_tag_set():
    labels = NerLabels(["O", "B", "I", "E", "S"], "bioes")
    assert labels.types == [""] and labels.type_ids == [-1, 0, 0, 0, 0]
    assert labels.type_name(0) == UNTYPED


def test_tag_set_rejects_bad_tags():
    with pytest.raises(ValueError, match="has no 'O'"):
        NerLabels(["B", "I"], "bio")
    with pytest.raises(ValueError, match="invalid tag '\\[PAD\\]'"):
        NerLabels(["O", "B", "[PAD]"], "bio")


def test_save_and_load(tmp_path):
    path = str(tmp_path / "labels.json")
    NerLabels(["O", "B-Chem", "I-Chem", "E-Chem", "S-Chem"], "bioes").save(path)
    loaded = NerLabels.load(path)
    assert loaded.labels == ["O", "B-Chem", "I-Chem", "E-Chem", "S-Chem"]
    assert loaded.scheme == "bioes"


@pytest.mark.parametrize("text", ["{", "[]", '{"labels": ["O"]}',
                                  '{"labels": ["X"], "scheme": "bio"}'])
def test_load_names_the_file_of_a_bad_tag_set(tmp_path, text):
    path = tmp_path / "labels.json"
    path.write_text(text)
    expected = f"^{re.escape(str(path))}: not a tag set saved by NerLabels.save"
    with pytest.raises(ValueError, match=expected):
        NerLabels.load(str(path))


@pytest.mark.parametrize("text, detail", [
    ('{"labels": ["O", "B", "B"], "scheme": "bio"}', "labels: a tag occurs twice"),
    ('{"labels": ["O", "B"], "scheme": "iobes"}', "scheme: must be one of bio, bioes, got 'iobes'"),
    ('{"labels": ["O", 7], "scheme": "bio"}', r"labels\[1\]: must be a non-empty string, got 7"),
    ('{"labels": "O B I", "scheme": "bio"}', "labels: must be an array"),
    ('{"labels": ["O"], "scheme": "bio", "scheme": "bioes"}', "the key 'scheme' occurs twice"),
    ('{"labels": ["O", NaN], "scheme": "bio"}', "NaN is not a JSON number"),
    ("", "empty file"),
])
def test_a_damaged_tag_set_names_the_file_and_field(tmp_path, text, detail):
    path = tmp_path / "labels.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: not a tag set saved by "
                                         f"NerLabels.save .*{detail}") as error:
        NerLabels.load(str(path))
    assert "\n" not in str(error.value)


def test_save_is_atomic(tmp_path):
    NerLabels(["O", "B", "I"], "bio").save(str(tmp_path / "labels.json"))
    assert [p.name for p in tmp_path.iterdir()] == ["labels.json"]



    code = ("import sys; sys.modules['tensorflow'] = None; "  # any import of tensorflow fails
            "import biobert_tf.tasks.ner.labels, biobert_tf.tasks.ner.metrics, "
            "biobert_tf.tasks.ner.data")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
