"""Vocabulary building (`tfrecords_tools.build_vocab`) on the first lines of the PubMed corpus."""

import collections
import subprocess

import pytest
import sentencepiece as spm
import tensorflow as tf

from biobert_tf.bert.tokenization import BertTokenizer, load_vocab
from helpers import REPO, corpus_lines, python
from reference_tokenizer import ReferenceTokenizer
from tfrecords_tools import build_vocab
from tfrecords_tools.build_vocab import BuildVocabError
from tfrecords_tools.corpus import CorpusError

TRAIN_LINES = 100  # the learner's passes over them are most of this file's time
VOCAB_SIZE = 2000  # the first 100 abstracts give ~2,600 subwords seen twice: no shortfall


@pytest.fixture(scope="module", params=[False, True], ids=["cased", "uncased"])
def learned(request, tmp_path_factory):
    """(vocab.txt path, do_lower_case) learned from the first TRAIN_LINES corpus lines."""
    do_lower_case = request.param
    vocab = build_vocab.learn_wordpiece_vocab(corpus_lines()[:TRAIN_LINES], VOCAB_SIZE,
                                              do_lower_case)
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    build_vocab.write_vocab(vocab, str(path))
    return str(path), do_lower_case


def unk_share(vocab_file: str, do_lower_case: bool, texts: list[str]) -> tuple[int, int]:
    """([UNK] pieces, all pieces) when `BertTokenizer` tokenizes `texts`."""
    tokenizer = BertTokenizer(vocab_file, do_lower_case)
    ids = tokenizer.tokenize(tf.constant(texts)).token_ids.flat_values.numpy()
    return int((ids == tokenizer.unk_id).sum()), len(ids)


def test_google_layout_and_size(learned):
    vocab = load_vocab(learned[0])  # also checks: no duplicates, no empty lines
    assert len(vocab) == VOCAB_SIZE
    assert vocab[0] == "[PAD]"
    assert vocab[1:100] == [f"[unused{i}]" for i in range(99)]
    assert vocab[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert not any(t.startswith("[unused") for t in vocab[104:])  # no shortfall here
    learned_tokens = "".join(vocab[104:])
    assert any(c.isupper() for c in learned_tokens) == (not learned[1])


def test_every_training_word_is_covered(learned):
    """Every character seen is in the vocab, alone and as '##' suffix: no training word is [UNK]."""
    vocab = set(load_vocab(learned[0]))
    lines = corpus_lines()[:TRAIN_LINES]
    words = {w for line in lines for w in ReferenceTokenizer([], learned[1]).basic_tokenize(line)}
    assert all(c in vocab and "##" + c in vocab for w in words if len(w) <= 100 for c in w)
    assert unk_share(*learned, lines)[0] == 0


def test_held_out_unk_rate_below_one_percent(learned):
    unk, total = unk_share(*learned, corpus_lines()[TRAIN_LINES:TRAIN_LINES + 200])
    assert total > 10_000
    assert unk / total < 0.01, f"{unk} of {total} pieces are [UNK]"


def test_counted_words_are_googles_basic_tokenizer():
    """tensorflow-text's own splitter would lower-case "µ" (micro sign) to "μ" and "ß" to "ss"."""
    texts = corpus_lines()[:TRAIN_LINES] + [
        "Straße 5 µM ﬁbrin ΟΔΟΣ. Σ a\u200bb soft\u00adhyphen x\x85y z\u2028w",
        "中文 ÀÉÎ naïve\tcafé\x00! \ufffd"]
    for do_lower_case in (False, True):
        reference = ReferenceTokenizer(["[UNK]", "[CLS]", "[SEP]"], do_lower_case)
        expected = collections.Counter(w for text in texts for w in reference.basic_tokenize(text))
        assert build_vocab.count_words(texts, do_lower_case) == expected
    assert build_vocab.count_words(["5 µM Straße"], True) == {"5": 1, "µm": 1, "straße": 1}


def test_small_corpus_fills_shortfall_with_unused_slots():
    vocab = build_vocab.learn_wordpiece_vocab(corpus_lines()[:20], 3000, do_lower_case=False)
    assert len(vocab) == 3000 and len(set(vocab)) == 3000
    assert vocab[100:105] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused99]"]
    first_learned = next(i for i in range(104, 3000) if not vocab[i].startswith("[unused"))
    assert vocab[104:first_learned] == [f"[unused{i}]" for i in range(99, first_learned - 5)]


