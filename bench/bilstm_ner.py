"""Sachan et al. 2018 on real data: BiLSTM-CRF NER from scratch vs with BiLM weight transfer.

What is run:

1. `python -m biobert_tf.tasks.ner.bilstm.bilm` pretrains the bidirectional language model on
   ../shared/data/corpus/bioasq_abstracts.txt plus the *unlabeled* sentences of each
   dataset's train.tsv (never devel or test), --bilm_epochs epochs; its held-out perplexity
   is reported.
2. For each dataset, seed and training fraction, `run_ner.py --model=bilstm_crf` trains on
   that fraction of train.tsv (a seeded subset, the same for both inits), early-stops on
   devel.tsv (patience 2, at most --epochs) and scores test.tsv with conlleval's entity F1:
   once from random weights ("scratch") and once from the BiLM ("transfer").

Printed: test F1 mean ± std over seeds per (dataset, init, fraction), epochs to reach 95% of
the run's final (best) dev F1 (the paper's faster-convergence claim), wall time and
training sentences/s; a PNG of test F1 against the training fraction goes to --plot; every
run goes to --json_out.

    python bench/bilstm_ner.py --datasets NCBI-disease --seeds 1,2,3 --fractions 1.0
    python bench/bilstm_ner.py --datasets NCBI-disease,BC2GM --fractions 0.25,0.5,1.0 --seeds 1

Hyper-parameters: words + 25-d char CNN (50 filters) → 1 × 128-unit BiLSTM per direction
(dropout 0.5) → CRF; Adam with weight decay (Google's optimizer), lr 2e-3, batch 32,
windows of 128 words.
"""

import argparse
import json
import pathlib
import re
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
ARCHITECTURE = ["--word_embedding_dim=100", "--lstm_units=128", "--bilstm_layers=1"]


def run(command: list[str], log: pathlib.Path) -> tuple[str, float]:
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    log.write_text(result.stderr)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return result.stderr, time.time() - start


def subset(source: pathlib.Path, target: pathlib.Path, fraction: float, seed: int) -> int:
    sentences = [s for s in source.read_text(encoding="utf-8").split("\n\n") if s.strip()]
    keep = np.random.default_rng(seed).permutation(len(sentences))[:round(fraction *
                                                                          len(sentences))]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n\n".join(sentences[i] for i in sorted(keep)) + "\n", encoding="utf-8")
    return len(keep)


