"""Batch prediction over (PubMed-scale) text files: streamed, with progress, resumable.

Every task's raw-text predictor (NER entity spans, RE label probabilities) runs through
`predict_file`, which reads one document per line in constant memory and writes one JSON
line per document. Each output line names its input line. Beside OUT three names say where
a run is:

    OUT.partial      the lines written so far; an interrupted run (a kill, a preemption)
                     continues after its last complete line
    OUT              the same file renamed once every document is in: OUT exists only when
                     complete (the PubTator and BioC formats are rendered from it:
                     `prediction_formats.render_file`)
    OUT.state.json   which input (path, size, sha256) and which model the lines belong to,
                     so that another input or model is an error, never a silent mix; and
                     "complete", set once OUT is in place
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from absl import logging

from biobert_tf import atomic_files, json_files
from biobert_tf.engine.progress import Progress
from biobert_tf.text_files import utf8_lines

STATE_SUFFIX = ".state.json"


def iter_texts(path: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line of a UTF-8 file, streamed."""
    for number, line in utf8_lines(path):
        if line.strip():
            yield number, line.strip()


def _file_sha256(path: str) -> str:
    # The whole file: about 20 times faster than the pass that counts its documents, and
    # nothing short of it tells an edited input from the original.
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _model_weights_sha256(model_dir: str) -> str | None:
    """sha256 of the `.index` of the weights a trained run keeps (it holds a checksum of every
    tensor, so it changes with them), None without trained weights."""
    from biobert_tf.engine import run_dir  # here: it imports TensorFlow, reading files does not
    checkpoint = run_dir.trained_checkpoint(model_dir)
    return _file_sha256(checkpoint + ".index") if checkpoint else None


def _identity(path: str, model_dir: str | None) -> dict[str, Any]:
    """What the lines of an output belong to: the input's content, and the model."""
    identity = {"input": os.path.abspath(path), "input_size": os.path.getsize(path),
                "input_sha256": _file_sha256(path), "model_dir": None, "model_sha256": None}
    if model_dir:
        identity.update(model_dir=os.path.abspath(model_dir),
                        model_sha256=_model_weights_sha256(model_dir))
    return identity


def _read_state(state_path: str) -> dict[str, Any] | None:
    if not os.path.exists(state_path):
        return None
    try:
        return json_files.load(state_path).object()
    except json_files.JsonFileError as e:
        raise json_files.JsonFileError(f"{e}: delete it with the output beside it to start "
                                       "over") from None


def _write_state(state_path: str, identity: dict[str, Any], complete: bool) -> None:
    atomic_files.write_text(state_path, json.dumps({**identity, "complete": complete}, indent=1))


def _check_same_source(state: dict[str, Any], identity: dict[str, Any], output_path: str,
                       path: str) -> None:
    """The error for an output that belongs to another input or model than this run's."""
    how = f"delete {output_path} (and its .partial) or choose another output path"
    if (state.get("input_sha256"), state.get("input_size")) != \
            (identity["input_sha256"], identity["input_size"]):
        raise ValueError(f"{output_path}: holds the predictions of {state.get('input')} "
                         f"(sha256 {str(state.get('input_sha256'))[:12]}), not of {path} "
                         f"(sha256 {identity['input_sha256'][:12]}): {how}")
    if state.get("model_sha256") != identity["model_sha256"]:
        raise ValueError(f"{output_path}: predicted by the model in {state.get('model_dir')} "
                         f"(weights sha256 {str(state.get('model_sha256'))[:12]}), not by "
                         f"{identity['model_dir']} (weights sha256 "
                         f"{str(identity['model_sha256'])[:12]}): {how}")


def _lines_done(partial_path: str) -> int:
    """Complete lines already in `partial_path`; a half-written last line is cut off."""
    if not os.path.exists(partial_path):
        return 0
    with open(partial_path, "rb+") as f:
        content = f.read()
        keep = content.rfind(b"\n") + 1
        f.seek(keep)
        f.truncate()
    return content[:keep].count(b"\n")


def predict_file(predict_batch: Callable[[list[str]], list[dict]], path: str,
                 output_path: str, batch_size: int = 32, progress: bool = True,
                 model_dir: str | None = None) -> int:
    """Writes `{"line": N, **predict_batch(texts)[i]}` for every non-blank line of `path`
    into `output_path` (see the module docstring), skipping the documents an earlier run
    already wrote. Returns the number of documents predicted now: 0 when `output_path` is
    already complete. `model_dir`: the trained run that predicts, recorded so that a run
    with other weights cannot continue the output. `progress`: report it (engine.progress).

    An output of another input or model is a ValueError naming both."""
    partial_path, state_path = output_path + atomic_files.PARTIAL_SUFFIX, output_path + STATE_SUFFIX
    if next(iter_texts(path), None) is None:
        raise ValueError(f"{path}: no text to predict")
    identity = _identity(path, model_dir)
    state = _read_state(state_path)
    started = os.path.exists(output_path) or os.path.exists(partial_path)
    if state is None and started:
        # Written before outputs had a state (or the state was deleted): continued like an
        # interrupted output of this input.
        logging.warning("%s has no %s: continuing it as the predictions of %s", output_path,
                        os.path.basename(state_path), path)
        if not os.path.exists(partial_path):
            os.replace(output_path, partial_path)
    elif state is not None and started:
        _check_same_source(state, identity, output_path, path)
        if os.path.exists(output_path):
            logging.info("%s is already complete (predictions of %s): delete it to predict "
                         "again", output_path, path)
            return 0
    # Recorded before the first line is written: no line without its source.
    _write_state(state_path, identity, complete=False)
    done = _lines_done(partial_path)
    # A pass to count the documents, for the ETA: reading is cheap next to predicting.
    total = sum(1 for _ in iter_texts(path)) if progress else None
    texts = itertools.islice(iter_texts(path), done, None)
    predicted = 0
    with open(partial_path, "a", encoding="utf-8") as out, \
            Progress(f"predicting {os.path.basename(path)}", total, "docs", initial=done,
                     enabled=progress) as report:
        while batch := list(itertools.islice(texts, batch_size)):
            numbers, lines = zip(*batch)
            for number, result in zip(numbers, predict_batch(list(lines))):
                out.write(json.dumps({"line": number, **result}, ensure_ascii=False) + "\n")
            out.flush()
            predicted += len(batch)
            report.update(len(batch))
    os.replace(partial_path, output_path)
    _write_state(state_path, identity, complete=True)
    return predicted
