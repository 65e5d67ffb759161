"""Documents → tokenized chunks → instances → TFRecord examples.

The steps shared by the single-process command (`create_pretraining_data`) and the
Beam pipeline. Documents are processed in chunks of `documents_per_chunk` documents
of one input file, so memory stays bounded whatever the corpus size; random next
sentences are drawn from the same chunk and instances are shuffled within it
(Google holds the whole corpus in memory and shuffles globally, which does not
scale to PubMed). Each chunk gets its own seed derived from (seed, file index,
chunk index), so the output is deterministic per seed and the same whichever
process makes it.

`ExampleMaker` makes the chunks' examples in this process or in a pool of worker processes,
and hands them back in chunk order, so the bytes written do not depend on the number of
processes.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import itertools
import multiprocessing
import os
import shutil
import signal
import threading
from concurrent import futures
from concurrent.futures.process import BrokenProcessPool
from typing import IO, Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from biobert_tf.atomic_files import PARTIAL_SUFFIX
from biobert_tf.engine import entry
from biobert_tf.pretraining.data import FEATURES
from biobert_tf.bert.tokenization import BertTokenizer
from tfrecords_tools.corpus import Document
from tfrecords_tools.example_encoder import encode_examples
from tfrecords_tools.instances import InstanceMaker, InstanceOptions, Instances, TokenizedDocuments

TOKENIZE_BATCH = 1024  # sentences per tokenizer call


@dataclasses.dataclass
class Summary:
    """Counts reported at the end of a run."""

    documents: int = 0
    sentences: int = 0
    instances: int = 0
    tokens: int = 0  # non-padding tokens of all instances, [CLS]/[SEP] included
    masked_tokens: int = 0

    def add(self, other: "Summary") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))

    def __str__(self) -> str:
        return (f"{self.documents} documents, {self.sentences} sentences, {self.instances} "
                f"instances, {self.tokens} tokens, {self.masked_tokens} masked tokens")


def chunk_seed(seed: int, key: Sequence[int]) -> int:
    """The seed of the chunk named by `key` (stream index, chunk index in the stream)."""
    return int(np.random.SeedSequence([seed, *key]).generate_state(1)[0])


def tokenize_documents(tokenizer: BertTokenizer, documents: Sequence[Document]) -> TokenizedDocuments:
    """Wordpiece ids of every sentence; like Google, sentences with no wordpieces and
    documents left empty are dropped."""
    sentences = [s for doc in documents for s in doc.sentences]
    values, lengths = [], []
    for start in range(0, len(sentences), TOKENIZE_BATCH):
        pieces = _token_ids_function(tokenizer)(tf.constant(sentences[start:start + TOKENIZE_BATCH]))
        values.append(pieces.flat_values.numpy())
        lengths.append(pieces.row_lengths().numpy())
    tokens = np.concatenate(values) if values else np.zeros([0], np.int32)
    lengths = np.concatenate(lengths) if lengths else np.zeros([0], np.int64)
    sentence_document = np.repeat(np.arange(len(documents)),
                                  [len(doc.sentences) for doc in documents])
    kept = lengths > 0
    ends = np.cumsum(lengths)
    starts, ends = (ends - lengths)[kept], ends[kept]
    sentences_per_document = np.bincount(sentence_document[kept], minlength=len(documents))
    sentences_per_document = sentences_per_document[sentences_per_document > 0]
    # Each document's sentence starts, then where its last sentence ends; dropped empty
    # sentences have no tokens, so the kept ones stay contiguous.
    last_sentence = np.cumsum(sentences_per_document)
    bounds = np.insert(starts, last_sentence, ends[last_sentence - 1])
    first_bound = np.concatenate([[0], np.cumsum(sentences_per_document + 1)])
    return TokenizedDocuments(tokens, bounds, first_bound)


@functools.lru_cache(maxsize=4)
def _token_ids_function(tokenizer: BertTokenizer) -> tf.types.experimental.PolymorphicFunction:
    """`tokenizer.token_ids` as one traced function, made once per tokenizer."""
    return tf.function(tokenizer.token_ids, input_signature=[tf.TensorSpec([None], tf.string)],
                       autograph=False)


def make_instances(documents: TokenizedDocuments, vocab: Sequence[str], options: InstanceOptions,
                   dupe_factor: int, seed: int) -> Iterator[Instances]:
    """`dupe_factor` passes over the documents, each masked anew and shuffled; yielded one
    pass at a time so that only one pass is in memory (Google shuffles all of them together)."""
    maker = InstanceMaker(vocab, options, seed)
    for _ in range(dupe_factor):
        instances = maker.make(documents)
        yield instances.take(maker.rng.permutation(len(instances)))


def serialize(instances: Instances) -> list[bytes]:
    """One serialized `tf.train.Example` per instance, in Google's schema (features in
    schema order, so the bytes are the same in every process)."""
    columns = {name: getattr(instances, name) for name in FEATURES}
    columns["next_sentence_labels"] = columns["next_sentence_labels"][:, None]
    return encode_examples(columns)


def process_chunk(documents: Sequence[Document], tokenizer: BertTokenizer, options: InstanceOptions,
                  dupe_factor: int, seed: int) -> Iterator[tuple[Instances, Summary]]:
    """Everything for one chunk of documents, from text to shuffled instances, one
    `dupe_factor` pass at a time (the first pass's summary also counts the documents)."""
    tokenized = tokenize_documents(tokenizer, documents)
    for index, instances in enumerate(make_instances(tokenized, tokenizer.vocab, options,
                                                     dupe_factor, seed)):
        first = index == 0
        yield instances, Summary(
            documents=len(tokenized) if first else 0,
            sentences=tokenized.num_sentences if first else 0,
            instances=len(instances), tokens=int(instances.input_mask.sum()),
            masked_tokens=int(instances.masked_lm_weights.sum()))


def chunk_records(documents: Sequence[Document], tokenizer: BertTokenizer,
                  options: InstanceOptions, dupe_factor: int, seed: int,
                  paths: Sequence[str]) -> Summary:
    """Writes one chunk's examples as TFRecord files, dealt round-robin into `paths` (see
    `frame_records`), and returns its summary."""
    examples, total = [], Summary()
    for instances, summary in process_chunk(documents, tokenizer, options, dupe_factor, seed):
        examples += serialize(instances)
        total.add(summary)
    frame_records(examples, paths)
    return total


def frame_records(examples: Sequence[bytes], paths: Sequence[str]) -> None:
    """Writes the examples as TFRecord records (length, data and their CRCs), dealt round-robin
    into the files `paths`: file k holds records k, k + len(paths), ... in order.

    Done where the examples are made, so that a pool's workers share this per-record work
    (TFRecordWriter's framing, ~2 µs a record) and hand over file names instead of the bytes:
    sending 41 MB of records through a pipe cost ~0.1 s of the ~0.9 s a chunk takes in all."""
    for shard, path in enumerate(paths):
        with tf.io.TFRecordWriter(path) as framer:
            for example in examples[shard::len(paths)]:
                framer.write(example)


Key = tuple[int, int]  # (stream index, chunk index)


def keyed_chunks(stream_index: int, documents: Iterable[Document],
                 size: int) -> Iterator[tuple[Key, list[Document]]]:
    """Consecutive chunks of `size` documents of one stream (an input file, or a mixed
    corpus), keyed (stream index, chunk index): the key fixes the chunk's seed, so a
    Beam worker given the same chunk makes the same instances."""
    iterator = iter(documents)
    for chunk_index in itertools.count():
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield (stream_index, chunk_index), chunk


class WorkerError(ValueError):
    """A worker process could not make a chunk's examples for a reason the user can fix: bad
    input (the message is the worker's error's), or the process was killed (out of memory?).
    A ValueError of this package, so that the command reports it in one line."""


class ExampleMaker:
    """Makes the examples of keyed chunks as TFRecord files in `scratch_dir` (one per output
    shard, see `frame_records`) and yields them in chunk order, so the output is the same
    whatever the number of processes. Whoever takes a chunk's files removes them.

    With `workers=1` everything runs in this process. With more, a pool of `workers`
    processes makes the chunks while this one reads the next ones and writes. The processes
    are spawned, not forked (TensorFlow, already imported here, is not fork-safe); each
    builds its tokenizer once and runs TensorFlow on one thread, so that the workers share
    the cores instead of each spreading over all of them. At most 2 × `workers` chunks are
    in flight (submitted and not yet yielded), which bounds memory whatever the corpus size.
    A corpus of no more chunks than that is made in this process all the same: starting the
    workers (~5 s each, importing TensorFlow and tracing the tokenizer) would cost more than
    they save (a corpus of 2 chunks: 14.4 s with 2 workers, 8.0 s in this process).
    Leaving the ``with`` block cancels the chunks not yet started; the workers finish the
    ones they hold. A worker ends by itself if this process is killed.
    """

    def __init__(self, vocab_file: str, do_lower_case: bool, options: InstanceOptions,
                 dupe_factor: int, seed: int, workers: int, scratch_dir: str, num_shards: int = 1):
        # Built here even for a pool: a bad vocabulary fails once, in this process.
        self._tokenizer = BertTokenizer(vocab_file, do_lower_case)
        self._options, self._dupe_factor, self._seed = options, dupe_factor, seed
        self._scratch_dir, self._num_shards = scratch_dir, num_shards
        self._window = 2 * workers
        self._pool = None if workers == 1 else futures.ProcessPoolExecutor(
            workers, multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(vocab_file, do_lower_case))

    def made(self, chunks: Iterable[tuple[Key, list[Document]]]
             ) -> Iterator[tuple[int, list[str], Summary]]:
        """For each chunk, in order: its number of documents, its record files (one per shard),
        its summary."""
        chunks = iter(chunks)
        # One more chunk than the pool holds at once decides whether it is worth starting.
        first = [] if self._pool is None else list(itertools.islice(chunks, self._window + 1))
        if self._pool is None or len(first) <= self._window:
            for key, documents in itertools.chain(first, chunks):
                paths = self._paths(key)
                yield len(documents), paths, chunk_records(
                    documents, self._tokenizer, self._options, self._dupe_factor,
                    chunk_seed(self._seed, key), paths)
            return
        in_flight = collections.deque()
        for key, documents in itertools.chain(first, chunks):
            paths = self._paths(key)
            # Sentences are all a worker needs: the passages would double the bytes pickled
            # (13 against 3.6 ms for 1,136 abstracts).
            sentences_only = [dataclasses.replace(d, passages=[]) for d in documents]
            in_flight.append((len(documents), paths, self._pool.submit(
                _worker_chunk_records, key, sentences_only, self._options, self._dupe_factor,
                self._seed, paths)))
            if len(in_flight) == self._window:
                yield _result(*in_flight.popleft())
        while in_flight:
            yield _result(*in_flight.popleft())

    def _paths(self, key: Key) -> list[str]:
        return [os.path.join(self._scratch_dir, f"chunk-{key[0]}-{key[1]}-{shard}.tfrecord")
                for shard in range(self._num_shards)]

    def __enter__(self) -> "ExampleMaker":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def _result(documents: int, paths: list[str], future: futures.Future
            ) -> tuple[int, list[str], Summary]:
    try:
        return documents, paths, future.result()
    except BrokenProcessPool as e:
        raise WorkerError("a worker process ended abruptly (killed, or out of memory: fewer "
                          "--num_workers or a smaller --documents_per_chunk need less); rerun "
                          "the command to continue") from e


_worker_tokenizer: BertTokenizer | None = None  # a worker process's own, built once


def _start_worker(vocab_file: str, do_lower_case: bool) -> None:
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    global _worker_tokenizer
    _worker_tokenizer = BertTokenizer(vocab_file, do_lower_case)
    _token_ids_function(_worker_tokenizer)(tf.constant(["Traced at start-up."]))


def _exit_with_parent() -> None:
    """Ends the worker when its parent ends: a parent killed by SIGKILL cannot stop it, and it
    would wait for work forever."""
    multiprocessing.parent_process().join()
    os._exit(1)


def _worker_chunk_records(key: Key, documents: list[Document], options: InstanceOptions,
                          dupe_factor: int, seed: int, paths: list[str]) -> Summary:
    try:
        return chunk_records(documents, _worker_tokenizer, options, dupe_factor,
                             chunk_seed(seed, key), paths)
    except Exception as error:
        # Whether the error is one the user can fix is judged here, where its traceback is:
        # the parent receives it without.
        if not entry.is_user_error(error):
            raise
        raise WorkerError(entry.error_message(error)) from None


@dataclasses.dataclass
class ShardProgress:
    """How far a `RoundRobinWriter` got: the bytes of each file, and the file the next record
    goes to."""

    sizes: list[int]
    next_shard: int


class RoundRobinWriter:
    """Writes examples to several TFRecord files in turn, as Google's script does.

    Each file is written as ``PATH.partial`` and renamed to PATH by `finish` (on leaving the
    ``with`` block without an error), so a file under its final name is always complete.
    Records reach the files at each `flush`, whole; `progress` then says how far the files
    are sound, and a writer made with that progress cuts off whatever a kill left after it
    and continues them. Leaving the block with an error keeps the files for such a rerun,
    unless nothing was flushed: then they are deleted.

    Records arrive as files of framed records (`frame_records`), which the writer appends
    and removes. They are made in `scratch_dir`, ``FIRST_PATH.chunks.partial``: beside the
    outputs, so that appending may stay in one file system, and emptied by the next writer
    of the same files if a kill left anything there.
    """

    def __init__(self, paths: Sequence[str], resume: ShardProgress | None = None):
        self.paths = list(paths)
        resume = resume or ShardProgress([0] * len(self.paths), 0)
        if len(resume.sizes) != len(self.paths):
            raise ValueError(f"{len(resume.sizes)} shards to resume, {len(self.paths)} paths")
        self._sizes = list(resume.sizes)
        self._next = resume.next_shard
        self._files = [_opened_at(unfinished_path(path), size)
                       for path, size in zip(self.paths, self._sizes)]
        self._pending: list[list[str]] = [[] for _ in self.paths]
        self.scratch_dir = unfinished_path(self.paths[0] + ".chunks")
        shutil.rmtree(self.scratch_dir, ignore_errors=True)
        os.makedirs(self.scratch_dir)
        self._written = 0  # calls of `write`, naming its scratch files

    def write(self, examples: Sequence[bytes]) -> None:
        """Adds serialized examples, the next one to the next file in turn."""
        record_files = [os.path.join(self.scratch_dir, f"write-{self._written}-{shard}.tfrecord")
                        for shard in range(len(self.paths))]
        self._written += 1
        frame_records(examples, record_files)
        self.write_files(record_files, len(examples))

    def write_files(self, record_files: Sequence[str], count: int) -> None:
        """Adds `count` examples framed by `frame_records` into one file per shard (the first
        file's records go to the next file in turn); the files are removed once appended."""
        for index, record_file in enumerate(record_files):
            self._pending[(self._next + index) % len(self.paths)].append(record_file)
        self._next = (self._next + count) % len(self.paths)

    def flush(self) -> None:
        """Appends the records written since the last flush to the files and hands them to the
        operating system (they survive a kill -9, not a power cut: nothing is fsynced)."""
        for index, (pending, file) in enumerate(zip(self._pending, self._files)):
            for record_file in pending:
                self._sizes[index] += _append_file(record_file, file)
                os.remove(record_file)
            pending.clear()

    def progress(self) -> ShardProgress:
        """How far the files are sound, as of the last `flush`."""
        return ShardProgress(list(self._sizes), self._next)

    def finish(self) -> None:
        """Flushes, closes the files and gives each its final name."""
        self.flush()
        self.close()
        for path in self.paths:
            os.replace(unfinished_path(path), path)

    def discard(self) -> None:
        """Closes and deletes the unfinished files."""
        self.close()
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                os.remove(unfinished_path(path))

    def close(self) -> None:
        """Closes the files; records written since the last `flush` are dropped."""
        for pending, file in zip(self._pending, self._files):
            pending.clear()
            file.close()
        shutil.rmtree(self.scratch_dir, ignore_errors=True)

    def __enter__(self) -> "RoundRobinWriter":
        return self

    def __exit__(self, error_type, *exc) -> None:
        if error_type is None:
            self.finish()
        elif any(self._sizes):
            self.close()  # the .partial files stay, for a rerun to continue
        else:
            self.discard()


def _append_file(source: str, target: IO[bytes]) -> int:
    """Appends the file `source` to the unbuffered file `target`; returns its size. Copied in
    the kernel where the system can (`os.copy_file_range`, Linux): 16 against 46 ms for 41 MB
    written from Python, before counting the read."""
    size = os.path.getsize(source)
    with open(source, "rb", buffering=0) as records:
        copied = 0
        # AttributeError: not Linux; OSError: not between these file systems.
        with contextlib.suppress(AttributeError, OSError):
            while copied < size and (step := os.copy_file_range(records.fileno(), target.fileno(),
                                                                 size - copied)):
                copied += step
        records.seek(copied)
        while block := records.read(1 << 20):
            # An unbuffered file may take less than it is given (shutil.copyfileobj assumes
            # it takes all): write the rest until it has.
            view = memoryview(block)
            while view:
                view = view[target.write(view):]
    return size


def unfinished_path(path: str) -> str:
    """Where a shard is written until it is complete."""
    return path + PARTIAL_SUFFIX


def _opened_at(path: str, size: int) -> IO[bytes]:
    """`path` opened for writing after its first `size` bytes (a new file for 0), the rest cut;
    unbuffered, so that `_append_file` may copy into it below Python."""
    if not size:
        return open(path, "wb", buffering=0)
    if not os.path.exists(path) or os.path.getsize(path) < size:
        raise ValueError(f"{path}: shorter than the {size} bytes recorded as written; rerun with "
                         "--overwrite to start over")
    file = open(path, "r+b", buffering=0)
    file.truncate(size)
    file.seek(size)
    return file
