"""The self-describing run directory: the run record, saved settings taking over defaults,
contradicting flags, the saved-or-derived spec, fresh result folders, atomic writes."""

import dataclasses
import json
import os
import re

import pytest

from biobert_tf.engine import driver, run_dir
from biobert_tf.engine.settings import FineTuningSettings
from biobert_tf.tasks.relation.task import RelationTask


def trained_run(tmp_path, task="re", **saved):
    """A directory that looks trained: task.json and a kept checkpoint."""
    (tmp_path / "best").mkdir(parents=True)
    (tmp_path / "best" / "model.index").write_bytes(b"")
    settings = dataclasses.replace(FineTuningSettings(), **saved)
    run_dir.write_record(str(tmp_path), task, settings, tuple(saved))
    return tmp_path


def test_the_record_names_task_version_and_model_settings(tmp_path):
    trained_run(tmp_path, do_lower_case=False, max_seq_length=64)
    record = run_dir.read_record(str(tmp_path))
    assert record["task"] == "re" and record["version"]
    assert record["settings"] == {"do_lower_case": False, "max_seq_length": 64}
    assert run_dir.is_run_dir(str(tmp_path)) and not run_dir.is_run_dir(str(tmp_path / "x"))


def test_saved_settings_replace_defaults_and_a_contradicting_flag_is_an_error(tmp_path):
    trained_run(tmp_path, do_lower_case=False, max_seq_length=64)
    settings = FineTuningSettings(output_dir=str(tmp_path))
    adopted = driver.adopt_saved_settings(RelationTask, settings, frozenset())
    assert (adopted.do_lower_case, adopted.max_seq_length) == (False, 64)
    # The same value given explicitly is fine; another is an error naming both.
    same = dataclasses.replace(settings, do_lower_case=False)
    assert driver.adopt_saved_settings(RelationTask, same, frozenset({"do_lower_case"})) \
        .do_lower_case is False
    with pytest.raises(run_dir.SettingsConflict,
                       match=r"--do_lower_case=true contradicts the trained model's "
                             r"do_lower_case=false"):
        driver.adopt_saved_settings(RelationTask, settings, frozenset({"do_lower_case"}))


def test_another_tasks_run_directory_is_refused(tmp_path):
    trained_run(tmp_path, task="ner", do_lower_case=False)
    with pytest.raises(ValueError, match="holds a ner run, not re"):
        driver.adopt_saved_settings(RelationTask, FineTuningSettings(output_dir=str(tmp_path)),
                                    frozenset())


def test_an_init_run_gives_its_casing(tmp_path):
    trained_run(tmp_path / "init", do_lower_case=False, max_seq_length=64)
    settings = FineTuningSettings(output_dir=str(tmp_path / "new"),
                                  init_checkpoint=str(tmp_path / "init"))
    adopted = driver.adopt_saved_settings(RelationTask, settings, frozenset())
    assert adopted.do_lower_case is False and adopted.max_seq_length == 128


def test_a_broken_record_is_one_clear_error(tmp_path):
    (tmp_path / "task.json").write_text("{not json")
    with pytest.raises(ValueError, match="task.json: not a readable run record"):
        run_dir.read_record(str(tmp_path))
    (tmp_path / "task.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="task.json: not a run record"):
        run_dir.read_record(str(tmp_path))


def test_load_or_derive(tmp_path):
    path = str(tmp_path / "run" / "spec.json")

    def save(value, p):
        with open(p, "w") as f:
            json.dump(value, f)

    def load(p):
        with open(p) as f:
            return json.load(f)

    with pytest.raises(ValueError, match=r"spec.json: train first \(--do_train\)"):
        run_dir.load_or_derive(path, load, lambda: {"a": 1}, save, training=False)
    assert run_dir.load_or_derive(path, load, lambda: {"a": 1}, save, training=True) == {"a": 1}
    assert run_dir.load_or_derive(path, load, lambda: {"a": 2}, save, training=False) == {"a": 1}


def test_fresh_results_dirs_never_collide(tmp_path):
    first, second = run_dir.fresh_results_dir(str(tmp_path)), run_dir.fresh_results_dir(
        str(tmp_path))
    assert first != second and os.path.isdir(first) and os.path.isdir(second)


def test_saved_dataclasses_round_trip_and_name_a_bad_file(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Spec(run_dir.SavedDataclass):
        labels: tuple[str, ...]
        head: str = "cls"

    path = str(tmp_path / "spec.json")
    Spec(("false", "CPR:3")).save(path)
    assert Spec.load(path) == Spec(("false", "CPR:3"))
    (tmp_path / "spec.json").write_text('{"labels": ["a"], "unknown": 1}')
    with pytest.raises(ValueError, match="spec.json: not a saved Spec"):
        Spec.load(path)


@pytest.mark.parametrize("content, message", [
    ('{"task": "re", "settings": {"max_seq_length": NaN}}',
     r"not a readable run record \(.*NaN is not a JSON number \(at settings\.max_seq_length\)"),
    ('{"task": "re", "task": "ner"}', "not a readable run record .*the key 'task' occurs twice"),
    ("", r"not a readable run record \(.*empty file"),
    ('{"task": "re", "settings": []}', r"settings: must be an object, got \[\]"),
    ('{"task": "re", "version": 1}', "version: must be a string, got 1"),
    ('{"task": ""}', "task: must be a non-empty string"),
])
def test_a_damaged_record_names_the_file_and_field(tmp_path, content, message):
    (tmp_path / "task.json").write_text(content)
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "task.json")) + ": " + message):
        run_dir.read_record(str(tmp_path))


