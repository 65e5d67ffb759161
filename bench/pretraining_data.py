"""Throughput and memory of pretraining-data creation: ours against Google's algorithm.

The corpus (default ../shared/data/corpus/bioasq_abstracts.txt, one abstract per line) is
converted once into Google's text format (one sentence per line, a blank line between
documents) by our `corpus.read_documents(..., "lines")` sentence splitter, so every tool gets
the same documents and sentences, then repeated to the sizes measured. Each tool runs as its
own subprocess with the same vocab (the shipped cased demo vocab, `--do_lower_case=false`)
and Google's flags (max_seq_length 128, max_predictions_per_seq 20, masked_lm_prob 0.15,
short_seq_prob 0.1, dupe_factor 10):

1. the comparison, on the first size (≥ 10 MB): (a) our tool
   `tfrecords_tools.create_pretraining_data --input_format=text`, once per `--workers` value
   (its `--num_workers`: 1 = one process, N = N worker processes), (b) our Beam pipeline on the
   DirectRunner with 2 worker processes, (c) `bench/google_create_pretraining_data.py`, Google's
   `create_pretraining_data.py` algorithm in pure Python;
2. scaling of our tool (with the first `--workers` value) over `--sizes_mb`, with
   `--dupe_factor=1` (so the output stays about the size of the input and a 1 GB input takes
   minutes, not hours).

"seconds" is the wall time of the subprocess, interpreter start and imports included;
instances are counted in the TFRecord files written. "marginal inst/s" is the rate once
started, without interpreter start, imports, worker start-up, the tokenizer's trace and the
exit: for our tool, the instances written between its first and last chunks over the time
between them, read from its run record (`OUTPUT.run.json`, rewritten after each chunk, polled
every 0.1 s) as it runs; for the others, with `--marginal`, (instances of the whole − of the
half) / (seconds of the whole − of the half), the tool being run again on the first half of the
input's copies (start-up and exit cancel out).
Memory: "RSS max proc" is the largest resident set of any one process (`/usr/bin/time -v`: the
tool, or the largest of the launcher and the worker processes it reaped); "RSS tree" is the
peak of the sum over the process and all its descendants, sampled every 0.1 s (what the
workers hold together; shared pages count once per process). Outputs go under `--workdir` and
are deleted after each run.

Our tools run with `--documents_per_chunk=1000` (the bench's `--documents_per_chunk`), not the
tool's default 2000, so that the 10 MB input gives two workers several chunks each.
"""

import argparse
import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import time

import psutil

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tfrecords_tools.corpus import read_documents  # noqa: E402  (no TensorFlow import)

VOCAB = REPO / "biobert_tf/resources/demo_vocab.txt"
FLAGS = ["--max_seq_length=128", "--max_predictions_per_seq=20", "--masked_lm_prob=0.15",
         "--short_seq_prob=0.1", "--random_seed=12345", f"--vocab_file={VOCAB}",
         "--do_lower_case=false"]


def google_format(corpus: pathlib.Path, out: pathlib.Path) -> tuple[int, int]:
    """Writes `corpus` (one document per line) in Google's text format; (documents, sentences)."""
    documents = sentences = 0
    with open(out, "w", encoding="utf-8") as f:
        for doc in read_documents(str(corpus), "lines"):
            f.write("\n".join(doc.sentences) + "\n\n")
            documents, sentences = documents + 1, sentences + len(doc.sentences)
    return documents, sentences


