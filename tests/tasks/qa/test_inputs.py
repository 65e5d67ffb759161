"""QA in TensorFlow: Google's strided windows and max context, answer labels that survive
striding and cover whole words, exact n-best decoding of whole-word spans to character offsets,
answer texts identical to Google's final text, BioASQ merging and golden-file examples, and the
readers' errors."""

import collections
import functools
import json

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.tasks.qa import data as qa_data
from biobert_tf import resources
from biobert_tf.tasks.qa.inputs import QaEncoder
from biobert_tf.tasks.qa.model import answer_text, answer_texts, top_spans
from biobert_tf.tasks.qa.bioasq import list_answers, merge_per_question, tune_list_threshold
from biobert_tf.bert.tokenization import BertTokenizer
from helpers import shared_file
import reference_tokenizer as ref


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(resources.path(resources.DEMO_VOCAB), do_lower_case=False)


@pytest.fixture(scope="module")
def uncased(minilm_dir):
    vocab_file = f"{minilm_dir}/vocab.txt"
    return BertTokenizer(vocab_file, True), ref.ReferenceTokenizer(ref.load_vocab(vocab_file), True)


@pytest.fixture(scope="module")
def encoder():
    """`QaEncoder(tokenizer, seq_length, doc_stride, max_query_length)`, one per arguments:
    tracing one costs seconds, so tests with the same windows share it."""
    return functools.cache(QaEncoder)


@pytest.fixture(scope="module")
def words(tokenizer):
    """Vocabulary words that are one wordpiece each."""
    candidates = [t for t in tokenizer.vocab[200:1500] if t.isalpha() and len(t) > 2]
    pieces = tokenizer.tokenize(tf.constant(candidates)).token_ids.row_lengths().numpy()
    return [w for w, n in zip(candidates, pieces) if n == 1][:300]


def google_doc_spans(n, room, stride):
    """run_squad.py's window loop."""
    spans, start = [], 0
    while start < n:
        length = min(n - start, room)
        spans.append((start, length))
        if start + length == n:
            break
        start += min(length, stride)
    return spans


def google_is_max_context(spans, current, position):
    """run_squad.py's _check_is_max_context."""
    best_score, best = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best = score, index
    return current == best


# Questions cut to `query` pieces; windows that overlap, or (stride > room) do not. The
# windows of the other tests, so that they share the encoders.
@pytest.mark.parametrize("seq_length,stride,query", [(32, 8, 8), (48, 10, 16), (40, 64, 5)])
def test_windows_and_max_context_are_googles(tokenizer, encoder, words, seq_length, stride,
                                             query):
    rng = np.random.default_rng(seq_length)
    questions, contexts, answers = [], [], []
    for _ in range(25):
        q = " ".join(rng.choice(words, rng.integers(1, 12)))
        c = list(rng.choice(words, rng.integers(1, 150)))
        a = int(rng.integers(len(c)))
        b = int(min(len(c), a + rng.integers(1, 4)))
        start = len(" ".join(c[:a])) + (a > 0)
        questions.append(q)
        contexts.append(" ".join(c))
        answers.append((start, start + len(" ".join(c[a:b]))))
    out = encoder(tokenizer, seq_length, stride, query)(
        tf.constant(questions), tf.constant(contexts), tf.constant([a for a, _ in answers]),
        tf.constant([b for _, b in answers]))
    out = {k: v.numpy() for k, v in out.items()}
    for i, (q, c) in enumerate(zip(questions, contexts)):
        nq = min(len(q.split()), query)
        n = len(c.split())
        spans = google_doc_spans(n, seq_length - nq - 3, stride)
        rows = np.flatnonzero(out["example"] == i)
        assert len(rows) == len(spans), i
        for k, (row, (start, length)) in enumerate(zip(rows, spans)):
            context = out["context_start"][row] >= 0
            assert context.sum() == length and np.flatnonzero(context)[0] == nq + 2
            assert out["padding_mask"][row].sum() == nq + length + 3
            assert (out["segment_ids"][row][context] == 1).all()
            expected = [google_is_max_context(spans, k, start + p) for p in range(length)]
            assert out["max_context"][row][context].tolist() == expected
            # The label, read back through the offsets, is the answer text.
            a, b = answers[i]
            s, e = out["start_positions"][row], out["end_positions"][row]
            pieces_in = start <= c[:a].count(" ") and c[:b].count(" ") < start + length
            if pieces_in:
                assert c[out["context_start"][row][s]:out["context_end"][row][e]] == c[a:b]
            else:
                assert s == e == 0


