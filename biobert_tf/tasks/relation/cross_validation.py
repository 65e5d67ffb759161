"""BioBERT's k-fold protocol for GAD and EU-ADR: `data_dir/1..k/{train,test}` (with --tfds_name
`biobert_re/gad`: the configs `gad_fold1..k`) each trained and scored into `output_dir/1..k`
through the driver; `cv_results.json` / `.txt` hold every
score's mean ± sample std over the folds. Finished folds are read back, not retrained."""

from __future__ import annotations

import dataclasses
import json
import os

import tensorflow as tf
from absl import logging

from biobert_tf import atomic_files, json_files
from biobert_tf.engine import driver, training
from biobert_tf.tasks.relation import metrics as re_metrics
from biobert_tf.tasks.relation.task import RelationSettings, RelationTask

SCORES_FILE = "test_metrics.json"  # a fold's test scores, written when it is done
REQUIRED = ("precision", "recall", "f1", "accuracy")  # in every binary or multi-class result
AVERAGED = REQUIRED + ("specificity", "macro_precision", "macro_recall", "macro_f1")


def _read_scores(path: str) -> dict[str, float]:
    """The scores of a finished fold that a summary averages (those of a fresh result that are
    floats): numbers, read as floats, the first four required."""
    scores = json_files.load(path)
    return {name: float(scores.field(name).number()) for name in AVERAGED
            if name in REQUIRED or scores.has(name)}


def cross_validate(settings: RelationSettings, strategy: tf.distribute.Strategy,
                   folds: int) -> dict:
    """Trains and scores every fold; the summary {score: {mean, std, values}}."""
    if settings.tfds_name:
        driver.check_tfds_usage(RelationTask, settings)
    fold_scores = []
    for fold in range(1, folds + 1):
        source = ({"tfds_name": f"{settings.tfds_name}_fold{fold}"} if settings.tfds_name else
                  {"data_dir": os.path.join(settings.data_dir or "", str(fold))})
        fold_settings = dataclasses.replace(
            settings, **source,
            output_dir=os.path.join(settings.output_dir, str(fold)), do_train=True,
            do_eval=False, do_predict=True, export_dir=None, predict_text=None,
            predict_file=None)
        done = os.path.join(fold_settings.output_dir, SCORES_FILE)
        if os.path.exists(done):
            fold_scores.append(_read_scores(done))
            logging.info("fold %d: already scored (%s)", fold, done)
            continue
        logging.info("fold %d of %d: %s", fold, folds,
                     fold_settings.tfds_name or fold_settings.data_dir)
        result = driver.run(RelationTask(fold_settings, strategy))["test"]
        fold_scores.append({k: v for k, v in result.items()
                            if k not in ("probabilities", "predicted")})
    summary = re_metrics.cv_summary(fold_scores)
    if training.is_chief(strategy):
        out = settings.output_dir
        atomic_files.write_text(os.path.join(out, "cv_results.json"), json.dumps(summary, indent=1))
        lines = [f"{folds}-fold cross-validation (mean ± sample std over folds)"]
        lines += [f"{key:16s} {100 * s['mean']:6.2f} ± {100 * s['std']:5.2f}   folds: "
                  + " ".join(f"{100 * v:.2f}" for v in s["values"])
                  for key, s in summary.items()]
        atomic_files.write_text(os.path.join(out, "cv_results.txt"), "\n".join(lines) + "\n")
        logging.info("\n".join(lines))
    return summary
