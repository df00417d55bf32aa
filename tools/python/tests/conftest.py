"""Shared fixtures: a real provledger server on 127.0.0.1 (port chosen at run time) over a
temporary data directory, started with the real CLI, and the client's key registered with it."""

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent.parent
REPO = HERE.parent.parent
for p in (HERE, HERE / "generated"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

VECTORS = REPO / "tests" / "vectors"
ORIGIN = "interop.provledger.test/log"


def provledger_bin() -> str:
    b = os.environ.get("PROVLEDGER_BIN") or str(REPO / "target" / "release" / "provledger")
    if not os.access(b, os.X_OK):
        pytest.fail(f"no provledger binary at {b} (set PROVLEDGER_BIN or run tools/python/run.sh)")
    return b


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs the provledger command line; fails the test on a non-zero exit when ``check``."""
    done = subprocess.run(
        [provledger_bin(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and done.returncode != 0:
        pytest.fail(f"provledger {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def value_after(text: str, label: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(label):
            return line[len(label):].strip()
    raise AssertionError(f"no {label!r} in:\n{text}")


class Server:
    """``provledger serve`` as a child process, found by its "listening on ADDR" line."""

    def __init__(self, data: Path, log_path: Path):
        self.data = data
        self.log_path = log_path
        self._stderr = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [provledger_bin(), "serve", "--data", str(data), "--listen", "127.0.0.1:0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        lines: "queue.Queue[str | None]" = queue.Queue()

        def drain():
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=60)
            except queue.Empty:
                self.stop()
                raise AssertionError("server printed no 'listening on' line within 60 s")
            if line is None:
                self.proc.wait()
                raise AssertionError(f"server exited ({self.proc.returncode}) before listening: {self.stderr()}")
            if line.startswith("listening on "):
                self.addr = line[len("listening on "):].strip()
                break

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM (the README's clean stop) and the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._stderr.close()
                raise AssertionError("server did not stop within 30 s of SIGTERM")
        self._stderr.close()
        return self.proc.returncode


class Log:
    """A running log and what a client of it knows: its URL, its vkey, the admin key file."""

    def __init__(self, data: Path, server: Server, init_out: str):
        import grpc
        from provledger.v1 import log_pb2_grpc

        from provledger_client.note import Verifier

        self.data = data
        self.server = server
        self.init_out = init_out
        self.url = f"http://{server.addr}"
        self.vkey = (data / "log.vkey").read_text().strip()
        self.log_key = Verifier.from_vkey(self.vkey)
        self.admin_key = data / "admin.key"
        self.channel = grpc.insecure_channel(server.addr)
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = log_pb2_grpc.LogServiceStub(self.channel)


@pytest.fixture(scope="session")
def log(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("provledger")
    data = tmp / "data"
    init = cli("init", "--data", str(data), "--origin", ORIGIN)
    server = Server(data, tmp / "server.log")
    try:
        the_log = Log(data, server, init.stdout)
    except BaseException:
        server.stop()
        raise
    yield the_log
    the_log.channel.close()
    code = server.stop()
    assert code == 0, f"server exited {code} after SIGTERM: {server.stderr()}"


@pytest.fixture(scope="session")
def generator(log):
    """A key generated in Python and registered by the admin through the real CLI."""
    from provledger_client.note import Signer

    signer = Signer.generate("synth-gen.pyclient/v1")
    out = cli(
        "key", "register",
        "--server", log.url,
        "--admin-key", str(log.admin_key),
        "--vkey", signer.verifier.vkey(),
        "--role", "generator",
        "--origins", "synthetic",
        "--environments", "sandbox,staging",
        "--log-key", log.vkey,
    ).stdout
    assert "receipt verified" in out, out
    return signer