def test_a_real_squad_answer_survives_striding(tokenizer, encoder):
    with open(shared_file("qa", "SQuAD-v1.1", "dev-v1.1.json"), encoding="utf-8") as f:
        paragraph = json.load(f)["data"][0]["paragraphs"][0]
    qa = paragraph["qas"][3]
    answer = qa["answers"][0]
    start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
    out = encoder(tokenizer, 48, 10, 16)(tf.constant([qa["question"]]),
                                            tf.constant([paragraph["context"]]),
                                            tf.constant([start]), tf.constant([end]))
    labelled = np.flatnonzero(out["start_positions"].numpy() > 0)
    assert len(labelled) >= 2  # the answer sits in several overlapping windows
    for row in labelled:
        s, e = out["start_positions"][row], out["end_positions"][row]
        assert paragraph["context"][out["context_start"][row, s]:out["context_end"][row, e]] \
            == answer["text"]


def brute_force_best(start_logits, end_logits, windows, example, k, max_length):
    candidates = []
    for w in np.flatnonzero(windows["example"] == example):
        for i in range(start_logits.shape[1]):
            if not (windows["starts_word"][w, i] and windows["max_context"][w, i]):
                continue
            for j in range(i, min(i + max_length, start_logits.shape[1])):
                if windows["ends_word"][w, j]:
                    candidates.append((start_logits[w, i] + end_logits[w, j],
                                       windows["context_start"][w, i], windows["context_end"][w, j]))
    candidates.sort(key=lambda c: -c[0])
    return candidates[:k]


def test_top_spans_are_the_exact_best_pairs(tokenizer, encoder, words):
    rng = np.random.default_rng(5)
    contexts = [" ".join(rng.choice(words, n)) for n in (3, 70, 40, 1)]
    questions = ["what is it ?"] * len(contexts)
    none = tf.constant([-1] * len(contexts))
    windows = encoder(tokenizer, 32, 8, 8)(tf.constant(questions), tf.constant(contexts),
                                           none, none)
    windows = {k: v.numpy() for k, v in windows.items()}
    shape = windows["token_ids"].shape
    start_logits = rng.normal(size=shape).astype(np.float32)
    end_logits = rng.normal(size=shape).astype(np.float32)
    spans = top_spans(tf.constant(start_logits), tf.constant(end_logits),
                      {k: tf.constant(v) for k, v in windows.items()}, tf.constant(4), 6, 5)
    for example in range(4):
        expected = brute_force_best(start_logits, end_logits, windows, example, 6, 5)
        got = list(zip(spans["score"][example].numpy(), spans["start"][example].numpy(),
                       spans["end"][example].numpy()))
        assert [(s, e) for _, s, e in got] == [(s, e) for _, s, e in expected]
        np.testing.assert_allclose([g[0] for g in got], [x[0] for x in expected], rtol=1e-6)
    assert len(spans["start"][3]) == 1  # one piece: one span


def bioasq_contexts():
    with open(shared_file("qa", "BioASQ", "BioASQ-test-factoid-5b-1.json"), encoding="utf-8") as f:
        data = json.load(f)["data"]
    return [(p["qas"][0]["question"], p["context"]) for a in data for p in a["paragraphs"]]


def test_decoded_spans_never_start_or_end_inside_a_word(uncased, encoder):
    tokenizer, reference = uncased
    questions, contexts = zip(*bioasq_contexts())
    none = tf.constant([-1] * len(contexts))
    windows = encoder(tokenizer, 32, 8, 8)(tf.constant(questions), tf.constant(contexts),
                                           none, none)
    rng = np.random.default_rng(3)
    shape = windows["token_ids"].shape
    spans = top_spans(tf.constant(rng.normal(size=shape), tf.float32),
                      tf.constant(rng.normal(size=shape), tf.float32), windows,
                      tf.constant(len(contexts)), 20, 30)
    pieces = tokenizer.tokenize(tf.constant(contexts))
    checked = 0
    for i, context in enumerate(contexts):
        hashes = [p.startswith("##") for p in reference.tokenize(context)] + [False]
        piece_start = {}  # first piece at each character offset
        for k, offset in reversed(list(enumerate(pieces.start_offsets[i].numpy()))):
            piece_start[offset] = k
        piece_end = {offset: k for k, offset in enumerate(pieces.end_offsets[i].numpy())}
        for start, end in zip(spans["start"][i].numpy(), spans["end"][i].numpy()):
            assert not hashes[piece_start[start]] and not hashes[piece_end[end] + 1], \
                context[start:end]
            checked += 1
    assert checked == 20 * len(contexts)


