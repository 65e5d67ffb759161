"""A run directory that describes itself: everything needed to use a trained model again.

    RUN/task.json          the task, the package version and the settings that define the
                           trained model (casing, lengths, head, entity mode, tag scheme, ...)
    RUN/bert_config.json   the encoder's config and vocabulary (BERT tasks; the BiLSTM keeps
    RUN/vocab.txt          its word vocabulary and architecture instead)
    RUN/<spec file>        what the task derived from its training data (labels.json, ...)
    RUN/best/model.*       the kept weights without optimizer slots (best dev epoch, or the
                           last step), beside the training checkpoints RUN/ckpt-N that resume
                           an interrupted run

`run_X.py --output_dir=RUN --predict_text=...` therefore needs no other flag, and
`--init_checkpoint=RUN` starts another task from it. A flag that contradicts a saved setting
stops the run with both values named.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import types
import typing
from typing import Any, Callable, TypeVar

import tensorflow as tf

from biobert_tf import atomic_files, json_files
from biobert_tf.bert.checkpoints import reading_checkpoint

RUN_FILE = "task.json"
BEST_DIR = "best"
T = TypeVar("T")


class SettingsConflict(ValueError):
    """A flag contradicts a setting saved with the trained model."""


def is_run_dir(path: str | None) -> bool:
    """Whether `path` is a directory written by one of our trained runs."""
    return bool(path) and os.path.isfile(os.path.join(path, RUN_FILE)) and \
        trained_checkpoint(path) is not None


def read_record(run_dir: str) -> dict[str, Any] | None:
    """task.json of a run directory ({"task", "version", "settings", "data"}), or None."""
    path = os.path.join(run_dir, RUN_FILE)
    if not os.path.isfile(path):
        return None
    try:
        record = json_files.load(path, kind=None)
    except ValueError as e:
        raise ValueError(f"{path}: not a readable run record ({e})") from None
    if not isinstance(record.value, dict) or not isinstance(record.value.get("task"), str):
        raise ValueError(f"{path}: not a run record (no \"task\" name)")
    record.field("task").string()
    record.optional("version", "").string(non_empty=False)
    for part in ("settings", "data"):
        record.optional(part, {}).object()
    return {"settings": {}, "data": {}, **record.value}


def write_record(run_dir: str, task_name: str, settings: Any, names: tuple[str, ...],
                 data_names: tuple[str, ...] = ()) -> None:
    """task.json: the settings `names` of `settings` (a dataclass) that define the model, and
    the `data_names` saying where its data came from (defaults for a later run)."""
    from biobert_tf import __version__
    record = {"task": task_name, "version": __version__,
              "settings": {name: _jsonable(getattr(settings, name)) for name in names},
              "data": {name: _jsonable(getattr(settings, name)) for name in data_names}}
    atomic_files.write_text(os.path.join(run_dir, RUN_FILE), json.dumps(record, indent=1) + "\n")


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def conflict(name: str, ours: Any, theirs: Any, where: str) -> SettingsConflict:
    """The error for a flag that contradicts a setting of the trained model saved in `where`."""
    return SettingsConflict(f"--{name}={_flag_value(ours)} contradicts the trained model's "
                            f"{name}={_flag_value(theirs)} ({where}): drop the flag or train a "
                            "new model")


def own_record(output_dir: str | None, task_name: str) -> dict[str, Any] | None:
    """The record of the run already in --output_dir (None if there is none); a run of
    another task there is an error."""
    record = read_record(output_dir) if output_dir and os.path.isdir(output_dir) else None
    if record is not None and record["task"] != task_name:
        raise ValueError(f"{os.path.join(output_dir, RUN_FILE)}: --output_dir holds a "
                         f"{record['task']} run, not {task_name}: choose another directory")
    return record


def reconcile(settings: T, given: frozenset[str], record: dict, source: str,
              names: tuple[str, ...], data_names: tuple[str, ...] = ()) -> T:
    """`settings` with the saved values of `names` (model settings) and `data_names` (where the
    data was) from a run record: a saved value replaces a default; a model setting given on the
    command line with another value is an error naming both (other data is not)."""
    saved = {**{k: v for k, v in record["data"].items() if k in data_names},
             **{k: v for k, v in record["settings"].items() if k in names}}
    changes, hints = {}, typing.get_type_hints(type(settings))
    for name, theirs in saved.items():
        ours = _jsonable(getattr(settings, name))
        if not _fits(theirs, hints[name]):
            raise ValueError(f"{os.path.join(source, RUN_FILE)}: settings.{name}: must be "
                             f"{hints[name]}, got {json_files.show(theirs)}")
        if ours == theirs or (name in given and name not in names):
            continue
        if name in given:
            raise conflict(name, ours, theirs, os.path.join(source, RUN_FILE))
        changes[name] = tuple(theirs) if isinstance(theirs, list) else theirs
    return dataclasses.replace(settings, **changes) if changes else settings


def _fits(value: Any, hint: Any) -> bool:
    """Whether a saved JSON value is of a setting's declared type (`str | None`, `int`,
    `tuple[str, ...]`, ...; a bool is not an int, an int is a float)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return isinstance(value, list) and all(_fits(x, typing.get_args(hint)[0]) for x in value)
    if hint is float:
        return json_files.is_number(value)
    if hint is int:
        return json_files.is_integer(value)
    return isinstance(value, hint) if isinstance(hint, type) else True


