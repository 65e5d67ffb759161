r"""Corpus → masked-LM / next-sentence TFRecords, with Google BERT's flags and schema.

    python -m tfrecords_tools.create_pretraining_data \
        --input_file=pubmed/*.xml.gz --output_file=out/pubmed-0.tfrecord,out/pubmed-1.tfrecord \
        --vocab_file=vocab.txt --do_lower_case=false

`--input_file` takes globs and comma lists, optionally weighted for corpus mixing
(`pubmed/*:0.7,wiki/*:0.3`, see `corpus.mix_corpora`); `--filter_pattern` /
`--filter_terms_file` keep a sub-domain (Su & Vijay-Shanker's extra stage).
Examples go round-robin to the `--output_file` list, as in Google's script.

`--num_workers` processes (by default one per CPU core) make the chunks' examples while this
one reads the corpus and writes; chunks are written in their order, so the files are the same
bytes whatever the number of workers (see `pipeline.ExampleMaker`).

Each output file is written as `NAME.partial` and renamed to NAME when the run completes, so
a file under its final name is always whole. After a kill, rerunning the same command
continues where it stopped (the chunks done are read again but not made again) and writes
exactly the bytes of an uninterrupted run; `FIRST_OUTPUT_FILE.run.json` records what the output
was made from (see `tfrecords_tools.run_record`), and another command into the same files
stops with an error unless `--overwrite` is given. A corpus that yields no example writes
nothing and is an error.
"""

import hashlib
import itertools
import os
import time
from typing import Iterator

from absl import app, flags
from tqdm import tqdm

from biobert_tf.engine import entry

entry.quiet_tensorflow()

from biobert_tf import atomic_files  # noqa: E402
from tfrecords_tools import corpus, pipeline, run_record  # noqa: E402
from tfrecords_tools.instances import InstanceOptions  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Input corpus files: globs, comma list, optional :weight.")
flags.DEFINE_string("output_file", None, "Output TFRecord file(s), comma-separated.")
flags.DEFINE_string("vocab_file", None, "The vocabulary file the BERT model was trained on.")
flags.DEFINE_bool("do_lower_case", True, "Lowercase and strip accents (False for cased models "
                  "such as BioBERT).")
flags.DEFINE_bool("do_whole_word_mask", False, "Mask whole words instead of single wordpieces.")
flags.DEFINE_integer("max_seq_length", 128, "Maximum sequence length.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum masked LM predictions per sequence.")
flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
flags.DEFINE_integer("dupe_factor", 10, "Number of times to duplicate the input data (with "
                     "different masks).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of creating sequences shorter than the "
                   "maximum length.")
flags.DEFINE_enum("input_format", "auto", ["auto", "text", "lines", "pubmed_xml", "bioc"],
                  "text: one sentence per line, blank line between documents (Google); lines: "
                  "one document per line; pubmed_xml: PubMed/MEDLINE XML; bioc: BioC XML.")
flags.DEFINE_bool("skip_bad_documents", False, "Skip undecodable documents (counted in the "
                  "summary) instead of stopping with an error.")
flags.DEFINE_string("filter_pattern", None, "Keep only documents matching this regex.")
flags.DEFINE_string("filter_terms_file", None, "Keep only documents containing one of these "
                    "terms (one per line, case-insensitive, whole words).")
flags.DEFINE_integer("documents_per_chunk", 2000, "Documents processed together; bounds memory. "
                     "Random next sentences come from the same chunk.")
flags.DEFINE_integer("num_workers", 0, "Processes making the examples: 0 = one per CPU core "
                     "this process may use, 1 = this process alone. The output is the same "
                     "whatever the number, so a rerun with another one continues a run.",
                     lower_bound=0)
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_bool("overwrite", False, "Start over, replacing what --output_file holds. Without "
                  "it, rerunning the same command continues an interrupted run (or finds a "
                  "finished one done), and output of another command is an error.")

# The flags that change the examples written (with the input files and the vocabulary's content).
_EXAMPLE_FLAGS = ("do_lower_case", "do_whole_word_mask", "max_seq_length", "max_predictions_per_seq",
                  "random_seed", "dupe_factor", "masked_lm_prob", "short_seq_prob", "input_format",
                  "skip_bad_documents", "filter_pattern", "documents_per_chunk")


