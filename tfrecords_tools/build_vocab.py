r"""Builds a WordPiece `vocab.txt` (Google BERT layout) or a SentencePiece model from a text corpus.

    python -m tfrecords_tools.build_vocab --input_file='corpus/*.txt' --output_file=vocab.txt \
        --vocab_size=30522 --do_lower_case=false

Input: `--input_file` is a glob or a comma-separated list of globs of corpus files, read with
`tfrecords_tools.corpus` (`--input_format`); every sentence is one text.
`--max_texts` keeps only the first N texts, to learn quickly from a sample of a large corpus.

WordPiece (`--model=wordpiece`, the default)
--------------------------------------------
Words are split exactly as `biobert_tf.bert.tokenization.BertTokenizer` (Google's BasicTokenizer)
splits them, then tensorflow-text's WordPiece learner
(`tensorflow_text.tools.wordpiece_vocab.wordpiece_tokenizer_learner_lib`) picks the
subwords. Why not `bert_vocab_from_dataset` with `bert_tokenizer_params={"lower_case": ...}`:
its splitter lower-cases with NFKC case folding, which turns the biomedical "µ" (micro sign)
into "μ" and "ß" into "ss", so an uncased vocabulary would lack characters that Google's
tokenizer produces, and those words would become `[UNK]`.

`vocab.txt` has exactly `--vocab_size` lines, in Google's layout (with the default
`--num_unused=99` the ids of the special tokens are those of Google's and BioBERT's vocabularies):

    id 0                    [PAD]
    ids 1 .. k              [unused0] .. [unused{k-1}]       k = min(num_unused, 99)
    ids k+1 .. k+4          [UNK] [CLS] [SEP] [MASK]         100 .. 103 when num_unused >= 99
    next                    [unused{k}] .. [unused{u-1}]     u = num_unused + shortfall
    the rest                learned tokens

The `[unusedN]` slots are never produced by the tokenizer; fine-tuning code can rename them to
new markers (BioBERT-style relation extraction uses them for entity markers such as `[E1]`)
without resizing the model. Learned tokens are every character seen in a word the tokenizer
can piece (at most 100 characters long), both alone (`c`) and as a suffix (`##c`), so that no
word made of seen characters becomes `[UNK]`; then the learner's subwords, most frequent
first. The learner keeps the subwords seen at least a threshold number of times; the
highest threshold that gives enough subwords is searched for, and the least frequent of them
are cut to fit. When even `--min_count` gives too few (a small corpus), the shortfall is
filled with further `[unusedN]` slots after `[MASK]` and a warning is logged, so the size is
always `--vocab_size`.

SentencePiece (`--model=sentencepiece`)
---------------------------------------
Trains a `--model_type` (unigram or bpe) model with the `sentencepiece` package and writes
`<output_file>.model` and `<output_file>.vocab` (SentencePiece's own format, not a BERT
`vocab.txt`: pieces mark word starts with "▁" instead of marking continuations with "##", so
it does not work with the WordPiece tokenizer). Ids: `[PAD]` 0, `[UNK]` 1, `[CLS]` 2, `[SEP]` 3,
`[MASK]` 4, then `[unused0]..` (ALBERT's layout plus the reserved slots). They are control
symbols: like Google's tokenizer, text that contains "[SEP]" is not turned into a separator.
`--do_lower_case` selects the case-folding normaliser (`nmt_nfkc_cf`). Use it with
`sentencepiece.SentencePieceProcessor(model_file=...)` or
`tensorflow_text.SentencepieceTokenizer(model=open(path, "rb").read())`.
"""

from __future__ import annotations

import collections
import itertools
import math
import os
import time
from typing import Iterable, Iterator

from absl import flags, logging

from biobert_tf.engine import entry

entry.quiet_tensorflow()

import tensorflow as tf  # noqa: E402

from biobert_tf.bert.tokenization import (  # noqa: E402
    CLS, MASK, MAX_CHARS_PER_WORD, PAD, SEP, UNK, split_words)
from biobert_tf.atomic_files import write_text  # noqa: E402
from tensorflow_text.tools.wordpiece_vocab import (  # noqa: E402
    wordpiece_tokenizer_learner_lib as learner)

from tfrecords_tools.corpus import expand_input_files, read_documents  # noqa: E402

GOOGLE_UNUSED_BEFORE_UNK = 99  # Google's vocabularies: [unused0..98] at ids 1-99, [UNK] at 100
_SLACK = 0.05  # surplus of learned subwords accepted before cutting the rarest


class BuildVocabError(ValueError):
    """The input cannot be read or cannot give the requested vocabulary."""


def read_texts(input_files: str, input_format: str = "auto") -> Iterator[str]:
    """The sentences of every document of the files a glob or comma list matches, read with
    the pretraining-data readers (so text, lines, PubMed and BioC XML all work)."""
    for path in expand_input_files(input_files):
        for document in read_documents(path, input_format):
            yield from document.sentences


