"""Batch prediction over (PubMed-scale) text files: streamed, with progress, resumable.

Every task's raw-text predictor (NER entity spans, RE label probabilities) runs through
`predict_file`, which reads one document per line in constant memory and writes one JSON
line per document. Each output line names its input line, and an interrupted run (a kill,
a preemption) continues after the last complete output line.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator

import tensorflow as tf

from biobert_tf.engine.progress import Progress
from biobert_tf.text_files import utf8_lines


def iter_texts(path: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every non-blank line of a UTF-8 file, streamed."""
    for number, line in utf8_lines(path):
        if line.strip():
            yield number, line.strip()


def _lines_done(output_path: str) -> int:
    """Complete lines already in `output_path`; a half-written last line is cut off."""
    if not tf.io.gfile.exists(output_path):
        return 0
    with open(output_path, "rb+") as f:
        content = f.read()
        keep = content.rfind(b"\n") + 1
        f.seek(keep)
        f.truncate()
    return content[:keep].count(b"\n")


def predict_file(predict_batch: Callable[[list[str]], list[dict]], path: str,
                 output_path: str, batch_size: int = 32, progress: bool = True) -> int:
    """Writes `{"line": N, **predict_batch(texts)[i]}` for every non-blank line of `path`
    into `output_path`, skipping the documents an earlier run already wrote. Returns the
    number of documents predicted now. `progress`: report it (see engine.progress)."""
    done = _lines_done(output_path)
    # A pass to count the documents, for the ETA: reading is cheap next to predicting.
    total = sum(1 for _ in iter_texts(path)) if progress else None
    texts = itertools.islice(iter_texts(path), done, None)
    predicted = 0
    with open(output_path, "a", encoding="utf-8") as out, \
            Progress(f"predicting {os.path.basename(path)}", total, "docs", initial=done,
                     enabled=progress) as report:
        while batch := list(itertools.islice(texts, batch_size)):
            numbers, lines = zip(*batch)
            for number, result in zip(numbers, predict_batch(list(lines))):
                out.write(json.dumps({"line": number, **result}, ensure_ascii=False) + "\n")
            out.flush()
            predicted += len(batch)
            report.update(len(batch))
    if done + predicted == 0:
        raise ValueError(f"{path}: no text to predict")
    return predicted
