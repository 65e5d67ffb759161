"""The progress reporter: log lines at a steady cadence off a terminal, a tqdm bar on one."""

import logging

import pytest
from absl import logging as absl_logging

from biobert_tf.engine import progress
from biobert_tf.engine.progress import Progress


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lines(caplog):
    """The absl INFO lines logged so far (a function: call it to read them)."""
    absl_logging.set_verbosity(absl_logging.INFO)
    caplog.set_level(logging.INFO, logger="absl")
    return lambda: [record.getMessage() for record in caplog.records]


def test_a_line_every_log_interval_and_a_final_line(lines):
    clock = FakeClock()
    with Progress("training", 100, "steps", initial=10, terminal=False, clock=clock) as report:
        for _ in range(9):  # 9 steps, 10 s each
            clock.now += 10
            report.update(1)
        assert lines() == ["training: 13/100 steps (13%)  0.1 steps/s  ETA 14:30",
                           "training: 16/100 steps (16%)  0.1 steps/s  ETA 14:00",
                           "training: 19/100 steps (19%)  0.1 steps/s  ETA 13:30"]
        # The cadence is wall time, not updates: a slow update is reported at once.
        clock.now += 100
        report.update(1)
        assert len(lines()) == 4
    assert lines()[-1] == "training: 20/100 steps (20%) in 03:10  0.0526 steps/s"


def test_cadence_is_the_module_constant(lines, monkeypatch):
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 5.0)
    clock = FakeClock()
    with Progress("predicting", 4, "docs", terminal=False, clock=clock) as report:
        for _ in range(4):
            clock.now += 5
            report.update(1)
    assert len(lines()) == 5  # one per update and the final line


def test_unknown_total_has_no_eta(lines):
    clock = FakeClock()
    with Progress("evaluating", None, "batches", terminal=False, clock=clock) as report:
        clock.now += 40
        report.update(8)
    assert lines() == ["evaluating: 8 batches  0.2 batches/s",
                       "evaluating: 8 batches in 00:40  0.2 batches/s"]


def test_disabled_reports_nothing_but_passes_messages_through(lines, capsys):
    clock = FakeClock()
    with Progress("training", 10, "steps", enabled=False, terminal=True, clock=clock) as report:
        clock.now += 60
        report.update(5)
        report.log("step %d/%d", 5, 10)
    assert lines() == ["step 5/10"]
    assert capsys.readouterr().err == ""


def test_no_final_line_when_the_job_fails(lines):
    with pytest.raises(RuntimeError):
        with Progress("training", 10, "steps", terminal=False):
            raise RuntimeError("diverged")
    assert lines() == []


def test_terminal_gets_a_bar_and_messages_above_it(lines, capsys):
    with Progress("training", 10, "steps", initial=2, terminal=True) as report:
        report.update(3)
        report.log("step %d/%d", 5, 10)
    err = capsys.readouterr().err
    assert "training:" in err and "5/10" in err and "steps/s" in err
    assert lines() == ["step 5/10"]  # the bar replaces the progress lines
