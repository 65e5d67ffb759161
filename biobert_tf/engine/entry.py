"""How every command line starts and ends.

`quiet_tensorflow()` imports TensorFlow without the log lines it prints on every start (and
the CUDA error of machines without a GPU); call it before anything else imports TensorFlow.
`run(main)` is absl's `app.run(main)` where a failure the user can fix (bad input, a missing
or unreadable file, a malformed flag, a diverging run) ends the program with one line,
`<prog>: error: <message>` on stderr, and exit status 1; anything else is a bug and keeps
its traceback.

This module imports no TensorFlow itself, so that scripts can import it first.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import tempfile
from typing import Callable, Iterator, NoReturn

from absl import app, flags

# Device nodes of the GPU drivers TensorFlow can use: NVIDIA, AMD ROCm, DRM GPUs (Intel and
# others), WSL2's GPU.
_GPU_DRIVER_NODES = ("/dev/nvidiactl", "/dev/kfd", "/dev/dri", "/dev/dxg")
# Without a GPU, TensorFlow needs only these device types (TPUs keep working).
_DEVICES_WITHOUT_GPU = "CPU,TPU,TPU_SYSTEM"
# An absl C++ log line: severity (Info, Warning, Error, Fatal) and MMDD.
_CPP_LOG_LINE = re.compile(r"([IWEF])\d{4} ")
_CPP_SEVERITIES = "IWEF"  # index = TF_CPP_MIN_LOG_LEVEL that hides the severities before it
_ABSL_PREINIT_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
# Logged as an ERROR, once per process, by the first int64 transpose (every ragged concat
# makes one) where oneDNN's kernels are on (biobert_tf/__init__.py) and the CPU lacks
# AVX-512 (seen too on an AMD EPYC that has it); Eigen's kernel then runs it, as it would
# without oneDNN: nothing is wrong.
_ONEDNN_INT64_NOTICE = "oneDNN supports DT_INT64 only on platforms with AVX-512"
# Packages whose own ValueErrors are messages for the user (see `is_user_error`).
_OUR_PACKAGES = ("biobert_tf", "tfrecords_tools")


def quiet_tensorflow() -> None:
    """Imports TensorFlow with TF_CPP_MIN_LOG_LEVEL=2 (errors only) unless the environment
    says otherwise, and without its load-time log lines. Does nothing once TensorFlow is
    imported."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not _may_have_gpu():
        # TensorFlow's CUDA build calls cuInit when it first lists devices and logs an ERROR
        # ("failed call to cuInit") when no driver answers. Without a driver there is no GPU
        # to find, so its device factory is skipped. TF_ENABLED_DEVICE_TYPES set by the user
        # wins ("" enables every device type).
        os.environ.setdefault("TF_ENABLED_DEVICE_TYPES", _DEVICES_WITHOUT_GPU)
    # TensorFlow's libraries log while they load (oneDNN, "Could not find cuda drivers"),
    # before they read TF_CPP_MIN_LOG_LEVEL; the level is applied to those lines here.
    with _cpp_logs_filtered(_min_log_level()):
        import tensorflow  # noqa: F401


@functools.cache  # oneDNN logs its notice once per process: one transpose absorbs it
def absorb_onednn_notice() -> None:
    """Makes the process's first int64 transpose with the C++ log lines filtered, so that
    oneDNN's notice about it (`_ONEDNN_INT64_NOTICE`) is not shown. It starts TensorFlow's
    runtime: call it once the devices are configured (the strategy exists)."""
    import tensorflow as tf

    with _cpp_logs_filtered(_min_log_level()):
        tf.transpose(tf.zeros([1, 1], tf.int64))


def _may_have_gpu() -> bool:
    """False only where no GPU driver can exist: Linux without a GPU device node. Elsewhere
    (macOS's Metal, Windows) TensorFlow's devices are left alone."""
    return not sys.platform.startswith("linux") or any(map(os.path.exists, _GPU_DRIVER_NODES))


def _min_log_level() -> int:
    try:
        return int(os.environ["TF_CPP_MIN_LOG_LEVEL"])
    except ValueError:
        return 0


@contextlib.contextmanager
def _cpp_logs_filtered(min_level: int) -> Iterator[None]:
    """Captures the process's stderr (file descriptor 2, where C++ code writes) during the
    block, then writes it back without the C++ log lines below `min_level`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if _shown(line, min_level)))
            sys.stderr.flush()


def _shown(line: str, min_level: int) -> bool:
    if line.startswith(_ABSL_PREINIT_NOTICE) or _ONEDNN_INT64_NOTICE in line:
        return False
    match = _CPP_LOG_LINE.match(line)
    return match is None or _CPP_SEVERITIES.index(match[1]) >= min_level


def is_user_error(error: BaseException) -> bool:
    """Whether `error` is something the user can fix (reported in one line) rather than a bug
    (reported with its traceback).

    User errors: an OSError (a missing or unreadable file), a diverging training run, a
    UsageError, and a ValueError that our code raised on purpose: an instance of one of our
    classes (CorpusError, VocabError, ...) or raised by a `raise` in our code. A ValueError
    raised inside a library (TensorFlow, numpy) is a bug or input we failed to check: it
    keeps its traceback, so that it gets fixed.
    """
    if isinstance(error, (OSError, app.UsageError)) or _is_training_divergence(error):
        return True
    return isinstance(error, ValueError) and (
        _is_ours(type(error).__module__) or _raised_by_us(error))


def _is_training_divergence(error: BaseException) -> bool:
    # Looked up, not imported: importing the training loop would import TensorFlow (before
    # quiet_tensorflow, in a script); and a loop never imported cannot have raised.
    training = sys.modules.get("biobert_tf.engine.training")
    return training is not None and isinstance(error, training.TrainingDivergedError)


def _raised_by_us(error: BaseException) -> bool:
    """Whether the innermost Python frame of the traceback is in our packages or the
    script being run."""
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    module = traceback.tb_frame.f_globals.get("__name__", "")
    return module == "__main__" or _is_ours(module)


def _is_ours(module: str) -> bool:
    return module.split(".")[0] in _OUR_PACKAGES


def error_message(error: BaseException) -> str:
    """`error` as one line: "file: reason" for an OSError that names its file."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    return " ".join(message.split())


def run(main: Callable[[list[str]], object]) -> None:
    """absl's `app.run(main)`, with user errors (see `is_user_error`) and malformed flags
    reported as one line on stderr, exit status 1 (a UsageError's own exit code)."""
    def reported(argv: list[str]) -> object:
        try:
            return main(argv)
        except Exception as error:
            if not is_user_error(error):
                raise
            _exit(error_message(error),
                  error.exitcode if isinstance(error, app.UsageError) else 1)

    app.run(reported, flags_parser=_parse_flags)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing with its error (an unknown flag, a bad value, a missing required
    flag) as one line (absl's own parser adds a second line), and exit status 0 after the
    help that --help (--helpshort, --helpfull) asked for."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _exit(error_message(error))
    except SystemExit:
        # Only the help flags end the program while flags are parsed, with status 1.
        sys.exit(0)


def _exit(message: str, exit_code: int = 1) -> NoReturn:
    print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
    sys.exit(exit_code)
