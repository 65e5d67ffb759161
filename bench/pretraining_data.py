"""Throughput and memory of pretraining-data creation: ours against Google's algorithm.

The corpus (default ../shared/data/corpus/bioasq_abstracts.txt, one abstract per line) is
converted once into Google's text format (one sentence per line, a blank line between
documents) by our `corpus.read_documents(..., "lines")` sentence splitter, so every tool gets
the same documents and sentences, then repeated to the sizes measured. Each tool runs as its
own subprocess with the same vocab (the shipped cased demo vocab, `--do_lower_case=false`)
and Google's flags (max_seq_length 128, max_predictions_per_seq 20, masked_lm_prob 0.15,
short_seq_prob 0.1, dupe_factor 10):

1. the comparison, on the first size (≥ 10 MB): (a) our single-process tool
   `tfrecords_tools.create_pretraining_data --input_format=text`, (b) our Beam pipeline on the
   DirectRunner with 2 worker processes, (c) `bench/google_create_pretraining_data.py`, Google's
   `create_pretraining_data.py` algorithm in pure Python;
2. scaling of our single-process tool over `--sizes_mb`, with `--dupe_factor=1` (so the output
   stays about the size of the input and a 1 GB input takes minutes, not hours).

"seconds" is the wall time of the subprocess, interpreter start and imports included;
instances are counted in the TFRecord files written. Memory: "RSS max proc" is the largest
resident set of any one process (`/usr/bin/time -v`: the tool, or for Beam the largest of
the launcher and the workers it reaped); "RSS tree" is the peak of the sum over the process
and all its descendants, sampled every 0.1 s (what Beam's workers hold together; shared pages
count once per process). Outputs go under `--workdir` and are deleted after each run.

Our tools run with `--documents_per_chunk=1000` (the bench's `--documents_per_chunk`), not the
tool's default 20000, so that the 10 MB input gives Beam's two workers several chunks.
"""

import argparse
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


def repeat(base: pathlib.Path, megabytes: float, out: pathlib.Path) -> int:
    """Whole copies of `base` until `out` holds at least `megabytes` MB; returns the copies."""
    data = base.read_bytes()
    copies = max(1, -(-int(megabytes * 1e6) // len(data)))
    with open(out, "wb") as f:
        for _ in range(copies):
            f.write(data)
    return copies


def count_records(paths) -> int:
    """Records in TFRecord files (8-byte length, 4-byte CRC, data, 4-byte CRC), no TensorFlow."""
    count = 0
    for path in paths:
        with open(path, "rb") as f:
            while header := f.read(12):
                f.seek(struct.unpack("<Q", header[:8])[0] + 4, os.SEEK_CUR)
                count += 1
    return count


def measure(command: list[str], log: pathlib.Path) -> dict:
    """Runs `command` under /usr/bin/time -v; wall seconds and the two peak RSS figures (MB)."""
    timing = log.with_suffix(".time")
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
            time.sleep(0.1)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(command)}\n{log.read_text()[-3000:]}")
    max_kb = next(int(line.split(":")[1]) for line in timing.read_text().splitlines()
                  if "Maximum resident set size" in line)
    return {"seconds": seconds, "rss_proc": max_kb / 1024, "rss_tree": tree_peak / 2**20}


def run_tool(tool: str, corpus: pathlib.Path, workdir: pathlib.Path, dupe_factor: int,
             documents_per_chunk: int) -> dict:
    """Runs one tool on `corpus`; the measurements, instances written and output MB."""
    out = workdir / f"out_{tool}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    flags = [f"--input_file={corpus}", f"--dupe_factor={dupe_factor}", *FLAGS]
    ours = ["--input_format=text", f"--documents_per_chunk={documents_per_chunk}"]
    if tool == "ours":
        command = [sys.executable, "-m", "tfrecords_tools.create_pretraining_data", *flags, *ours,
                   "--noprogress", f"--output_file={out}/out.tfrecord"]
    elif tool == "beam":
        command = [sys.executable, "-m", "tfrecords_tools.beam_pipeline", *flags, *ours,
                   f"--output_prefix={out}/out", "--", "--runner=DirectRunner",
                   "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    else:
        command = [sys.executable, str(REPO / "bench/google_create_pretraining_data.py"), *flags,
                   f"--output_file={out}/out.tfrecord"]
    result = measure(command, workdir / f"{tool}_{corpus.stem}_dupe{dupe_factor}.log")
    result["instances"] = count_records(sorted(out.glob("*.tfrecord")))
    result["output_mb"] = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    shutil.rmtree(out)
    return result


def print_table(rows, baseline=None):
    print(f"{'tool':34s} {'input MB':>8s} {'docs':>8s} {'instances':>10s} {'seconds':>8s} "
          f"{'inst/s':>8s} {'MB/s':>6s} {'RSS max proc MB':>15s} {'RSS tree MB':>11s} "
          f"{'vs Google':>9s}")
    for name, mb, docs, r in rows:
        ratio = f"{r['instances'] / r['seconds'] / baseline:8.1f}x" if baseline else "-"
        print(f"{name:34s} {mb:8.1f} {docs:8d} {r['instances']:10d} {r['seconds']:8.1f} "
              f"{r['instances'] / r['seconds']:8.0f} {mb / r['seconds']:6.2f} "
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
                             "Beam's 2 workers (with the tool's default, 20000, it is one chunk, "
                             "so one busy worker)")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes_mb.split(",")]
    workdir = pathlib.Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    base = workdir / "google_format.txt"
    base_docs, base_sentences = google_format(pathlib.Path(args.corpus), base)
    print(f"{args.corpus} in Google's format: {base_docs} documents, {base_sentences} sentences, "
          f"{base.stat().st_size / 1e6:.2f} MB; {os.cpu_count()} CPUs")

    corpus = workdir / f"corpus_{sizes[0]:g}mb.txt"
    copies = repeat(base, sizes[0], corpus)
    mb, docs = corpus.stat().st_size / 1e6, copies * base_docs
    tools = [("ours", "(a) ours, single process")]
    tools += [] if args.skip_beam else [("beam", "(b) ours, Beam Direct 2 workers")]
    tools += [] if args.skip_google else [("google", "(c) Google algorithm, pure Python")]
    rows = []
    for tool, name in tools:
        print(f"running {name} on {mb:.1f} MB, dupe_factor 10 ...", flush=True)
        rows.append((name, mb, docs, run_tool(tool, corpus, workdir, 10, args.documents_per_chunk)))
    google = [r for name, _, _, r in rows if name.startswith("(c)")]
    print(f"\n== {mb:.1f} MB, dupe_factor 10, documents_per_chunk {args.documents_per_chunk} "
          "(ours and Beam) ==")
    print_table(rows, google[0]["instances"] / google[0]["seconds"] if google else None)

    scaling = []
    for size in sizes:
        path = workdir / f"corpus_{size:g}mb.txt"
        copies = repeat(base, size, path)
        mb = path.stat().st_size / 1e6
        print(f"running ours on {mb:.1f} MB, dupe_factor 1 ...", flush=True)
        result = run_tool("ours", path, workdir, 1, args.documents_per_chunk)
        scaling.append((f"ours, {size:g} MB, dupe_factor 1", mb, copies * base_docs, result))
        print(f"  {result['seconds']:.1f} s, output {result['output_mb']:.0f} MB", flush=True)
        path.unlink()
    print("\n== scaling of our single-process tool, dupe_factor 1 ==")
    print_table(scaling)
    corpus.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
