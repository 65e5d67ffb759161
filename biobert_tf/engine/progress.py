"""Progress of long jobs (training, evaluation, prediction): a bar on a terminal, else log lines.

On a terminal (stderr is a tty) a tqdm bar shows the rate and the ETA. In a log file (a batch
job, a pod, `nohup`) a bar would be one endless line of carriage returns, so a line such as
`training: 450/1000 steps (45%)  3.21 steps/s  ETA 02:51` is logged every LOG_EVERY_SECONDS
instead, and a last one when the job ends.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable

import tqdm
from absl import logging

LOG_EVERY_SECONDS = 30.0  # between two progress lines in a log


class Progress:
    """Counts the units (`"steps"`, `"docs"`...) a job has done out of `total` (None if unknown).

    Use it as a context manager and call `update(n)` after every n units. A disabled reporter
    (a worker that is not the chief, or progress turned off) shows nothing, but still passes
    `log` messages through.
    """

    def __init__(self, description: str, total: int | None, unit: str, initial: int = 0,
                 enabled: bool = True, terminal: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.description, self.total, self.unit = description, total, unit
        self.done = self._initial = initial
        self._enabled, self._clock = enabled, clock
        self._start = clock()
        self._next_line = self._start + LOG_EVERY_SECONDS
        on_terminal = sys.stderr.isatty() if terminal is None else terminal
        self._bar = (tqdm.tqdm(desc=description, total=total, initial=initial, unit=unit,
                               dynamic_ncols=True)
                     if enabled and on_terminal else None)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self._enabled and exc_type is None:
            logging.info("%s", self._final_line())

    def update(self, count: int) -> None:
        """`count` more units are done."""
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif self._enabled and self._clock() >= self._next_line:
            logging.info("%s", self._line())
            self._next_line = self._clock() + LOG_EVERY_SECONDS

    def log(self, message: str, *args) -> None:
        """`logging.info` above the bar rather than through it."""
        with (self._bar.external_write_mode() if self._bar is not None
              else contextlib.nullcontext()):
            logging.info(message, *args, stacklevel=2)  # the line names the caller's file:line

    def _rate(self) -> float:
        """Units per second since this reporter started (units done before it excluded)."""
        return (self.done - self._initial) / max(self._clock() - self._start, 1e-9)

    def _rate_text(self, rate: float) -> str:
        # Three digits for slow jobs (0.0526 steps/s), no exponent for fast ones (2140 docs/s).
        return f"{rate:.3g} {self.unit}/s" if rate < 100 else f"{rate:.0f} {self.unit}/s"

    def _count(self) -> str:
        if self.total is None:
            return f"{self.done} {self.unit}"
        return f"{self.done}/{self.total} {self.unit} ({100 * self.done / max(self.total, 1):.0f}%)"

    def _line(self) -> str:
        rate = self._rate()
        line = f"{self.description}: {self._count()}  {self._rate_text(rate)}"
        if self.total is not None and rate > 0:
            line += f"  ETA {tqdm.tqdm.format_interval((self.total - self.done) / rate)}"
        return line

    def _final_line(self) -> str:
        elapsed = tqdm.tqdm.format_interval(self._clock() - self._start)
        return f"{self.description}: {self._count()} in {elapsed}  {self._rate_text(self._rate())}"
