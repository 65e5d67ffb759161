"""Documents → tokenized chunks → instances → TFRecord examples.

The steps shared by the single-process command (`create_pretraining_data`) and the
Beam pipeline. Documents are processed in chunks of `documents_per_chunk` documents
of one input file, so memory stays bounded whatever the corpus size; random next
sentences are drawn from the same chunk and instances are shuffled within it
(Google holds the whole corpus in memory and shuffles globally, which does not
scale to PubMed). Each chunk gets its own seed derived from (seed, file index,
chunk index), so the output is deterministic per seed and the same whichever
process makes it.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

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
        pieces = tokenizer.tokenize(tf.constant(sentences[start:start + TOKENIZE_BATCH])).token_ids
        values.append(pieces.flat_values.numpy())
        lengths.append(pieces.row_lengths().numpy())
    tokens = np.concatenate(values) if values else np.zeros([0], np.int32)
    lengths = np.concatenate(lengths).tolist() if lengths else []
    bounds, offset, position = [], 0, 0
    for doc in documents:
        starts = []
        for length in lengths[position:position + len(doc.sentences)]:
            if length:
                starts.append(offset)
            offset += length
        position += len(doc.sentences)
        if starts:
            # Dropped empty sentences have no tokens, so the sentences stay contiguous.
            bounds.append(starts + [offset])
    return TokenizedDocuments(tokens, bounds)


def make_instances(documents: TokenizedDocuments, vocab: Sequence[str], options: InstanceOptions,
                   dupe_factor: int, seed: int) -> Iterator[Instances]:
    """`dupe_factor` passes over the documents, each masked anew and shuffled; yielded one
    pass at a time so that only one pass is in memory (Google shuffles all of them together)."""
    maker = InstanceMaker(vocab, options, seed)
    maker.py_rng.shuffle(documents.sentences)  # Google shuffles the documents first
    for _ in range(dupe_factor):
        instances = maker.make(documents)
        yield instances.take(maker.np_rng.permutation(len(instances)))


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
            sentences=sum(len(bounds) - 1 for bounds in tokenized.sentences) if first else 0,
            instances=len(instances), tokens=int(instances.input_mask.sum()),
            masked_tokens=int(instances.masked_lm_weights.sum()))


def keyed_chunks(stream_index: int, documents: Iterable[Document],
                 size: int) -> Iterator[tuple[tuple[int, int], list[Document]]]:
    """Consecutive chunks of `size` documents of one stream (an input file, or a mixed
    corpus), keyed (stream index, chunk index): the key fixes the chunk's seed, so a
    Beam worker given the same chunk makes the same instances."""
    iterator = iter(documents)
    for chunk_index in itertools.count():
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield (stream_index, chunk_index), chunk


class RoundRobinWriter:
    """Writes examples to several TFRecord files in turn, as Google's script does."""

    def __init__(self, paths: Sequence[str]):
        self.paths = list(paths)
        self._writers = [tf.io.TFRecordWriter(p) for p in self.paths]
        self._next = 0

    def write(self, examples: Iterable[bytes]) -> None:
        for example in examples:
            self._writers[self._next].write(example)
            self._next = (self._next + 1) % len(self._writers)

    def close(self) -> None:
        for writer in self._writers:
            writer.close()

    def __enter__(self) -> "RoundRobinWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
