"""Corpus readers under random mutations of real files (bench/fuzz_corpus.py, under hypothesis):
documents equal to the clean file's when only line endings or a BOM changed, else documents or
one CorpusError line naming the file — never a traceback, never a silent misread. And the sentence
splitter's spans under random text."""

import gzip
import random
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import REPO, shared_file
from tfrecords_tools.corpus import sentence_spans, split_sentences

sys.path.insert(0, str(REPO / "bench"))
import fuzz_corpus  # noqa: E402


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """reader -> (clean bytes, its documents, the path mutated files are written to)."""
    shared_file("corpus", "bioasq_abstracts.txt")
    workdir = tmp_path_factory.mktemp("fuzz")
    files = {}
    for reader, data in fuzz_corpus.clean_files(fuzz_corpus.real_abstracts(3, offset=100)).items():
        path = workdir / fuzz_corpus.READERS[reader]
        path.write_bytes(gzip.compress(data) if reader.endswith(".gz") else data)
        files[reader] = (data, fuzz_corpus.read(str(path), reader), str(path))
    return files


@pytest.mark.parametrize("reader", list(fuzz_corpus.READERS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_file_reads_right_or_fails_in_one_line(clean, reader, data):
    data_bytes, clean_documents, path = clean[reader]
    kind = data.draw(st.sampled_from(fuzz_corpus.mutations(reader)), label="mutation")
    rng = random.Random(data.draw(st.integers(0, 2**32), label="seed"))
    mutated, expected = fuzz_corpus.mutated_file(reader, data_bytes, kind, rng)
    with open(path, "wb") as f:
        f.write(mutated)
    assert fuzz_corpus.outcome(path, reader, expected, clean_documents) in ("read", "clear error")


# Pieces the splitter's rules look at, mixed with random characters.
_SPLITTER_PIECES = [". ", ".", "? ", "!", "...", " ", "  ", "\t", "\n", "\u00a0", "\u2028", "A", "b", "E.",
                    "coli", "et al.", "e.g.", "U.S.", "Fig.", "p53", "mTORC1", "0.05", '"', "'", ")", "(",
                    "]", "\u201d", "\u201c"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_SPLITTER_PIECES) | st.text(max_size=3), max_size=40).map("".join))
def test_sentence_spans_are_the_split_sentences(text):
    spans = sentence_spans(text)
    assert [text[s:e] for s, e in spans] == split_sentences(text)
    # In order, each stripped and non-empty, and only whitespace around them: the splitter's
    # sentences, every one a stripped piece of the text, in the text's order, dropping nothing.
    bounds = [0, *(i for span in spans for i in span), len(text)]
    assert bounds == sorted(bounds)
    assert all(text[s:e] and text[s:e] == text[s:e].strip() for s, e in spans)
    assert not "".join(text[a:b] for a, b in zip(bounds[::2], bounds[1::2])).strip()
    # The lines reader splits stripped lines: whitespace around the text changes no sentence.
    shifted = [(s + 2, e + 2) for s, e in spans]
    assert sentence_spans(f" \t{text}\n") == shifted
