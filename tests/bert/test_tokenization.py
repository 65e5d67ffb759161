import bisect
import os
import subprocess
import sys
import unicodedata

import pytest
import tensorflow as tf

import reference_tokenizer as ref
from biobert_tf import resources
from biobert_tf.bert.tokenization import BertTokenizer, FullTokenizer, VocabError, load_vocab
from helpers import REPO, corpus_lines, ner_sentences
from helpers import LINE_ENDINGS, with_line_endings

TRICKY = [
    "Héllo, wörld! IL-2 (p<0.05) and TNF-α/β ≥ 3 µM at 37 °C.",
    "ab\u200bcd e\u00adf g\x0bh i\x00j k\ufffdl",  # zero-width space, soft hyphen, controls
    "tab\tnew\nline\r\nnbsp\u00a0ideographic\u3000space line\u2028sep",
    "Α-β 的中文 x 한국어 日本語",
    "ＡＢＣ ﬁne ß İstanbul ΣΑΣ Ǆ",
    "e\u0301 combining after e; naïve café résumé",
    "a" * 100 + " " + "b" * 101 + " " + "α" * 60 + " " + "γ" * 101,
    "(((nested))) ... --- ?!? `quotes` 'single' \"double\" «guillemets» — dash",
    "",
    "   ",
    "[CLS] [UNK] [MASK] ##ing",
]


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _assert_same_as_google(tokenizer, reference, texts):
    """`tokenize` and the ids-only `token_ids` both give Google's ids."""
    token_ids = tf.function(tokenizer.token_ids, autograph=False)
    mismatches = []
    for chunk in _chunks(texts, 512):
        ours = tokenizer.tokenize(tf.constant(chunk)).token_ids.to_list()
        ids_only = token_ids(tf.constant(chunk)).to_list()
        for text, ids, other_ids in zip(chunk, ours, ids_only):
            expected = reference.convert_tokens_to_ids(reference.tokenize(text))
            if ids != expected or other_ids != expected:
                mismatches.append(text)
    assert not mismatches, f"{len(mismatches)}/{len(texts)} differ, e.g. {mismatches[:3]}"


@pytest.fixture(scope="module")
def uncased(minilm_dir):
    vocab_file = f"{minilm_dir}/vocab.txt"
    return BertTokenizer(vocab_file, True), ref.ReferenceTokenizer(ref.load_vocab(vocab_file), True)


@pytest.fixture(scope="module")
def cased():
    # The shipped demo vocab: cased, learned by tensorflow-text's learner from the PubMed corpus.
    vocab_file = resources.path(resources.DEMO_VOCAB)
    return BertTokenizer(vocab_file, False), ref.ReferenceTokenizer(ref.load_vocab(vocab_file), False)


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_tricky_strings_match_google(casing, request):
    _assert_same_as_google(*request.getfixturevalue(casing), TRICKY)


def _corpus_and_ner_sentences(every: int) -> list[str]:
    texts = corpus_lines() + sorted(set(ner_sentences()))
    assert len(texts) > 40000
    return texts[::every]


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_a_sample_of_corpus_and_ner_sentences_matches_google(casing, request):
    # Every 16th of the 42,000+ (70 abstracts, 2,500+ NER sentences; the first 300 abstracts
    # are compared in the word-continuation test); all of them: the slow test below.
    _assert_same_as_google(*request.getfixturevalue(casing), _corpus_and_ner_sentences(16))


@pytest.mark.slow
@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_every_corpus_and_ner_sentence_matches_google(casing, request):
    _assert_same_as_google(*request.getfixturevalue(casing), _corpus_and_ner_sentences(1))


def _normalize(text, lower):
    """Google's normalisation of a slice; final sigma needs context, so σ/ς compare equal."""
    text = "".join(c for c in text if not (ref._is_control(c) or ord(c) in (0, 0xFFFD)))
    return ref._strip_accents(text.lower()).replace("ς", "σ") if lower else text