def check_matches(name: str, value: Any, saved: Any, path: str) -> None:
    """A setting resolved at training time (saved in the task's spec file, e.g. the entity
    mode or tag scheme that "auto" became) against its flag: "auto" or the same value."""
    if value not in ("auto", saved):
        raise conflict(name, value, saved, path)


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def trained_checkpoint(run_dir: str) -> str | None:
    """The weights a run keeps: best/model, else its newest training checkpoint."""
    best = os.path.join(run_dir, BEST_DIR, "model")
    if tf.io.gfile.exists(best + ".index"):
        return best
    return tf.train.latest_checkpoint(run_dir)


def restore_weights(model: Any, run_dir: str) -> str:
    """Reads the kept weights of a run into `model`; a clear error when it was never
    trained. Returns the checkpoint read."""
    path = trained_checkpoint(run_dir)
    if path is None:
        raise ValueError(f"no trained model in {run_dir}: train first (--do_train) or point "
                         "--output_dir at a trained run")
    with reading_checkpoint(path):
        tf.train.Checkpoint(model=model).read(path).expect_partial()
    return path


def trained_run_file(run_dir: str, name: str) -> str:
    """`run_dir/name`, written by training; a clear error when the run was never trained."""
    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        raise ValueError(f"no {path}: train first (--do_train) or point --output_dir "
                         "at a trained model")
    return path


def load_or_derive(path: str, load: Callable[[str], T], derive: Callable[[], T],
                   save: Callable[[T, str], None], training: bool) -> T:
    """What a task derives from its training data (its labels, ...): derived and saved at
    `path` when training, else loaded from there (a clear error when never trained)."""
    if training:
        value = derive()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        save(value, path)
        return value
    return load(trained_run_file(os.path.dirname(path), os.path.basename(path)))


def fresh_results_dir(run_dir: str, what: str = "predict") -> str:
    """A new folder for the results of a run that does not train (predict-only), so that
    they never mix with the training run's: RUN/<what>-<YYYYmmdd-HHMMSS>[-N]."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(run_dir, f"{what}-{stamp}")
    n = 1
    while os.path.exists(path):
        n += 1
        path = os.path.join(run_dir, f"{what}-{stamp}-{n}")
    os.makedirs(path)
    return path


class SavedDataclass:
    """`save` / `load` for a frozen dataclass kept beside a model as a JSON object (lists come
    back as tuples); a file that does not hold one, or a field of another type than declared
    (str, int, float, bool or tuple[str, ...]), is a clear error naming the file and field."""

    def save(self, path: str) -> None:
        atomic_files.write_text(path, json.dumps(dataclasses.asdict(self), indent=1))

    @classmethod
    def load(cls: type[T], path: str) -> T:
        try:
            saved = json_files.load(path)
            fields = dataclasses.fields(cls)
            unknown = sorted(set(saved.object()) - {f.name for f in fields})
            if unknown:
                saved.fail(f"unknown fields {', '.join(unknown)}")
            hints = typing.get_type_hints(cls)
            required = {f.name for f in fields if f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING}
            return cls(**{f.name: _typed(saved.field(f.name), hints[f.name]) for f in fields
                          if f.name in required or saved.has(f.name)})
        except ValueError as e:
            raise ValueError(f"{path}: not a saved {cls.__name__} ({e})") from None


def _typed(node: json_files.Node, hint: Any) -> Any:
    """The value of a saved dataclass field, checked against its declared type."""
    if hint is bool:
        return node.boolean()
    if hint is int:
        return node.integer()
    if hint is float:
        return float(node.number())
    if hint is str:
        return node.string(non_empty=False)
    if hint == tuple[str, ...]:
        return tuple(item.string(non_empty=False) for item in node.items())
    raise TypeError(f"{node.path}: a saved dataclass field cannot be of type {hint}")
