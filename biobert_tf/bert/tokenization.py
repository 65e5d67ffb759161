"""WordPiece tokenization in TensorFlow ops, identical to Google BERT's `tokenization.py`.

`BertTokenizer` runs inside `tf.function` and SavedModels. It reproduces Google's
BasicTokenizer + WordpieceTokenizer exactly and also returns, for every wordpiece,
its start/end *character* offsets into the original string, the index of the
original whitespace-separated word it came from, and whether it continues the
previous piece's basic-tokenizer word (Google's "##" pieces).

Why not `tensorflow_text.BertTokenizer` / `FastBertTokenizer` end to end: their
normalisation differs from Google's on real text (NFKC case folding turns "ß" into
"ss" and "ﬁ" into "fi"; zero-width and soft-hyphen characters split words instead
of being deleted; the word-length limit counts bytes, not characters), and
BertTokenizer's offsets point into the normalised text, not the input. So the
normalisation and pre-tokenisation are done here per character, keeping a map
back to the input, and only the WordPiece matching itself is delegated to
`tensorflow_text.FastWordpieceTokenizer`.

`FullTokenizer` is a drop-in for Google's class of the same name, backed by the
same ops, for BioBERT users' scripts.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from biobert_tf.bert import packing
from biobert_tf.text_files import utf8_lines

CLS, SEP, UNK, PAD, MASK = "[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"
MAX_CHARS_PER_WORD = 100  # Google's max_input_chars_per_word

# Google's character classes (tokenization.py: _is_whitespace, _is_control,
# _is_punctuation, _is_chinese_char) as RE2 classes. Whitespace adds U+2028/U+2029:
# Google's final `str.split()` also splits there (other str.split() separators
# are control characters, deleted before).
_WHITESPACE = r"[ \t\n\r\p{Zs}\x{2028}\x{2029}]"
_CONTROL = r"[\p{Cc}\p{Cf}\x{FFFD}]"  # \x00 is in Cc; \t\n\r are whitespace first
_PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
_CJK = (r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
        r"\x{2B740}-\x{2B81F}\x{2B820}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]")


class VocabError(ValueError):
    """A vocabulary file is missing, unreadable or unusable."""


def load_vocab(vocab_file: str) -> list[str]:
    """Reads `vocab.txt` (one token per line, id = line number) as Google does (`line.strip()`)."""
    if not os.path.exists(vocab_file):
        raise VocabError(f"vocab file not found: {vocab_file}")
    with open(vocab_file, "rb") as f:
        if f.read(3) == b"\xef\xbb\xbf":
            # Google's reader would make it part of the first token; other tools may not.
            raise VocabError(f"{vocab_file}:1: starts with a UTF-8 byte-order mark: save the "
                             "vocabulary without it")
    tokens: list[str] = []
    first_line: dict[str, int] = {}
    for line_number, line in utf8_lines(vocab_file, VocabError):
        token = line.strip()
        if not token:
            raise VocabError(f"{vocab_file}:{line_number}: empty token")
        if token in first_line:
            raise VocabError(f"{vocab_file}:{line_number}: duplicate token {token!r} "
                             f"(first on line {first_line[token]})")
        first_line[token] = line_number
        tokens.append(token)
    if not tokens:
        raise VocabError(f"vocab file is empty: {vocab_file}")
    missing = [t for t in (UNK, CLS, SEP) if t not in first_line]
    if missing:
        raise VocabError(f"{vocab_file}: required special tokens missing: {', '.join(missing)}")
    return tokens


class Wordpieces(NamedTuple):
    """Ragged [batch, pieces] tokenizer output; offsets are character offsets into the input."""

    token_ids: tf.RaggedTensor
    start_offsets: tf.RaggedTensor
    end_offsets: tf.RaggedTensor
    word_ids: tf.RaggedTensor  # index of the whitespace-separated input word
    continues_word: tf.RaggedTensor  # bool: same basic-tokenizer word as the previous piece


class BertTokenizer(tf.Module):
    """Google-BERT WordPiece tokenizer as TensorFlow ops, with character offsets and word ids."""

    def __init__(self, vocab: str | Sequence[str], do_lower_case: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        self.vocab_file = vocab if isinstance(vocab, str) else None
        self.vocab = load_vocab(vocab) if isinstance(vocab, str) else list(vocab)
        self.do_lower_case = bool(do_lower_case)
        ids = {token: i for i, token in enumerate(self.vocab)}
        self.cls_id, self.sep_id, self.unk_id = ids[CLS], ids[SEP], ids[UNK]
        self.pad_id = ids.get(PAD, 0)
        self.mask_id = ids.get(MASK)
        # Word length is checked in characters below, so the byte limit here only needs
        # to admit every 100-character word (at most 4 bytes per character).
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=self.vocab, suffix_indicator="##", max_bytes_per_word=4 * MAX_CHARS_PER_WORD,
            token_out_type=tf.int32, unknown_token=UNK, no_pretokenization=True,
            support_detokenization=False)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # Plain TensorFlow ops: autograph would only spend seconds converting them (and tf.text's
    # Python) at every trace. The encoders and serving functions skip it too.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def tokenize(self, texts: tf.Tensor) -> Wordpieces:
        """Tokenizes a batch of UTF-8 strings into wordpieces (invalid bytes are dropped, as Google does)."""
        normal = _normalize(texts, self.do_lower_case)

        words, word_starts, _ = _split_words(normal.text)
        word_text, too_long = _wordpiece_input(words.flat_values)
        ids, piece_starts, piece_ends = self._wordpiece.tokenize_with_offsets(word_text)
        piece_word = ids.value_rowids()  # index into words.flat_values
        continues = tf.equal(piece_word, tf.pad(piece_word[:-1], [[1, 0]], constant_values=-1))
        piece_long = tf.gather(too_long, piece_word)
        word_bytes = tf.strings.length(tf.gather(words.flat_values, piece_word), "BYTE")
        word_bytes = tf.cast(word_bytes, tf.int64)
        piece_ends = tf.where(piece_long, word_bytes, tf.cast(piece_ends.flat_values, tf.int64))
        word_start = tf.gather(word_starts.flat_values, piece_word)
        byte_start = word_start + tf.cast(piece_starts.flat_values, tf.int64)
        byte_end = word_start + piece_ends

        piece_row = tf.gather(words.value_rowids(), piece_word)
        start_char = normal.input_char(piece_row, byte_start)
        end_char = normal.input_char(piece_row, byte_end - 1) + 1
        word_id = tf.gather(normal.word_of_char,
                            tf.gather(normal.row_char_start, piece_row) + start_char)

        pieces_per_row = tf.math.bincount(tf.cast(piece_row, tf.int32),
                                          minlength=tf.size(texts), maxlength=tf.size(texts))

        def rows(values):
            # Counted from the values' own rows, so right by construction: unchecked, as the
            # checks cost seconds per trace.
            return tf.RaggedTensor.from_row_lengths(values, tf.cast(pieces_per_row, tf.int64),
                                                    validate=False)

        return Wordpieces(rows(ids.flat_values), rows(tf.cast(start_char, tf.int32)),
                          rows(tf.cast(end_char, tf.int32)), rows(tf.cast(word_id, tf.int32)),
                          rows(continues))

    def token_ids(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """`tokenize(texts).token_ids` alone, without offsets and word ids: ~1.6x faster, for
        the pretraining-data tool. Plain ops, not a `tf.function` of its own (a SavedModel
        holding the tokenizer would save that too): call it inside one."""
        words = split_words(texts, self.do_lower_case)
        ids = self._wordpiece.tokenize(_wordpiece_input(words.flat_values)[0])
        return words.with_flat_values(ids).merge_dims(1, 2)

    def pack(self, first: Wordpieces, second: Wordpieces | None = None,
             seq_length: int = 128) -> dict[str, tf.Tensor]:
        """Packs one or two segments into `[CLS] a [SEP] (b [SEP])`, padded to `seq_length`.

        Truncation follows Google's `_truncate_seq_pair` (pop from the longer segment,
        from `b` on ties) and is reported per example in `num_truncated`, never silent.
        Offsets and word ids of `[CLS]`, `[SEP]` and padding are -1; `segment_ids`
        tell which segment a position belongs to.
        """
        segments = [first] if second is None else [first, second]
        cut = packing.truncation([s.token_ids.row_lengths() for s in segments], seq_length)

        def field(name, cls_value, sep_value, pad_value):
            kept = [packing.head(getattr(s, name), n) for s, n in zip(segments, cut.kept)]
            return packing.pack_field(kept, seq_length, cls_value, sep_value, pad_value)

        return {
            "token_ids": field("token_ids", self.cls_id, self.sep_id, self.pad_id),
            "segment_ids": packing.segment_ids(cut.kept, seq_length),
            "padding_mask": packing.padding_mask(cut.kept, seq_length),
            "start_offsets": field("start_offsets", -1, -1, -1),
            "end_offsets": field("end_offsets", -1, -1, -1),
            "word_ids": field("word_ids", -1, -1, -1),
            "num_truncated": cut.num_truncated,
        }


def split_words(texts: tf.Tensor, do_lower_case: bool) -> tf.RaggedTensor:
    """Google's BasicTokenizer on a batch of strings: the normalised words that WordPiece
    then splits (ragged [batch, words]); e.g. for counting words to learn a vocabulary."""
    return _split_words(_normalize(tf.convert_to_tensor(texts, tf.string), do_lower_case).text)[0]


def split_words_with_offsets(texts: tf.Tensor, do_lower_case: bool
                             ) -> tuple[tf.RaggedTensor, tf.RaggedTensor, tf.RaggedTensor]:
    """`split_words` plus each word's start and end (exclusive) character offsets into the
    input text (ragged [batch, words] int32): the word-level front end of models without
    WordPiece (the BiLSTM-CRF tagger)."""
    normal = _normalize(tf.convert_to_tensor(texts, tf.string), do_lower_case)
    words, starts, ends = _split_words(normal.text)
    rows = words.value_rowids()
    start = normal.input_char(rows, starts.flat_values)
    end = normal.input_char(rows, ends.flat_values - 1) + 1
    return (words, words.with_flat_values(tf.cast(start, tf.int32)),
            words.with_flat_values(tf.cast(end, tf.int32)))


def _wordpiece_input(words: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The flat `words` as WordPiece gets them, and which were too long: a word of more than
    100 characters becomes the literal "[UNK]", which WordPiece matches as one token."""
    too_long = tf.strings.length(words, unit="UTF8_CHAR") > MAX_CHARS_PER_WORD
    return tf.where(too_long, UNK, words), too_long


