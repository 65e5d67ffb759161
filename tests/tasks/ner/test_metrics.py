"""conlleval-identical entity scores: hand-worked cases and a randomized check against conlleval.pl's loop."""

import random

import pytest

from biobert_tf.tasks.ner.metrics import UNTYPED, format_report, get_entities, ner_scores, split_label


def _counts(scores):
    return scores["num_gold"], scores["num_pred"], scores["num_correct"]


def test_split_label():
    assert split_label("O") == ("O", "")
    assert split_label("B") == ("B", "")
    assert split_label("I-Disease") == ("I", "Disease")
    assert split_label("S-Foo-Bar") == ("S", "Foo-Bar")  # conlleval splits at the first hyphen
    for bad in ["", "X", "B-", "O-A", "b-A", "[PAD]", "B A", "BA", "B-A B"]:
        with pytest.raises(ValueError, match="invalid tag"):
            split_label(bad)


def test_i_after_o_starts_a_chunk():
    # conlleval: O -> I is a chunk start (IOB1), so "O I-A I-A O" holds one chunk A over tokens 1-2.
    assert get_entities(["O", "I-A", "I-A", "O"]) == [("A", 1, 3)]
    assert get_entities(["I-A"]) == [("A", 0, 1)]  # sentence start behaves like after O
    # gold B-A I-A O, pred I-A I-A O: same chunk (A,0,2) -> 1 gold, 1 found, 1 correct;
    # tokens: B-A != I-A, I-A == I-A, O == O -> accuracy 2/3.
    s = ner_scores([["B-A", "I-A", "O"]], [["I-A", "I-A", "O"]])
    assert _counts(s) == (1, 1, 1)
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0)
    assert s["token_accuracy"] == pytest.approx(2 / 3)


def test_type_change_inside_a_run_splits_the_chunk():
    # I-B after B-A: type change ends A and starts B.
    assert get_entities(["B-A", "I-B"]) == [("A", 0, 1), ("B", 1, 2)]
    assert get_entities(["I-A", "I-A", "I-B", "O"]) == [("A", 0, 2), ("B", 2, 3)]
    # gold {(A,0,2)}, pred {(A,0,1),(B,1,2)}: correct 0 -> P = 0/2, R = 0/1, F1 = 0;
    # tokens: B-A == B-A, I-A != I-B -> accuracy 1/2.
    s = ner_scores([["B-A", "I-A"]], [["B-A", "I-B"]])
    assert _counts(s) == (1, 2, 0)
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    assert s["token_accuracy"] == 0.5
    assert s["per_type"]["A"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                  "num_gold": 1, "num_pred": 1, "num_correct": 0}
    assert s["per_type"]["B"]["num_gold"] == 0 and s["per_type"]["B"]["num_pred"] == 1


def test_adjacent_b_chunks():
    assert get_entities(["B-A", "B-A"]) == [("A", 0, 1), ("A", 1, 2)]
    # gold two chunks (A,0,1),(A,1,2); pred one chunk (A,0,2): nothing matches.
    # P = 0/1, R = 0/2; accuracy 1/2 (second token B-A vs I-A).
    s = ner_scores([["B-A", "B-A"]], [["B-A", "I-A"]])
    assert _counts(s) == (2, 1, 0)
    assert s["f1"] == 0.0 and s["token_accuracy"] == 0.5


def test_chunk_at_sentence_end_and_sentence_boundaries():
    assert get_entities(["O", "B-A", "I-A"]) == [("A", 1, 3)]
    # Sentence 1 ends in a chunk (A,1,2); sentence 2 starts with I-A, a new chunk (A,0,1), not a
    # continuation. Pred writes B-A there: same chunks -> 2 gold, 2 found, 2 correct, P = R = 1,
    # while token accuracy is 3/4 (I-A vs B-A). Flattened without a boundary, gold would be one
    # chunk over "B-A I-A" and P would be 0/2.
    gold = [["O", "B-A"], ["I-A", "O"]]
    pred = [["O", "B-A"], ["B-A", "O"]]
    s = ner_scores(gold, pred)
    assert _counts(s) == (2, 2, 2)
    assert s["f1"] == 1.0
    assert s["token_accuracy"] == 0.75


def test_right_span_wrong_type():
    # gold (A,0,2), pred (B,0,2): exact span but wrong type -> not correct.
    # Overall P = 0/1, R = 0/1. Per type: A found 0 -> P 0 (defined), R 0/1; B: P 0/1, no gold -> R 0.
    s = ner_scores([["B-A", "I-A", "O"]], [["B-B", "I-B", "O"]])
    assert _counts(s) == (1, 1, 0)
    assert s["per_type"]["A"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                  "num_gold": 1, "num_pred": 0, "num_correct": 0}
    assert s["per_type"]["B"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                  "num_gold": 0, "num_pred": 1, "num_correct": 0}
    assert s["token_accuracy"] == pytest.approx(1 / 3)


