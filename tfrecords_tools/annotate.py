"""Annotates PubMed XML, BioC XML or text files with exported NER (and RE) models, writing
PubTator, BioC JSON or jsonl shards.

    python -m tfrecords_tools.annotate --input_file='pubmed/*.xml.gz' \\
        --ner_model=out/ncbi_export=Disease,out/bc2gm_export=Gene \\
        --re_model=out/gad_export=Association --output_prefix=ann/pubmed --format=pubtator \\
        -- --runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing

Everything after `--` is a Beam pipeline option (`--runner=DataflowRunner ...` as usual);
`--single_process` runs without Beam. Both write the same bytes.

Each input file is cut into chunks of `--documents_per_chunk` documents, and chunk k of file
STEM.xml.gz becomes the shard ``PREFIX-STEM-0000k.EXT``, written whole by one worker (`Annotator`
loads the models once per worker process), then its sidecar ``SHARD.done.json``: documents,
entities, relations, the documents skipped with their id, source and reason (malformed records,
or an id the format cannot write), time, documents per second and peak memory. A shard with a
sidecar is done: a re-run (after a crash, or with more input files) skips it. ``PREFIX.run.json``
records the models (with their weights' sha256) and the flags that decide the output, and the
size of every input: a re-run with other models or flags, or a changed input, into the same
prefix is an error.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import io
import json
import os
import resource
import threading
import time
from collections.abc import Iterator, Sequence

from absl import flags, logging

from biobert_tf.engine import entry

entry.quiet_tensorflow()

from biobert_tf import atomic_files, json_files  # noqa: E402
from biobert_tf.annotation import formats  # noqa: E402
from biobert_tf.engine.progress import Progress  # noqa: E402
from tfrecords_tools import corpus  # noqa: E402
from tfrecords_tools.annotator import NER_FLAG, RE_FLAG, Annotator, ModelRef  # noqa: E402

FLAGS = flags.FLAGS
DONE_SUFFIX = ".done.json"
RUN_SUFFIX = ".run.json"
COUNTERS = "annotate"  # the Beam counters' namespace
# Input file endings that are not part of a shard's name.
_INPUT_ENDINGS = (".gz", ".xml", ".txt")


def define_flags() -> None:
    # Defined when the command runs, not on import: other tools define --input_file too.
    flags.DEFINE_string("input_file", None, "Input files: comma-separated paths or globs.")
    flags.DEFINE_alias("input", "input_file")
    flags.DEFINE_enum("input_format", "auto", corpus.FORMATS, "How to read the input files.")
    flags.DEFINE_string("ner_model", None, "NER SavedModel folders, DIR or DIR=NAME, "
                        "comma-separated (NAME types an untyped model's entities).")
    flags.DEFINE_string("re_model", "", "RE SavedModel folders, DIR or DIR=NAME (NAME names "
                        "a one-positive-label model's relations).")
    flags.DEFINE_float("re_threshold", 0.5, "A pair is a relation when the probability of the "
                       "model's most probable positive label is at least this.")
    flags.DEFINE_string("output_prefix", None, "Shards are PREFIX-STEM-CCCCC.EXT.")
    flags.DEFINE_enum("format", "pubtator", list(formats.FORMATS), "Output format.")
    flags.DEFINE_integer("documents_per_chunk", 500, "Documents per shard.", lower_bound=1)
    flags.DEFINE_integer("ner_batch_size", 64, "Sentences per NER model call.", lower_bound=1)
    flags.DEFINE_integer("re_batch_size", 64, "Candidate pairs per RE model call.",
                         lower_bound=1)
    flags.DEFINE_bool("single_process", False, "Annotate in this process, without Beam.")
    flags.mark_flags_as_required(["input_file", "ner_model", "output_prefix"])


@dataclasses.dataclass
class Chunk:
    """The records of one shard: documents, and bad documents where they occur."""

    shard: str
    items: list[corpus.Document | corpus.BadDocument]


def input_stem(path: str) -> str:
    """The part of an input file's name its shards carry: "pubmed23n0001.xml.gz" →
    "pubmed23n0001"."""
    stem = os.path.basename(path)
    for ending in _INPUT_ENDINGS:
        stem = stem.removesuffix(ending)
    return stem


def named_inputs(files: Sequence[str]) -> list[tuple[str, str]]:
    """(stem, path) of each input file, sorted; two files of one stem are an error (their
    shards would collide)."""
    named: dict[str, str] = {}
    for path in files:
        stem = input_stem(path)
        if stem in named and named[stem] != path:
            raise ValueError(f"{named[stem]} and {path} would write the same shards "
                             f"(PREFIX-{stem}-*): rename one")
        named[stem] = path
    return sorted(named.items())


def shard_path(prefix: str, stem: str, index: int, fmt: formats.Format) -> str:
    return f"{prefix}-{stem}-{index:05d}{fmt.extension}"


def is_done(shard: str) -> bool:
    return os.path.exists(shard + DONE_SUFFIX)


def read_chunks(stem: str, path: str, input_format: str, documents_per_chunk: int,
                prefix: str, fmt: formats.Format) -> Iterator[Chunk]:
    """The chunks of one input file, in order: `documents_per_chunk` documents each (bad
    documents ride in the chunk where they occur and do not count). A file without any record
    is an error."""
    items: list[corpus.Document | corpus.BadDocument] = []
    documents, index = 0, 0
    for item in corpus.read_items(path, input_format):
        items.append(item)
        documents += isinstance(item, corpus.Document)
        if documents == documents_per_chunk:
            yield Chunk(shard_path(prefix, stem, index, fmt), items)
            items, documents, index = [], 0, index + 1
    if items:
        yield Chunk(shard_path(prefix, stem, index, fmt), items)
    elif index == 0:
        raise corpus.CorpusError(f"{path}: no documents in it")


def annotate_chunk(annotator: Annotator, chunk: Chunk, fmt: formats.Format) -> dict:
    """Writes the chunk's shard, then its sidecar, and returns the sidecar's contents."""
    start = time.monotonic()
    docs = [item for item in chunk.items if isinstance(item, corpus.Document)]
    skipped = [{"id": item.doc_id, "source": item.source, "reason": item.reason}
               for item in chunk.items if isinstance(item, corpus.BadDocument)]
    annotated, unread_pairs = annotator.annotate(docs)
    written = []
    for doc in annotated:
        problem = formats.format_problem(doc, fmt)
        if problem:
            skipped.append({"id": doc.id, "source": doc.source, "reason": problem})
        else:
            written.append(doc)
    text = io.StringIO()
    formats.write(written, text, fmt)
    atomic_files.write_text(chunk.shard, text.getvalue())
    seconds = time.monotonic() - start
    done = {"documents": len(written), "entities": sum(len(d.entities) for d in written),
            "relations": sum(len(d.relations) for d in written), "skipped": skipped,
            "unread_pairs": unread_pairs, "seconds": round(seconds, 3),
            "docs_per_second": round(len(docs) / max(seconds, 1e-9), 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "pid": os.getpid()}
    atomic_files.write_text(chunk.shard + DONE_SUFFIX, json.dumps(done, indent=1))
    logging.info("%s: %d documents in %.1f s (%.1f docs/s)", chunk.shard, len(docs), seconds,
                 done["docs_per_second"])
    return done


def counts(done: dict) -> collections.Counter:
    """What a shard's sidecar adds to a run's totals."""
    return collections.Counter(documents=done["documents"], entities=done["entities"],
                               relations=done["relations"], skipped_documents=len(done["skipped"]),
                               unread_pairs=done["unread_pairs"], shards=1)


# ---- the run record ---------------------------------------------------------------------------

def check_and_record_run(prefix: str, settings: dict, inputs: Sequence[tuple[str, str]]) -> None:
    """Writes PREFIX.run.json: the settings that decide the output, and each input's size (by
    stem, those of earlier runs kept). An existing record with other settings, or another size
    for an input of the same stem with a finished shard, is a one-line error: the shards there
    are not this run's."""
    path = prefix + RUN_SUFFIX
    settings = json.loads(json.dumps(settings))  # as read back: tuples become lists
    sizes = {stem: os.path.getsize(file) for stem, file in inputs}
    how = "choose another --output_prefix, or delete it and the shards beside it"
    if os.path.exists(path):
        record = json_files.load(path).object()
        differing = sorted(k for k in set(settings) | set(record.get("settings", {}))
                           if settings.get(k) != record.get("settings", {}).get(k))
        if differing:
            raise ValueError(f"{path}: written by a run with other {', '.join(differing)}: {how}")
        for stem, size in sizes.items():
            # A changed input matters once a shard of it is finished (a run that failed on
            # the input before any shard, on a malformed file, left only this record).
            if record["input_sizes"].get(stem, size) != size and glob.glob(
                    f"{glob.escape(prefix)}-{glob.escape(stem)}-*{DONE_SUFFIX}"):
                raise ValueError(f"{path}: an input named {stem} of {record['input_sizes'][stem]} "
                                 f"bytes was annotated there, now {size} bytes: {how}")
        sizes = {**record["input_sizes"], **sizes}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_files.write_text(path, json.dumps({"settings": settings, "input_sizes": sizes},
                                             indent=1, sort_keys=True))


