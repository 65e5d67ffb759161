"""Word and character vocabularies of the BiLSTM models (Sachan et al. 2018), and their
in-graph lookup.

Words are Google BERT's basic-tokenizer words (punctuation split off, as the NER datasets
are tokenized), so raw text, tsv tokens and the language-model corpus agree. The word
vocabulary keeps words seen at least `min_count` times (optionally lower-cased); the
character vocabulary every character of the kept words' text. Ids 0 and 1 are `<pad>` and
`<unk>`; words also have `<s>` and `</s>`, the edges of every model window.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Iterable

import numpy as np
import tensorflow as tf

from biobert_tf import json_files
from biobert_tf import atomic_files
from biobert_tf.text_files import utf8_lines

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
VOCAB_FILE = "word_vocab.json"


@dataclasses.dataclass
class WordVocab:
    """`words[i]` / `chars[i]`: the token of id i. `lowercase` applies to word lookup only
    (characters keep their case, so the char-CNN sees capitalisation)."""

    words: list[str]
    chars: list[str]
    lowercase: bool = False
    max_word_chars: int = 20  # longer words keep their first characters

    pad_id, unk_id, cls_id, sep_id = 0, 1, 2, 3  # the window edges are <s> and </s>

    @classmethod
    def build(cls, sentences: Iterable[Iterable[str]], min_count: int = 2,
              max_words: int | None = None, lowercase: bool = False,
              max_word_chars: int = 20) -> WordVocab:
        """From tokenized sentences: words seen >= min_count times, most frequent first."""
        surface = collections.Counter(w for sentence in sentences for w in sentence)
        counts = collections.Counter()
        for word, n in surface.items():
            counts[word.lower() if lowercase else word] += n
        kept = [w for w, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))
                if n >= min_count][:max_words]
        chars = sorted({c for w in surface for c in w})
        if not kept:
            raise ValueError(f"no word occurs {min_count} times or more: nothing to build a "
                             "vocabulary from")
        return cls([PAD, UNK, BOS, EOS] + kept, [PAD, UNK] + chars, lowercase, max_word_chars)

    def save(self, path: str) -> None:
        atomic_files.write_text(path, json.dumps({"words": self.words, "chars": self.chars,
                                       "lowercase": self.lowercase,
                                       "max_word_chars": self.max_word_chars},
                                      ensure_ascii=False))

    @classmethod
    def load(cls, path: str) -> WordVocab:
        """The vocabulary saved at `path`: distinct words after the specials, distinct single
        characters after `<pad>` and `<unk>`, and its settings."""
        saved = json_files.load(path)
        unknown = set(saved.object()) - {"words", "chars", "lowercase", "max_word_chars"}
        if unknown:
            saved.fail(f"not a word vocabulary (unknown fields {', '.join(sorted(unknown))})")
        words = [word.string(non_empty=False) for word in saved.field("words").items()]
        chars = [char.string(non_empty=False) for char in saved.field("chars").items()]
        if words[:4] != [PAD, UNK, BOS, EOS] or chars[:2] != [PAD, UNK]:
            saved.fail(f"not a word vocabulary (its words must start with {PAD} {UNK} {BOS} "
                       f"{EOS}, its chars with {PAD} {UNK})")
        for name, tokens in (("words", words), ("chars", chars)):
            if len(set(tokens)) < len(tokens):
                saved.field(name).fail("an entry occurs twice")
        for char in saved.field("chars").items()[2:]:
            if len(char.value) != 1:
                char.fail(f"must be one character, got {json_files.show(char.value)}")
        return cls(words, chars, saved.field("lowercase").boolean(),
                   saved.field("max_word_chars").integer(minimum=1))

    def __len__(self) -> int:
        return len(self.words)


class WordLookup(tf.Module):
    """Word strings → word ids [n] and character ids [n, max_word_chars], in TensorFlow."""

    def __init__(self, vocab: WordVocab):
        super().__init__(name="word_lookup")
        self.vocab = vocab

        def table(keys, dtype, default):
            return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys, dtype), tf.range(len(keys), dtype=tf.int32)), default)

        self.word_table = table(vocab.words, tf.string, vocab.unk_id)
        # The specials get code points that text never decodes to.
        self.char_table = table([-1, -2] + [ord(c) for c in vocab.chars[2:]], tf.int32,
                                vocab.unk_id)

    def __call__(self, words: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        keys = tf.strings.lower(words, encoding="utf-8") if self.vocab.lowercase else words
        word_ids = self.word_table.lookup(keys)
        codepoints = tf.strings.unicode_decode(words, "UTF-8", errors="replace")
        codepoints = codepoints[:, :self.vocab.max_word_chars]
        char_ids = self.char_table.lookup(codepoints.flat_values)
        chars = codepoints.with_flat_values(char_ids).to_tensor(
            0, shape=[None, self.vocab.max_word_chars])
        return word_ids, chars


def read_word_vectors(path: str, vocab: WordVocab, dim: int) -> tuple[np.ndarray, int]:
    """Rows for the vocab's words from a word2vec *text* file (`word v1 ... vD` per line, an
    optional `count dim` first line); words absent from the file keep a random row.
    Returns ([len(vocab), dim] float32, how many vocab words were found).

    Every row must have `dim` numbers (file:line otherwise); the rows read must hold finite
    float32 numbers (other rows are not parsed: embedding files are large). Blank lines are
    skipped. A vocabulary word twice in the file is an error, but for a lower-cased vocabulary
    the first row of each lower-cased word is kept (word2vec files list the most frequent form
    first).
    """
    rng = np.random.default_rng(0)
    matrix = rng.normal(0, 0.1, (len(vocab), dim)).astype(np.float32)
    matrix[vocab.pad_id] = 0
    index = {w: i for i, w in enumerate(vocab.words)}
    first_line: dict[str, int] = {}  # vocab word → line of its row
    for number, line in utf8_lines(path):
        fields = line.rstrip().split(" ")
        if fields == [""]:
            continue
        if number == 1 and len(fields) == 2 and all(x.isascii() and x.isdigit() for x in fields):
            if int(fields[1]) != dim:
                raise ValueError(f"{path}:1: the header says {fields[1]} numbers per word, "
                                 f"expected {dim} (--word_embedding_dim)")
            continue
        if len(fields) != dim + 1:
            raise ValueError(f"{path}:{number}: {len(fields) - 1} numbers, expected {dim} "
                             "(--word_embedding_dim)")
        word = fields[0].lower() if vocab.lowercase else fields[0]
        if word not in index:
            continue
        if word in first_line:
            if not vocab.lowercase:
                raise ValueError(f"{path}:{number}: the word {word!r} again (first on line "
                                 f"{first_line[word]})")
            continue
        matrix[index[word]] = _vector(fields[1:], path, number)
        first_line[word] = number
    return matrix, len(first_line)


def _vector(fields: list[str], path: str, number: int) -> np.ndarray:
    try:
        row = np.asarray(fields, np.float64)
    except ValueError:
        raise ValueError(f"{path}:{number}: not a vector of numbers") from None
    if not (np.abs(row) <= np.finfo(np.float32).max).all():  # also false for NaN
        raise ValueError(f"{path}:{number}: not a vector of finite float32 numbers (nan, inf "
                         "or too large)")
    return row.astype(np.float32)
