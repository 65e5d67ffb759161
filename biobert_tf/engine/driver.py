"""The one run sequence of every fine-tuning script, the same phases in the same order:

    settings (flags, plus what a trained run directory saved) → validate every input the
    flags name → train → eval (dev) → predict (test) → export → predict_text → predict_file

A run that trains writes its results into --output_dir, as BioBERT does. A run that does not
train (predict-only on a trained run directory) writes them into a fresh subfolder, so that
the results of two runs never mix; the log says where. Only the chief writes.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Sequence

import keras
import tensorflow as tf
from absl import flags, logging

from biobert_tf import atomic_files
from biobert_tf.annotation import formats
from biobert_tf.engine import distribute, entry, file_prediction, prediction_formats, run_dir, \
    settings as settings_lib, training
from biobert_tf.engine.settings import FineTuningSettings, RuntimeSettings
from biobert_tf.engine.task import DATA_SOURCE, Task


def strategy_for(settings: RuntimeSettings, seed: int) -> tf.distribute.Strategy:
    """The strategy (and precision policy and seed) the settings ask for."""
    keras.utils.set_random_seed(seed)
    strategy = distribute.create_strategy(
        "tpu" if settings.use_tpu else settings.distribution_strategy,
        tpu=settings.tpu_name or settings.master, tpu_zone=settings.tpu_zone,
        gcp_project=settings.gcp_project)
    entry.absorb_onednn_notice()
    precision = distribute.set_mixed_precision(settings.mixed_precision, strategy)
    logging.info("precision: %s%s; CPU kernels: %s", precision,
                 " (auto)" if settings.mixed_precision == "auto" else "",
                 "oneDNN" if distribute.onednn_enabled() else "Eigen")
    return strategy


def settings_from_flags(task_class: type[Task], settings_class: type[FineTuningSettings],
                        flag_values: flags.FlagValues = flags.FLAGS) -> FineTuningSettings:
    """The settings of the command line, with the model-defining settings of the trained run
    in --output_dir (or the casing of the run in --init_checkpoint) filled in; a flag that
    contradicts them is an error."""
    settings = settings_lib.from_flags(settings_class, flag_values)
    given = settings_lib.given(settings_class, flag_values)
    return adopt_saved_settings(task_class, settings, given)


def adopt_saved_settings(task_class: type[Task], settings: FineTuningSettings,
                         given: frozenset[str]) -> FineTuningSettings:
    """See `settings_from_flags`."""
    out, init = settings.output_dir, settings.init_checkpoint
    if given & set(DATA_SOURCE):  # data named on the command line: none of the saved source
        given |= set(DATA_SOURCE)
    record = run_dir.own_record(out, task_class.name)
    if record is not None:
        return run_dir.reconcile(settings, given, record, out, task_class.model_settings,
                                 task_class.data_settings)
    if run_dir.is_run_dir(init):
        # Another run as the starting point: its casing goes with its vocabulary.
        return run_dir.reconcile(settings, given, run_dir.read_record(init), init,
                                 ("do_lower_case",))
    return settings


def check_usage(task_class: type[Task], settings: FineTuningSettings) -> None:
    """A clear error for a command line that cannot do anything."""
    if not settings.output_dir:
        raise ValueError("--output_dir is required")
    wanted = [settings.do_train, settings.do_eval, settings.do_predict, settings.export_dir]
    if task_class.predicts_text:
        if settings.predict_text is not None:
            check_text_flag("--predict_text", settings.predict_text)
        wanted += [settings.predict_text, settings.predict_file]
    if not any(wanted):
        raise ValueError("nothing to do: set --do_train, --do_eval, --do_predict or "
                         "--export_dir" + (", --predict_text or --predict_file"
                                           if task_class.predicts_text else ""))
    if settings.tfds_name:
        check_tfds_usage(task_class, settings)
    if settings.predict_format != "jsonl" and not settings.predict_file:
        raise ValueError(f"--predict_format={settings.predict_format}: is the format of "
                         "--predict_file's output, and no --predict_file is given")
    if settings.predict_format != "jsonl" and not task_class.writes_documents:
        raise ValueError(f"--predict_format={settings.predict_format}: this task's predictions "
                         "are not annotations of a text; use --predict_format=jsonl")


def check_text_flag(flag: str, text: str) -> None:
    """A one-line error for a text flag that is empty or holds bytes that are not UTF-8 (which
    Python keeps from the command line as lone surrogates)."""
    if not text.strip():
        raise ValueError(f"{flag} is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{flag}: not UTF-8 at character {error.start + 1}") from None


def check_tfds_usage(task_class: type[Task], settings: FineTuningSettings) -> None:
    """--tfds_name names one of the task's data sets, and is the only data source."""
    if settings.data_dir:
        raise ValueError(f"--data_dir={settings.data_dir} and --tfds_name={settings.tfds_name}: "
                         "give one of them")
    builder = task_class.tfds_builder
    if builder is None:
        raise ValueError(f"--tfds_name={settings.tfds_name}: the {task_class.name} task reads "
                         "no TFDS data set; give --data_dir")
    if settings.tfds_name.split("/")[0] != builder:
        raise ValueError(f"--tfds_name={settings.tfds_name}: the {task_class.name} task reads "
                         f"{builder}/<config>")


