"""Fixtures of the Python interoperability suite.

One strata process serves the whole test session: `strata serve` with NATS
and the object store embedded, every listener on a free loopback port
(127.0.0.1:0) and its data in a temporary directory. The ports are read from
the two lines strata logs once it serves (slog text on stderr):

    msg="serving kafka" listen=127.0.0.1:PORT ...
    msg="serving schema registry" listen=127.0.0.1:PORT

The process is stopped with SIGTERM at the end of the session and must exit
with status 0: a strata that cannot shut down cleanly fails the suite. Each
test uses its own topics and groups (clients.unique), so tests share the
process without seeing each other's data.

The binary comes from $STRATA_BIN (run.sh sets it).
"""

import ctypes
import os
import re
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

import clients

# How long strata may take to log that it serves, and to exit after SIGTERM.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# Lines of strata's log attached to a failed test's report.
LOG_TAIL_LINES = 60

_SERVING = re.compile(r'msg="serving (kafka|schema registry)" listen=(\S+)')


@dataclass
class Strata:
    """A running strata: where its Kafka listener and schema registry are."""

    bootstrap: str
    registry_url: str
    log: "_Log"


class _Log:
    """Strata's stderr, read by one thread into a file and a short tail.

    The reader thread owns the pipe; the tail deque and the listeners dict are
    guarded by the lock. `serving` is set once both listeners are logged,
    `closed` when the pipe reaches EOF (strata exited).
    """

    def __init__(self, pipe, path: Path):
        self.path = path
        self.serving = threading.Event()
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._tail = deque(maxlen=LOG_TAIL_LINES)
        self._listeners = {}
        self._thread = threading.Thread(target=self._read, args=(pipe,), name="strata-log", daemon=True)
        self._thread.start()

    def _read(self, pipe):
        with open(self.path, "w", encoding="utf-8") as out:
            for raw in pipe:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                out.write(line + "\n")
                out.flush()
                with self._lock:
                    self._tail.append(line)
                    m = _SERVING.search(line)
                    if m:
                        self._listeners[m.group(1)] = m.group(2)
                        if len(self._listeners) == 2:
                            self.serving.set()
        pipe.close()
        self.closed.set()

    def listeners(self):
        with self._lock:
            return dict(self._listeners)

    def tail(self) -> str:
        with self._lock:
            return "\n".join(self._tail)

    def join(self, timeout: float):
        self._thread.join(timeout)


def _die_with_parent():
    """Runs in the child before exec: SIGTERM strata if pytest dies first,
    so an interrupted run leaves no server behind (Linux prctl)."""
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _binary() -> str:
    path = os.environ.get("STRATA_BIN", "")
    if not path:
        pytest.fail("STRATA_BIN is not set: run the suite through interop/python/run.sh path/to/strata")
    if not os.access(path, os.X_OK):
        pytest.fail(f"STRATA_BIN={path} is not an executable")
    return path


@pytest.fixture(scope="session")
def strata(tmp_path_factory):
    """Starts strata for the session; stops it with SIGTERM and requires exit status 0."""
    binary = _binary()
    base = tmp_path_factory.mktemp("strata")
    data_dir = base / "data"
    data_dir.mkdir()
    proc = subprocess.Popen(
        [
            binary,
            "serve",
            "--listeners", "PLAINTEXT://127.0.0.1:0",
            "--http-listen", "127.0.0.1:0",
            "--schema-registry-listen", "127.0.0.1:0",
            "--embedded-nats-listen", "",
            "--data-dir", str(data_dir),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )
    log = _Log(proc.stderr, base / "strata.log")
    try:
        # Returns when both listeners are logged, or strata exits, or time is up.
        for _ in range(int(START_TIMEOUT_S * 10)):
            if log.serving.wait(0.1) or proc.poll() is not None:
                break
        if not log.serving.is_set():
            status = proc.poll()
            state = f"exited with status {status}" if status is not None else f"not serving after {START_TIMEOUT_S:.0f}s"
            pytest.fail(f"strata {state}; its log ({log.path}) ends:\n{log.tail()}")
    except BaseException:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)
        raise
    listeners = log.listeners()
    _SESSION["log"] = log
    yield Strata(
        bootstrap=listeners["kafka"],
        registry_url="http://" + listeners["schema registry"],
        log=log,
    )
    _SESSION.pop("log", None)

    proc.send_signal(signal.SIGTERM)
    try:
        status = proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)
        pytest.fail(f"strata did not exit within {STOP_TIMEOUT_S:.0f}s of SIGTERM; its log ends:\n{log.tail()}")
    log.join(STOP_TIMEOUT_S)
    assert status == 0, f"strata exited with status {status} after SIGTERM; its log ends:\n{log.tail()}"


@pytest.fixture(autouse=True)
def _close_producers():
    """Closes the test's producers when it ends, passed or not."""
    yield
    clients.close_producers()


# The running strata's log, for failure reports; set while the fixture is live.
_SESSION = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the tail of strata's log to a failed test's report."""
    outcome = yield
    report = outcome.get_result()
    log = _SESSION.get("log")
    if report.failed and log is not None:
        report.sections.append(("strata log (tail)", log.tail()))
