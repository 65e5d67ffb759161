"""Every speed figure of issue 18 in one command: the side-by-side table and a plot.

Runs, one after the other on this machine (each script's own output streams through):

1. `bench/train_throughput.py` — the machine's matmul peaks (TF fp32/bf16, torch) and one BERT-base
   pretraining step, ours (float32 with and without XLA, bfloat16 where the CPU has it) vs
   HuggingFace;
2. `bench/finetune_speed.py` — NCBI-disease fine-tuning steps from MiniLM, ours (± XLA) vs HF,
   interleaved rounds;
3. `bench/serving_speed.py` — raw-text NER serving, our SavedModel vs HF's token-classification
   pipeline, interleaved rounds;
4. `bench/serving_speed_re_qa.py` — the same for relation extraction (GAD sentences) and, given
   `--hf_qa_path` (a transformers that still has the question-answering pipeline: see that
   script), QA (BioASQ questions with their abstracts);
5. `bench/pretraining_data.py` — pretraining-data creation, ours with 1 and all workers vs
   Google's `create_pretraining_data.py` (20 MB of abstracts, so that the workers' start-up
   is a small part of the run).

Then prints one table: each comparison's ratio (ours ÷ the reference, both from this run) next to
the issue's target, with the CPU flags, matmul peaks and load averages, and writes the ratios as
a bar chart to --plot (default docs/speed.png). Every figure is a median; load averages are
printed because the machine may be shared.

    python bench/speed.py --hf_qa_path=DIR     # ~55 min on 2 cores (the first run also
                                               # fine-tunes the models that are served)
    python bench/speed.py --quick              # fewer steps and rounds, for a smoke run

Needs torch and transformers (pip install torch==2.13.0 transformers) and matplotlib.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
# The targets, as ratios ours ÷ reference (RE and QA serving: figures, no target).
TARGETS = {"pretraining step": 1.5, "fine-tuning": 1.5, "serving": 3.0, "RE serving": None,
           "QA serving": None, "pretraining data": 20.0}


def run(script: str, *flags: str, json_out: pathlib.Path, again: bool = True) -> dict:
    """Runs a bench script (its output shown as it comes) and returns its --json_out; with
    `again` False, only reads what an earlier run wrote there."""
    command = [sys.executable, str(BENCH / script), *flags, f"--json_out={json_out}"]
    if again:
        print(f"\n$ {' '.join(command)}", flush=True)
        subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(json_out.read_text())


def medians(result: dict) -> dict:
    """Median rate per arm of an interleaved-rounds script (finetune_speed, serving_speed)."""
    return {arm: statistics.median(rates) for arm, rates in result["rates"].items()}


def pretraining_step(result: dict) -> tuple[dict, dict]:
    """(rows, matmul peaks) of train_throughput: examples/s per config at the first batch."""
    batch = result["args"]["batch_sizes"].split(",")[0]
    rows = {name: int(batch) / r[batch]["s_per_step"] for name, r in result["results"].items()
            if not name.startswith("peak") and "error" not in r}
    peaks = {key: value for name, r in result["results"].items() if name.startswith("peak")
             for key, value in r.items()
             if key.startswith(("tf_", "torch_")) and not key.endswith("_skipped")}
    return rows, peaks


def data_creation(result: dict) -> dict:
    """Marginal instances/s (overall where no marginal rate was measured) per tool."""
    return {row["tool"]: row.get("marginal") or row["instances"] / row["seconds"]
            for row in result["comparison"]}


def best_ratio(rows: dict, ours_prefix: str, reference_prefix: str) -> tuple[str, str, float]:
    """Our fastest arm against the reference's fastest: (ours, reference, ratio)."""
    ours = max((k for k in rows if k.startswith(ours_prefix)), key=rows.get)
    reference = max((k for k in rows if k.startswith(reference_prefix)), key=rows.get)
    return ours, reference, rows[ours] / rows[reference]