# ---- single process ---------------------------------------------------------------------------

def annotate_in_process(annotator: Annotator, inputs: Sequence[tuple[str, str]],
                        input_format: str, documents_per_chunk: int, prefix: str,
                        fmt: formats.Format) -> collections.Counter:
    """Every unfinished shard, in this process; the run's totals."""
    totals = collections.Counter()
    with Progress("annotate", None, "docs") as progress:
        for stem, path in inputs:
            for chunk in read_chunks(stem, path, input_format, documents_per_chunk, prefix, fmt):
                if is_done(chunk.shard):
                    totals["finished_shards"] += 1
                    continue
                done = annotate_chunk(annotator, chunk, fmt)
                totals += counts(done)
                progress.update(done["documents"] + len(done["skipped"]))
    return totals


# ---- Beam -------------------------------------------------------------------------------------

# Per worker process: the annotator of a run, models loaded (see `_process_annotator`).
_annotators: dict[str, Annotator] = {}
_annotators_lock = threading.Lock()


def _process_annotator(annotator: Annotator, run_key: str) -> Annotator:
    """One loaded copy of the run's models per worker process, however many DoFn instances
    (threads) the runner makes."""
    with _annotators_lock:
        kept = _annotators.setdefault(run_key, annotator)
    kept.load()
    return kept


