"""RE inputs in TensorFlow: markers and placeholders, entity positions, windows around the
entities, and the text each data format becomes."""

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.tasks.relation import data as re_data
from biobert_tf.tasks.relation.inputs import RelationEncoder, has_sentinel, marker_tokens
from biobert_tf.tasks.relation.task import is_blinded, model_text
from biobert_tf.bert.tokenization import BertTokenizer
from helpers import MARKER_TOKENS, re_vocab


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(re_vocab(), do_lower_case=False)


def encode(tokenizer, mode, texts, seq_length=32):
    out = RelationEncoder(tokenizer, seq_length, mode)(tf.constant(texts))
    return {k: v.numpy() for k, v in out.items()}


def pieces(tokenizer, row):
    return [tokenizer.vocab[i] for i in row if i != tokenizer.pad_id]


def test_markers_become_reserved_tokens_and_give_the_entity_starts(tokenizer):
    texts = ["[E1] BRCA1 [/E1] mutations cause [E2] breast cancer [/E2].",
             "In [E2]ovarian cancer[/E2], [E1]TP53[/E1] is lost.",  # e2 first, no spaces
             "[E1] [E2] @CHEM-GENE$ [/E2] [/E1] binds."]
    out = encode(tokenizer, "markers", texts)
    plain = [pieces(tokenizer, row) for row in out["token_ids"]]
    assert plain[0][1] == "[unused0]" and plain[0][plain[0].index("[unused1]") + 1] == "mutations"
    for row, tokens in enumerate(plain):
        assert tokens[out["e1_start"][row]] == "[unused0]"
        assert tokens[out["e2_start"][row]] == "[unused2]"
        assert tokens.count("[unused3]") == 1 and tokens[-1] == "[SEP]"
    # Apart from the markers, the pieces are those of the sentence without them.
    bare = tokenizer.tokenize(tf.constant(["In ovarian cancer, TP53 is lost."])).token_ids
    assert [t for t in plain[1][1:-1] if t not in MARKER_TOKENS] == \
        [tokenizer.vocab[i] for i in bare.to_list()[0]]
    assert out["valid"].all() and not out["num_truncated"].any()


def test_placeholders_are_tokenized_as_text_as_biobert_does(tokenizer):
    texts = ["@GENE$ variants raise @DISEASE$ risk.", "No @CHEM-GENE$ binding here.",
             "@DISEASE$ is not linked to @GENE$"]
    out = encode(tokenizer, "blind", texts)
    google = tokenizer.pack(tokenizer.tokenize(tf.constant(texts)), seq_length=32)
    np.testing.assert_array_equal(out["token_ids"], google["token_ids"].numpy())
    np.testing.assert_array_equal(out["padding_mask"], google["padding_mask"].numpy())
    starts = [(pieces(tokenizer, row)[a], pieces(tokenizer, row)[a + 1][0]) for row, a in
              zip(out["token_ids"], out["e1_start"])]
    assert starts == [("@", "G"), ("@", "C"), ("@", "D")]
    assert out["e1_start"][1] == out["e2_start"][1]  # one placeholder for both
    assert pieces(tokenizer, out["token_ids"][2])[out["e2_start"][2] + 1].startswith("G")
    assert out["valid"].all()


def test_sentences_without_their_entities_are_flagged(tokenizer):
    markers = encode(tokenizer, "markers", ["[E1] a [/E1] b", "[E1] a [/E1] [E2] b [/E2] [E2]",
                                            "", "[E1] a [/E1] [E2] b [/E2]"])
    assert markers["valid"].tolist() == [False, False, False, True]
    blind = encode(tokenizer, "blind", ["@GENE$ @DISEASE$ @DRUG$", "nothing", "@GENE$ @X$"])
    assert blind["valid"].tolist() == [False, False, True]


@pytest.mark.parametrize("mode", ["markers", "blind"])
def test_long_sentences_keep_a_window_around_their_entities(tokenizer, mode):
    rng = np.random.default_rng(0)
    seq_length = 24
    words = ["cells", "were", "treated", "with", "drug", "and", "then", "washed", "."]
    e1, e2 = (("[E1] TP53 [/E1]", "[E2] cancer [/E2]") if mode == "markers"
              else ("@GENE$", "@DISEASE$"))
    texts, gaps = [], []
    for _ in range(40):
        before, gap, after = rng.integers(0, 30, 3)
        gaps.append(gap)
        texts.append(" ".join(list(rng.choice(words, before)) + [e1] +
                              list(rng.choice(words, gap)) + [e2] + list(rng.choice(words, after))))
    out = encode(tokenizer, mode, texts, seq_length)
    first = "[unused0]" if mode == "markers" else "@"
    for row, text in enumerate(texts):
        tokens = pieces(tokenizer, out["token_ids"][row])
        n = len(tokenizer.tokenize(tf.constant([text])).token_ids.to_list()[0])
        if mode == "blind":  # markers add their own pieces, placeholders do not
            assert len(tokens) - 2 + out["num_truncated"][row] == n
        assert tokens[out["e1_start"][row]] == first
        if not out["entities_cut"][row]:
            second = "[unused2]" if mode == "markers" else "@"
            assert tokens[out["e2_start"][row]] == second
            closing = "[unused3]" if mode == "markers" else "$"
            assert closing in tokens[out["e2_start"][row]:]
    assert out["num_truncated"].any() and not out["entities_cut"].all()
    assert out["entities_cut"].any()  # some entities are farther apart than the window


def test_marker_tokens_come_from_unused_slots():
    assert marker_tokens(["[PAD]", "[unused7]", "a", "[unused1]", "[unused2]", "[unused3]"]) == \
        ["[unused7]", "[unused1]", "[unused2]", "[unused3]"]
    with pytest.raises(ValueError, match="use --entity_mode=blind"):
        marker_tokens(["[PAD]", "[unused0]"])
    assert has_sentinel("a\ue002b") and not has_sentinel("a\ue004b")


def test_model_text_per_data_format():
    scibert = re_data.RelationExample("Ang II binds valsartan.", "INHIBITOR", (0, 6), (13, 22),
                                      "x", "", 0)
    assert model_text(scibert, "markers") == "[E1] Ang II [/E1] binds [E2] valsartan [/E2]."
    assert model_text(scibert, "blind") == "@E1$ binds @E2$."
    assert model_text(scibert, "blind", ("@GENE$", "@CHEMICAL$")) == "@GENE$ binds @CHEMICAL$."
    gad = re_data.RelationExample("@GENE$ in @DISEASE$", "1", (0, 6), (10, 19), "y", "", 0)
    assert is_blinded(gad) and not is_blinded(scibert)
    assert model_text(gad, "blind") == gad.text  # BioBERT's typed placeholders stay
    assert model_text(gad, "markers") == "[E1] @GENE$ [/E1] in [E2] @DISEASE$ [/E2]"