def _split_words(normalized: tf.Tensor):
    """Whitespace separates words; each punctuation character and CJK ideograph is a word."""
    return tf_text.regex_split_with_offsets(normalized, f" +|{_PUNCTUATION}|{_CJK}",
                                            f"{_PUNCTUATION}|{_CJK}")


class _Normalized(NamedTuple):
    """Normalised text plus what is needed to map its bytes back to input characters."""

    text: tf.Tensor  # [batch] normalised strings
    byte_end: tf.Tensor  # per input char (flat): normalised bytes up to and including it
    row_byte_start: tf.Tensor  # [batch]: first normalised byte of each row, in byte_end's count
    row_char_start: tf.Tensor  # [batch]: first input char of each row, flat
    word_of_char: tf.Tensor  # per input char (flat): index of its whitespace-separated word

    def input_char(self, row: tf.Tensor, byte: tf.Tensor) -> tf.Tensor:
        """Index in its row of the input character that produced normalised `byte` of `row`."""
        flat_byte = tf.gather(self.row_byte_start, row) + byte
        flat_char = tf.searchsorted(self.byte_end[None], flat_byte[None], side="right",
                                    out_type=tf.int64)[0]
        return flat_char - tf.gather(self.row_char_start, row)


def _normalize(texts: tf.Tensor, lower: bool) -> _Normalized:
    """Google's `_clean_text` (and, if `lower`, `lower()` + NFD + accent stripping) per character.

    Works on code points: ASCII characters are classified and lowercased with
    arithmetic, and only the rest (about 1% of biomedical text) goes through
    per-character string ops and Unicode regexes, which are ~10x slower.
    """
    cps = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
    flat, rows = cps.flat_values, cps.value_rowids()
    is_ascii = flat < 128
    other = tf.where(tf.logical_not(is_ascii))[:, 0]
    other_chars = tf.strings.unicode_encode(tf.expand_dims(tf.gather(flat, other), 1), "UTF-8")
    ascii_space = (flat == 32) | (flat == 9) | (flat == 10) | (flat == 13)
    other_space = tf.strings.regex_full_match(other_chars, _WHITESPACE)
    other_dropped = tf.strings.regex_full_match(other_chars, _CONTROL) & ~other_space
    index = tf.expand_dims(other, 1)
    is_space = tf.tensor_scatter_nd_update(ascii_space, index, other_space)
    is_dropped = tf.tensor_scatter_nd_update(((flat < 32) | (flat == 127)) & ~ascii_space,
                                             index, other_dropped)
    kept = tf.where(is_space, 32, flat)

    if lower:
        other_chars = tf_text.normalize_utf8(_lower(other_chars, other, cps), "NFD")
        other_chars = tf.strings.regex_replace(other_chars, r"\p{Mn}", "")
        other_out = tf.strings.unicode_decode(other_chars, "UTF-8")
        # Each input character becomes 0 (dropped), 1 (ASCII, whitespace → " ") or, for
        # other characters, as many code points as its normalised form has.
        single = (is_ascii | is_space) & ~is_dropped
        lengths = tf.where(single, tf.constant(1, tf.int64), tf.where(
            is_dropped, tf.constant(0, tf.int64),
            tf.scatter_nd(index, other_out.row_lengths(), tf.shape(flat, out_type=tf.int64))))
        out_starts = tf.cumsum(lengths, exclusive=True)
        multi = tf.logical_not(tf.gather(is_space | is_dropped, other))
        multi_out = tf.ragged.boolean_mask(other_out, multi)
        multi_positions = (tf.gather(tf.gather(out_starts, tf.boolean_mask(other, multi)),
                                     multi_out.value_rowids())
                           + tf.ragged.range(multi_out.row_lengths()).flat_values)
        single_index = tf.where(single)[:, 0]
        kept = tf.where((flat >= 65) & (flat <= 90), kept + 32, kept)
        out = tf.scatter_nd(
            tf.expand_dims(tf.concat([tf.gather(out_starts, single_index), multi_positions], 0), 1),
            tf.concat([tf.gather(kept, single_index), multi_out.flat_values], 0),
            tf.reshape(tf.reduce_sum(lengths), [1]))
        out_rows = tf.gather(rows, _repeat_index(lengths))
    else:
        # Cased: every character is kept as it is, turned into a space or dropped.
        out = tf.boolean_mask(kept, ~is_dropped)
        out_rows = tf.boolean_mask(rows, ~is_dropped)
    batch = tf.shape(texts, out_type=tf.int64)[0]
    normalized = tf.strings.unicode_encode(
        tf.RaggedTensor.from_value_rowids(out, out_rows, nrows=batch, validate=False), "UTF-8")

    other_bytes = tf.scatter_nd(index, tf.strings.length(other_chars),
                                tf.shape(flat, out_type=tf.int64))
    char_bytes = tf.where(is_dropped, 0, tf.where(is_ascii | is_space, 1, other_bytes))
    char_bytes = tf.cast(char_bytes, tf.int64)
    row_bytes = tf.math.unsorted_segment_sum(char_bytes, rows, batch)

    # Running count of whitespace-delimited words of the input, per row.
    char_in_row = tf.ragged.range(cps.row_lengths()).flat_values
    is_word_start = ~is_space & (tf.concat([[True], is_space[:-1]], 0) | (char_in_row == 0))
    starts_so_far = tf.cumsum(tf.cast(is_word_start, tf.int32))
    row_offset = tf.gather(tf.concat([[0], starts_so_far], 0), cps.row_starts())
    return _Normalized(normalized, tf.cumsum(char_bytes), tf.cumsum(row_bytes, exclusive=True),
                       cps.row_starts(), starts_so_far - tf.gather(row_offset, rows) - 1)