def test_the_best_whole_word_span_wins_over_a_better_part_word_one(uncased, encoder):
    tokenizer, _ = uncased
    context = "the prodromal phase of aducanumab"
    none = tf.constant([-1])
    windows = encoder(tokenizer, 32, 8, 8)(tf.constant(["when?"]), tf.constant([context]),
                                           none, none)
    pieces = [tokenizer.vocab[i] for i in windows["token_ids"][0].numpy()]
    assert pieces[4:14] == ["the", "pro", "##dro", "##mal", "phase", "of", "ad", "##uca",
                            "##num", "##ab"]
    start_logits, end_logits = np.full((2, 1, 32), -5.0, np.float32)
    start_logits[0, [5, 6, 9]] = [5, 10, 3]  # pro, ##dro, of
    end_logits[0, [7, 10, 13]] = [10, 9, 1]  # ##mal, ad, ##ab
    spans = top_spans(tf.constant(start_logits), tf.constant(end_logits), windows,
                      tf.constant(1), 4, 30)
    texts = [context[s:e] for s, e in zip(spans["start"][0].numpy(), spans["end"][0].numpy())]
    assert texts == ["prodromal", "prodromal phase of aducanumab", "the prodromal",
                     "of aducanumab"]
    assert spans["score"][0].numpy().tolist() == [15, 6, 5, 4]


def test_labels_cover_whole_words(uncased, encoder):
    tokenizer, _ = uncased
    context = "Stem cells line the colonic crypts."
    starts, ends = [context.index("crypt"), context.index("rypts")], [context.index("s.")] * 2
    out = encoder(tokenizer, 32, 8, 8)(tf.constant(["where?"] * 2), tf.constant([context] * 2),
                                       tf.constant(starts), tf.constant(ends))
    pieces = [tokenizer.vocab[i] for i in out["token_ids"][0].numpy()]
    assert "##s" in pieces  # "crypts" is two pieces: "crypt" and "##s"
    for row in range(2):
        s, e = out["start_positions"][row], out["end_positions"][row]
        assert context[out["context_start"][row, s]:out["context_end"][row, e]] == "crypts"


# Google run_squad.py's path from a predicted piece span to the answer text, transcribed.
def run_squad_is_whitespace(c):
    return c in " \t\r\n" or ord(c) == 0x202F


def run_squad_doc_tokens(paragraph_text):
    """read_squad_examples: whitespace-separated doc tokens (char_to_word_offset is not
    needed to go from pieces to text)."""
    doc_tokens, prev_is_whitespace = [], True
    for c in paragraph_text:
        if run_squad_is_whitespace(c):
            prev_is_whitespace = True
        else:
            if prev_is_whitespace:
                doc_tokens.append(c)
            else:
                doc_tokens[-1] += c
            prev_is_whitespace = False
    return doc_tokens


def run_squad_pieces(reference, doc_tokens):
    """convert_examples_to_features: every doc token's wordpieces and tok_to_orig_index."""
    all_doc_tokens, tok_to_orig_index = [], []
    for i, token in enumerate(doc_tokens):
        for sub_token in reference.tokenize(token):
            tok_to_orig_index.append(i)
            all_doc_tokens.append(sub_token)
    return all_doc_tokens, tok_to_orig_index


def run_squad_final_text(reference, doc_tokens, all_doc_tokens, tok_to_orig_index, start, end):
    """write_predictions for pieces [start, end]: (final text, why get_final_text fell back
    to the whole orig_text, or None)."""
    tok_text = " ".join(all_doc_tokens[start:end + 1])
    tok_text = tok_text.replace(" ##", "").replace("##", "").strip()
    tok_text = " ".join(tok_text.split())
    orig_text = " ".join(doc_tokens[tok_to_orig_index[start]:tok_to_orig_index[end] + 1])
    return get_final_text(reference, tok_text, orig_text)


