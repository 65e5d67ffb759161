"""What a `create_pretraining_data` run makes and how far it got, kept beside its output.

The record, ``FIRST_OUTPUT_FILE.run.json``, holds the command (the input files with their size
and modification time, the content hash of the vocabulary, every flag that changes the
examples, the output files) and the progress: the chunks of documents done, the bytes each
``.partial`` shard holds for them, the counts so far, whether the run is complete. It
is rewritten atomically after every chunk, once the shards are flushed, so after a kill it
never claims more than the shards hold (a power cut is another matter: nothing is fsynced).

`start` compares it with the command being run: the same command continues an interrupted
run or finds a finished one done; another command into the same output files stops with
one line, unless told to overwrite (`--overwrite`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any

from biobert_tf.pretraining.data import RUN_RECORD_SUFFIX
from tfrecords_tools.pipeline import ShardProgress, Summary, unfinished_path


@dataclasses.dataclass
class RunRecord:
    """A run's command and progress (see the module docstring)."""

    command: dict[str, Any]
    chunks_done: int = 0
    shards: ShardProgress | None = None  # None until the first chunk is done
    summary: Summary = dataclasses.field(default_factory=Summary)
    complete: bool = False

    @property
    def output_files(self) -> list[str]:
        return self.command["output_files"]

    def save(self) -> None:
        """Replaces the saved record at once. The temporary file has one name, not one per
        process, so a save that a kill interrupts leaves nothing behind for long: the rerun's
        first save overwrites it."""
        path = record_path(self.output_files)
        temporary = unfinished_path(path)
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(dataclasses.asdict(self), f, indent=1)
        os.replace(temporary, path)

    def remove(self) -> None:
        path = record_path(self.output_files)
        for saved in (path, unfinished_path(path)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(saved)


def record_path(output_files: list[str]) -> str:
    return output_files[0] + RUN_RECORD_SUFFIX


def start(command: dict[str, Any], overwrite: bool) -> RunRecord:
    """The record to continue: the saved one when it is this command's, else a new one.

    Raises ValueError when the output files hold something else — another command's shards,
    or files this tool did not record. With `overwrite`, always a new one.
    """
    command = json.loads(json.dumps(command))  # as it reads back from the record
    if overwrite:
        return RunRecord(command)
    outputs = command["output_files"]
    saved = _load(record_path(outputs))
    if saved is not None and saved.command == command:
        paths = outputs if saved.complete else [unfinished_path(p) for p in outputs]
        return saved if all(os.path.exists(p) for p in paths) else RunRecord(command)
    if saved is not None and (saved.complete or sum(saved.shards.sizes)):
        changed = [key for key in sorted(command.keys() | saved.command.keys())
                   if command.get(key) != saved.command.get(key)]
        raise ValueError(f"{record_path(outputs)}: --output_file holds the output of another "
                         f"command (it differs in {', '.join(changed)}); pass --overwrite to replace "
                         "it, or choose another --output_file")
    # Without a record of examples written, .partial files hold none worth keeping.
    for path in outputs:
        if os.path.exists(path):
            raise ValueError(f"{path} exists and is not the output of this command; pass "
                             "--overwrite to replace it, or choose another --output_file")
    return RunRecord(command)


def _load(path: str) -> RunRecord | None:
    try:
        with open(path, encoding="utf-8") as f:
            fields = json.load(f)
        return RunRecord(fields["command"], fields["chunks_done"], ShardProgress(**fields["shards"]),
                         Summary(**fields["summary"]), fields["complete"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a readable run record ({e!r}); delete it and the "
                         ".partial files beside the output files, or pass --overwrite") from None