def test_bioes():
    # B-A I-A E-A | S-A | S-A | O | E-A (E after O starts a chunk).
    assert get_entities(["B-A", "I-A", "E-A", "S-A", "S-A", "O", "E-A"]) == [
        ("A", 0, 3), ("A", 3, 4), ("A", 4, 5), ("A", 6, 7)]
    assert get_entities(["E-A", "B-A", "E-A"]) == [("A", 0, 1), ("A", 1, 3)]  # E always ends
    assert get_entities(["S", "S", "B", "E"]) == [("", 0, 1), ("", 1, 2), ("", 2, 4)]
    # gold {(A,0,2),(B,2,3)}, pred {(A,0,2),(A,2,3)}: 1 correct -> P = 1/2, R = 1/2, F1 = 1/2.
    s = ner_scores([["B-A", "E-A", "S-B"]], [["B-A", "E-A", "S-A"]])
    assert _counts(s) == (2, 2, 1)
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 0.5, 0.5)


def test_untyped_bio():
    # BioBERT's tags: B I | O | I (starts) | B | B -> four chunks of type "".
    assert get_entities(["B", "I", "O", "I", "B", "B"]) == [
        ("", 0, 2), ("", 3, 4), ("", 4, 5), ("", 5, 6)]
    # gold chunks (0,2),(3,4); pred (0,2) -> P = 1/1, R = 1/2, F1 = 2*1*0.5/1.5 = 2/3; acc 3/4.
    s = ner_scores([["B", "I", "O", "B"]], [["B", "I", "O", "O"]])
    assert _counts(s) == (2, 1, 1)
    assert (s["precision"], s["recall"]) == (1.0, 0.5)
    assert s["f1"] == pytest.approx(2 / 3)
    assert list(s["per_type"]) == [""]
    assert f"{UNTYPED:>17}: precision: 100.00%; recall:  50.00%; FB1:  66.67  1" in format_report(s)


def test_empty_predictions_and_empty_input():
    # No predicted chunks: P = 0 by definition (conlleval), R = 0/1, F1 = 0, no ZeroDivisionError.
    s = ner_scores([["B-A", "O"]], [["O", "O"]])
    assert _counts(s) == (1, 0, 0)
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    assert s["token_accuracy"] == 0.5
    s = ner_scores([], [])
    assert _counts(s) == (0, 0, 0) and s["token_accuracy"] == 0.0 and s["per_type"] == {}
    assert format_report(s) == "processed 0 tokens with 0 phrases; found: 0 phrases; correct: 0.\n"
    assert get_entities([]) == []


def test_perfect_predictions():
    gold = [["B-A", "I-A", "O", "B-B"], ["O"], ["S-A", "B-B", "E-B"]]
    s = ner_scores(gold, gold)
    assert _counts(s) == (4, 4, 4)
    assert (s["precision"], s["recall"], s["f1"], s["token_accuracy"]) == (1.0, 1.0, 1.0, 1.0)
    assert all(t["f1"] == 1.0 for t in s["per_type"].values())


