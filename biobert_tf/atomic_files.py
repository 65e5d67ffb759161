"""Outputs that appear under their final name only when complete: a file (`write_text`, or
streamed: `replacing`), a folder (`atomic_directory`) or files merged into a folder (`whole_files_into`).

Each is written under a temporary name beside its final one and renamed when whole, so a job
killed at any point leaves either the previous output or the new one, never half of one (a
kill, not a power cut: nothing is fsynced). Paths with a scheme (gs://) go through tf.io.gfile;
an object store has no folder rename, but each of its objects appears whole when written, so
folders there are written in place. TensorFlow is imported only for such paths: local writes
(e.g. the streaming prediction file) stay light.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Iterator
from typing import IO

# A file written in place while it grows (a shard, a prediction file that resumes after a kill)
# carries this suffix until it is complete and renamed.
PARTIAL_SUFFIX = ".partial"
# Hidden siblings of a folder being written: the new one, and the one it replaces.
_PARTIAL, _REPLACED = ".partial-", ".replaced-"


def is_remote(path: str) -> bool:
    """Whether `path` names an object store (gs://, s3://, ...) rather than a local file."""
    return "://" in path


def write_text(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary file, so a reader never sees half of it."""
    if is_remote(path):
        import tensorflow as tf
        temporary = _temporary(path)
        with tf.io.gfile.GFile(temporary, "w") as f:
            f.write(text)
        tf.io.gfile.rename(temporary, path, overwrite=True)
        return
    with replacing(path) as f:
        f.write(text)


@contextlib.contextmanager
def replacing(path: str) -> Iterator[IO[str]]:
    """A UTF-8 text file to write the local file `path` through: a temporary sibling, renamed
    to `path` when the block ends without an error and deleted otherwise."""
    temporary = _temporary(path)
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            yield f
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)


def _temporary(path: str) -> str:
    return f"{path}.tmp-{os.getpid()}"


@contextlib.contextmanager
def atomic_directory(path: str, marker: str) -> Iterator[str]:
    """Yields a temporary sibling folder of `path` (`partial_sibling`) to write a folder into,
    renamed to `path` when the block ends without an error. A folder already at `path` is
    replaced only then (a kill between the two renames leaves no `path`, never a partial
    one). An existing `path` that holds something else (not empty, no `marker` file) is an
    error, before anything is written. One writer of a path at a time: the next one deletes
    the leftovers of a killed one.
    """
    if is_remote(path):
        yield path
        return
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    check_replaceable(path, marker)
    temporary = partial_sibling(path)
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    # A folder cannot be renamed over a non-empty one: the old one steps aside first.
    if os.path.exists(path):
        replaced = os.path.join(parent, f".{name}{_REPLACED}{os.getpid()}")
        os.replace(path, replaced)
        os.replace(temporary, path)
        shutil.rmtree(replaced)
    else:
        os.replace(temporary, path)


@contextlib.contextmanager
def whole_files_into(directory: str) -> Iterator[str]:
    """Yields a temporary sibling folder of `directory`; when the block ends without an error,
    each file written there is renamed into `directory` (other files there are kept), so none
    is ever seen half-written. Checkpoint indexes move last: a TF1 checkpoint is found only
    once its data is in place."""
    if is_remote(directory):
        yield directory
        return
    partial = partial_sibling(directory)
    try:
        yield partial
        files = [os.path.relpath(os.path.join(root, name), partial)
                 for root, _, names in os.walk(partial) for name in names]
        for name in sorted(files, key=lambda name: name.endswith(".index")):
            os.makedirs(os.path.dirname(os.path.join(directory, name)), exist_ok=True)
            os.replace(os.path.join(partial, name), os.path.join(directory, name))
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def partial_sibling(path: str) -> str:
    """A new empty hidden folder beside `path` (`.NAME.partial-PID`) to write its contents
    into, once the leftovers of a killed writer of `path` are deleted."""
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    for kind in (_PARTIAL, _REPLACED):
        for leftover in glob.glob(os.path.join(parent, glob.escape(f".{name}{kind}") + "*")):
            shutil.rmtree(leftover, ignore_errors=True)
    # Named by the process (not mkdtemp): made like any folder, with the umask's permissions.
    partial = os.path.join(parent, f".{name}{_PARTIAL}{os.getpid()}")
    os.makedirs(partial)
    return partial


def check_replaceable(path: str, marker: str) -> None:
    """A clear error when `path` exists and is neither empty nor a folder with `marker` (one
    this program wrote): an export must not replace, say, a run directory."""
    if is_remote(path):
        return
    if os.path.exists(path) and not (os.path.isdir(path) and (
            not os.listdir(path) or os.path.exists(os.path.join(path, marker)))):
        raise ValueError(f"{path}: exists and is not an export (no {marker}): choose a new "
                         "or empty directory")
