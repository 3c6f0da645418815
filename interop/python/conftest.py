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

`secured_strata` (module scope, for test_security.py) is a second strata set
up as README's "Security" section sets one up: SASL_SSL, SASL_PLAINTEXT and
SSL (client certificates required) listeners on free loopback ports, read
from its "serving kafka" and "serving kafka listener" lines; certificates
from scripts/gen-certs.sh (client certificates CN=alice and CN=bob); the
super user admin (password admin-secret) from --add-scram; ACLs enforced.

The binary comes from $STRATA_BIN (run.sh sets it).
"""

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import pytest

import clients

# How long strata may take to log that it serves, and to exit after SIGTERM.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# Lines of strata's log attached to a failed test's report.
LOG_TAIL_LINES = 60

# The lines strata logs once a listener serves: the first Kafka listener's
# ("serving kafka", with listener=NAME), each other Kafka listener's
# ("serving kafka listener") and the schema registry's.
_SERVING = re.compile(r'msg="serving (kafka|kafka listener|schema registry)"')
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
# The key of the schema registry's address in _Log.listeners().
REGISTRY = "schema registry"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Strata:
    """A running strata: where its Kafka listener and schema registry are."""

    bootstrap: str
    registry_url: str
    log: "_Log"


class _Log:
    """Strata's stderr, read by one thread into a file and a short tail.

    The reader thread owns the pipe; the tail deque and the listeners dict are
    guarded by the lock. listeners() maps each Kafka listener's name, and
    REGISTRY, to the address logged for it; `serving` is set once every name
    in `want` is there, `closed` when the pipe reaches EOF (strata exited).
    """

    def __init__(self, pipe, path: Path, want):
        self.path = path
        self.serving = threading.Event()
        self.closed = threading.Event()
        self._want = frozenset(want)
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
                        fields = dict(_FIELD.findall(line))
                        name = REGISTRY if m.group(1) == REGISTRY else fields.get("listener", "")
                        self._listeners[name] = fields.get("listen", "")
                        if self._want <= self._listeners.keys():
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


@contextlib.contextmanager
def _serve(name: str, base: Path, args, want):
    """Runs `strata serve` with args (data in base/data) until every listener
    in `want` serves, yields its _Log, then stops it with SIGTERM and
    requires exit status 0. name labels its log in failure reports."""
    binary = _binary()
    data_dir = base / "data"
    data_dir.mkdir()
    proc = subprocess.Popen(
        [binary, "serve", "--http-listen", "127.0.0.1:0", "--embedded-nats-listen", "", "--data-dir", str(data_dir), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_die_with_parent,
    )
    log = _Log(proc.stderr, base / "strata.log", want)
    try:
        # Returns when every listener is logged, or strata exits, or time is up.
        for _ in range(int(START_TIMEOUT_S * 10)):
            if log.serving.wait(0.1) or proc.poll() is not None:
                break
        if not log.serving.is_set():
            status = proc.poll()
            state = f"exited with status {status}" if status is not None else f"not serving after {START_TIMEOUT_S:.0f}s"
            pytest.fail(f"{name} {state}; its log ({log.path}) ends:\n{log.tail()}")
    except BaseException:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)
        raise
    _LOGS[name] = log
    try:
        yield log
    finally:
        _LOGS.pop(name, None)
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)
            pytest.fail(f"{name} did not exit within {STOP_TIMEOUT_S:.0f}s of SIGTERM; its log ends:\n{log.tail()}")
        log.join(STOP_TIMEOUT_S)
    assert status == 0, f"{name} exited with status {status} after SIGTERM; its log ends:\n{log.tail()}"


@pytest.fixture(scope="session")
def strata(tmp_path_factory):
    """Starts strata for the session; stops it with SIGTERM and requires exit status 0."""
    args = ["--listeners", "PLAINTEXT://127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0"]
    with _serve("strata", tmp_path_factory.mktemp("strata"), args, {"PLAINTEXT", REGISTRY}) as log:
        listeners = log.listeners()
        yield Strata(
            bootstrap=listeners["PLAINTEXT"],
            registry_url="http://" + listeners[REGISTRY],
            log=log,
        )


@dataclass
class SecuredStrata:
    """A running secured strata (see the module's doc): its listeners'
    addresses, the certificates, and client settings for each way in.
    bootstrap is the SASL_SSL listener, so clients.producer() and the
    others take it; the settings below give bootstrap.servers too."""

    sasl_ssl: str
    sasl_plaintext: str
    ssl: str
    certs: Path
    log: "_Log"
    admin_user: str = "admin"
    admin_password: str = "admin-secret"

    @property
    def bootstrap(self) -> str:
        return self.sasl_ssl

    def scram(self, user: str, password: str) -> Dict[str, str]:
        """SASL_SSL, logging in with SCRAM-SHA-512; the server checked against ca.crt."""
        return {
            "bootstrap.servers": self.sasl_ssl,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": password,
            "ssl.ca.location": str(self.certs / "ca.crt"),
        }

    def admin_login(self) -> Dict[str, str]:
        return self.scram(self.admin_user, self.admin_password)

    def mtls(self, client: str) -> Dict[str, str]:
        """SSL with client's certificate and key (principal User:<client>)."""
        return {
            "bootstrap.servers": self.ssl,
            "security.protocol": "SSL",
            "ssl.ca.location": str(self.certs / "ca.crt"),
            "ssl.certificate.location": str(self.certs / f"{client}.crt"),
            "ssl.key.location": str(self.certs / f"{client}.key"),
        }


@pytest.fixture(scope="module")
def secured_strata(tmp_path_factory):
    """Starts a secured strata for the module that asks for it; stops it
    with SIGTERM and requires exit status 0."""
    base = tmp_path_factory.mktemp("secured-strata")
    certs = base / "certs"
    gen = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "gen-certs.sh"), str(certs)],
        env={**os.environ, "CLIENTS": "alice bob"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gen.returncode == 0, f"gen-certs.sh exited {gen.returncode}:\n{gen.stdout}{gen.stderr}"
    args = [
        "--listeners", "SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
        "--ssl-cert-file", str(certs / "server.crt"),
        "--ssl-key-file", str(certs / "server.key"),
        "--ssl-client-ca-file", str(certs / "ca.crt"),
        "--ssl-client-auth", "required",
        "--ssl-principal-mapping-rules", "RULE:^CN=([^,]*)$/$1/,DEFAULT",
        "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]",
        "--authorizer", "acl", "--super-users", "User:admin",
        "--schema-registry-listen", "",
    ]
    with _serve("secured strata", base, args, {"SASL_SSL", "SASL_PLAINTEXT", "SSL"}) as log:
        listeners = log.listeners()
        yield SecuredStrata(
            sasl_ssl=listeners["SASL_SSL"],
            sasl_plaintext=listeners["SASL_PLAINTEXT"],
            ssl=listeners["SSL"],
            certs=certs,
            log=log,
        )


@pytest.fixture(autouse=True)
def _close_producers():
    """Closes the test's producers when it ends, passed or not."""
    yield
    clients.close_producers()


# The running stratas' logs by name, for failure reports; each is there
# while its fixture is live.
_LOGS = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the tail of each running strata's log to a failed test's report."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, log in list(_LOGS.items()):
            report.sections.append((f"{name} log (tail)", log.tail()))