def _word_starts(text):
    def space(c):
        return c in " \t\n\r\u2028\u2029" or unicodedata.category(c) == "Zs"
    return [i for i, c in enumerate(text) if not space(c) and (i == 0 or space(text[i - 1]))]


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_offsets_slice_back_to_each_piece_and_word_ids(casing, request):
    tokenizer, _ = request.getfixturevalue(casing)
    texts = TRICKY + corpus_lines()[:200]
    out = tokenizer.tokenize(tf.constant(texts))
    checked = 0
    for text, *rows in zip(texts, *(t.to_list() for t in out[:4])):
        starts = _word_starts(text)
        for token_id, begin, end, word in zip(*rows):
            piece = tokenizer.vocab[token_id]
            span = text[begin:end]
            assert 0 <= begin < end <= len(text)
            assert word == bisect.bisect_right(starts, begin) - 1  # the last word started
            checked += 1
            if piece == "[UNK]":
                assert _normalize(span, tokenizer.do_lower_case).strip()
                continue
            piece = piece.removeprefix("##").replace("ς", "σ")
            if _normalize(span, tokenizer.do_lower_case) != piece:
                # Only where one input character normalises to several (Hangul → jamo).
                assert len(span) == 1 and piece in _normalize(span, tokenizer.do_lower_case), \
                    (text, piece, span)
    assert checked > 10000


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_a_piece_continues_its_word_exactly_where_google_writes_hashes(casing, request):
    tokenizer, reference = request.getfixturevalue(casing)
    texts = TRICKY + corpus_lines()[:300] + sorted(set(ner_sentences()))[:1000]
    out = tokenizer.tokenize(tf.constant(texts))
    continued = 0
    for text, ids, continues in zip(texts, out.token_ids.to_list(), out.continues_word.to_list()):
        pieces = reference.tokenize(text)
        assert ids == reference.convert_tokens_to_ids(pieces)
        assert continues == [p.startswith("##") for p in pieces], text
        continued += sum(continues)
    assert continued > 1000


def test_long_words_are_unknown_with_offsets_covering_the_word(uncased):
    tokenizer, _ = uncased
    text = "x " + "b" * 101 + " " + "α" * 60
    out = tokenizer.tokenize(tf.constant([text]))
    ids, starts, ends = (t[0].numpy().tolist() for t in out[:3])
    assert ids[1] == tokenizer.unk_id and (starts[1], ends[1]) == (2, 103)
    # 60 Greek letters = 120 bytes but only 60 characters: not too long for Google.
    assert tokenizer.unk_id not in ids[2:] and ends[-1] == len(text)


def test_pack_pair_layout_and_reported_truncation(uncased):
    tokenizer, reference = uncased
    first = "Aspirin inhibits COX-1 and COX-2 in platelets."
    second = "Low-dose aspirin prevents myocardial infarction."
    a = tokenizer.tokenize(tf.constant([first, "short"]))
    b = tokenizer.tokenize(tf.constant([second, "also short"]))
    packed = {k: v.numpy() for k, v in tokenizer.pack(a, b, seq_length=16).items()}
    ids_a = reference.convert_tokens_to_ids(reference.tokenize(first))
    ids_b = reference.convert_tokens_to_ids(reference.tokenize(second))
    assert (len(ids_a), len(ids_b)) == (16, 14)  # budget 13: Google keeps 7 + 6
    expected = [tokenizer.cls_id] + ids_a[:7] + [tokenizer.sep_id] + ids_b[:6] + [tokenizer.sep_id]
    assert packed["token_ids"][0].tolist() == expected
    assert packed["segment_ids"][0].tolist() == [0] * 9 + [1] * 7
    assert packed["num_truncated"].tolist() == [16 + 14 - 13, 0]
    assert packed["padding_mask"][1].tolist() == [1] * 6 + [0] * 10  # [CLS] short [SEP] also short [SEP]
    assert packed["token_ids"][1, 6:].tolist() == [tokenizer.pad_id] * 10
    # Offsets point into each segment's own text; specials and padding are -1.
    assert packed["start_offsets"][0, 0] == -1 and packed["word_ids"][0, 8] == -1
    assert second[packed["start_offsets"][0, 9]:packed["end_offsets"][0, 9]] == "Low"
    assert packed["start_offsets"][1, 5:].tolist() == [-1] * 11


