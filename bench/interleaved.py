"""Side-by-side timing in rounds, shared by the speed benchmarks that compare ours with
HuggingFace (`finetune_speed.py`, `serving_speed.py`, `serving_speed_re_qa.py`).

Each arm is a worker process that loads and warms up, says it is ready, then waits. The parent
runs rounds; in each, every arm in turn does the same amount of work while the others sleep, so
every arm sees the same machine state and a drift in load hits all of them alike. An arm's
figure is the median over rounds of work per second.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def serve(run: Callable[[str], object], info: dict) -> None:
    """In a worker: says it is ready (with `info`), then times `run(request)` for every request
    line on stdin and answers with the seconds; stops at end of input."""
    print(json.dumps({"ready": True, **info}), flush=True)
    for line in sys.stdin:
        start = time.perf_counter()
        run(line.strip())
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


def run_rounds(commands: dict[str, list[str]], rounds: int, request: str, work: float) -> dict:
    """Starts a worker per arm (one after the other, so that warm-ups do not overlap), then
    runs `rounds` rounds of `request` through every arm. Returns {"rates": {arm: [work per
    second of each round]}, "medians": {arm: median}, "loads": [1-min load after each round],
    "info": {arm: what its worker said when ready}}."""
    workers, info = {}, {}
    for arm, command in commands.items():
        worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env={**os.environ, "PYTHONPATH": REPO})
        ready = json.loads(worker.stdout.readline() or "{}")
        if not ready.get("ready"):
            raise SystemExit(f"{arm}: the worker failed to start (see its stderr above)")
        print(f"{arm} ready: {ready}", file=sys.stderr, flush=True)
        workers[arm], info[arm] = worker, ready
    rates = {arm: [] for arm in commands}
    loads = []
    for round_index in range(rounds):
        for arm, worker in workers.items():
            worker.stdin.write(request + "\n")
            worker.stdin.flush()
            rates[arm].append(work / json.loads(worker.stdout.readline())["seconds"])
        loads.append(os.getloadavg()[0])
        print(f"round {round_index + 1}: " + ", ".join(f"{a} {r[-1]:.2f}" for a, r in
                                                       rates.items()), file=sys.stderr, flush=True)
    for worker in workers.values():
        worker.stdin.close()
        worker.wait()
    return {"rates": rates, "medians": {arm: statistics.median(r) for arm, r in rates.items()},
            "loads": loads, "info": info}


def cpu_summary() -> str:
    """The CPU model, core count and the matmul-relevant flags it has."""
    from biobert_tf.engine import distribute
    flags = distribute.cpu_flags()
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "unknown CPU")
    return (f"{model}, {os.cpu_count()} cores, flags: " + " ".join(f for f in wanted if f in flags)
            + " (of " + " ".join(wanted) + ")")