def count_words(texts: Iterable[str], do_lower_case: bool,
                batch_size: int = 1024) -> collections.Counter:
    """Counts the words of `texts` as Google's BasicTokenizer splits them (our in-graph
    `split_words`, so the vocab sees exactly the words `BertTokenizer` will look up); an
    empty input is an error."""
    counts: collections.Counter = collections.Counter()
    num_texts = 0
    iterator = iter(texts)
    while batch := list(itertools.islice(iterator, batch_size)):
        counts.update(split_words(tf.constant(batch), do_lower_case).flat_values.numpy().tolist())
        num_texts += len(batch)
    counts = collections.Counter({word.decode("utf-8"): n for word, n in counts.items()})
    if not counts:
        raise BuildVocabError(f"no words in the input ({num_texts} non-blank texts)")
    return counts


def reserved_tokens(num_unused: int = GOOGLE_UNUSED_BEFORE_UNK) -> list[str]:
    """[PAD], up to 99 [unusedN], [UNK] [CLS] [SEP] [MASK], then the remaining [unusedN]."""
    before = min(num_unused, GOOGLE_UNUSED_BEFORE_UNK)
    return ([PAD] + [f"[unused{i}]" for i in range(before)] + [UNK, CLS, SEP, MASK]
            + [f"[unused{i}]" for i in range(before, num_unused)])


def learn_wordpiece_vocab(texts: Iterable[str], vocab_size: int, do_lower_case: bool,
                          num_unused: int = GOOGLE_UNUSED_BEFORE_UNK,
                          min_count: int = 2) -> list[str]:
    """A `vocab_size`-token WordPiece vocabulary in the layout of the module docstring."""
    counts = count_words(texts, do_lower_case)
    # Longer words become [UNK] whatever the vocab holds, so they teach nothing.
    words = sorted((w, n) for w, n in counts.items() if len(w) <= MAX_CHARS_PER_WORD)
    alphabet = sorted({c for w, _ in words for c in w})
    characters = alphabet + ["##" + c for c in alphabet]
    reserved = reserved_tokens(num_unused)
    room = vocab_size - len(reserved) - len(characters)
    if room < 0:
        raise BuildVocabError(
            f"vocab_size {vocab_size} is too small: {len(reserved)} reserved tokens and "
            f"{len(characters)} character tokens ({len(alphabet)} characters, alone and as ##) "
            "are needed before any subword")
    subwords = _learn_subwords(words, set(characters), room, min_count)
    shortfall = room - len(subwords)
    if shortfall:
        logging.warning("the corpus gives only %d subwords seen at least %d times; %d more "
                        "[unusedN] slots fill the vocab to %d", len(subwords), min_count,
                        shortfall, vocab_size)
    filler = [f"[unused{num_unused + i}]" for i in range(shortfall)]
    return reserved + filler + characters + subwords


def _learn_subwords(words: list[tuple[str, int]], characters: set[str], size: int,
                    min_count: int) -> list[str]:
    """At most `size` subwords (characters excluded), most frequent first.

    The learner keeps subwords seen at least `thresh` times; fewer survive a higher
    threshold. We want the highest threshold that still gives `size` of them (then cut
    the rarest), searched on a log scale: each learning pass is a full pass over the
    words, and a linear search (as `learner.learn` does) needs about twice as many.
    """
    params = learner.Params(upper_thresh=None, lower_thresh=None, num_iterations=4,
                            max_input_tokens=None, max_token_length=MAX_CHARS_PER_WORD,
                            max_unique_chars=None, vocab_size=size, slack_ratio=_SLACK,
                            include_joiner_token=True, joiner="##", reserved_tokens=[])

    def learn(thresh: int) -> list[str]:
        return [t for t in learner.learn_with_thresh(words, thresh, params) if t not in characters]

    best = learn(min_count)
    if len(best) <= size:
        return best
    low, high = math.log(min_count), math.log(max(n for _, n in words) + 1)
    for _ in range(8):
        thresh = max(min_count, round(math.exp((low + high) / 2)))
        subwords = learn(thresh)
        if len(subwords) >= size:
            best, low = subwords, math.log(thresh)
            if len(subwords) <= size * (1 + _SLACK):
                break
        else:
            high = math.log(thresh)
    return best[:size]


