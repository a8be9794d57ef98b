"""Memory benchmark: peak RSS (and CPU) of `fitsbak upload` at default settings for
one 2 GiB session and one 20 GiB session, so that memory is seen not to grow with
the session's size.

The 2 GiB session is a real demo session (16 files x 128 MiB of FITS data). The
20 GiB one reads 20 sparse files of 1 GiB (zeros but for a distinct last block, so
that no disk space is used and every file has its own MD5, as the catalog's
md5sum column is unique), catalogued with their true MD5. The server is
s3s-fs (`cargo install s3s-fs --version 0.14.1 --features binary`), which writes
objects to disk fast; it reports no composite CRC32C for multipart uploads and keeps
no tags, so these runs use `checksum_algorithm: "md5"` (the multipart ETag is
checked instead) and skip the check after upload. Its RSS is not counted: only
fitsbak's.

Run it through scripts/bench-memory.sh.
"""

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

from common import FITSBAK, GIB, KEY, ROOT, SECRET, env, free_port, start_server

OUT = os.path.join(ROOT, "bench-out", "memory")
# scripts/install-test-tools.sh puts s3s-fs in .tools/bin; one on PATH serves too.
S3S = next((p for p in (os.path.join(ROOT, ".tools", "bin", "s3s-fs"), shutil.which("s3s-fs"))
            if p and os.access(p, os.X_OK)), "s3s-fs")



TAIL = 2880


def zeros_state(size):
    """MD5 state after `size` zero bytes."""
    md5 = hashlib.md5()
    block = bytes(1 << 20)
    for _ in range(size // len(block)):
        md5.update(block)
    md5.update(bytes(size % len(block)))
    return md5


def tail(index):
    return f"fitsbak memory benchmark, sparse file {index}".encode().ljust(TAIL, b" ")


def library(name, files, file_mib, sparse):
    """A one-session library; returns its directory."""
    lib = os.path.join(OUT, name)
    if os.path.exists(os.path.join(lib, "ready")):
        return lib
    shutil.rmtree(lib, ignore_errors=True)
    args = [FITSBAK, "-q", "demo", "init", lib, "--sessions", "1", "--files-per-session", str(files)]
    if sparse:
        args.append("--rows-only")
    else:
        args += ["--file-size-kib", str(file_mib * 1024)]
    subprocess.run(args, check=True)
    if sparse:
        size = file_mib << 20
        zeros = zeros_state(size - TAIL)
        con = sqlite3.connect(os.path.join(lib, "catalog.db"))
        rows = con.execute("SELECT id, folder, file FROM fits_files").fetchall()
        for index, (rowid, folder, file) in enumerate(rows):
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, file), "wb") as f:
                f.truncate(size - TAIL)
                f.seek(size - TAIL)
                f.write(tail(index))
            md5 = zeros.copy()
            md5.update(tail(index))
            con.execute("UPDATE fits_files SET md5sum = ? WHERE id = ?", (md5.hexdigest(), rowid))
        con.commit()
    open(os.path.join(lib, "ready"), "w").close()
    return lib


def run(lib, label, binary=FITSBAK):
    data = tempfile.mkdtemp(prefix="s3s-", dir=OUT)
    port = free_port()
    server = start_server(
        "s3s-fs",
        [S3S, "--host", "127.0.0.1", "--port", str(port), "--access-key", KEY, "--secret-key", SECRET, data],
        port,
    )
    try:
        os.makedirs(os.path.join(data, "bench"))
        config = os.path.join(lib, "s3_config.json")
        c = json.load(open(config))
        c.update(target="s3", endpoint_url=f"http://127.0.0.1:{port}", force_path_style=True, notes_dir=None)
        c["buckets"]["primary"] = "bench"
        c["upload_settings"]["checksum_algorithm"] = "md5"
        c["archive_settings"]["verify_after_upload"] = False
        c["tracking_database_path"] = os.path.join(data, "tracking.db")
        bench_config = os.path.join(lib, "bench_config.json")
        json.dump(c, open(bench_config, "w"), indent=2)
        timing = os.path.join(data, "time.txt")
        subprocess.run(
            ["/usr/bin/time", "-o", timing, "-f", "%e %U %S %M", binary, "-q", "--config", bench_config, "upload"],
            env=env(), check=True,
        )
        wall, user, sys_, rss = open(timing).read().split()[-4:]
        stored = sum(
            os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(data, "bench")) for f in fs
        )
        cpu = float(user) + float(sys_)
        print(f"{label:28} archive {stored / GIB:6.2f} GiB  wall {float(wall):6.1f} s  "
              f"CPU {cpu:6.1f} s ({cpu / (stored / GIB):.2f} s/GiB)  peak RSS {int(rss) / 1024:5.0f} MB")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


def main():
    if not os.path.exists(S3S):
        sys.exit("s3s-fs not found: run scripts/install-test-tools.sh")
    os.makedirs(OUT, exist_ok=True)
    small = library("session-2g", 16, 128, sparse=False)
    large = library("session-20g", 20, 1024, sparse=True)
    print("fitsbak upload, default settings (8 MiB parts, 4 at once), to s3s-fs on loopback")
    print("(part checksums are Content-MD5: s3s-fs has no composite CRC32C, so CPU includes a")
    print(" second MD5 pass over every byte; bench-upload.sh measures CPU with the default CRC32C)")
    run(small, "2 GiB session (real data)")
    run(large, "20 GiB session (sparse files)")
    # BEFORE=path/to/an/older/fitsbak runs the same uploads with it, in the same run.
    before = os.environ.get("BEFORE")
    if before:
        run(small, "before: 2 GiB session", before)
        run(large, "before: 20 GiB session", before)


if __name__ == "__main__":
    main()
