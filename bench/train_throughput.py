"""Pretraining-step throughput of our training loop against HuggingFace on CPU, with MFU.

What is measured: one full BERT pretraining step — forward, MLM + NSP losses, backward,
global-norm gradient clipping to 1.0 and the optimizer update — on BERT-base (the shipped
Google config `biobert_tf/resources/biobert_base_cased_config.json`: 12 layers, hidden 768,
vocab 28,996, 108.9 M parameters, dropout 0.1 as configured, training mode), sequence length
128, `max_predictions_per_seq` 20, at global batch 8 and 32, on synthetic random batches drawn
with a fixed seed (token ids, ~10% shorter sequences with padding, 20 masked positions per
example, random next-sentence labels).

* ours: exactly what `run_pretraining.py` runs — `BertPretrainer` + `PretrainingObjective` +
  `create_optimizer(..., aggregate_gradients=False)` under the default strategy, driven by
  `biobert_tf.engine.training.Trainer._train_steps(iterator, 1)` (a `tf.function` around
  `Trainer._replica_step`) on a distributed iterator, in float32 and with
  `distribute.set_mixed_precision("bfloat16")`.
* HF: `transformers.BertForPreTraining` (PyTorch, CPU, `torch.set_num_threads(2)`), the same
  config (`hidden_act="gelu_new"`, Google's tanh GELU), labels -100 except at the masked
  positions, `torch.optim.AdamW` (ε 1e-6, decay 0.01 except biases/LayerNorm) on a linear
  warmup schedule, `clip_grad_norm_(1.0)`; float32 (and, opt-in with `--configs ...,hf:bf16`,
  `torch.autocast("cpu", bfloat16)`: off by default because torch's CPU bfloat16 matmul runs at
  ~1 GFLOP/s on CPUs without AVX512-BF16/AMX, such as this project's AMD EPYC Zen 3).
  HF's stock head computes vocabulary logits at all 128 positions; the `hf-gather` rows run the
  same HF modules but gather the 20 masked positions first, as Google (and ours) do.
* the machine's matmul peak: median GFLOP/s of `tf.matmul` on square float32 and bfloat16
  matrices (1024, 2048 and 4096 by default, sizes that would take over 5 s skipped; torch.mm
  figures are printed for reference).

Each configuration runs in a fresh subprocess (`--_worker`), so precision policies, thread
pools and `TF_ENABLE_ONEDNN_OPTS` never leak between them (our rows use oneDNN's kernels on
x86-64, `biobert_tf`'s default, unless `onednn0` asks for Eigen's). Every figure is the median of
`--steps` timed steps after `--warmup` untimed ones (the first includes tracing). "cores" is the
worker's CPU time / wall time over the timed steps: ~2.0 on this 2-core machine means it had
the CPU to itself; less means contention or idle threads. "sys" is the kernel's share of that
CPU time (page faults of freshly mmap-ed tensor buffers show up there).

Training FLOPs per example (model FLOPs, the same count for every row; embedding lookups,
softmax, LayerNorm, GELU and the optimizer are not counted):

    6 · (L·(4H² + 2HI)·S + (H² + HV)·P + H² + 2H) + 12·L·S²·H

(6 = 2 FLOPs per multiply-add × 3 for forward + backward; encoder weights on all S tokens, the
MLM transform + tied decoder on the P masked positions, pooler + NSP on one; 12·L·S²·H are the
QKᵀ and attention·V products.) For BERT-base, S=128, P=20 that is 69.8 GFLOP per example.
MFU = achieved FLOP/s ÷ the measured `tf.matmul` peak of the row's precision (float32 or
bfloat16; the best over the TF settings run: oneDNN on x86-64 by default, Eigen with
`peak:onednn0`); MFU* divides by the best matmul of that precision of any library measured
(torch.mm uses MKL), a stricter reference.

    python bench/train_throughput.py                 # the full table (~20-30 min on 2 cores)
    python bench/train_throughput.py --explore       # + XLA / oneDNN / threading variants
    python bench/train_throughput.py --configs tf:fp32 --batch_sizes 8 --steps 2 --warmup 1
    python bench/train_throughput.py --configs tf:fp32:xla:profile --batch_sizes 8

The `profile` option then traces `--profile_steps` more steps with TensorFlow's profiler (XLA's
per-operation trace switched on, which slows the step a little, so that row's s/step is not a
comparison figure) and prints where a step's time goes: the compiled forward and backward pass by
kind of XLA operation (matmuls; fused elementwise work named by what it fuses: exponentials of the
softmax, tanh of the GELU, reductions of LayerNorm and softmax, selects of dropout and masking),
and the TensorFlow ops outside it (the optimizer update, gradient clipping, the rest).

Needs torch and transformers for the HF rows: pip install torch==2.13.0 transformers
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "biobert_tf" / "resources" / "biobert_base_cased_config.json"
SEED = 12345
DEFAULT_CONFIGS = "peak,tf:fp32,tf:fp32:xla,tf:bf16,hf:fp32,hf-gather:fp32"
EXPLORE_CONFIGS = ("peak:onednn0,tf:fp32:onednn0,tf:bf16:onednn0,tf:bf16:xla,tf:fp32:xla:onednn0,"
                   "tf:fp32:bfc,tf:fp32:onednn0:bfc,tf:fp32:intra2")


# ---- shared helpers -------------------------------------------------------------------------

def read_config(path):
    from biobert_tf.bert.config import BertConfig
    return BertConfig.from_json_file(path)


def train_flops_per_example(cfg, seq_len: int, predictions: int) -> float:
    """Model FLOPs of one training step per example (formula in the module docstring)."""
    H, L, I, V = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size, cfg.vocab_size
    S, P = seq_len, predictions
    return 6.0 * (L * (4 * H * H + 2 * H * I) * S + (H * H + H * V) * P + H * H + 2 * H) \
        + 12.0 * L * S * S * H


def parameter_count(cfg) -> dict:
    H, L, I, V = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size, cfg.vocab_size
    embeddings = V * H + cfg.max_position_embeddings * H + cfg.type_vocab_size * H + 2 * H
    layer = 4 * H * H + 4 * H + 2 * H * I + I + H + 4 * H
    heads = (H * H + H) + (H * H + H + 2 * H + V) + (2 * H + 2)  # pooler, MLM, NSP
    return {"total": embeddings + L * layer + heads, "embeddings": embeddings,
            "non_embedding": L * layer + heads}


def synthetic_batches(num_examples: int, seq_len: int, predictions: int, vocab: int, seed: int):
    """Google-schema features (int32, weights float32) for `num_examples` random examples."""
    import numpy as np
    rng = np.random.RandomState(seed)
    lengths = np.where(rng.rand(num_examples) < 0.1,
                       rng.randint(predictions + 8, seq_len, num_examples), seq_len)
    input_ids = rng.randint(999, vocab, (num_examples, seq_len)).astype(np.int32)
    input_mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.int32)
    input_ids *= input_mask
    segment_ids = np.zeros_like(input_ids)
    positions = np.zeros((num_examples, predictions), np.int32)
    for i, length in enumerate(lengths):
        a = rng.randint(2, length - 2)
        segment_ids[i, a:length] = 1
        positions[i] = np.sort(rng.choice(np.arange(1, length - 1), predictions, replace=False))
    masked_ids = np.take_along_axis(input_ids, positions, 1)
    input_ids[np.arange(num_examples)[:, None], positions] = 103  # [MASK]
    return {
        "input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids,
        "masked_lm_positions": positions, "masked_lm_ids": masked_ids,
        "masked_lm_weights": np.ones((num_examples, predictions), np.float32),
        "next_sentence_labels": rng.randint(0, 2, (num_examples, 1)).astype(np.int32),
    }


def time_steps(step_fn, warmup: int, steps: int) -> dict:
    """Runs `step_fn` warmup + steps times; wall and process-CPU seconds of the timed ones."""
    first = None
    for i in range(warmup):
        start = time.perf_counter()
        step_fn()
        if i == 0:
            first = time.perf_counter() - start
    walls, user, system = [], 0.0, 0.0
    for _ in range(steps):
        start, cpu = time.perf_counter(), os.times()
        step_fn()
        walls.append(time.perf_counter() - start)
        end = os.times()
        user += end.user - cpu.user
        system += end.system - cpu.system
    return {"s_per_step": statistics.median(walls), "all_s": walls, "first_s": first,
            "cores": (user + system) / sum(walls),
            "sys_share": system / max(user + system, 1e-9)}


def profile_steps(step_fn, steps: int) -> dict:
    """Seconds per step by kind of work (`work_kind`), from a profiler trace of `steps` calls
    of `step_fn`: each event's own time (its duration less that of the events it encloses on
    its thread), so nested events are not counted twice. "step" is the wall time of a call."""
    import collections
    import glob

    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            step_fn()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace.FromString(pathlib.Path(
            glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]).read_bytes())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            names = [plane.event_metadata[e.metadata_id].name for e in line.events]
            if line.name == "python":
                seconds["step"] += sum(e.duration_ps for e, name in zip(line.events, names)
                                       if name == "_train_steps") / 1e12 / steps
                continue
            for name, own_ps in own_times(line.events, names):
                kind = work_kind(name)
                if kind:
                    seconds[kind] += own_ps / 1e12 / steps
    return dict(seconds.most_common())


def own_times(events, names: list[str]):
    """(name, own time in ps) of each event of one thread: its duration less its children's."""
    order = sorted(range(len(events)), key=lambda i: (events[i].offset_ps,
                                                      -events[i].duration_ps))
    own = [e.duration_ps for e in events]
    open_events = []  # indices of the events enclosing the current one, outermost first
    for i in order:
        start = events[i].offset_ps
        while open_events and (events[open_events[-1]].offset_ps +
                               events[open_events[-1]].duration_ps) <= start:
            open_events.pop()
        if open_events:
            own[open_events[-1]] -= events[i].duration_ps
        open_events.append(i)
    return zip(names, own)