def write_vocab(vocab: list[str], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_text(path, "\n".join(vocab) + "\n")


def train_sentencepiece(texts: Iterable[str], model_prefix: str, vocab_size: int,
                        model_type: str = "unigram", do_lower_case: bool = False,
                        num_unused: int = GOOGLE_UNUSED_BEFORE_UNK,
                        character_coverage: float = 0.9999) -> str:
    """Trains a SentencePiece model; returns the path of `<model_prefix>.model`. The model and
    its .vocab are written under a temporary prefix and renamed once both are complete."""
    import sentencepiece as spm

    iterator = iter(texts)
    first = next(iterator, None)
    if first is None:
        raise BuildVocabError("no texts in the input")
    os.makedirs(os.path.dirname(os.path.abspath(model_prefix)), exist_ok=True)
    reader_errors: list[Exception] = []

    def sentences() -> Iterator[str]:
        # SentencePiece turns an error of its iterator into a RuntimeError that holds the
        # error's text and stack; the reader's own error (file and line) is raised instead.
        try:
            yield first
            yield from iterator
        except Exception as e:
            reader_errors.append(e)
            raise

    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences(), model_prefix=model_prefix + ".partial",
            vocab_size=vocab_size, model_type=model_type, character_coverage=character_coverage,
            pad_id=0, pad_piece=PAD, unk_id=1, unk_piece=UNK, bos_id=-1, eos_id=-1,
            control_symbols=[CLS, SEP, MASK] + [f"[unused{i}]" for i in range(num_unused)],
            normalization_rule_name="nmt_nfkc_cf" if do_lower_case else "identity",
            input_sentence_size=10_000_000, shuffle_input_sentence=True, minloglevel=2)
    except RuntimeError as e:
        if reader_errors:
            raise reader_errors[0] from None
        # A failed check, e.g. a vocab_size too small for the characters: "INTERNAL:
        # src/x.cc(638) [check] Reason. Advice."; the reason and advice are enough.
        raise BuildVocabError(f"SentencePiece: {str(e).rsplit('] ', 1)[-1]}") from None
    for suffix in (".vocab", ".model"):  # the .model last: a .model always has its .vocab
        os.replace(f"{model_prefix}.partial{suffix}", model_prefix + suffix)
    return model_prefix + ".model"


FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Glob or comma-separated globs of corpus files; "
                    "every sentence is one text.")
flags.DEFINE_enum("input_format", "auto", ["auto", "text", "lines", "pubmed_xml", "bioc"],
                  "Corpus format, as in create_pretraining_data.")
flags.DEFINE_string("output_file", None, "vocab.txt to write (wordpiece), or the model prefix "
                    "(sentencepiece: writes PREFIX.model and PREFIX.vocab).")
flags.DEFINE_enum("model", "wordpiece", ["wordpiece", "sentencepiece"], "What to build.")
flags.DEFINE_integer("vocab_size", 30522, "Total number of tokens, reserved ones included.")
flags.DEFINE_bool("do_lower_case", True, "Lower-case and strip accents, as the tokenizer will.")
flags.DEFINE_integer("num_unused", GOOGLE_UNUSED_BEFORE_UNK,
                     "[unusedN] slots reserved for later markers (99 gives Google's ids).")
flags.DEFINE_integer("min_count", 2, "WordPiece: never learn subwords seen fewer times.")
flags.DEFINE_integer("max_texts", 0, "Learn from the first N texts only (0: all).")
flags.DEFINE_enum("model_type", "unigram", ["unigram", "bpe"], "SentencePiece algorithm.")
flags.DEFINE_float("character_coverage", 0.9999, "SentencePiece: share of characters covered.")


def _logged(texts: Iterable[str], stats: dict, input_file: str,
            every: int = 100_000) -> Iterator[str]:
    """Passes `texts` through, counting them in `stats` and logging progress; no texts at all
    is an error naming the --input_file they came from."""
    for text in texts:
        stats["texts"] += 1
        if stats["texts"] % every == 0:
            logging.info("read %d texts", stats["texts"])
        yield text
    if not stats["texts"]:
        raise BuildVocabError(f"--input_file={input_file}: no texts (empty files?)")


def main(argv: list[str]) -> None:
    del argv
    start = time.time()
    stats = {"texts": 0}
    texts = read_texts(FLAGS.input_file, FLAGS.input_format)
    if FLAGS.max_texts > 0:
        texts = itertools.islice(texts, FLAGS.max_texts)
    texts = _logged(texts, stats, FLAGS.input_file)
    if FLAGS.model == "wordpiece":
        vocab = learn_wordpiece_vocab(texts, FLAGS.vocab_size, FLAGS.do_lower_case,
                                      FLAGS.num_unused, FLAGS.min_count)
        write_vocab(vocab, FLAGS.output_file)
        written, size = FLAGS.output_file, len(vocab)
    else:
        written = train_sentencepiece(texts, FLAGS.output_file, FLAGS.vocab_size,
                                      FLAGS.model_type, FLAGS.do_lower_case, FLAGS.num_unused,
                                      FLAGS.character_coverage)
        size = FLAGS.vocab_size
    logging.info("wrote %s: %d tokens from %d texts in %.1f s", written, size, stats["texts"],
                 time.time() - start)


def run() -> None:
    flags.mark_flags_as_required(["input_file", "output_file"])
    entry.run(main)


if __name__ == "__main__":
    run()