def strip_spaces(text):
    ns_chars, ns_to_s_map = [], {}
    for i, c in enumerate(text):
        if c == " ":
            continue
        ns_to_s_map[len(ns_chars)] = i
        ns_chars.append(c)
    return "".join(ns_chars), ns_to_s_map


def get_final_text(reference, pred_text, orig_text):
    """run_squad.py's get_final_text; its `return orig_text` exits also say why."""
    tok_text = " ".join(reference.basic_tokenize(orig_text))
    start_position = tok_text.find(pred_text)
    if start_position == -1:
        return orig_text, "not found"
    end_position = start_position + len(pred_text) - 1
    orig_ns_text, orig_ns_to_s_map = strip_spaces(orig_text)
    tok_ns_text, tok_ns_to_s_map = strip_spaces(tok_text)
    if len(orig_ns_text) != len(tok_ns_text):
        return orig_text, "lengths differ"
    tok_s_to_ns_map = {tok_index: i for i, tok_index in tok_ns_to_s_map.items()}
    orig_start_position = orig_ns_to_s_map.get(tok_s_to_ns_map.get(start_position))
    orig_end_position = orig_ns_to_s_map.get(tok_s_to_ns_map.get(end_position))
    if orig_start_position is None or orig_end_position is None:
        return orig_text, "unmapped"
    return orig_text[orig_start_position:orig_end_position + 1], None


def squad_contexts():
    with open(shared_file("qa", "SQuAD-v1.1", "dev-v1.1.json"), encoding="utf-8") as f:
        paragraphs = [p["context"] for a in json.load(f)["data"] for p in a["paragraphs"]]
    spaced = [p for p in paragraphs if "\n" in p or "  " in p]
    return paragraphs[::50] + spaced


SPACES = "Tab\tthen CR LF\r\n, narrow\u202fno-break and  two spaces (IL-2)\n\n\t end."


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_answer_texts_are_googles_final_texts(casing, tokenizer, uncased):
    ours, reference = uncased if casing == "uncased" else (tokenizer, ref.ReferenceTokenizer(
        ref.load_vocab(resources.path(resources.DEMO_VOCAB)), False))
    contexts = squad_contexts() + [c for _, c in bioasq_contexts()] + [SPACES]
    pieces = {k: v.to_list() for k, v in ours.tokenize(tf.constant(contexts))._asdict().items()}
    rng = np.random.default_rng(11)
    compared, fallbacks, spans = [], collections.defaultdict(list), []
    for i, context in enumerate(contexts):
        doc_tokens = run_squad_doc_tokens(context)
        all_doc_tokens, tok_to_orig_index = run_squad_pieces(reference, doc_tokens)
        assert pieces["token_ids"][i] == reference.convert_tokens_to_ids(all_doc_tokens)
        continues = [p.startswith("##") for p in all_doc_tokens] + [False]
        word_starts = [k for k in range(len(all_doc_tokens)) if not continues[k]]
        for start in rng.choice(word_starts, 50):
            ends = [k for k in range(start, min(start + 30, len(all_doc_tokens)))
                    if not continues[k + 1]]
            end = int(rng.choice(ends))
            google, fallback = run_squad_final_text(reference, doc_tokens, all_doc_tokens,
                                                     tok_to_orig_index, start, end)
            offsets = (pieces["start_offsets"][i][start], pieces["end_offsets"][i][end])
            text = answer_text(context, *offsets)
            # Google's documented fallback: get_final_text returns the whole orig_text when it
            # cannot find the predicted pieces' text in it ([UNK] pieces) or when normalising
            # changes its length (a no-break space, a dropped control character).
            assert fallback != "not found" or "[UNK]" in all_doc_tokens[start:end + 1]
            (fallbacks[fallback] if fallback else compared).append((google, text))
            spans.append((i, *offsets, text))
    assert [g for g, _ in compared] == [t for _, t in compared]
    print(f"{casing}: {len(compared)} spans identical; Google's fallbacks:",
          {why: (len(cases), cases[:3]) for why, cases in fallbacks.items()})
    assert len(compared) > 8000 and set(fallbacks) <= {"not found", "lengths differ"}
    # The SavedModel's texts are the same as the Python ones.
    index, starts, ends, texts = zip(*spans)
    in_graph = answer_texts(tf.gather(tf.constant(contexts), list(index)), tf.constant(starts),
                            tf.constant(ends))
    assert [t.decode("utf-8") for t in in_graph.numpy()] == list(texts)
    collapsed = {c for i, s, e, _ in spans for c in "\t\r\n\u202f" if c in contexts[i][s:e]}
    assert collapsed == set("\t\r\n\u202f")