def results_dir_for(settings: FineTuningSettings, chief: bool) -> str:
    """--output_dir when the run trains; a fresh subfolder for a predict-only run."""
    if settings.do_train or not (settings.do_eval or settings.do_predict or
                                 settings.predict_text) or not chief:
        return settings.output_dir
    path = run_dir.fresh_results_dir(settings.output_dir)
    logging.info("predict-only run: results go to %s", path)
    return path


def run(task: Task) -> dict[str, dict]:
    """The phases of one task in order; returns the scores of the splits it scored."""
    s, chief = task.settings, training.is_chief(task.strategy)
    task.validate()
    task.results_dir = results_dir_for(s, chief)
    trainer = task.train() if s.do_train else task.restore()
    scores = {}
    for split, wanted in (("dev", s.do_eval), ("test", s.do_predict)):
        if wanted:
            scores[split] = task.evaluate(trainer, split)
            if chief:
                task.write_results(split, scores[split])
    if not chief:
        return scores
    if s.export_dir:
        task.export(s.export_dir)
    if task.predicts_text and s.predict_text:
        [result] = task.predict_texts([s.predict_text])
        if "error" in result:  # a text the model cannot take (one line of a file just says so)
            raise ValueError(f"--predict_text: {result['error']}")
        path = task.result_path("text_predictions.jsonl")
        atomic_files.write_text(path, json.dumps(result, ensure_ascii=False) + "\n")
        print(json.dumps(result, ensure_ascii=False, indent=1))
    if task.predicts_text and s.predict_file:
        # The JSON lines are always kept: they resume, and any format is rendered from them.
        records = os.path.join(s.output_dir, "file_predictions.jsonl")
        count = file_prediction.predict_file(task.predict_texts, s.predict_file, records,
                                             s.predict_batch_size, model_dir=s.output_dir)
        logging.info("predicted %d documents of %s into %s", count, s.predict_file, records)
        if s.predict_format != "jsonl":
            path = os.path.join(s.output_dir,
                                "file_predictions" + formats.FORMATS[s.predict_format].extension)
            prediction_formats.render_file(records, path, s.predict_format,
                                           task.prediction_document)
            logging.info("wrote them as %s into %s", s.predict_format, path)
    return scores


def main(tasks: Sequence[type[Task]], settings_class: type[FineTuningSettings],
         choose: Callable[[FineTuningSettings], type[Task]] | None = None) -> dict[str, dict]:
    """A run script's whole main(): the task (the trained run's in --output_dir, else
    `choose(settings)`, else the first), its settings from the flags, the strategy, `run`."""
    settings = settings_lib.from_flags(settings_class)
    record = (run_dir.read_record(settings.output_dir)
              if settings.output_dir and os.path.isdir(settings.output_dir) else None)
    by_name = {task.name: task for task in tasks}
    if record is not None and record["task"] in by_name:
        task_class = by_name[record["task"]]
    else:
        task_class = choose(settings) if choose else tasks[0]
    settings = settings_from_flags(task_class, settings_class)
    check_usage(task_class, settings)
    return run(task_class(settings, strategy_for(settings, settings.seed)))
