"""Pure-Python reference implementation of BERT's WordPiece tokenization.

This module re-implements, independently, the algorithm of Google's original
BERT ``tokenization.py`` (basic tokenization followed by greedy WordPiece).
It has no TensorFlow dependency and serves as the test oracle for the
TensorFlow tokenizer in ``biobert_tf``.

Pipeline for ``ReferenceTokenizer.tokenize``:

1. Clean the text: drop NUL, U+FFFD and control characters; map every
   whitespace character to a plain space.
2. Surround each CJK ideograph with spaces.
3. Split on whitespace.
4. If lower-casing: ``str.lower()``, then NFD-normalise and drop
   combining marks (category ``Mn``).
5. Split each word on punctuation; each punctuation character becomes its
   own token.
6. WordPiece each resulting word (greedy longest match first, ``##`` for
   word-internal pieces); a word that is too long, or that cannot be fully
   covered by vocabulary pieces, becomes a single ``[UNK]``.
"""

import unicodedata

UNK_TOKEN = "[UNK]"
MAX_INPUT_CHARS_PER_WORD = 100

# Code point blocks that Google's BERT treats as CJK ideographs.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def load_vocab(path):
    """Read a vocabulary file into a ``{token: id}`` dict.

    One token per line; each line is ``strip()``-ed and its id is its
    zero-based line number.  As in Google's loader, a repeated token keeps the
    id of its last occurrence and lines are split on ``\\n`` only.
    """
    vocab = {}
    with open(path, "r", encoding="utf-8", newline="\n") as handle:
        for index, line in enumerate(handle):
            vocab[line.strip()] = index
    return vocab


def _is_whitespace(ch):
    """Space, tab, newline, carriage return, or Unicode category Zs."""
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    """Category Cc/Cf, except tab/newline/CR (those count as whitespace)."""
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def _is_punctuation(ch):
    """All non-alphanumeric printable ASCII, or any Unicode category P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    """True if code point ``cp`` falls in one of the CJK ideograph blocks."""
    # Every block starts at U+3400 or above: most characters need no range test (speed only).
    return cp >= 0x3400 and any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _clean_text(text):
    """Remove invalid/control characters and normalise whitespace to ' '."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        out.append(" " if _is_whitespace(ch) else ch)
    return "".join(out)


def _pad_cjk(text):
    """Put a space on each side of every CJK ideograph."""
    return "".join(f" {ch} " if _is_cjk(ord(ch)) else ch for ch in text)


def _strip_accents(word):
    """NFD-decompose and drop non-spacing combining marks (category Mn)."""
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _split_on_punctuation(word):
    """Split ``word`` so that every punctuation character stands alone."""
    pieces = []
    current = []
    for ch in word:
        if _is_punctuation(ch):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(ch)
        else:
            current.append(ch)
    if current:
        pieces.append("".join(current))
    return pieces


class ReferenceTokenizer:
    """BERT basic + WordPiece tokenizer (Google semantics).

    Args:
        vocab: mapping token -> id, e.g. from :func:`load_vocab`.
        do_lower_case: lower-case and strip accents before splitting.
    """

    def __init__(self, vocab, do_lower_case):
        self.vocab = vocab
        self.do_lower_case = do_lower_case

    def basic_tokenize(self, text):
        """Clean, split on whitespace/punctuation/CJK; optionally lower-case."""
        text = _pad_cjk(_clean_text(text))
        words = []
        for word in text.split():
            if self.do_lower_case:
                word = _strip_accents(word.lower())
            words.extend(_split_on_punctuation(word))
        # Lower-casing/accent stripping can leave empty or space-containing
        # pieces; a final whitespace split normalises them as Google does.
        return " ".join(words).split()

    def wordpiece(self, word):
        """Greedy longest-match-first WordPiece split of a single word."""
        if len(word) > MAX_INPUT_CHARS_PER_WORD:
            return [UNK_TOKEN]
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            match = None
            while start < end:
                candidate = word[start:end]
                if start > 0:
                    candidate = "##" + candidate
                if candidate in self.vocab:
                    match = candidate
                    break
                end -= 1
            if match is None:
                return [UNK_TOKEN]
            pieces.append(match)
            start = end
        return pieces

    def tokenize(self, text):
        """Tokenize ``text`` into a list of WordPiece token strings."""
        tokens = []
        for word in self.basic_tokenize(text):
            tokens.extend(self.wordpiece(word))
        return tokens

    def convert_tokens_to_ids(self, tokens):
        """Map tokens to ids (``KeyError`` for unknown tokens, as Google)."""
        return [self.vocab[token] for token in tokens]
