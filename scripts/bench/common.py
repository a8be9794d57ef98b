"""What the benchmarks share: paths, the credentials of the loopback servers, and
starting a server on a free port."""

import os
import socket
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FITSBAK = os.path.join(ROOT, "target", "release", "fitsbak")
VENV = os.path.join(ROOT, ".venv", "bin")
# Credentials of the throw-away servers on loopback, not of any account.
KEY, SECRET = "AKIABENCHMARK0000001", "benchmark-secret"
GIB = 1 << 30


def env():
    """The environment of every client: the servers' credentials, no instance metadata."""
    e = dict(os.environ)
    e.update(
        AWS_ACCESS_KEY_ID=KEY,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        PATH=VENV + os.pathsep + e["PATH"],
    )
    return e


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(name, command, port):
    """Starts `command` (a server listening on `port`) and waits until it accepts."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"{name} did not start")