def _pending_chunks(named_input: tuple[str, str], input_format: str, documents_per_chunk: int,
                    prefix: str, fmt_name: str) -> Iterator[Chunk]:
    from tfrecords_tools.beam_support import beam
    finished = beam.metrics.Metrics.counter(COUNTERS, "finished_shards")
    for chunk in read_chunks(*named_input, input_format, documents_per_chunk, prefix,
                             formats.FORMATS[fmt_name]):
        if is_done(chunk.shard):
            finished.inc()
        else:
            yield chunk


def _annotate_on_worker(chunk: Chunk, annotator: Annotator, run_key: str, fmt_name: str) -> None:
    from tfrecords_tools.beam_support import beam
    done = annotate_chunk(_process_annotator(annotator, run_key), chunk,
                          formats.FORMATS[fmt_name])
    for name, value in counts(done).items():
        beam.metrics.Metrics.counter(COUNTERS, name).inc(value)


def annotate_with_beam(pipeline_args: list[str], annotator: Annotator, run_key: str,
                       inputs: Sequence[tuple[str, str]], input_format: str,
                       documents_per_chunk: int, prefix: str, fmt: formats.Format
                       ) -> collections.Counter:
    """Every unfinished shard, on Beam: files → chunks (finished ones dropped) → spread over
    the workers → shards. The run's totals, from the pipeline's counters."""
    from apache_beam.metrics.metric import MetricsFilter

    from tfrecords_tools.beam_support import PipelineOptions, beam, report_user_errors_once
    report_user_errors_once()
    # Formats travel by name: their records are functions of our modules.
    root = beam.Pipeline(options=PipelineOptions(pipeline_args))
    _ = (root
         | "Files" >> beam.Create(list(inputs))
         | "SpreadFiles" >> beam.Reshuffle()
         | "ReadChunks" >> beam.FlatMap(_pending_chunks, input_format, documents_per_chunk,
                                        prefix, fmt.name)
         | "SpreadChunks" >> beam.Reshuffle()
         | "Annotate" >> beam.Map(_annotate_on_worker, annotator, run_key, fmt.name))
    result = root.run()
    result.wait_until_finish()
    totals = collections.Counter()
    for counter in result.metrics().query(MetricsFilter().with_namespace(COUNTERS))["counters"]:
        totals[counter.key.metric.name] += counter.committed
    return totals


# ---- the command ------------------------------------------------------------------------------

def summary(totals: collections.Counter, prefix: str) -> str:
    line = (f"{totals['documents']} documents annotated ({totals['entities']} entities, "
            f"{totals['relations']} relations) into {totals['shards']} shards")
    if totals["finished_shards"]:
        line += f"; skipped {totals['finished_shards']} finished shards"
    if totals["skipped_documents"]:
        line += (f"; {totals['skipped_documents']} documents skipped (listed with their reasons "
                 f"in {prefix}-*{DONE_SUFFIX})")
    if totals["unread_pairs"]:
        line += f"; {totals['unread_pairs']} candidate pairs no RE model could read"
    return line


def main(argv: list[str]) -> None:
    fmt = formats.FORMATS[FLAGS.format]
    inputs = named_inputs(corpus.expand_input_files(FLAGS.input_file))
    annotator = Annotator(ModelRef.parse_list(NER_FLAG, FLAGS.ner_model),
                          ModelRef.parse_list(RE_FLAG, FLAGS.re_model), FLAGS.re_threshold,
                          FLAGS.ner_batch_size, FLAGS.re_batch_size)
    settings = {"models": annotator.describe(), "format": fmt.name,
                "input_format": FLAGS.input_format, "re_threshold": FLAGS.re_threshold,
                "documents_per_chunk": FLAGS.documents_per_chunk,
                "ner_batch_size": FLAGS.ner_batch_size, "re_batch_size": FLAGS.re_batch_size}
    check_and_record_run(FLAGS.output_prefix, settings, inputs)
    job = (FLAGS.input_format, FLAGS.documents_per_chunk, FLAGS.output_prefix, fmt)
    if FLAGS.single_process:
        totals = annotate_in_process(annotator, inputs, *job)
    else:
        totals = annotate_with_beam(argv[1:], annotator, json.dumps(settings, sort_keys=True),
                                    inputs, *job)
    logging.info("%s", summary(totals, FLAGS.output_prefix))


if __name__ == "__main__":
    # Run from the module imported under its own name: Beam workers unpickle the pipeline's
    # functions and chunks by module name, and cannot import `__main__`. Its flags are then
    # that module's: adopted here, so that --help (which lists __main__'s) shows them.
    from tfrecords_tools import annotate
    annotate.define_flags()
    flags.adopt_module_key_flags(annotate)
    entry.run(annotate.main)
