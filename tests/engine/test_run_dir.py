"""The self-describing run directory: the run record, saved settings taking over defaults,
contradicting flags, the saved-or-derived spec, fresh result folders, atomic writes."""

import dataclasses
import json
import os

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


def test_fresh_results_dirs_never_collide_and_writes_are_atomic(tmp_path):
    first, second = run_dir.fresh_results_dir(str(tmp_path)), run_dir.fresh_results_dir(
        str(tmp_path))
    assert first != second and os.path.isdir(first) and os.path.isdir(second)
    run_dir.atomic_write(str(tmp_path / "a.txt"), "complete\n")
    assert (tmp_path / "a.txt").read_text() == "complete\n"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


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