def f1_of(report: str) -> float:
    return float(re.search(r"FB1:\s+([\d.]+)", report).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="NCBI-disease,BC2GM")
    parser.add_argument("--bilm_datasets", default="NCBI-disease,BC2GM",
                        help="datasets whose unlabeled train sentences the BiLM reads")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--fractions", default="0.25,0.5,1.0")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--bilm_epochs", type=float, default=8)
    parser.add_argument("--data_root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--work_dir", default="/tmp/bilstm_bench")
    parser.add_argument("--json_out", default="/tmp/bilstm_bench/results.json")
    parser.add_argument("--plot", default=str(REPO / "docs" / "img" / "bilstm_fractions.png"))
    args = parser.parse_args()
    work, data = pathlib.Path(args.work_dir), pathlib.Path(args.data_root)
    work.mkdir(parents=True, exist_ok=True)
    datasets = args.datasets.split(",")
    # Runs of earlier invocations stay (and are not run again): the table and plot cover all.
    previous = pathlib.Path(args.json_out)
    results = json.loads(previous.read_text()) if previous.exists() else {"runs": []}
    results["settings"] = vars(args)
    done = {(r["dataset"], r["fraction"], r["seed"], r["init"]) for r in results["runs"]}

    bilm = work / "bilm"
    if not (bilm / "eval_results.txt").exists():
        stderr, seconds = run([
            sys.executable, "-m", "biobert_tf.tasks.ner.bilstm.bilm",
            f"--input_file={data / 'corpus' / 'bioasq_abstracts.txt'}",
            "--ner_file=" + ",".join(str(data / "ner" / d / "train.tsv")
                                     for d in args.bilm_datasets.split(",")),
            f"--output_dir={bilm}", f"--num_train_epochs={args.bilm_epochs}",
            "--train_batch_size=32", "--learning_rate=2e-3", "--iterations_per_loop=100",
            *ARCHITECTURE], work / "bilm.log")
        results["bilm_seconds"] = seconds
    results["bilm"] = {k.strip(): float(v) for k, v in
                       (line.split("=") for line in (bilm / "eval_results.txt").read_text()
                        .splitlines())}
    print("BiLM:", json.dumps(results["bilm"]), flush=True)

    for dataset in datasets:
        for fraction in (float(f) for f in args.fractions.split(",")):
            for seed in (int(s) for s in args.seeds.split(",")):
                data_dir = work / "data" / f"{dataset}-{fraction}-{seed}"
                count = subset(data / "ner" / dataset / "train.tsv", data_dir / "train.tsv",
                               fraction, seed)
                for name in ("devel.tsv", "test.tsv"):
                    (data_dir / name).write_bytes((data / "ner" / dataset / name).read_bytes())
                for init in ("scratch", "transfer"):
                    if (dataset, fraction, seed, init) in done:
                        continue
                    out = work / "runs" / f"{dataset}-{fraction}-{seed}-{init}"
                    subprocess.run(["rm", "-rf", str(out)], check=True)
                    stderr, seconds = run([
                        sys.executable, str(REPO / "run_ner.py"), "--model=bilstm_crf",
                        f"--data_dir={data_dir}", "--train_file=train.tsv",
                        f"--output_dir={out}", "--do_train", "--do_predict",
                        f"--num_train_epochs={args.epochs}", "--early_stopping_patience=2",
                        "--learning_rate=2e-3", "--train_batch_size=32",
                        "--iterations_per_loop=50", "--predict_batch_size=64",
                        "--eval_batch_size=64", f"--seed={seed}", *ARCHITECTURE,
                        *([f"--init_bilm_checkpoint={bilm}"] if init == "transfer" else [])],
                        work / f"{out.name}.log")
                    history = json.loads((out / "dev_history.json").read_text())
                    final = max(history)
                    rates = [float(x) for x in re.findall(r"steps/s\s+([\d.]+) examples/s",
                                                          stderr)]
                    row = {"dataset": dataset, "fraction": fraction, "seed": seed, "init": init,
                           "train_sentences": count, "wall_s": round(seconds, 1),
                           "train_sentences_per_s": statistics.median(rates[1:] or rates),
                           "dev_f1_per_epoch": history,
                           "epochs_to_95": next(i + 1 for i, f in enumerate(history)
                                                if f >= 0.95 * final),
                           "test_f1": f1_of((out / "test_results.txt").read_text())}
                    results["runs"].append(row)
                    print(json.dumps(row), flush=True)
                    pathlib.Path(args.json_out).write_text(json.dumps(results, indent=1))

    print("\n| dataset | train fraction | init | seeds | test F1 (mean ± std) | epochs to 95% "
          "of final dev F1 | wall s/run | train sentences/s |")
    print("|---|---|---|---|---|---|---|---|")
    groups = {}
    for row in results["runs"]:
        groups.setdefault((row["dataset"], row["fraction"], row["init"]), []).append(row)
    for (dataset, fraction, init), rows in groups.items():
        f1 = [r["test_f1"] for r in rows]
        std = statistics.stdev(f1) if len(f1) > 1 else 0.0
        print(f"| {dataset} | {fraction:.0%} | {init} | {len(rows)} | "
              f"{statistics.mean(f1):.2f} ± {std:.2f} | "
              f"{statistics.mean(r['epochs_to_95'] for r in rows):.1f} | "
              f"{statistics.mean(r['wall_s'] for r in rows):.0f} | "
              f"{statistics.mean(r['train_sentences_per_s'] for r in rows):.0f} |")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(6, 4))
    for color, dataset in enumerate(sorted({d for d, _, _ in groups})):
        for init, style in (("scratch", "--"), ("transfer", "-")):
            points = sorted((f, [r["test_f1"] for r in rows])
                            for (d, f, i), rows in groups.items() if d == dataset and i == init)
            if points:
                axis.errorbar([100 * f for f, _ in points],
                              [statistics.mean(v) for _, v in points],
                              yerr=[statistics.stdev(v) if len(v) > 1 else 0 for _, v in points],
                              fmt=style, marker="o", capsize=3, color=f"C{color}",
                              label=f"{dataset}, {init}")
    axis.set_xlabel("training sentences used (%)")
    axis.set_ylabel("test entity F1 (conlleval)")
    axis.set_title("BiLSTM-CRF: BiLM transfer vs scratch (mean ± std over seeds)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    pathlib.Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.plot, dpi=120)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