def plot(ratios: dict[str, float], path: pathlib.Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(ratios)
    figure, axes = plt.subplots(figsize=(7, 3.5))
    positions = range(len(names))
    axes.bar(positions, [ratios[n] for n in names], color="tab:blue", label="ours ÷ reference")
    # One word per line: six two-word labels side by side run into each other.
    axes.set_xticks(positions, [n.replace(" ", "\n") for n in names])
    targeted = [x for x, n in enumerate(names) if TARGETS[n]]
    axes.scatter(targeted, [TARGETS[names[x]] for x in targeted], marker="_", s=900,
                 color="tab:red", label="target", zorder=3)
    axes.axhline(1.0, color="grey", linewidth=0.8)
    axes.set_yscale("log")
    # Room above the tallest bar for its label.
    axes.set_ylim(top=1.8 * max(*ratios.values(), *(t for t in TARGETS.values() if t)))
    axes.set_ylabel("speed ratio (log)")
    for x, name in enumerate(names):
        axes.annotate(f"{ratios[name]:.2f}×", (x, ratios[name]), ha="center", va="bottom")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: few steps and rounds")
    p.add_argument("--plot", default=str(REPO / "docs" / "speed.png"))
    p.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "bench_speed"))
    p.add_argument("--hf_qa_path", default=None,
                   help="passed to serving_speed_re_qa.py; without it QA serving is not measured")
    p.add_argument("--summary_only", action="store_true",
                   help="no runs: the table and plot from an earlier run's files in --work_dir")
    args = p.parse_args()
    work = pathlib.Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    from biobert_tf.engine import distribute
    bf16 = bool(distribute.cpu_flags() & distribute.BF16_CPU_FLAGS)
    again = not args.summary_only

    step_configs = "peak,tf:fp32,tf:fp32:xla,hf:fp32" + (",tf:bf16,hf:bf16" if bf16 else "")
    step, peaks = pretraining_step(run(
        "train_throughput.py", f"--configs={step_configs}", "--batch_sizes=8",
        *(["--steps=2", "--warmup=1"] if args.quick else []), "--max_load=99",
        json_out=work / "train_throughput.json", again=again))
    finetune_arms = "ours:fp32,ours:fp32:xla,hf:fp32" + (",ours:bf16,hf:bf16" if bf16 else "")
    finetune = run("finetune_speed.py", f"--arms={finetune_arms}",
                   *(["--steps=2", "--rounds=1"] if args.quick else ["--steps=6", "--rounds=4"]),
                   json_out=work / "finetune_speed.json", again=again)
    serving = run("serving_speed.py", "--arms=ours:8,hf:8,hf:32",
                  *(["--num_docs=20", "--rounds=1"] if args.quick else ["--num_docs=60"]),
                  json_out=work / "serving_speed.json", again=again)
    tasks = ["re"] + (["qa"] if args.hf_qa_path else [])
    re_qa = run(
        "serving_speed_re_qa.py", "--arms=" + ",".join(f"{t}-{side}:8" for t in tasks
                                                      for side in ("ours", "hf")),
        *([f"--hf_qa_path={args.hf_qa_path}"] if args.hf_qa_path else []),
        *(["--num_examples=40", "--rounds=1"] if args.quick else ["--num_examples=200"]),
        json_out=work / "serving_speed_re_qa.json", again=again)
    serving_re_qa = {arm: rate for result in re_qa.values()
                     for arm, rate in medians(result).items()}
    data = data_creation(run(
        "pretraining_data.py", f"--workdir={work / 'data'}", "--skip_beam", "--marginal",
        f"--workers=1,{os.cpu_count()}", f"--sizes_mb={'1' if args.quick else '20'}",
        "--documents_per_chunk=500", json_out=work / "pretraining_data.json", again=again))

    comparisons = {
        "pretraining step": best_ratio(step, "tf:", "hf:"),
        "fine-tuning": best_ratio(medians(finetune), "ours", "hf"),
        "serving": best_ratio(medians(serving), "ours", "hf"),
        **{f"{task.upper()} serving": best_ratio(serving_re_qa, f"{task}-ours", f"{task}-hf")
           for task in tasks},
        "pretraining data": best_ratio(data, "(a)", "(c)"),
    }
    print(f"\nmachine: {finetune['machine']}")
    print("matmul peaks (GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
    print("\n| comparison | ours (fastest) | reference (fastest) | ratio | target |")
    print("|---|---|---|---|---|")
    for name, (ours, reference, ratio) in comparisons.items():
        target = f"≥ {TARGETS[name]:g}×" if TARGETS[name] else "—"
        print(f"| {name} | {ours} | {reference} | {ratio:.2f}× | {target} |")
    plot({name: ratio for name, (_, _, ratio) in comparisons.items()}, pathlib.Path(args.plot),
         finetune["machine"])


if __name__ == "__main__":
    main()