def test_bioasq_answers_are_merged_per_question():
    nbest = {
        "a" * 24 + "_000": [{"text": "BRCA1", "probability": 0.5}, {"text": "", "probability": 0.3},
                            {"text": "x" * 101, "probability": 0.2}],
        "a" * 24 + "_001": [{"text": "brca1 ", "probability": 0.7}, {"text": "TP53", "probability": 0.3}],
        "b" * 24 + "_000": [{"text": "", "probability": 1.0}],
    }
    merged = merge_per_question(nbest)
    assert merged["a" * 24] == [("brca1", pytest.approx(1.2)), ("TP53", 0.3)]
    assert merged["b" * 24] == []
    assert list_answers(merged, 0.3) == {"a" * 24: ["brca1"], "b" * 24: []}
    assert list_answers(merged, 0.25)["a" * 24] == ["brca1", "TP53"]
    threshold, f1 = tune_list_threshold(merged, {"a" * 24: [["BRCA1"], ["tp53"]]})
    assert threshold <= 0.25 and f1 == 1.0


def golden(tmp_path, questions):
    path = tmp_path / "golden.json"
    path.write_text(json.dumps({"questions": questions}), encoding="utf-8")
    return str(path)


def test_training_examples_from_golden_files(tmp_path):
    path = golden(tmp_path, [
        {"id": "q" * 24, "type": "factoid", "body": "Which gene?",
         "exact_answer": [["BRCA1", "breast cancer 1"]],
         "snippets": [{"text": "Mutations in brca1 and BRCA2."}, {"text": "Nothing here."},
                      {"text": "The breast cancer 1 gene (BRCA1)."}]},
        {"id": "l" * 24, "type": "list", "body": "Which drugs?",
         "exact_answer": [["sofosbuvir"], ["ledipasvir"]],
         "snippets": [{"text": "Ledipasvir plus sofosbuvir."}]},
        {"id": "y" * 24, "type": "yesno", "body": "Is it?", "exact_answer": "Yes",
         "snippets": [{"text": "It is."}, {"text": "Indeed."}]},
    ])
    questions = qa_data.read_golden(path)
    examples, report = qa_data.span_examples(questions, ("factoid",))
    assert [(x.id, x.answers[0].text, x.answers[0].start) for x in examples] == [
        ("q" * 24 + "_000", "brca1", 13), ("q" * 24 + "_002", "breast cancer 1", 4)]
    assert report == {"questions": 1, "snippets": 3, "snippets_with_answer": 2,
                      "questions_with_example": 1, "examples": 2}
    listed, _ = qa_data.span_examples(questions, ("list",))
    assert sorted(x.answers[0].text for x in listed) == ["Ledipasvir", "sofosbuvir"]
    pairs = qa_data.pair_examples(questions, ("yesno",))
    assert [(x.id, x.label) for x in pairs] == [("y" * 24 + "_000", "yes"), ("y" * 24 + "_001", "yes")]
    assert qa_data.question_id(pairs[1].id) == "y" * 24


def test_real_golden_files_yield_examples():
    questions = qa_data.read_golden(str(shared_file("qa", "BioASQ", "4B_golden.json")))
    examples, report = qa_data.span_examples(questions, ("factoid",))
    assert report["questions"] == 161 and report["questions_with_example"] >= 100
    for x in examples:
        assert x.context[x.answers[0].start:x.answers[0].end] == x.answers[0].text


def test_malformed_qa_files_name_the_place(tmp_path):
    bad = tmp_path / "squad.json"
    bad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "abc def", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "def", "answer_start": 0}]}]}]}]}))
    with pytest.raises(qa_data.QaDataError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]"
                                                  r"\.answers\[0\] \(id q1\)"):
        qa_data.read_squad(str(bad))
    bad.write_text('{"data": [\n  {"paragraphs": [}\n]}')
    with pytest.raises(qa_data.QaDataError, match="squad.json:2:"):
        qa_data.read_squad(str(bad))
    path = golden(tmp_path, [{"id": "x", "type": "yesno", "body": "?", "exact_answer": "maybe"}])
    with pytest.raises(qa_data.QaDataError, match=r"questions\[0\] \(id x\).*'yes' or 'no'"):
        qa_data.read_golden(path)