@pytest.mark.parametrize("name, value", [("max_seq_length", "64"), ("max_seq_length", 64.0),
                                         ("do_lower_case", 0), ("do_lower_case", None),
                                         ("max_seq_length", True)])
def test_a_saved_setting_of_the_wrong_type_is_refused_not_adopted(tmp_path, name, value):
    trained_run(tmp_path, do_lower_case=False, max_seq_length=64)
    record = json.loads((tmp_path / "task.json").read_text())
    record["settings"][name] = value
    (tmp_path / "task.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=rf"task.json: settings\.{name}: must be "):
        driver.adopt_saved_settings(RelationTask, FineTuningSettings(output_dir=str(tmp_path)),
                                    frozenset())


@dataclasses.dataclass(frozen=True)
class SavedSpec(run_dir.SavedDataclass):
    labels: tuple[str, ...]
    units: int = 8
    rate: float = 0.5
    head: str = "cls"
    lower: bool = False


@pytest.mark.parametrize("values, message", [
    ({"labels": ["a"], "units": True}, "units: must be an integer, got true"),
    ({"labels": ["a"], "units": 8.0}, "units: must be an integer, got 8.0"),
    ({"labels": ["a"], "rate": "0.5"}, "rate: must be a finite number"),
    ({"labels": ["a"], "lower": 1}, "lower: must be true or false"),
    ({"labels": ["a", 3]}, r"labels\[1\]: must be a string, got 3"),
    ({"labels": "a"}, "labels: must be an array"),
    ({"units": 3}, "the field 'labels' is missing"),
    ({"labels": ["a"], "x": 1}, "unknown fields x"),
])
def test_a_saved_dataclass_field_of_the_wrong_type_names_file_and_field(tmp_path, values, message):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ValueError, match=f"spec.json: not a saved SavedSpec .*{message}"):
        SavedSpec.load(str(path))


def test_a_saved_dataclass_reads_back_exactly_and_is_written_atomically(tmp_path):
    spec = SavedSpec(("x", "y"), units=3, rate=1, head="sll", lower=True)
    spec.save(str(tmp_path / "spec.json"))
    loaded = SavedSpec.load(str(tmp_path / "spec.json"))
    assert loaded == spec and isinstance(loaded.rate, float)
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]


def test_data_named_on_the_command_line_replaces_the_whole_saved_source(tmp_path):
    from biobert_tf.engine.task import DATA_SOURCE
    from biobert_tf.tasks.ner.task import NerSettings, NerTask

    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "model.index").write_bytes(b"")
    run_dir.write_record(str(tmp_path), "ner", NerSettings(
        tfds_name="biobert_ner/bc2gm", tfds_manual_dir="/release", train_file="train.tsv"),
        (), NerTask.data_settings)
    settings = NerSettings(output_dir=str(tmp_path))
    # Nothing given: the saved source, whole.
    adopted = driver.adopt_saved_settings(NerTask, settings, frozenset())
    assert (adopted.tfds_name, adopted.tfds_manual_dir, adopted.data_dir,
            adopted.train_file) == ("biobert_ner/bc2gm", "/release", None, "train.tsv")
    # A folder given: none of the saved TFDS source (the other data settings still apply).
    adopted = driver.adopt_saved_settings(
        NerTask, dataclasses.replace(settings, data_dir="data"), frozenset({"data_dir"}))
    assert (adopted.data_dir, adopted.tfds_name, adopted.tfds_manual_dir,
            adopted.train_file) == ("data", None, None, "train.tsv")
    assert {"data_dir", "tfds_name"} <= set(DATA_SOURCE)


@pytest.mark.parametrize("flags, message", [
    ({"data_dir": "d"}, "--data_dir=d and --tfds_name=biobert_ner/bc2gm: give one of them"),
    ({"tfds_name": "biobert_re/gad"}, "--tfds_name=biobert_re/gad: the ner task reads "
                                      "biobert_ner/<config>")])
def test_tfds_name_is_the_tasks_and_the_only_source(flags, message):
    from biobert_tf.tasks.ner.task import NerSettings, NerTask

    settings = NerSettings(output_dir="out", do_train=True, tfds_name="biobert_ner/bc2gm")
    driver.check_usage(NerTask, settings)
    with pytest.raises(ValueError, match=re.escape(message)):
        driver.check_usage(NerTask, dataclasses.replace(settings, **flags))
    from biobert_tf.tasks.qa.task import QaSettings, SpanQaTask

    qa = QaSettings(output_dir="out", do_train=True, train_file="train",
                    tfds_name="biobert_qa/bioasq_4b")
    driver.check_usage(SpanQaTask, qa)
    with pytest.raises(ValueError, match="the qa task reads biobert_qa/<config>"):
        driver.check_usage(SpanQaTask, dataclasses.replace(qa, tfds_name="biobert_ner/bc2gm"))
    without_builder = type("NoTfdsTask", (SpanQaTask,), {"tfds_builder": None})
    with pytest.raises(ValueError, match="the qa task reads no TFDS data set; give --data_dir"):
        driver.check_usage(without_builder, qa)