def test_single_segment_truncation(uncased):
    tokenizer, _ = uncased
    packed = tokenizer.pack(tokenizer.tokenize(tf.constant(["one two three four five six"])),
                            seq_length=5)
    assert packed["num_truncated"].numpy().tolist() == [3]
    assert packed["token_ids"].numpy()[0, -1] == tokenizer.sep_id


def test_full_tokenizer_facade_matches_google(minilm_dir):
    tokenizer = FullTokenizer(f"{minilm_dir}/vocab.txt", do_lower_case=True)
    reference = ref.ReferenceTokenizer(ref.load_vocab(f"{minilm_dir}/vocab.txt"), True)
    for text in TRICKY[:6]:
        tokens = tokenizer.tokenize(text)
        assert tokens == reference.tokenize(text)
        assert tokenizer.convert_ids_to_tokens(tokenizer.convert_tokens_to_ids(tokens)) == tokens
    assert tokenizer.vocab["[CLS]"] == 101 and tokenizer.inv_vocab[102] == "[SEP]"


def test_tokenizer_in_a_savedmodel_reloads_in_a_fresh_process(tmp_path, uncased):
    tokenizer, reference = uncased
    module = tf.Module()
    module.tokenizer = tokenizer
    # No autograph: its cache of converted lambdas, keyed by code objects that Python reuses,
    # once gave this lambda another test's conversion.
    module.serve = tf.function(lambda texts: tokenizer.pack(tokenizer.tokenize(texts), seq_length=24),
                               input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    tf.saved_model.save(module, str(tmp_path / "saved"))
    script = (
        "import sys, tensorflow as tf, tensorflow_text\n"
        f"m = tf.saved_model.load({str(tmp_path / 'saved')!r})\n"
        "out = m.serve(tf.constant(['Héllo BRCA1 world']))\n"
        "print(out['token_ids'].numpy()[0].tolist())\n"
        "assert 'biobert_tf' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = reference.convert_tokens_to_ids(reference.tokenize("Héllo BRCA1 world"))
    ids = eval(result.stdout.strip().splitlines()[-1])
    assert ids[:len(expected) + 2] == [101] + expected + [102]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"[UNK]\n[CLS]\n[SEP]\na\na\n", r"vocab.txt:5: duplicate token 'a' \(first on line 4\)"),
    (b"[UNK]\n[CLS]\n\xff\xfe\n", r"vocab.txt:3: not UTF-8"),
    (b"[UNK]\n\n[SEP]\n[CLS]\n", r"vocab.txt:2: empty token"),
    (b"[PAD]\na\nb\n", r"required special tokens missing: \[UNK\], \[CLS\], \[SEP\]"),
    (b"\xef\xbb\xbf[PAD]\n[UNK]\n[CLS]\n[SEP]\n", r"vocab.txt:1: starts with a UTF-8 byte-order mark"),
])
def test_bad_vocab_files_are_rejected_with_file_and_line(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(VocabError, match=message):
        load_vocab(str(path))


@pytest.mark.parametrize("ending", LINE_ENDINGS)
def test_vocab_reads_every_line_ending_like_lf(tmp_path, ending):
    path = tmp_path / "vocab.txt"
    path.write_bytes(with_line_endings("[PAD]\n[UNK]\n[CLS]\n[SEP]\n##a\u2028b\nc\n", ending))
    assert load_vocab(str(path)) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "##a\u2028b", "c"]
    path.write_bytes(with_line_endings("[UNK]\n[CLS]\n[SEP]\na\n\nb\n", ending))
    with pytest.raises(VocabError, match=r"vocab.txt:5: empty token"):
        load_vocab(str(path))


def test_the_real_vocabularies_have_no_duplicate_so_refusing_them_is_safe(minilm_dir):
    for path in (REPO / "biobert_tf" / "resources" / "demo_vocab.txt",
                 os.path.join(minilm_dir, "vocab.txt")):
        tokens = load_vocab(str(path))  # a duplicate would raise, naming both lines
        assert len(set(tokens)) == len(tokens) > 5000
