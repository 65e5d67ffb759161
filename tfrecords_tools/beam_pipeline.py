r"""`create_pretraining_data` as an Apache Beam pipeline, for corpora bigger than one machine.

    python -m tfrecords_tools.beam_pipeline --input_file='pubmed/*.xml.gz' \
        --output_prefix=out/pubmed --num_shards=256 --vocab_file=vocab.txt --do_lower_case=false \
        -- --runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing

Everything after `--` is a Beam pipeline option: `--runner=DataflowRunner --project=...
--region=... --temp_location=gs://...`, or the Flink/Spark runners, as usual.

Same flags and same instance logic as the single-process tool (`tfrecords_tools.pipeline`):
each input file is read by one worker and cut into chunks of `documents_per_chunk`
documents; each chunk, keyed (file index, chunk index), is tokenized, made into
instances with the seed of its key and serialized by whichever worker gets it. So for
the same seed and `documents_per_chunk` the pipeline writes exactly the examples the
single-process tool writes — sharded as `PREFIX-00000-of-000NN.tfrecord` by Beam instead
of round-robin, so in other files and another order. Corpus mixing (weighted inputs) is
a single stream and stays with the single-process tool.
"""

from typing import Iterator

from absl import app, flags

from biobert_tf.engine import entry

entry.quiet_tensorflow()

from tfrecords_tools.beam_support import (  # noqa: E402
    PipelineOptions, beam, report_user_errors_once)
from biobert_tf.bert.tokenization import BertTokenizer  # noqa: E402
from tfrecords_tools import corpus, create_pretraining_data, pipeline  # noqa: E402
from tfrecords_tools.instances import InstanceOptions  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("output_prefix", None, "Output path prefix; shards are "
                    "PREFIX-SSSSS-of-NNNNN.tfrecord.")
flags.DEFINE_integer("num_shards", 0, "Number of output shards (0: let the runner decide).")


class _MakeExamples(beam.DoFn):
    """Tokenizes one chunk of documents and yields its serialized examples."""

    def __init__(self, vocab_file: str, do_lower_case: bool, options: InstanceOptions,
                 dupe_factor: int, seed: int):
        self.vocab_file, self.do_lower_case = vocab_file, do_lower_case
        self.options, self.dupe_factor, self.seed = options, dupe_factor, seed

    def setup(self):
        self.tokenizer = BertTokenizer(self.vocab_file, self.do_lower_case)  # once per worker

    def process(self, keyed_chunk) -> Iterator[bytes]:
        key, documents = keyed_chunk
        for instances, summary in pipeline.process_chunk(documents, self.tokenizer, self.options,
                                                         self.dupe_factor,
                                                         pipeline.chunk_seed(self.seed, key)):
            beam.metrics.Metrics.counter("pretraining", "documents").inc(summary.documents)
            beam.metrics.Metrics.counter("pretraining", "instances").inc(summary.instances)
            yield from pipeline.serialize(instances)


def _read_chunks(indexed_path, input_format: str, skip_bad_documents: bool,
                 documents_per_chunk: int, pattern: str | None, terms_file: str | None):
    index, path = indexed_path
    stats = corpus.CorpusStats()
    documents = corpus.read_documents(path, input_format, skip_bad_documents, stats)
    if pattern or terms_file:
        documents = corpus.filter_documents(documents, pattern, terms_file)
    yield from pipeline.keyed_chunks(index, documents, documents_per_chunk)
    beam.metrics.Metrics.counter("pretraining", "skipped_documents").inc(stats.skipped)


def build(root: beam.Pipeline, input_files: list[str], output_prefix: str, num_shards: int,
          vocab_file: str, do_lower_case: bool, options: InstanceOptions, dupe_factor: int,
          seed: int, input_format: str = "auto", skip_bad_documents: bool = False,
          documents_per_chunk: int = 2000, filter_pattern: str | None = None,
          filter_terms_file: str | None = None) -> None:
    """Adds the read → chunk → make examples → write steps to `root`."""
    _ = (root
         | "Files" >> beam.Create(list(enumerate(input_files)))
         | "SpreadFiles" >> beam.Reshuffle()
         | "ReadChunks" >> beam.FlatMap(_read_chunks, input_format, skip_bad_documents,
                                        documents_per_chunk, filter_pattern, filter_terms_file)
         | "SpreadChunks" >> beam.Reshuffle()
         | "MakeExamples" >> beam.ParDo(_MakeExamples(vocab_file, do_lower_case, options,
                                                      dupe_factor, seed))
         | "Write" >> beam.io.WriteToTFRecord(output_prefix, file_name_suffix=".tfrecord",
                                              num_shards=num_shards,
                                              shard_name_template="-SSSSS-of-NNNNN"))


def main(argv):
    if create_pretraining_data.is_mixture(FLAGS.input_file):
        raise app.UsageError("weighted inputs (corpus mixing) need the single-process tool")
    files = [path for pattern, _ in corpus.parse_weighted_inputs(FLAGS.input_file)
             for path in corpus.expand_input_files(pattern)]
    options = InstanceOptions(FLAGS.max_seq_length, FLAGS.max_predictions_per_seq,
                              FLAGS.masked_lm_prob, FLAGS.short_seq_prob, FLAGS.do_whole_word_mask)
    BertTokenizer(FLAGS.vocab_file, FLAGS.do_lower_case)  # a bad vocab fails here, not in workers
    with beam.Pipeline(options=PipelineOptions(argv[1:])) as root:
        build(root, files, FLAGS.output_prefix, FLAGS.num_shards, FLAGS.vocab_file,
              FLAGS.do_lower_case, options, FLAGS.dupe_factor, FLAGS.random_seed,
              FLAGS.input_format, FLAGS.skip_bad_documents, FLAGS.documents_per_chunk,
              FLAGS.filter_pattern, FLAGS.filter_terms_file)


def run() -> None:
    # The single-process tool's flags (input_file, vocab_file, ...) are defined on import.
    flags.mark_flags_as_required(["input_file", "output_prefix", "vocab_file"])
    report_user_errors_once()
    entry.run(main)


if __name__ == "__main__":
    run()