def work_kind(event: str) -> str | None:
    """What kind of work a profiler event is, or None for what is not work.

    XLA's operations are named after the HLO they come from ("dot.12", "MatMul.3",
    "multiply_tanh_fusion.2"), TensorFlow's ops "scope/name:OpType", and the executors'
    own events "Class::Method"."""
    if event.startswith(("end: ", "BlockUntilReady", "SlinkyThreadPool::Await")):
        return None  # markers, and threads waiting for others
    if "::" in event:
        return "runtime (TF executor, XLA thunk executor)"
    if ":" in event:
        op_type = event.rsplit(":", 1)[1]
        # An uncompiled step (bfloat16's default) is all TF ops: by type, matmuls together.
        return ("TF optimizer update" if "adam_weight_decay" in event or "lamb" in event
                else "TF gradient clipping" if "global_norm" in event or "clip" in event
                else "TF matmul" if "MatMul" in op_type
                else f"TF {op_type.lstrip('_').removeprefix('Mkl')}")
    name = event.split(".")[0].lower()
    if name.startswith("matmul") or "dot" in name:
        return "XLA matmul"
    for part, kind in (("exponential", "softmax exp"), ("tanh", "GELU tanh"),
                       ("reduce", "reductions (LayerNorm, softmax, sums)"),
                       ("select", "selects (dropout, masks)"),
                       ("concatenate", "concatenations"), ("transpose", "transposes"),
                       ("copy", "copies")):
        if part in name:
            return "XLA " + kind
    return "XLA other elementwise" if "fusion" in name else f"XLA {name}"


