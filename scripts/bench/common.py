"""What the benchmarks share: paths, the credentials of the loopback servers, and
starting a server on a free port."""

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

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


class Moto:
    """One moto_server on a free loopback port."""

    def __init__(self):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = start_server(
            "moto_server",
            [os.path.join(VENV, "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            self.port,
        )

    def aws(self, *args, **kw):
        """Runs the AWS CLI against this server."""
        return subprocess.run(
            [os.path.join(VENV, "aws"), "--endpoint-url", self.endpoint, *args],
            env=env(), check=True, stdout=subprocess.DEVNULL, **kw,
        )

    def fresh_bucket(self, name):
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", method="POST")
        urllib.request.urlopen(req).read()
        self.aws("s3", "mb", f"s3://{name}")
        # Versioning on, for every client alike: rclone (1.60) HEADs `?versionId=null`
        # after an upload, which moto refuses in a bucket without versioning.
        self.aws("s3api", "put-bucket-versioning", "--bucket", name,
                 "--versioning-configuration", "Status=Enabled")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def measure(command, tmpdir, out):
    """Runs `command` (a shell string) under GNU time with TMPDIR=`tmpdir` (emptied
    first); returns wall s, client CPU s (user + sys), peak RSS MB, peak temp MB."""
    shutil.rmtree(tmpdir, ignore_errors=True)
    os.makedirs(tmpdir)
    timing = os.path.join(out, "time.txt")
    e = env()
    e["TMPDIR"] = tmpdir
    peak = [0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], du(tmpdir))
            time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    proc = subprocess.run(
        ["/usr/bin/time", "-o", timing, "-f", "%e %U %S %M", "bash", "-c", command],
        env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    done.set()
    poller.join()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {command}\n{proc.stdout}\n{proc.stderr}")
    wall, user, sys_, rss = open(timing).read().split()[-4:]
    return float(wall), float(user) + float(sys_), int(rss) / 1024, peak[0] / 1e6
