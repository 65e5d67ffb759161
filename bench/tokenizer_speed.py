"""Throughput of our in-graph WordPiece tokenizer against Google's algorithm in pure Python.

Both tokenize every line of `--corpus` (default: ../shared/data/corpus/bioasq_abstracts.txt)
with the same vocab (default: the shipped cased demo vocab, `--do_lower_case=false`), and the
script checks that the ids agree before printing MB/s and wordpieces/s for each. The Python
side is the test oracle `tests/reference_tokenizer.py`, a re-implementation of Google's
`tokenization.py` (the code BioBERT's data creation runs).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import tensorflow as tf  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import reference_tokenizer  # noqa: E402
from biobert_tf import resources  # noqa: E402
from biobert_tf.bert.tokenization import BertTokenizer  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(REPO.parent / "shared/data/corpus/bioasq_abstracts.txt"))
    parser.add_argument("--vocab_file", default=resources.path(resources.DEMO_VOCAB))
    parser.add_argument("--do_lower_case", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--batch_size", type=int, default=256)
    args = parser.parse_args()

    lines = [line.strip() for line in open(args.corpus, encoding="utf-8") if line.strip()]
    megabytes = sum(len(line.encode()) for line in lines) / 1e6

    ours = BertTokenizer(args.vocab_file, args.do_lower_case)
    ours.tokenize(tf.constant(lines[:2]))  # trace once, outside the timing
    start = time.perf_counter()
    our_ids = []
    for i in range(0, len(lines), args.batch_size):
        our_ids += ours.tokenize(tf.constant(lines[i:i + args.batch_size])).token_ids.to_list()
    our_seconds = time.perf_counter() - start

    google = reference_tokenizer.ReferenceTokenizer(
        reference_tokenizer.load_vocab(args.vocab_file), args.do_lower_case)
    start = time.perf_counter()
    google_ids = [google.convert_tokens_to_ids(google.tokenize(line)) for line in lines]
    google_seconds = time.perf_counter() - start

    pieces = sum(map(len, google_ids))
    print(f"corpus: {len(lines)} texts, {megabytes:.2f} MB, {pieces} wordpieces; "
          f"ids identical: {our_ids == google_ids}")
    for name, seconds in (("ours (TF ops, batch %d)" % args.batch_size, our_seconds),
                          ("Google algorithm, pure Python", google_seconds)):
        print(f"{name:32s} {seconds:7.2f} s  {megabytes / seconds:6.2f} MB/s  "
              f"{pieces / seconds:10.0f} pieces/s")
    print(f"speed-up: {google_seconds / our_seconds:.1f}x")


if __name__ == "__main__":
    main()
