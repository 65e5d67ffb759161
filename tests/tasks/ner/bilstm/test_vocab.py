"""The BiLSTM word vocabulary file and word2vec text vectors: damaged files are one clear error
naming the file and the field or line; values are never misread."""

import json
import re

import numpy as np
import pytest

from biobert_tf.tasks.ner.bilstm.vocab import WordVocab, read_word_vectors
from helpers import LINE_ENDINGS, with_line_endings

VOCAB = WordVocab(["<pad>", "<unk>", "<s>", "</s>", "gene", "Cell"],
                  ["<pad>", "<unk>", "C", "e", "g", "l", "n"], lowercase=False, max_word_chars=8)


def saved(tmp_path, **changes) -> str:
    path = tmp_path / "word_vocab.json"
    VOCAB.save(str(path))
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return str(path)


def test_round_trip_and_atomic_save(tmp_path):
    assert WordVocab.load(saved(tmp_path)) == VOCAB
    assert [p.name for p in tmp_path.iterdir()] == ["word_vocab.json"]


@pytest.mark.parametrize("changes, message", [
    ({"lowercase": 0}, "lowercase: must be true or false, got 0"),
    ({"max_word_chars": True}, "max_word_chars: must be an integer >= 1, got true"),
    ({"max_word_chars": 0}, "max_word_chars: must be an integer >= 1, got 0"),
    ({"max_word_chars": 8.0}, "max_word_chars: must be an integer >= 1, got 8.0"),
    ({"words": ["<pad>", "<unk>", "<s>", "</s>", 5]}, r"words\[4\]: must be a string, got 5"),
    ({"words": ["<pad>", "<unk>", "<s>", "</s>", "a", "a"]}, "words: an entry occurs twice"),
    ({"words": ["gene"]}, "not a word vocabulary .*its words must start with"),
    ({"chars": ["<pad>", "<unk>", "ab"]}, r"chars\[2\]: must be one character, got \"ab\""),
    ({"chars": ["<pad>", "<unk>", "a", "a"]}, "chars: an entry occurs twice"),
    ({"chars": "abc"}, "chars: must be an array"),
    ({"extra": 1}, r"not a word vocabulary \(unknown fields extra\)"),
])
def test_a_field_of_the_wrong_type_or_value_names_the_file_and_field(tmp_path, changes, message):
    path = saved(tmp_path, **changes)
    with pytest.raises(ValueError, match=f"^{re.escape(path)}: {message}"):
        WordVocab.load(path)


@pytest.mark.parametrize("text, message", [
    ("", ": empty file"),
    ('{"words": [', ":1: malformed JSON"),
    ('{"words": [], "words": []}', ": the key 'words' occurs twice"),
    ('{"max_word_chars": NaN}', ": NaN is not a JSON number"),
])
def test_a_damaged_file_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "word_vocab.json"
    path.write_text(text)
    with pytest.raises(ValueError, match="^" + re.escape(str(path)) + message):
        WordVocab.load(str(path))


def vectors(tmp_path, text, vocab=VOCAB, ending="\n"):
    path = tmp_path / "vectors.txt"
    path.write_bytes(with_line_endings(text, ending) if ending != "\n" else text.encode())
    return read_word_vectors(str(path), vocab, 3)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "1e39", "-3.5e38"])
def test_non_finite_or_float32_overflowing_values_are_refused_with_file_and_line(tmp_path, value):
    with pytest.raises(ValueError, match=r"vectors.txt:3: not a vector of finite float32"):
        vectors(tmp_path, f"2 3\ngene 1 2 3\nCell 1 {value} 3\n")


@pytest.mark.parametrize("text, message", [
    ("2 4\ngene 1 2 3\n", r"vectors.txt:1: the header says 4 numbers per word, expected 3"),
    ("gene 1 2 3\nCell 1 2\n", r"vectors.txt:2: 2 numbers, expected 3"),
    ("gene 1 2 3\nCell 1  2 3\n", r"vectors.txt:2: 4 numbers, expected 3"),
    ("gene 1 2 3\nCell 1 2 x\n", r"vectors.txt:2: not a vector of numbers"),
    ("gene 1 2 3\nother 1 2 3\ngene 4 5 6\n", r"vectors.txt:3: the word 'gene' again \(first on "
                                               r"line 1\)"),
])
def test_rows_of_the_wrong_width_or_repeated_are_refused(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        vectors(tmp_path, text)


@pytest.mark.parametrize("ending", LINE_ENDINGS)
def test_every_line_ending_and_blank_lines_read_like_lf(tmp_path, ending):
    matrix, found = vectors(tmp_path, "2 3\ngene 1 2 3\n\nCell -1 0.5 3e-2\n\n", ending=ending)
    assert found == 2
    assert matrix[4].tolist() == [1, 2, 3]
    assert np.allclose(matrix[5], [-1, 0.5, 0.03])


def test_a_lowercased_vocabulary_keeps_the_first_row_of_each_word(tmp_path):
    lower = WordVocab(["<pad>", "<unk>", "<s>", "</s>", "gene"], ["<pad>", "<unk>"], lowercase=True)
    matrix, found = vectors(tmp_path, "Gene 1 2 3\ngene 4 5 6\n", vocab=lower)
    assert found == 1 and matrix[4].tolist() == [1, 2, 3]
