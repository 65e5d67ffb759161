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
        with tf.io.gfile.GFile(path, "w") as f:
            json.dump({"words": self.words, "chars": self.chars, "lowercase": self.lowercase,
                       "max_word_chars": self.max_word_chars}, f, ensure_ascii=False)

    @classmethod
    def load(cls, path: str) -> WordVocab:
        with tf.io.gfile.GFile(path) as f:
            values = json.load(f)
        if values.get("words", [])[:4] != [PAD, UNK, BOS, EOS]:
            raise ValueError(f"{path}: not a word vocabulary (its first words must be "
                             f"{PAD} {UNK} {BOS} {EOS})")
        return cls(**values)

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
    Returns ([len(vocab), dim] float32, how many words were found)."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(0, 0.1, (len(vocab), dim)).astype(np.float32)
    matrix[vocab.pad_id] = 0
    index = {w: i for i, w in enumerate(vocab.words)}
    found = 0
    for number, line in utf8_lines(path):
        fields = line.rstrip().split(" ")
        if number == 1 and len(fields) == 2 and all(x.isdigit() for x in fields):
            continue
        if len(fields) != dim + 1:
            raise ValueError(f"{path}:{number}: {len(fields) - 1} numbers, expected {dim} "
                             "(--word_embedding_dim)")
        word = fields[0].lower() if vocab.lowercase else fields[0]
        if word in index:
            try:
                matrix[index[word]] = np.asarray(fields[1:], np.float32)
            except ValueError:
                raise ValueError(f"{path}:{number}: not a vector of numbers") from None
            found += 1
    return matrix, found
