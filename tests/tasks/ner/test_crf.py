"""The linear-chain CRF: tag-scheme tables, and likelihood, Viterbi and marginals checked against
enumeration of every tag sequence; constraints, tf.function / XLA, gradients, low-precision inputs
and SavedModel / .keras round trips."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.tasks.ner.crf import CRF, FORBIDDEN_PENALTY, allowed_transitions

LABEL_SETS = {
    "bio_untyped": (["O", "B", "I"], "bio"),
    "bio_typed": (["O", "B-Chem", "I-Chem", "B-Dis", "I-Dis"], "bio"),
    "bioes_untyped": (["O", "B", "I", "E", "S"], "bioes"),
    "bioes_typed": (["O", "B-Chem", "I-Chem", "E-Chem", "S-Chem", "B-Dis", "I-Dis", "E-Dis",
                     "S-Dis"], "bioes"),
}


# -- brute force -------------------------------------------------------------------------------

def enumerate_scores(emissions, start, transitions, end, allowed=None):
    """Every tag sequence of emissions [L, K] (or only the allowed ones) and its score (float64)."""
    length, k = emissions.shape
    if length == 0:
        return np.zeros((1, 0), int), np.zeros(1)
    seqs = np.array(list(itertools.product(range(k), repeat=length)))
    if allowed is not None:
        ok_start, ok_moves, ok_end = allowed
        keep = ok_start[seqs[:, 0]] & ok_end[seqs[:, -1]]
        keep &= ok_moves[seqs[:, :-1], seqs[:, 1:]].all(axis=1)
        seqs = seqs[keep]
    scores = (start[seqs[:, 0]] + end[seqs[:, -1]]
              + emissions[np.arange(length), seqs].sum(axis=1)
              + transitions[seqs[:, :-1], seqs[:, 1:]].sum(axis=1))
    return seqs, scores


def logsumexp(x):
    top = x.max()
    return top + np.log(np.exp(x - top).sum())


def random_crf(rng, k, allowed=None):
    crf = CRF(k, allowed=allowed)
    crf.transitions.assign(rng.normal(size=(k, k)).astype(np.float32))
    crf.start_transitions.assign(rng.normal(size=k).astype(np.float32))
    crf.end_transitions.assign(rng.normal(size=k).astype(np.float32))
    return crf


def raw_parameters(crf):
    return (crf.start_transitions.numpy().astype(np.float64),
            crf.transitions.numpy().astype(np.float64),
            crf.end_transitions.numpy().astype(np.float64))


def random_batch(rng, k, lengths, max_len, scale=2.0):
    potentials = (scale * rng.normal(size=(len(lengths), max_len, k))).astype(np.float32)
    tags = rng.integers(0, k, size=(len(lengths), max_len)).astype(np.int32)
    for row, length in enumerate(lengths):
        tags[row, length:] = -100  # padding labels beyond the length must be ignored
    return potentials, tags, np.array(lengths, np.int32)


# -- allowed_transitions -------------------------------------------------------------------------

def test_allowed_transitions_bio():
    start, moves, end = allowed_transitions(["O", "B", "I"], "bio")
    np.testing.assert_array_equal(start, [1, 1, 0])
    np.testing.assert_array_equal(moves, [[1, 1, 0],   # O -> O, B; not I
                                          [1, 1, 1],   # B -> anything
                                          [1, 1, 1]])  # I -> anything
    np.testing.assert_array_equal(end, [1, 1, 1])

    start, moves, end = allowed_transitions(["O", "B-Chem", "I-Chem", "B-Dis", "I-Dis"], "IOB2")
    np.testing.assert_array_equal(start, [1, 1, 0, 1, 0])
    np.testing.assert_array_equal(moves, [[1, 1, 0, 1, 0],
                                          [1, 1, 1, 1, 0],
                                          [1, 1, 1, 1, 0],
                                          [1, 1, 0, 1, 1],
                                          [1, 1, 0, 1, 1]])
    np.testing.assert_array_equal(end, [1, 1, 1, 1, 1])
    assert all(mask.dtype == bool for mask in (start, moves, end))


def test_allowed_transitions_bioes():
    labels = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "E-Y"]
    start, moves, end = allowed_transitions(labels, "bioes")
    np.testing.assert_array_equal(start, [1, 1, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(moves, [
        # O  B-X I-X E-X S-X B-Y E-Y
        [1, 1, 0, 0, 1, 1, 0],  # O
        [0, 0, 1, 1, 0, 0, 0],  # B-X
        [0, 0, 1, 1, 0, 0, 0],  # I-X
        [1, 1, 0, 0, 1, 1, 0],  # E-X
        [1, 1, 0, 0, 1, 1, 0],  # S-X
        [0, 0, 0, 0, 0, 0, 1],  # B-Y
        [1, 1, 0, 0, 1, 1, 0],  # E-Y
    ])
    np.testing.assert_array_equal(end, [1, 0, 0, 1, 1, 0, 1])
    untyped = allowed_transitions(["O", "B", "I", "E", "S"], "IOBES")
    np.testing.assert_array_equal(untyped[0], [1, 1, 0, 0, 1])
    np.testing.assert_array_equal(untyped[2], [1, 0, 0, 1, 1])


@pytest.mark.parametrize("labels,scheme,bad", [
    (["O", "B", "I", "X"], "bio", "'X'"),
    (["O", "B", "I", "[CLS]"], "bio", "'[CLS]'"),
    (["O", "B-X", "E-X"], "bio", "'E-X'"),
    (["O", "B-"], "bioes", "'B-'"),
    (["O", "b-X"], "bio", "'b-X'"),
    (["O", "B"], "bilou", "'bilou'"),
])
def test_allowed_transitions_rejects_unknown(labels, scheme, bad):
    with pytest.raises(ValueError, match=bad.replace("[", r"\[").replace("]", r"\]")):
        allowed_transitions(labels, scheme)


# -- against enumeration ------------------------------------------------------------------------

@pytest.mark.parametrize("k,seed", [(3, 0), (4, 1), (5, 2)])
def test_matches_brute_force(k, seed):
    rng = np.random.default_rng(seed)
    crf = random_crf(rng, k)
    lengths = [5, 3, 1, 0, 4]
    potentials, tags, lengths = random_batch(rng, k, lengths, max_len=5)
    log_likelihood = crf.log_likelihood(potentials, tags, lengths).numpy()
    best_tags, best_score = (x.numpy() for x in crf.decode(potentials, lengths))
    marginals = crf.marginals(potentials, lengths).numpy()
    assert best_tags.dtype == np.int32 and best_tags.shape == (5, 5)
    assert marginals.shape == (5, 5, k)

    for row, length in enumerate(lengths):
        seqs, scores = enumerate_scores(potentials[row, :length].astype(np.float64),
                                        *raw_parameters(crf))
        log_z = logsumexp(scores) if length else 0.0
        gold = np.flatnonzero((seqs == tags[row, :length]).all(axis=1))
        expected_ll = scores[gold[0]] - log_z if length else 0.0
        assert log_likelihood[row] == pytest.approx(expected_ll, abs=1e-4), row
        best = scores.argmax()
        np.testing.assert_array_equal(best_tags[row, :length], seqs[best])
        np.testing.assert_array_equal(best_tags[row, length:], 0)
        assert best_score[row] == pytest.approx(scores[best] if length else 0.0, abs=1e-4)
        probs = np.exp(scores - log_z)
        expected = np.zeros((5, k))
        for t in range(length):
            for tag in range(k):
                expected[t, tag] = probs[seqs[:, t] == tag].sum()
        np.testing.assert_allclose(marginals[row], expected, atol=1e-5)


def test_lengths_beyond_time_and_empty_time():
    crf = random_crf(np.random.default_rng(3), 3)
    potentials = np.random.default_rng(4).normal(size=(1, 3, 3)).astype(np.float32)
    potentials = np.concatenate([potentials, potentials])
    tags, score = crf.decode(potentials, [7, 3])  # lengths are clipped to the time dimension
    np.testing.assert_array_equal(tags[0], tags[1])
    assert score[0] == score[1]
    tags, score = crf.decode(np.zeros((2, 0, 3), np.float32), [0, 0])
    assert tags.shape == (2, 0)
    np.testing.assert_array_equal(score, [0, 0])
    np.testing.assert_array_equal(
        crf.log_likelihood(np.zeros((2, 0, 3)), np.zeros((2, 0), np.int32), [0, 0]), [0, 0])
    assert crf.marginals(np.zeros((2, 0, 3)), [0, 0]).shape == (2, 0, 3)


# -- constraints ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LABEL_SETS))
def test_constraints(name):
    labels, scheme = LABEL_SETS[name]
    allowed = allowed_transitions(labels, scheme)
    ok_start, ok_moves, ok_end = allowed
    k = len(labels)
    max_len = 5 if k <= 5 else 4
    rng = np.random.default_rng(len(labels))
    crf = random_crf(rng, k, allowed=allowed)
    lengths = [max_len, max_len, 2, 1, 0, max_len - 1]
    potentials, tags, lengths = random_batch(rng, k, lengths, max_len, scale=3.0)
    # Row 0: every position strongly prefers a forbidden start tag (I / E), the rest random.
    forbidden_start = np.flatnonzero(~ok_start)
    potentials[0, :, forbidden_start[0]] += 50.0
    # Row 1: alternate O and I-like tags, which no scheme here allows.
    potentials[1, ::2, 0] += 50.0
    potentials[1, 1::2, forbidden_start[-1]] += 50.0

    best_tags, best_score = (x.numpy() for x in crf.decode(potentials, lengths))
    log_likelihood = crf.log_likelihood(potentials, tags, lengths).numpy()
    marginals = crf.marginals(potentials, lengths).numpy()
    start, transitions, end = raw_parameters(crf)
    for row, length in enumerate(lengths):
        if length == 0:
            assert best_score[row] == 0 and not best_tags[row].any()
            continue
        path = best_tags[row, :length]
        assert ok_start[path[0]] and ok_end[path[-1]], (name, row, path)
        assert ok_moves[path[:-1], path[1:]].all(), (name, row, path)
        seqs, scores = enumerate_scores(potentials[row, :length].astype(np.float64),
                                        start, transitions, end, allowed=allowed)
        np.testing.assert_array_equal(path, seqs[scores.argmax()])
        assert best_score[row] == pytest.approx(scores.max(), rel=1e-5, abs=1e-4)
        # Forbidden sequences carry ~0 mass: the constrained partition function is the full one.
        gold = tags[row, :length]
        gold_ok = (ok_start[gold[0]] and ok_end[gold[-1]]
                   and ok_moves[gold[:-1], gold[1:]].all())
        if gold_ok:
            gold_score = scores[(seqs == gold).all(axis=1)][0]
            assert log_likelihood[row] == pytest.approx(gold_score - logsumexp(scores),
                                                        rel=1e-5, abs=1e-3)
        else:
            assert log_likelihood[row] < FORBIDDEN_PENALTY / 2
        assert marginals[row, 0, ~ok_start].max() < 1e-30
        probs = np.exp(scores - logsumexp(scores))
        expected_first = np.bincount(seqs[:, 0], weights=probs, minlength=k)
        np.testing.assert_allclose(marginals[row, 0], expected_first, atol=1e-5)


def test_constraints_survive_learned_transitions():
    # The penalty is not a weight that training can move.
    crf = CRF(3, allowed=allowed_transitions(["O", "B", "I"], "bio"))
    assert [w.name for w in crf.trainable_weights] == [
        "transitions", "start_transitions", "end_transitions"]
    assert len(crf.non_trainable_weights) == 3
    np.testing.assert_array_equal(crf.start_penalty.numpy(), [0, 0, FORBIDDEN_PENALTY])
    with pytest.raises(ValueError, match="shapes"):
        CRF(4, allowed=allowed_transitions(["O", "B", "I"], "bio"))


# -- graphs, gradients, precision ----------------------------------------------------------------

def test_tf_function_unknown_shapes_and_gradients():
    k = 4
    rng = np.random.default_rng(7)
    crf = random_crf(rng, k, allowed=allowed_transitions(["O", "B", "I", "S"], "bioes"))

    @tf.function(input_signature=[tf.TensorSpec([None, None, k], tf.float32),
                                  tf.TensorSpec([None, None], tf.int32),
                                  tf.TensorSpec([None], tf.int32)])
    def run(potentials, tags, lengths):
        with tf.GradientTape() as tape:
            tape.watch(potentials)
            loss = -tf.reduce_sum(crf.log_likelihood(potentials, tags, lengths))
        grads = tape.gradient(loss, [potentials] + crf.trainable_weights)
        return loss, grads, crf.marginals(potentials, lengths), crf.decode(potentials, lengths)

    lengths = [6, 2, 1, 0]
    potentials = rng.normal(size=(4, 6, k)).astype(np.float32)
    tags = np.zeros((4, 6), np.int32)  # all "O": allowed under BIOES
    loss, grads, marginals, (best_tags, _) = run(potentials, tags, lengths)
    assert np.isfinite(loss.numpy())
    for grad in grads:
        assert np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).max() > 1e-3
    mask = (np.arange(6)[None, :] < np.array(lengths)[:, None])[:, :, None]
    expected = np.where(mask, marginals.numpy() - np.eye(k)[tags], 0.0)
    np.testing.assert_allclose(grads[0].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(best_tags, crf.decode(potentials, lengths)[0])
    # Another batch and time size reuses the same graph.
    loss, _, _, (best_tags, _) = run(potentials[:2, :3], tags[:2, :3], [3, 3])
    assert best_tags.shape == (2, 3)
    # An empty time dimension (every row of length 0) runs in the same graph.
    loss, grads, marginals, (best_tags, score) = run(
        np.zeros((2, 0, k), np.float32), np.zeros((2, 0), np.int32), [0, 0])
    assert loss.numpy() == 0 and best_tags.shape == (2, 0) and marginals.shape == (2, 0, k)
    np.testing.assert_array_equal(score, [0, 0])
    assert all(np.isfinite(grad.numpy()).all() for grad in grads)
    assert run.experimental_get_tracing_count() == 1


def test_xla_matches_eager():
    k = 5
    rng = np.random.default_rng(8)
    crf = random_crf(rng, k, allowed=allowed_transitions(LABEL_SETS["bio_typed"][0], "bio"))
    potentials, tags, lengths = random_batch(rng, k, [7, 3, 0], max_len=7)
    tags = np.where(tags < 0, 0, tags)

    @tf.function(jit_compile=True)
    def run(potentials, tags, lengths):
        return (crf.log_likelihood(potentials, tags, lengths), crf.decode(potentials, lengths),
                crf.marginals(potentials, lengths))

    for got, want in zip(tf.nest.flatten(run(potentials, tags, lengths)),
                         tf.nest.flatten((crf.log_likelihood(potentials, tags, lengths),
                                          crf.decode(potentials, lengths),
                                          crf.marginals(potentials, lengths)))):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_inputs_give_float32(dtype):
    rng = np.random.default_rng(9)
    crf = random_crf(rng, 3)
    potentials, tags, lengths = random_batch(rng, 3, [4, 2], max_len=4)
    low = tf.cast(potentials, dtype)
    exact = tf.cast(low, tf.float32)
    tags = np.where(tags < 0, 0, tags)
    got = (crf.log_likelihood(low, tags, lengths), crf.decode(low, lengths)[1],
           crf.marginals(low, lengths), crf(low, lengths))
    want = (crf.log_likelihood(exact, tags, lengths), crf.decode(exact, lengths)[1],
            crf.marginals(exact, lengths), crf(exact, lengths))
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    assert [g.dtype for g in got] == [tf.float32, tf.float32, tf.float32, tf.int32]


def test_float32_under_mixed_precision_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        crf = CRF(3)
        potentials = keras.Input((None, 3), dtype="bfloat16")
        lengths = keras.Input((), dtype="int32")
        tags = crf(potentials, lengths)
    finally:
        keras.config.set_dtype_policy(previous)
    assert crf.compute_dtype == "float32" and crf.variable_dtype == "float32"
    assert tags.dtype == "int32" and tuple(tags.shape) == (None, None)


# -- saving ---------------------------------------------------------------------------------------

def test_saved_model_round_trip(tmp_path):
    k = 5
    rng = np.random.default_rng(10)
    crf = random_crf(rng, k, allowed=allowed_transitions(LABEL_SETS["bio_typed"][0], "bio"))
    module = tf.Module()
    module.crf = crf
    module.decode = tf.function(
        lambda potentials, lengths: crf.decode(potentials, lengths),
        input_signature=[tf.TensorSpec([None, None, k], tf.float32),
                         tf.TensorSpec([None], tf.int32)])
    tf.saved_model.save(module, str(tmp_path / "crf"))
    loaded = tf.saved_model.load(str(tmp_path / "crf"))

    potentials = (3 * rng.normal(size=(3, 6, k))).astype(np.float32)
    potentials[:, :, 2] += 20  # I-Chem everywhere: only the penalties stop it
    lengths = np.array([6, 1, 0], np.int32)
    want_tags, want_score = crf.decode(potentials, lengths)
    got_tags, got_score = loaded.decode(potentials, lengths)
    np.testing.assert_array_equal(got_tags, want_tags)
    np.testing.assert_allclose(got_score, want_score, rtol=1e-6)
    assert want_tags[0, 0] != 2


def test_keras_model_round_trip(tmp_path):
    k = 3
    rng = np.random.default_rng(11)
    allowed = allowed_transitions(["O", "B", "I"], "bio")
    potentials_in = keras.Input((None, k))
    lengths_in = keras.Input((), dtype="int32")
    crf = CRF(k, allowed=allowed, name="crf")
    model = keras.Model([potentials_in, lengths_in], crf(potentials_in, lengths_in))
    crf.transitions.assign(rng.normal(size=(k, k)).astype(np.float32))
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")

    restored = loaded.get_layer("crf")
    assert isinstance(restored, CRF) and restored.get_config() == crf.get_config()
    for got, want in zip(restored.weights, crf.weights):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    potentials = (2 * rng.normal(size=(2, 5, k))).astype(np.float32)
    lengths = np.array([5, 2], np.int32)
    np.testing.assert_array_equal(loaded([potentials, lengths]), model([potentials, lengths]))