def main(argv):
    del argv
    start = time.perf_counter()
    options = InstanceOptions(FLAGS.max_seq_length, FLAGS.max_predictions_per_seq,
                              FLAGS.masked_lm_prob, FLAGS.short_seq_prob, FLAGS.do_whole_word_mask)
    output_files = [p.strip() for p in FLAGS.output_file.split(",") if p.strip()]
    if remote := [p for p in output_files if atomic_files.is_remote(p)]:
        # Resuming appends to and cuts local files, which object stores cannot do.
        raise app.UsageError(f"--output_file={remote[0]}: this tool writes local files; use "
                             "tfrecords_tools.beam_pipeline for gs:// outputs, or copy them after")
    output_files = [os.path.abspath(p) for p in output_files]
    record = run_record.start(command(output_files), FLAGS.overwrite)
    if record.complete:
        print(f"nothing to do: {', '.join(output_files)} hold this command's output "
              f"({record.summary}); --overwrite makes it again")
        return
    if record.chunks_done:
        print(f"continuing an interrupted run after its first {record.chunks_done} chunks")
    stats = corpus.CorpusStats()
    chunks = keyed_chunks(document_streams(stats))
    for path in output_files:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    total = record.summary
    earlier = total.instances  # made by the interrupted run this one continues: not in its rate
    # The maker is left first: its workers stop writing into the writer's scratch directory.
    with pipeline.RoundRobinWriter(output_files, record.shards) as writer, \
            pipeline.ExampleMaker(FLAGS.vocab_file, FLAGS.do_lower_case, options,
                                  FLAGS.dupe_factor, FLAGS.random_seed,
                                  FLAGS.num_workers or available_cores(), writer.scratch_dir,
                                  len(output_files)) as maker, \
            tqdm(unit=" docs", disable=not FLAGS.progress, dynamic_ncols=True) as bar:
        for _, documents in itertools.islice(chunks, record.chunks_done):
            bar.update(len(documents))  # the chunks an interrupted run did are only read
        for index, (documents, record_files, summary) in enumerate(maker.made(chunks),
                                                                   start=record.chunks_done):
            writer.write_files(record_files, summary.instances)
            writer.flush()
            total.add(summary)
            record.chunks_done, record.shards = index + 1, writer.progress()
            record.save()
            bar.update(documents)
            made_now = total.instances - earlier
            bar.set_postfix(instances=total.instances,
                            per_s=f"{made_now / max(bar.format_dict['elapsed'], 1e-9):.0f}")
        if not total.instances:  # the writer deletes its empty files on the way out
            record.remove()
            raise corpus.CorpusError(f"--input_file={FLAGS.input_file}: {nothing_made(stats, total)}; "
                                     "nothing written")
    record.complete = True
    record.save()
    seconds = time.perf_counter() - start
    print(f"read: {stats}")
    made_now = total.instances - earlier
    rate = f"{made_now / seconds:.0f} instances/s"
    if earlier:
        rate += f" for the {made_now} made after the interrupted run's {earlier}"
    print(f"wrote: {total} in {seconds:.1f} s ({rate}) to {', '.join(output_files)}")


def keyed_chunks(streams: list) -> Iterator[tuple[pipeline.Key, list[corpus.Document]]]:
    """The chunks of every stream, in order."""
    return (keyed for index, documents in enumerate(streams)
            for keyed in pipeline.keyed_chunks(index, documents, FLAGS.documents_per_chunk))


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def command(output_files: list[str]) -> dict:
    """What the output depends on, for `run_record`: the input files as they are now, the
    vocabulary's and terms file's content, the flags that change examples, the output files."""
    inputs = [[os.path.abspath(path), weight, os.path.getsize(path), os.stat(path).st_mtime_ns]
              for pattern, weight in corpus.parse_weighted_inputs(FLAGS.input_file)
              for path in corpus.expand_input_files(pattern)]
    return {"inputs": inputs, "vocab_sha256": _sha256(FLAGS.vocab_file),
            "filter_terms_sha256": FLAGS.filter_terms_file and _sha256(FLAGS.filter_terms_file),
            **{name: FLAGS[name].value for name in _EXAMPLE_FLAGS}, "output_files": output_files}


def nothing_made(stats: corpus.CorpusStats, total: pipeline.Summary) -> str:
    """Why a run made no example."""
    if not stats.documents:
        return f"no documents ({stats})"
    if not total.documents and (FLAGS.filter_pattern or FLAGS.filter_terms_file):
        return f"the filter kept none of the {stats.documents} documents"
    return f"no example could be made from the {stats.documents} documents"


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def is_mixture(input_file: str) -> bool:
    """Weights other than 1 mix the inputs; a plain comma list is read one file after another."""
    return any(weight != 1.0 for _, weight in corpus.parse_weighted_inputs(input_file))


def document_streams(stats: corpus.CorpusStats) -> list:
    """One document stream per input file or, when inputs are weighted, one mixed stream;
    sub-domain filtered if asked."""
    sources = [(corpus.DocumentFiles(corpus.expand_input_files(pattern), FLAGS.input_format,
                                     FLAGS.skip_bad_documents, stats), weight)
               for pattern, weight in corpus.parse_weighted_inputs(FLAGS.input_file)]
    if is_mixture(FLAGS.input_file):
        streams = [corpus.mix_corpora(sources, FLAGS.random_seed)]
    else:
        streams = [corpus.DocumentFiles([path], FLAGS.input_format, FLAGS.skip_bad_documents,
                                        stats) for source, _ in sources for path in source.paths]
    if FLAGS.filter_pattern or FLAGS.filter_terms_file:
        streams = [corpus.filter_documents(s, FLAGS.filter_pattern, FLAGS.filter_terms_file)
                   for s in streams]
    return streams


def run() -> None:
    flags.mark_flags_as_required(["input_file", "output_file", "vocab_file"])
    entry.run(main)


if __name__ == "__main__":
    run()