# ---- workers (one configuration each, in a fresh process) ------------------------------------

def worker_tf(spec):
    import biobert_tf  # noqa: F401  (first: it picks the CPU kernels, as run_pretraining.py does)
    import keras
    import tensorflow as tf

    from biobert_tf.engine import distribute
    from biobert_tf.engine import training
    from biobert_tf.bert.modeling import BertEncoder, BertPretrainer
    from biobert_tf.engine.optimization import create_optimizer
    from biobert_tf.pretraining.objective import PretrainingObjective

    if "intra2" in spec["options"]:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    distribute.set_mixed_precision("bfloat16" if spec["precision"] == "bf16" else "none")
    keras.utils.set_random_seed(SEED)
    cfg = read_config(spec["config"])
    strategy = distribute.create_strategy("default")
    with strategy.scope():
        model = BertPretrainer(BertEncoder.from_bert_config(cfg))
        optimizer = create_optimizer(1e-4, 100_000, 1_000, aggregate_gradients=False,
                                     optimizer="lamb" if "lamb" in spec["options"] else "adamw")
    # "accumN": the batch run as N micro-batches (--gradient_accumulation_steps=N).
    accumulation = next((int(o[len("accum"):]) for o in spec["options"]
                         if o.startswith("accum")), 1)
    results = {"params": int(model.count_params()), "tf": tf.__version__,
               "keras": keras.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        for batch_size in spec["batch_sizes"]:
            trainer = training.Trainer(
                strategy, PretrainingObjective(model), optimizer,
                training.LoopConfig(tmp, num_train_steps=10**9, global_batch_size=batch_size,
                                    jit_compile="xla" in spec["options"],
                                    gradient_accumulation_steps=accumulation))
            data = synthetic_batches(4 * batch_size, spec["seq_length"], spec["predictions"],
                                     cfg.vocab_size, SEED + batch_size)

            def dataset_fn(context, data=data, batch_size=batch_size):
                ds = tf.data.Dataset.from_tensor_slices(data)
                ds = ds.batch(context.get_per_replica_batch_size(batch_size), drop_remainder=True)
                return ds.cache().repeat().prefetch(2)

            iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
            train_steps = trainer._train_steps
            one = tf.constant(1)

            def step(train_steps=train_steps, iterator=iterator, optimizer=optimizer):
                train_steps(iterator, one)
                optimizer.iterations.numpy()  # wait for the step

            timing = time_steps(step, spec["warmup"], spec["steps"])
            if "profile" in spec["options"]:
                timing["profile"] = profile_steps(step, spec["profile_steps"])
            sums = trainer._sums.read_and_reset()
            timing["loss"] = sums["loss/num"] / max(sums["loss/den"], 1e-12)
            results[str(batch_size)] = timing
    return results


def worker_hf(spec):
    import torch
    import torch.nn.functional as F
    import transformers

    torch.set_num_threads(spec["torch_threads"])
    torch.manual_seed(SEED)
    cfg = read_config(spec["config"])
    hf_values = cfg.to_hf_dict()
    hf_values.pop("architectures", None)
    hf_values.pop("model_type", None)
    hf_config = transformers.BertConfig(**hf_values)
    assert hf_config.hidden_act == "gelu_new", hf_config.hidden_act
    model = transformers.BertForPreTraining(hf_config).train()
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.999), eps=1e-6)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 1_000, 100_000)
    gather = spec["framework"] == "hf-gather"
    autocast = spec["precision"] == "bf16"
    H, V = cfg.hidden_size, cfg.vocab_size
    results = {"params": sum(p.numel() for p in model.parameters()),
               "torch": torch.__version__, "transformers": transformers.__version__,
               "torch_threads": torch.get_num_threads()}
    for batch_size in spec["batch_sizes"]:
        data = synthetic_batches(4 * batch_size, spec["seq_length"], spec["predictions"],
                                 cfg.vocab_size, SEED + batch_size)
        batches = []
        for b in range(4):
            part = {k: torch.from_numpy(v[b * batch_size:(b + 1) * batch_size]).long()
                    for k, v in data.items() if k != "masked_lm_weights"}
            labels = torch.full_like(part["input_ids"], -100)
            labels.scatter_(1, part["masked_lm_positions"], part["masked_lm_ids"])
            part["labels"] = labels
            batches.append(part)
        state = {"i": 0, "loss": 0.0}

        def loss_fn(batch):
            kwargs = dict(input_ids=batch["input_ids"], token_type_ids=batch["segment_ids"],
                          attention_mask=batch["input_mask"])
            if not gather:
                return model(**kwargs, labels=batch["labels"],
                             next_sentence_label=batch["next_sentence_labels"][:, 0]).loss
            sequence, pooled = model.bert(**kwargs)[:2]
            index = batch["masked_lm_positions"].unsqueeze(-1).expand(-1, -1, H)
            mlm_logits = model.cls.predictions(sequence.gather(1, index))
            nsp_logits = model.cls.seq_relationship(pooled)
            return (F.cross_entropy(mlm_logits.float().reshape(-1, V),
                                    batch["masked_lm_ids"].reshape(-1))
                    + F.cross_entropy(nsp_logits.float(), batch["next_sentence_labels"][:, 0]))

        def step():
            batch = batches[state["i"] % len(batches)]
            state["i"] += 1
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = loss_fn(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["loss"] = float(loss)

        timing = time_steps(step, spec["warmup"], spec["steps"])
        timing["loss"] = state["loss"]
        results[str(batch_size)] = timing
    return results


def sizes_that_fit(sizes, results, prefix, budget_s=5.0):
    """Yields 1024 then `sizes`, skipping sizes whose matmul would take over `budget_s` at the
    speed just measured (bfloat16 without hardware support can run at ~1 GFLOP/s)."""
    for n in [1024] + [n for n in sorted(sizes) if n != 1024]:
        measured = [v for k, v in results.items() if k.startswith(prefix + "_")]
        if measured and 2.0 * n ** 3 / (measured[-1] * 1e9) > budget_s:
            results[f"{prefix}_{n}_skipped"] = True
            continue
        yield n


def worker_peak(spec):
    import tensorflow as tf
    results = {"tf": tf.__version__}
    for dtype in ("float32", "bfloat16"):
        for n in sizes_that_fit(spec["peak_sizes"], results, f"tf_{dtype}"):
            a = tf.random.normal((n, n), dtype=tf.float32, seed=1)
            b = tf.random.normal((n, n), dtype=tf.float32, seed=2)
            a, b = tf.cast(a, dtype), tf.cast(b, dtype)

            def mm(a=a, b=b):
                c = tf.matmul(a, b)
                c[0, 0].numpy()

            t = time_steps(mm, 1, spec["peak_repeats"])
            results[f"tf_{dtype}_{n}"] = 2.0 * n ** 3 / t["s_per_step"] / 1e9
    if "torch" in spec["options"]:
        import torch
        torch.set_num_threads(spec["torch_threads"])
        for dtype in (torch.float32, torch.bfloat16):
            for n in sizes_that_fit(spec["peak_sizes"], results,
                                    f"torch_{str(dtype).split('.')[-1]}"):
                g = torch.Generator().manual_seed(1)
                a = torch.randn(n, n, generator=g).to(dtype)
                b = torch.randn(n, n, generator=g).to(dtype)
                t = time_steps(lambda a=a, b=b: torch.mm(a, b), 1, spec["peak_repeats"])
                results[f"torch_{str(dtype).split('.')[-1]}_{n}"] = \
                    2.0 * n ** 3 / t["s_per_step"] / 1e9
    return results


WORKERS = {"tf": worker_tf, "hf": worker_hf, "hf-gather": worker_hf, "peak": worker_peak}


# ---- driver ----------------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bert_config", default=str(DEFAULT_CONFIG))
    p.add_argument("--batch_sizes", default="8,32")
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--max_predictions_per_seq", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--torch_threads", type=int, default=2)
    p.add_argument("--peak_sizes", default="2048,4096")
    p.add_argument("--peak_repeats", type=int, default=5)
    p.add_argument("--profile_steps", type=int, default=2,
                   help="steps traced for the `profile` option")
    p.add_argument("--configs", default=DEFAULT_CONFIGS,
                   help="comma list of framework:precision[:option] (frameworks tf, hf, "
                        "hf-gather; precisions fp32, bf16; options xla, onednn0, onednn1, "
                        "intra2, bfc, lamb, accumN for N micro-batches, profile) and "
                        "peak[:onednn0|onednn1]")
    p.add_argument("--explore", action="store_true",
                   help=f"also run {EXPLORE_CONFIGS}")
    p.add_argument("--max_load", type=float, default=0.7,
                   help="wait until the 1-minute load average is below this before starting")
    p.add_argument("--max_wait_s", type=float, default=600)
    p.add_argument("--json_out", default=None, help="also write all results here")
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    return p.parse_args()