def _repeat_index(counts: tf.Tensor) -> tf.Tensor:
    """[0]*counts[0] + [1]*counts[1] + ...: `tf.repeat(range(n), counts)` without the
    [n, max(counts)] mask that `tf.repeat` builds."""
    return tf.ragged.row_splits_to_segment_ids(tf.concat([[0], tf.cumsum(counts)], 0))


def _lower(chars: tf.Tensor, positions: tf.Tensor, cps: tf.RaggedTensor) -> tf.Tensor:
    """Python's `str.lower()` of single characters `chars` found at flat `positions` of
    `cps`, including its one context rule: a capital sigma after a cased letter and not
    before one becomes final sigma "ς" (case-ignorable characters in between are not
    skipped, unlike Python)."""
    lowered = tf.strings.lower(chars, encoding="utf-8")
    flat = cps.flat_values
    sigma = tf.where(tf.equal(chars, "\u03a3"))[:, 0]
    at = tf.gather(positions, sigma)
    row = tf.gather(cps.value_rowids(), at)
    last = tf.size(flat, out_type=tf.int64) - 1

    def cased(neighbour, exists):
        char = tf.strings.unicode_encode(tf.expand_dims(tf.gather(flat, neighbour), 1), "UTF-8")
        return exists & tf.strings.regex_full_match(char, r"[\p{Lu}\p{Ll}\p{Lt}]")

    after_cased = cased(tf.maximum(at - 1, 0), at > tf.gather(cps.row_starts(), row))
    before_cased = cased(tf.minimum(at + 1, last), at + 1 < tf.gather(cps.row_limits(), row))
    final = after_cased & ~before_cased
    return tf.tensor_scatter_nd_update(lowered, tf.expand_dims(sigma, 1),
                                       tf.where(final, "\u03c2", "\u03c3"))


class FullTokenizer:
    """Google BERT's `tokenization.FullTokenizer` interface, backed by `BertTokenizer`."""

    def __init__(self, vocab_file: str, do_lower_case: bool = True):
        self.tokenizer = BertTokenizer(vocab_file, do_lower_case)
        self.inv_vocab = dict(enumerate(self.tokenizer.vocab))
        self.vocab = {token: i for i, token in self.inv_vocab.items()}

    def tokenize(self, text: str) -> list[str]:
        return self.convert_ids_to_tokens(self.tokenize_to_ids([text])[0])

    def tokenize_to_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Batch tokenization straight to ids (much faster than one `tokenize` call per text)."""
        if not texts:
            return []
        return self.tokenizer.tokenize(tf.constant(list(texts))).token_ids.to_list()

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.vocab[token] for token in tokens]

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.inv_vocab[i] for i in ids]
