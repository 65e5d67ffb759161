"""Apache Beam for our command-line tools: imported without its start-up warning, and a failed
step's user error reported once, in one line.

Importing this module imports Beam; a tool imports it only on its Beam path, so that its
single-process path works without the beam extra.
"""

import logging

from biobert_tf.engine import entry

__all__ = ["PipelineOptions", "beam", "report_user_errors_once"]

# apache_beam warns on import that the BigQuery client (of its gcp extra) is missing: our tools
# never use BigQuery.
logging.disable(logging.WARNING)
try:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
finally:
    logging.disable(logging.NOTSET)


def report_user_errors_once() -> None:
    """Beam logs the exception of a failed step with its traceback, then raises it again in the
    main program, where `entry.run` reports a user error (a malformed corpus file) in one line:
    Beam's record of such an error is dropped."""
    logging.getLogger("apache_beam.runners.common").addFilter(_not_a_user_error)


def _not_a_user_error(record: logging.LogRecord) -> bool:
    return not (record.exc_info and entry.is_user_error(record.exc_info[1]))
