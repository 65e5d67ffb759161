"""Command lines without a TensorFlow import each: a fork server for the tests.

Importing TensorFlow, Keras, keras-hub, tensorflow-text and TFDS costs about 9 s of CPU, and
the suite runs some 80 commands (run_*.py, the tools): on 2 cores that import alone was a
third of the suite's time. So each test process starts one server that imports them once
(`serve`); a command line `python fork_server.py SOCKET script.py ARGS` (`launch`, a Python
that imports nothing but the standard library) hands the server its argv, environment,
working directory and standard streams, and the server forks a child that runs the script as
`python script.py ARGS` would, writing straight to the launcher's streams. The launcher exits
with the child's status, or dies of the child's signal, so `subprocess.run` and `Popen` see
what they would see of the real command.

Forking is safe here because the server only imports: no TensorFlow runtime, thread pool or
device exists yet (the only other threads are OpenBLAS's, which re-creates them after fork).
What a forked child cannot show is what happens while TensorFlow loads, so the tests of
import-time behaviour (tests/engine/test_entry.py), of a SavedModel in a fresh process and of
kill -9 (whose target must be the process that writes) start real processes.

Killing the launcher kills the child (its waiter sees the connection close), so a timeout in
`subprocess.run` leaves nothing running; the server ends with the test process that started it.
"""

import atexit
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys
import traceback

_HEADER = struct.Struct("!Q")


def serve(path: str) -> None:
    """Imports the heavy libraries, then forks a waiter per connection on `path`."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from biobert_tf.engine import entry
    entry.quiet_tensorflow()
    import keras_hub  # noqa: F401
    import tensorflow_datasets  # noqa: F401
    import tensorflow_text  # noqa: F401

    from biobert_tf.engine import driver  # noqa: F401
    del sys.path[0]

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the waiters are reaped by the kernel
    print("ready", flush=True)
    while True:
        # Standard input is a pipe from the test process: at its end, that process is gone
        # (even killed, when no atexit handler ran), and so goes the server.
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready:
            return
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _wait_for_one(connection)
        connection.close()


def _receive(connection: socket.socket) -> tuple[dict | None, list[int]]:
    """The launcher's request and streams; None for a launcher that died while sending."""
    header, fds, _, _ = socket.recv_fds(connection, _HEADER.size, 3)
    if len(header) < _HEADER.size:
        return None, fds
    size, = _HEADER.unpack(header)
    payload = b""
    while len(payload) < size:
        part = connection.recv(size - len(payload))
        if not part:
            return None, fds
        payload += part
    return json.loads(payload), fds


def _wait_for_one(connection: socket.socket) -> None:
    """Runs one command in a child; reports its pid, then how it ended. Never returns."""
    request, fds = _receive(connection)
    if request is None:
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        connection.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _run(request)
    for fd in fds:
        os.close(fd)
    connection.sendall(f"{pid}\n".encode())
    child = os.pidfd_open(pid)
    ready, _, _ = select.select([child, connection], [], [])
    if child not in ready:  # the launcher is gone: so goes the command
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    try:
        connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
    except OSError:
        pass
    os._exit(0)


def _run(request: dict) -> None:
    """In the forked child: `python ARGV` with the launcher's environment and directory."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = request["argv"]
    code = 0
    try:
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]
            sys.path[0] = os.getcwd()
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        elif args[0] == "-c":
            sys.argv = ["-c", *args[2:]]
            sys.path[0] = ""
            exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = list(args)
            sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
            runpy.run_path(args[0], run_name="__main__")
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def launch(path: str, argv: list[str]) -> None:
    """Runs `python ARGV` in the server at `path`; exits as the command did."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(path)
    payload = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
    socket.send_fds(connection, [_HEADER.pack(len(payload))], [0, 1, 2])
    connection.sendall(payload)
    replies = connection.makefile()
    pid = int(replies.readline())
    for forwarded in (signal.SIGTERM, signal.SIGINT):
        signal.signal(forwarded, lambda number, _: os.kill(pid, number))
    line = replies.readline()
    code = int(line) if line else -signal.SIGKILL
    if code < 0:  # die of the same signal
        if -code != signal.SIGKILL:
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        launch(sys.argv[1], sys.argv[2:])