def test_mismatched_inputs_name_the_sentence():
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        ner_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1: 2 gold labels but 1 predicted"):
        ner_scores([["O"], ["O", "B"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match=r"predicted sentence 1, label 0: invalid tag '\[PAD\]'"):
        ner_scores([["O"], ["O"]], [["O"], ["[PAD]"]])
    with pytest.raises(TypeError):
        ner_scores(["B", "O"], ["B", "O"])  # flat lists, not sentences


def test_format_report_matches_conlleval_layout():
    # gold (A,0,2),(B,3,4); pred (A,0,2): 4 tokens, 2 phrases, found 1, correct 1; acc 3/4;
    # P 100, R 50, FB1 66.67; A: 1/1 found 1; B: nothing found -> zeros, found 0.
    s = ner_scores([["B-A", "I-A", "O", "B-B"]], [["B-A", "I-A", "O", "O"]])
    assert format_report(s) == (
        "processed 4 tokens with 2 phrases; found: 1 phrases; correct: 1.\n"
        "accuracy:  75.00%; precision: 100.00%; recall:  50.00%; FB1:  66.67\n"
        "                A: precision: 100.00%; recall: 100.00%; FB1: 100.00  1\n"
        "                B: precision:   0.00%; recall:   0.00%; FB1:   0.00  0\n")


# --- conlleval.pl's counting loop, transcribed line by line (its own chunk rules, not ours) ---

def _pl_end(prev_tag, tag, prev_type, type_):
    end = (prev_tag, tag) in {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"),
                              ("E", "E"), ("E", "I"), ("E", "O")}
    return end or (prev_tag not in ("O", ".") and prev_type != type_)


def _pl_start(prev_tag, tag, prev_type, type_):
    start = (prev_tag, tag) in {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"),
                                ("E", "E"), ("E", "I"), ("O", "E")}
    return start or (tag not in ("O", ".") and prev_type != type_)


def _pl_split(label):
    tag, _, type_ = label.partition("-")
    return tag, type_


def _conlleval_pl(gold, pred):
    """Counts conlleval.pl produces for the file `token gold pred` lines + a blank line per sentence."""
    rows = []
    for g, p in zip(gold, pred):
        rows += [(False, a, b) for a, b in zip(g, p)] + [(True, "O", "O")]
    found_c, found_g, correct_chunk = {}, {}, {}
    correct_tags = tokens = 0
    in_correct = False
    last_c, last_ct, last_g, last_gt = "O", "", "O", ""
    for boundary, c_label, g_label in rows:
        c, ct = _pl_split(c_label)
        g, gt = _pl_split(g_label)
        if in_correct:
            end_c, end_g = _pl_end(last_c, c, last_ct, ct), _pl_end(last_g, g, last_gt, gt)
            if end_c and end_g and last_gt == last_ct:
                in_correct = False
                correct_chunk[last_ct] = correct_chunk.get(last_ct, 0) + 1
            elif end_c != end_g or gt != ct:
                in_correct = False
        start_c, start_g = _pl_start(last_c, c, last_ct, ct), _pl_start(last_g, g, last_gt, gt)
        if start_c and start_g and gt == ct:
            in_correct = True
        if start_c:
            found_c[ct] = found_c.get(ct, 0) + 1
        if start_g:
            found_g[gt] = found_g.get(gt, 0) + 1
        if not boundary:
            correct_tags += c == g and ct == gt
            tokens += 1
        last_c, last_ct, last_g, last_gt = c, ct, g, gt
    if in_correct:
        correct_chunk[last_ct] = correct_chunk.get(last_ct, 0) + 1
    return found_c, found_g, correct_chunk, correct_tags, tokens


def _random_labels(rng, prefixes, types, n):
    out = []
    for _ in range(n):
        prefix = rng.choice(prefixes)
        type_ = rng.choice(types)
        out.append("O" if prefix == "O" else prefix + (f"-{type_}" if type_ else ""))
    return out


@pytest.mark.parametrize("prefixes,types", [
    ("OBI", ["A", "B"]), ("OBI", [""]), ("OI", ["A", "Foo-Bar"]), ("OIE", ["A", "B"])])
def test_randomized_parity_with_conlleval_pl_loop(prefixes, types):
    # IOB2, IOB1 and IOE tags (conlleval.pl has no S rules, so BIOES is checked against seqeval).
    rng = random.Random(f"{prefixes}{types}")
    for _ in range(200):
        gold = [_random_labels(rng, prefixes, types, rng.randint(1, 10)) for _ in range(rng.randint(1, 6))]
        # Predictions that agree often, so that correct chunks are common.
        pred = [[g if rng.random() < 0.6 else _random_labels(rng, prefixes, types, 1)[0] for g in s]
                for s in gold]
        found_c, found_g, correct, correct_tags, tokens = _conlleval_pl(gold, pred)
        s = ner_scores(gold, pred)
        assert (s["num_gold"], s["num_pred"], s["num_correct"]) == (
            sum(found_c.values()), sum(found_g.values()), sum(correct.values())), (gold, pred)
        assert (s["num_correct_tokens"], s["num_tokens"]) == (correct_tags, tokens)
        for t, d in s["per_type"].items():
            assert (d["num_gold"], d["num_pred"], d["num_correct"]) == (
                found_c.get(t, 0), found_g.get(t, 0), correct.get(t, 0))
        assert set(s["per_type"]) == set(found_c) | set(found_g)


def test_randomized_parity_with_seqeval():
    from seqeval.metrics import sequence_labeling as sl  # the test extra
    rng = random.Random(0)
    for types in (["A", "B", "Foo-Bar"], [""]):
        for _ in range(2000):
            labels = _random_labels(rng, "OBIES", types, rng.randint(1, 12))
            theirs = [("" if t == "_" else t, start, end + 1)  # seqeval: "_" untyped, end inclusive
                      for t, start, end in sl.get_entities(list(labels))]
            assert get_entities(labels) == theirs, labels
