"""Why bfloat16 + XLA is slower than bfloat16 alone on CPUs: what XLA makes of a bfloat16 layer.

Compiles one BERT feed-forward step (a dense layer and Google's tanh GELU) in bfloat16 with
`jit_compile=True`, has XLA dump its optimized HLO, and prints the dtype of every matrix product
and how many conversions between bfloat16 and float32 it inserted. Then it times the same
function in float32 and bfloat16, with and without XLA (median of 20 calls).

On TensorFlow's CPU build, XLA rewrites a bfloat16 `dot` into a float32 one (its inputs
converted up), and rounds every elementwise result to bfloat16 and back to keep bfloat16's
rounding: the matrix product costs what float32 costs, plus the conversions. TensorFlow's own
kernels (oneDNN, without XLA) multiply bfloat16 natively where the CPU has AVX512-BF16 or AMX,
hence the issue's 2.15 s/step for bfloat16 against 3.07 s for bfloat16 + XLA.

    python bench/xla_bf16_hlo.py [--xla_flags=--xla_cpu_use_onednn=true]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import collections  # noqa: E402
import pathlib  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROWS, HIDDEN, INTERMEDIATE = 1024, 768, 3072  # batch 8 × seq 128 through BERT-base's FFN


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--xla_flags", default="", help="extra XLA_FLAGS, e.g. a CPU backend option")
    args = p.parse_args()
    dump = tempfile.mkdtemp(prefix="xla_bf16_")
    # XLA reads its flags once, when TensorFlow loads it.
    os.environ["XLA_FLAGS"] = f"--xla_dump_to={dump} --xla_dump_hlo_as_text {args.xla_flags}"
    import tensorflow as tf

    def layer(x, w):
        return tf.nn.gelu(tf.matmul(x, w), approximate=True)

    functions = {(dtype, xla): tf.function(layer, jit_compile=xla, autograph=False)
                 for dtype in (tf.float32, tf.bfloat16) for xla in (False, True)}
    inputs = {dtype: (tf.random.normal([ROWS, HIDDEN], dtype=dtype),
                      tf.random.normal([HIDDEN, INTERMEDIATE], dtype=dtype))
              for dtype in (tf.float32, tf.bfloat16)}
    functions[tf.bfloat16, True](*inputs[tf.bfloat16])  # compiles, and dumps the bfloat16 HLO
    [hlo] = pathlib.Path(dump).glob("*cpu_after_optimizations.txt")
    text = hlo.read_text()
    dots = re.findall(r"= (\w+)\[[\d,]*\]\{[\d,]*\} dot\(", text)
    converts = collections.Counter(re.findall(r"= (\w+)\[[\d,]*\]\{[\d,]*\} convert\(", text))
    print(f"bfloat16 layer under XLA ({hlo.name[:60]}…):")
    print(f"  matrix products computed in: {', '.join(dots) or 'none (a library call)'}")
    print(f"  conversions inserted: {converts['f32']} to float32, {converts['bf16']} to bfloat16")

    print("\n| dtype | XLA | ms per call (median of 20) |\n|---|---|---|")
    for (dtype, xla), function in functions.items():
        x, w = inputs[dtype]
        function(x, w)  # trace and compile outside the timing
        times = []
        for _ in range(20):
            start = time.perf_counter()
            function(x, w).numpy()
            times.append(time.perf_counter() - start)
        print(f"| {dtype.name} | {'yes' if xla else 'no'} | {1e3 * statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