def test_num_unused_other_than_99():
    assert build_vocab.reserved_tokens(2) == ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]",
                                              "[SEP]", "[MASK]"]
    assert build_vocab.reserved_tokens(101)[100:106] == [
        "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused99]", "[unused100]"]


def test_vocab_size_too_small_for_the_alphabet():
    with pytest.raises(BuildVocabError, match="too small"):
        build_vocab.learn_wordpiece_vocab(corpus_lines()[:5], 150, do_lower_case=False)


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_round_trip(tmp_path, model_type):
    model = build_vocab.train_sentencepiece(corpus_lines()[:TRAIN_LINES], str(tmp_path / "sp"),
                                            1000, model_type)
    assert (tmp_path / "sp.vocab").exists()
    sp = spm.SentencePieceProcessor(model_file=model)
    assert sp.get_piece_size() == 1000
    assert [sp.id_to_piece(i) for i in range(6)] == [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"]
    text = "Spermidine protects against alpha-synuclein neurotoxicity in Drosophila."
    ids = sp.encode(text)
    assert sp.decode(ids) == text and sp.unk_id() not in ids
    assert sp.piece_to_id("[SEP]") not in sp.encode("a [SEP] b")  # control symbol: not from text


def test_sentencepiece_lower_case(tmp_path):
    model = build_vocab.train_sentencepiece(corpus_lines()[:TRAIN_LINES], str(tmp_path / "sp"),
                                            1000, do_lower_case=True)
    sp = spm.SentencePieceProcessor(model_file=model)
    assert sp.decode(sp.encode("BRCA1 Mutations")) == "brca1 mutations"


def test_read_texts_glob_and_comma_list(tmp_path):
    (tmp_path / "a.txt").write_text("One. Two.\n\n  Three  \n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Four\n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("Five\n", encoding="utf-8")
    texts = build_vocab.read_texts(f"{tmp_path}/[ab].txt, {tmp_path}/c.txt", "lines")
    assert list(texts) == ["One.", "Two.", "Three", "Four", "Five"]


def test_non_utf8_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\nstill fine\nbad \xff byte\n")
    with pytest.raises(CorpusError, match=f"{path}:3: not valid UTF-8"):
        build_vocab.learn_wordpiece_vocab(build_vocab.read_texts(str(path)), 2000, False)


def test_empty_input_is_an_error(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(BuildVocabError, match="no words"):
        build_vocab.learn_wordpiece_vocab(build_vocab.read_texts(str(path)), 2000, False)
    with pytest.raises(BuildVocabError, match="no texts"):
        build_vocab.train_sentencepiece(build_vocab.read_texts(str(path)), str(tmp_path / "sp"),
                                        100)
    with pytest.raises(FileNotFoundError, match="no input file matches"):
        list(build_vocab.read_texts(str(tmp_path / "missing*.txt")))


def test_cli(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines()[:60]) + "\n", encoding="utf-8")
    output = tmp_path / "vocab.txt"
    result = subprocess.run(
        [*python(), "-m", "tfrecords_tools.build_vocab", f"--input_file={corpus}",
         f"--output_file={output}", "--vocab_size=1000", "--do_lower_case=false",
         "--max_texts=50"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1000 tokens from 50 texts" in result.stderr
    vocab = load_vocab(str(output))
    assert len(vocab) == 1000 and vocab[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
