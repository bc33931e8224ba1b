"""A pre-imported vidsearch process that forks one child per command, for the fault tests.

`python -m vidsearch` spends seconds importing torch and open_clip before it touches a file.
The crash tests need a dozen indexers they can SIGKILL; paying that import for each would eat
the suite's time budget. This process imports everything once and forks: each child runs
`vidsearch.cli.main(argv)`, which is all `python -m vidsearch` runs, in a process of its own
(own pid, file descriptors, SQLite connection and writer lock), so killing it is killing a
real indexer. Nothing here runs torch before forking: a forked child of a process that has
started torch's thread pools could deadlock.

Protocol: one JSON object a line. On stdin {"run": spec}, {"wait": pid, "timeout": s},
{"poll": pid} or {"can_read": path}; on stdout {"pid": n}, {"code": exit code, or -signal, or
null while running (poll) or when killed at the timeout (wait)} or {"readable": bool}. See
tests/faults/conftest.py for the other side.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback


# What `vidsearch index` and `find` import on their way; children inherit it all.
PRELOAD = ("apsw", "av", "torch", "open_clip", "vidsearch.cli", "vidsearch.cli.find",
           "vidsearch.indexer", "vidsearch.model", "vidsearch.model.text_query",
           "vidsearch.store", "vidsearch.video")


# Answers go out on a private copy of stdout; fd 1 itself points at stderr, so whatever an
# imported library prints cannot garble the protocol.
_protocol = None


def main() -> None:
    global _protocol
    _protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for name in PRELOAD:
        importlib.import_module(name)
    _answer({"ready": True})
    exited: dict[int, int] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if "run" in request:
            _answer({"pid": _fork(request["run"])})
        elif "wait" in request:
            _answer({"code": _wait(request["wait"], request["timeout"], exited)})
        elif "poll" in request:
            _answer({"code": _poll(request["poll"], exited)})
        elif "can_read" in request:
            _answer({"readable": _can_read(request["can_read"])})


def _answer(message: dict) -> None:
    _protocol.write(json.dumps(message) + "\n")
    _protocol.flush()


def _fork(spec: dict) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    os.close(_protocol.fileno())  # the pipe to the tests is the parent's alone
    code = 70
    try:
        code = _child(spec)
    except SystemExit as exc:  # argparse exits this way on usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # the child must never fall back into the request loop
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _child(spec: dict) -> int:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(spec[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    os.environ.clear()
    os.environ.update(spec["env"])
    os.chdir(spec["cwd"])
    if spec.get("pause"):
        _pause_at_write(**spec["pause"])
    from vidsearch.cli import main as cli_main

    return cli_main(spec["argv"])


def _pause_at_write(paused: str, statement: int | None = None, commit: int | None = None,
                    release: str | None = None) -> None:
    """Stop inside a transaction, holding it open: before its `statement`-th write statement
    (counted over the whole run) or at its `commit`-th commit, all of it written but not
    committed.

    Writes `paused` (this pid) when there, then waits for `release` to appear; without one it
    waits to be killed. Counting SQL statements and commits, not calls into the store, puts the
    pause at points that do not depend on how store.py happens to group its writes.
    """
    import apsw

    counts = {"statement": 0, "commit": 0}
    writes = ("INSERT", "DELETE", "UPDATE", "CREATE", "DROP", "ALTER", "REPLACE")

    def reached(kind: str, target: int | None) -> None:
        counts[kind] += 1
        if counts[kind] != target:
            return
        with open(paused, "w") as handle:
            handle.write(str(os.getpid()))
        deadline = time.monotonic() + 120  # never outlive a test run that died
        while not (release and os.path.exists(release)):
            if time.monotonic() > deadline:
                os._exit(99)
            time.sleep(0.01)

    def hook(connection) -> None:
        def trace(_cursor, sql: str, _bindings) -> bool:
            if connection.in_transaction and sql.lstrip().upper().startswith(writes):
                reached("statement", statement)
            return True

        def before_commit() -> bool:
            reached("commit", commit)
            return False  # go on and commit

        connection.exec_trace = trace
        connection.set_commit_hook(before_commit)

    apsw.connection_hooks.append(hook)


def _poll(pid: int, exited: dict[int, int]) -> int | None:
    if pid not in exited:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            exited[pid] = os.waitstatus_to_exitcode(status)
    return exited.get(pid)


def _wait(pid: int, timeout: float, exited: dict[int, int]) -> int | None:
    deadline = time.monotonic() + timeout
    while _poll(pid, exited) is None:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.01)
    return exited[pid]


def _can_read(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except PermissionError:
        return False
    return True


if __name__ == "__main__":
    main()