def copies_for(base: pathlib.Path, megabytes: float) -> int:
    """The whole copies of `base` that hold at least `megabytes` MB."""
    return max(1, -(-int(megabytes * 1e6) // base.stat().st_size))


def repeat(base: pathlib.Path, copies: int, out: pathlib.Path) -> None:
    """Writes `copies` copies of `base` to `out`."""
    data = base.read_bytes()
    with open(out, "wb") as f:
        for _ in range(copies):
            f.write(data)


def count_records(paths) -> int:
    """Records in TFRecord files (8-byte length, 4-byte CRC, data, 4-byte CRC), no TensorFlow."""
    count = 0
    for path in paths:
        with open(path, "rb") as f:
            while header := f.read(12):
                f.seek(struct.unpack("<Q", header[:8])[0] + 4, os.SEEK_CUR)
                count += 1
    return count


def recorded_instances(record: pathlib.Path) -> int:
    """The instances our tool's run record counts so far (0 before its first chunk is done)."""
    try:
        return json.loads(record.read_text())["summary"]["instances"]
    except (FileNotFoundError, ValueError):
        return 0


def measure(command: list[str], log: pathlib.Path, record: pathlib.Path | None = None) -> dict:
    """Runs `command` under /usr/bin/time -v; wall seconds, the two peak RSS figures (MB) and,
    given our tool's run `record`, when its first and last chunks were recorded (seconds,
    instances)."""
    timing = log.with_suffix(".time")
    chunks = []  # (seconds, instances) whenever the record's count grows
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = psutil.Popen(["/usr/bin/time", "-v", "-o", str(timing), *command],
                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        tree_peak = 0
        while proc.poll() is None:
            rss = 0
            try:
                for p in proc.children(recursive=True):
                    rss += p.memory_info().rss
            except psutil.Error:  # a process ended while we looked
                pass
            tree_peak = max(tree_peak, rss)
            if record and (instances := recorded_instances(record)) > (chunks[-1][1] if chunks else 0):
                chunks.append((time.perf_counter() - start, instances))
            time.sleep(0.1)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(command)}\n{log.read_text()[-3000:]}")
    max_kb = next(int(line.split(":")[1]) for line in timing.read_text().splitlines()
                  if "Maximum resident set size" in line)
    return {"seconds": seconds, "rss_proc": max_kb / 1024, "rss_tree": tree_peak / 2**20,
            "chunks": chunks[:1] + chunks[-1:]}


def run_tool(tool: str, corpus: pathlib.Path, workdir: pathlib.Path, dupe_factor: int,
             documents_per_chunk: int, workers: int = 1) -> dict:
    """Runs one tool on `corpus` (ours with `workers` processes); the measurements, instances
    written and output MB."""
    out = workdir / f"out_{tool}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    flags = [f"--input_file={corpus}", f"--dupe_factor={dupe_factor}", *FLAGS]
    ours = ["--input_format=text", f"--documents_per_chunk={documents_per_chunk}"]
    if tool == "ours":
        command = [sys.executable, "-m", "tfrecords_tools.create_pretraining_data", *flags, *ours,
                   f"--num_workers={workers}", "--noprogress", f"--output_file={out}/out.tfrecord"]
    elif tool == "beam":
        command = [sys.executable, "-m", "tfrecords_tools.beam_pipeline", *flags, *ours,
                   f"--output_prefix={out}/out", "--", "--runner=DirectRunner",
                   "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    else:
        command = [sys.executable, str(REPO / "bench/google_create_pretraining_data.py"), *flags,
                   f"--output_file={out}/out.tfrecord"]
    result = measure(command, workdir / f"{tool}{workers}_{corpus.stem}_dupe{dupe_factor}.log",
                     out / "out.tfrecord.run.json" if tool == "ours" else None)
    result["instances"] = count_records(sorted(out.glob("*.tfrecord")))
    if len(result["chunks"]) == 2:  # from the first chunk recorded to the last
        (start, first), (end, last) = result["chunks"]
        result["marginal"] = (last - first) / (end - start)
    result["output_mb"] = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    shutil.rmtree(out)
    return result


def marginal_rate(whole: dict, half: dict) -> float:
    """Instances per second once started: the whole run's extra instances over its extra time."""
    return (whole["instances"] - half["instances"]) / (whole["seconds"] - half["seconds"])


def print_table(rows, baseline=None):
    print(f"{'tool':34s} {'input MB':>8s} {'docs':>8s} {'instances':>10s} {'seconds':>8s} "
          f"{'inst/s':>8s} {'marginal inst/s':>15s} {'MB/s':>6s} {'RSS max proc MB':>15s} "
          f"{'RSS tree MB':>11s} {'vs Google':>9s}")
    for name, mb, docs, r in rows:
        ratio = f"{r['instances'] / r['seconds'] / baseline:8.1f}x" if baseline else "-"
        marginal = f"{r['marginal']:15.0f}" if "marginal" in r else f"{'-':>15s}"
        print(f"{name:34s} {mb:8.1f} {docs:8d} {r['instances']:10d} {r['seconds']:8.1f} "
              f"{r['instances'] / r['seconds']:8.0f} {marginal} {mb / r['seconds']:6.2f} "
              f"{r['rss_proc']:15.0f} {r['rss_tree']:11.0f} {ratio:>9s}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(REPO.parent / "shared/data/corpus/bioasq_abstracts.txt"))
    parser.add_argument("--sizes_mb", default="10,100,1000",
                        help="input sizes; the first one is also the comparison's")
    parser.add_argument("--workdir", default="/tmp/bench_pt")
    parser.add_argument("--skip_google", action="store_true")
    parser.add_argument("--skip_beam", action="store_true")
    parser.add_argument("--documents_per_chunk", type=int, default=1000,
                        help="for ours and Beam, in every run: a 10 MB input is then 7 chunks for "
                             "Beam's or our 2 workers (with the tool's default, 2000, it is 4)")
    parser.add_argument("--workers", default="1,2",
                        help="our tool's --num_workers, one comparison row each; the first is "
                             "also the scaling runs'")
    parser.add_argument("--marginal", action="store_true",
                        help="also run Google's and Beam on half the input, for their rate once "
                             "started (marginal inst/s; ours has it from its run record)")
    parser.add_argument("--json_out", default=None,
                        help="also write the comparison and scaling rows here")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    sizes = [float(s) for s in args.sizes_mb.split(",")]
    workdir = pathlib.Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    base = workdir / "google_format.txt"
    base_docs, base_sentences = google_format(pathlib.Path(args.corpus), base)
    print(f"{args.corpus} in Google's format: {base_docs} documents, {base_sentences} sentences, "
          f"{base.stat().st_size / 1e6:.2f} MB; {os.cpu_count()} CPUs")

    corpus = workdir / f"corpus_{sizes[0]:g}mb.txt"
    half = corpus.with_name(f"corpus_{sizes[0]:g}mb_half.txt")
    copies = copies_for(base, sizes[0])
    repeat(base, copies, corpus)
    repeat(base, copies // 2, half)
    mb, docs = corpus.stat().st_size / 1e6, copies * base_docs
    tools = [("ours", f"(a) ours, {n} worker{'s' if n > 1 else ''}", n) for n in workers]
    tools += [] if args.skip_beam else [("beam", "(b) ours, Beam Direct 2 workers", 1)]
    tools += [] if args.skip_google else [("google", "(c) Google algorithm, pure Python", 1)]
    rows = []
    for tool, name, n in tools:
        print(f"running {name} on {mb:.1f} MB, dupe_factor 10 ...", flush=True)
        result = run_tool(tool, corpus, workdir, 10, args.documents_per_chunk, n)
        if args.marginal and tool != "ours":
            result["marginal"] = marginal_rate(
                result, run_tool(tool, half, workdir, 10, args.documents_per_chunk, n))
        rows.append((name, mb, docs, result))
    half.unlink()
    google = [r for name, _, _, r in rows if name.startswith("(c)")]
    print(f"\n== {mb:.1f} MB, dupe_factor 10, documents_per_chunk {args.documents_per_chunk} "
          "(ours and Beam) ==")
    print_table(rows, google[0]["instances"] / google[0]["seconds"] if google else None)

    scaling = []
    for size in sizes:
        path = workdir / f"corpus_{size:g}mb.txt"
        copies = copies_for(base, size)
        repeat(base, copies, path)
        mb = path.stat().st_size / 1e6
        print(f"running ours on {mb:.1f} MB, dupe_factor 1 ...", flush=True)
        result = run_tool("ours", path, workdir, 1, args.documents_per_chunk, workers[0])
        scaling.append((f"ours, {size:g} MB, dupe_factor 1", mb, copies * base_docs, result))
        print(f"  {result['seconds']:.1f} s, output {result['output_mb']:.0f} MB", flush=True)
        path.unlink()
    print(f"\n== scaling of our tool, {workers[0]} worker(s), dupe_factor 1 ==")
    print_table(scaling)
    corpus.unlink(missing_ok=True)
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(
            {part: [{"tool": name, "mb": mb, "docs": docs, **result}
                    for name, mb, docs, result in table]
             for part, table in (("comparison", rows), ("scaling", scaling))}, indent=1))


if __name__ == "__main__":
    main()