def wait_for_quiet(max_load: float, max_wait_s: float) -> float:
    start = time.time()
    while True:
        load = os.getloadavg()[0]
        if load < max_load:
            return load
        if time.time() - start > max_wait_s:
            print(f"load average still {load:.2f} after {max_wait_s:.0f} s: measuring anyway "
                  "(figures may be depressed by other jobs)", flush=True)
            return load
        print(f"load average {load:.2f} >= {max_load}; waiting 30 s", flush=True)
        time.sleep(30)


def run_worker(spec: dict) -> dict:
    env = dict(os.environ)
    for option in spec["options"]:
        if option.startswith("onednn"):
            env["TF_ENABLE_ONEDNN_OPTS"] = option[-1]
        elif option == "bfc":  # TF's caching BFC allocator instead of malloc for CPU tensors
            env["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
        elif option == "profile":  # XLA's per-operation events in the profiler's trace
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                                " --xla_cpu_enable_xprof_traceme=true").strip()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    loads, start = [], time.time()
    proc = subprocess.Popen([sys.executable, __file__, "--_worker", json.dumps(spec)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        loads.append(os.getloadavg()[0])
        time.sleep(2)
    out, err = proc.communicate()
    wall = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        print(f"worker {spec['name']} failed (exit {proc.returncode}):\n{err[-3000:]}",
              file=sys.stderr, flush=True)
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"}
    result = json.loads(lines[-1][len("RESULT "):])
    result["process_wall_s"] = wall
    result["process_cores"] = ((after.ru_utime - before.ru_utime)
                               + (after.ru_stime - before.ru_stime)) / wall
    result["load_1min_max"] = max(loads) if loads else None
    result["load_1min_mean"] = statistics.mean(loads) if loads else None
    return result


def print_profile(title: str, profile: dict) -> None:
    """Where a profiled step's time went: each kind's seconds and share of the step. Kinds
    may overlap in time (two threads), so the shares need not add up to 100 %."""
    step = profile.get("step")
    print(f"\nprofile of {title} (seconds per step, share of the step's "
          f"{step or float('nan'):.3f} s):")
    kinds = [(kind, seconds) for kind, seconds in profile.items() if kind != "step"]
    # The 20 largest (an uncompiled step has dozens of op types), then the rest together.
    rest = sum(seconds for _, seconds in kinds[20:])
    for kind, seconds in kinds[:20] + ([("the other kinds", rest)] if kinds[20:] else []):
        share = f"{seconds / step:6.1%}" if step else ""
        print(f"  {kind:42s} {seconds:7.3f} {share}")


def main():
    args = parse_args()
    if args._worker:
        spec = json.loads(args._worker)
        print("RESULT " + json.dumps(WORKERS[spec["framework"]](spec)), flush=True)
        return

    cfg = read_config(args.bert_config)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    names = [c for c in args.configs.split(",") if c]
    if args.explore:
        names += [c for c in EXPLORE_CONFIGS.split(",") if c not in names]
    flops = train_flops_per_example(cfg, args.seq_length, args.max_predictions_per_seq)
    params = parameter_count(cfg)

    print(f"machine: {os.cpu_count()} CPU cores; "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(unset)')}")
    print(f"model: {args.bert_config} — {params['total'] / 1e6:.1f} M parameters "
          f"({params['non_embedding'] / 1e6:.1f} M non-embedding), seq {args.seq_length}, "
          f"{args.max_predictions_per_seq} masked positions, batches {batch_sizes}")
    print(f"training FLOPs/example = 6*(L*(4H^2+2HI)*S + (H^2+HV)*P + H^2+2H) + 12*L*S^2*H "
          f"= {flops / 1e9:.2f} GFLOP (6*non-embedding params*S alone: "
          f"{6 * params['non_embedding'] * args.seq_length / 1e9:.2f} GFLOP)")
    load = wait_for_quiet(args.max_load, args.max_wait_s)
    print(f"1-min load average at start: {load:.2f}", flush=True)

    results = {}
    total_start = time.time()
    for name in names:
        parts = name.split(":")
        framework = parts[0]
        precision = parts[1] if framework != "peak" and len(parts) > 1 else "fp32"
        options = parts[1:] if framework == "peak" else parts[2:]
        if framework == "peak":
            options = options + ["torch"] if not options else options
        spec = {"name": name, "framework": framework, "precision": precision, "options": options,
                "config": args.bert_config, "batch_sizes": batch_sizes,
                "seq_length": args.seq_length, "predictions": args.max_predictions_per_seq,
                "warmup": args.warmup, "steps": args.steps, "torch_threads": args.torch_threads,
                "peak_sizes": [int(n) for n in args.peak_sizes.split(",")],
                "peak_repeats": args.peak_repeats, "profile_steps": args.profile_steps}
        print(f"running {name} ...", flush=True)
        results[name] = run_worker(spec)
        r = results[name]
        if "error" not in r:
            summary = {k: (round(v["s_per_step"], 3) if isinstance(v, dict) else
                           round(v, 1) if isinstance(v, float) else v)
                       for k, v in r.items() if k not in ("process_wall_s",)}
            print(f"  {summary}", flush=True)

    # ---- peak ----
    peak_rows = {k: v for k, v in results.items() if k.startswith("peak") and "error" not in v}

    def best_peak(prefix: str) -> float | None:
        """The best median GFLOP/s of the peak rows' keys starting with `prefix`."""
        return max([v for r in peak_rows.values() for key, v in r.items()
                    if key.startswith(prefix) and not key.endswith("_skipped")] or [0.0]) or None

    # MFU against TF's peak of the row's precision; MFU* against any library's.
    peaks = {}
    for precision, dtype in (("fp32", "float32"), ("bf16", "bfloat16")):
        tf_peak = best_peak(f"tf_{dtype}_")
        peaks[precision] = (tf_peak, max(filter(None, (tf_peak, best_peak(f"torch_{dtype}_"))),
                                         default=None))
    print("\nmatmul peak (median GFLOP/s, square n x n):")
    for k, r in peak_rows.items():
        for key in sorted(x for x in r if x.startswith(("tf_", "torch_"))):
            value = "skipped (too slow)" if key.endswith("_skipped") else f"{r[key]:8.1f}"
            print(f"  {k:14s} {key.replace('_skipped', ''):22s} {value}")
    for precision, (tf_peak, best) in peaks.items():
        if tf_peak:
            print(f"  {precision} tf.matmul peak used for MFU: {tf_peak:.1f} GFLOP/s; best "
                  f"{precision} matmul of any library (MFU*): {best:.1f} GFLOP/s")

    # ---- table ----
    header = (f"\n{'framework':22s} {'precision':9s} {'batch':>5s} {'s/step':>8s} "
              f"{'examples/s':>10s} {'GFLOP/s':>8s} {'MFU':>6s} {'MFU*':>6s} {'vs HF fp32':>10s} "
              f"{'cores':>5s} {'sys':>4s} {'load':>5s} {'loss':>6s}")
    print(header)
    print("-" * (len(header) - 1))
    hf_ref = results.get("hf:fp32", {})
    for name, r in results.items():
        if name.startswith("peak"):
            continue
        parts = name.split(":")
        label = {"tf": "ours (Keras/TF)", "hf": "HF (PyTorch)",
                 "hf-gather": "HF gather (PyTorch)"}[parts[0]]
        if len(parts) > 2:
            label += " " + "+".join(parts[2:])
        if "error" in r:
            print(f"{label:22s} {parts[1]:9s} failed: {r['error'][:80]}")
            continue
        for batch_size in batch_sizes:
            t = r[str(batch_size)]
            eps = batch_size / t["s_per_step"]
            gflops = eps * flops / 1e9
            tf_peak, best = peaks.get(parts[1], (None, None))
            mfu = f"{gflops / tf_peak:6.1%} {gflops / best:6.1%}" if tf_peak else "   n/a    n/a"
            ref = hf_ref.get(str(batch_size))
            ratio = f"{ref['s_per_step'] / t['s_per_step']:9.2f}x" if ref else "       n/a"
            print(f"{label:22s} {parts[1]:9s} {batch_size:5d} {t['s_per_step']:8.3f} "
                  f"{eps:10.2f} {gflops:8.1f} {mfu} {ratio} {t['cores']:5.2f} "
                  f"{t.get('sys_share', float('nan')):4.0%} "
                  f"{r['load_1min_mean']:5.2f} {t['loss']:6.2f}")
    for name, r in results.items():
        for batch_size in batch_sizes:
            profile = r.get(str(batch_size), {}).get("profile")
            if profile:
                print_profile(f"{name}, batch {batch_size}", profile)
    print(f"\n(s/step: median of {args.steps} timed steps after {args.warmup} warm-up; load: "
          "mean 1-min load average during the worker, ~2 = our own two threads; "
          f"total {time.time() - total_start:.0f} s)")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"args": vars(args), "flops_per_example": flops, "params": params,
                       "fp32_peak_gflops": peaks["fp32"][0],
                       "bf16_peak_gflops": peaks["bf16"][0], "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
