"""Test helpers: paths to ../shared/data and its files, command lines through the fork server,
and serving a SavedModel in a fresh process."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import atexit  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MARKER_TOKENS = ["[unused0]", "[unused1]", "[unused2]", "[unused3]"]
CORPUS = SHARED_DATA / "corpus" / "bioasq_abstracts.txt"
NER_DIR = SHARED_DATA / "ner"


FORK_SERVER = REPO / "tests" / "fork_server.py"
_fork_server = {}


def python(*args: str) -> list[str]:
    """The command line `python ARGS` for subprocess.run or Popen, run by this test process's
    fork server (tests/fork_server.py: no TensorFlow import per command). Commands whose test
    is about a fresh process (import-time output, kill -9) use `sys.executable` instead."""
    if "socket" not in _fork_server:
        folder = tempfile.mkdtemp(prefix="fork_server-")
        path = os.path.join(folder, "socket")
        server = subprocess.Popen([sys.executable, str(FORK_SERVER), "--serve", path],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        atexit.register(server.kill)
        assert server.stdout.readline() == "ready\n", "the fork server did not start"
        _fork_server["socket"] = path
    return [sys.executable, "-I", "-S", str(FORK_SERVER), _fork_server["socket"], *args]


def fresh_python(script: str, unset: tuple[str, ...] = (),
                 **env: str) -> subprocess.CompletedProcess:
    """`python -c SCRIPT` in a new interpreter (not the fork server: for what happens while
    TensorFlow loads), in the repository, with the variables in `unset` removed from this
    environment and `env` added. Asserts that it succeeded; returns the completed process."""
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, cwd=REPO, env={**clean, **env})
    assert result.returncode == 0, result.stderr
    return result


def shared_file(*parts) -> pathlib.Path:
    """A file under ../shared/data, or a skip with the reason when the folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: the real datasets live in ../shared/data beside the repo")
    return path


def corpus_lines() -> list[str]:
    with open(shared_file("corpus", "bioasq_abstracts.txt"), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def ner_sentences() -> list[str]:
    """Every sentence of every BioBERT NER tsv file, tokens joined by spaces."""
    sentences = []
    for path in sorted(shared_file("ner").glob("*/*.tsv")):
        if path.name == "train_dev.tsv":  # = train + devel
            continue
        words = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if line.strip():
                    words.append(line.split("\t")[0])
                elif words:
                    sentences.append(" ".join(words))
                    words = []
        if words:
            sentences.append(" ".join(words))
    return sentences


_SERVE = """
import json, sys
import numpy as np
import tensorflow as tf, tensorflow_text  # tensorflow_text registers the tokenizer ops
inputs = {k: tf.constant(v) for k, v in json.loads(sys.argv[1]).items()}
decode = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])
served = []
for path in sys.argv[2:]:
    out = tf.saved_model.load(path).signatures["serving_default"](**inputs)
    served.append({k: (decode(v.numpy()) if v.dtype == tf.string else v.numpy()).tolist()
                   for k, v in out.items()})
assert not [m for m in sys.modules if m.startswith("biobert_tf")], "biobert_tf was imported"
print(json.dumps(served))
"""


def serve_in_fresh_process(saved_model: str, inputs: dict, cwd) -> dict:
    """The outputs (as lists, strings decoded) of a SavedModel's `serving_default` called in a
    new Python process that imports only tensorflow and tensorflow_text, as a server would."""
    [outputs] = serve_each_in_fresh_process([saved_model], inputs, cwd)
    return outputs


def serve_each_in_fresh_process(saved_models: list, inputs: dict, cwd) -> list[dict]:
    """`serve_in_fresh_process` for several SavedModels, all served in one new process (one
    TensorFlow import)."""
    result = subprocess.run(
        [sys.executable, "-c", _SERVE, json.dumps(inputs), *map(str, saved_models)],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=""),
        cwd=str(cwd))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def tfds_rows(name: str, split: str, data_dir, manual_dir) -> tuple[list[dict], object]:
    """`tfds_source.load_split` of a split prepared into `data_dir` from `manual_dir`: its rows
    and the dataset's info."""
    from biobert_tf.engine import tfds_source

    return tfds_source.load_split(tfds_source.Split(name, split, str(data_dir),
                                                    str(manual_dir)))


def xla_must_compile(graph_def) -> int:
    """How many functions of a GraphDef's library XLA must compile."""
    return sum(f.attr["_XlaMustCompile"].b for f in graph_def.library.function)


def xla_compiled_functions(saved_model_dir: pathlib.Path) -> int:
    """How many functions of a SavedModel's graph XLA must compile."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString(
        (saved_model_dir / "saved_model.pb").read_bytes())
    return xla_must_compile(proto.meta_graphs[0].graph_def)


def re_vocab() -> list[str]:
    """The demo vocab plus four [unusedN] slots for the RE entity markers."""
    from biobert_tf import resources
    with open(resources.path(resources.DEMO_VOCAB), encoding="utf-8") as f:
        return f.read().split("\n")[:-1] + MARKER_TOKENS


LINE_ENDINGS = ["\n", "\r\n", "\r", "mixed"]


def with_line_endings(text: str, ending: str) -> bytes:
    """UTF-8 `text` (written with "\\n") with its line ends replaced; "mixed" cycles LF, CR, CRLF.

    (In that order a CR is never followed by a LF of the next line, which would make one CRLF.)
    """
    ends = itertools.cycle(["\n", "\r", "\r\n"] if ending == "mixed" else [ending])
    *ended, last = text.split("\n")
    return ("".join(line + next(ends) for line in ended) + last).encode("utf-8")
