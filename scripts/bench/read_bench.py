"""Read-path benchmark: fitsbak verify --deep and restore download against
`aws s3 cp s3://b/k - | tar -x` (the peer), same archives, same server, same run.
Prints medians of wall time, client CPU (user + sys of the client processes only)
and peak RSS, per GiB read, and the fitsbak / peer ratios. A floor row, curl
writing each object to a file (no hash, no tar, no fsync), shows what receiving
the bytes and putting them on disk costs on the machine.

Run it through scripts/bench-read.sh, which builds fitsbak and installs the peer.
"""

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys

from common import FITSBAK, GIB, ROOT, Moto, env, measure

OUT = os.path.join(ROOT, "bench-out", "read")
SESSIONS = int(os.environ.get("SESSIONS", "4"))
FILES = int(os.environ.get("FILES", "16"))
FILE_KIB = int(os.environ.get("FILE_KIB", "16384"))


def library():
    lib = os.path.join(OUT, "lib")
    shape = os.path.join(lib, "shape.txt")
    wanted = f"{SESSIONS} {FILES} {FILE_KIB}"
    if not os.path.exists(shape) or open(shape).read() != wanted:
        shutil.rmtree(lib, ignore_errors=True)
        subprocess.run(
            [FITSBAK, "-q", "demo", "init", lib, "--sessions", str(SESSIONS),
             "--files-per-session", str(FILES), "--file-size-kib", str(FILE_KIB)],
            check=True,
        )
        open(shape, "w").write(wanted)
    con = sqlite3.connect(os.path.join(lib, "catalog.db"))
    sessions = con.execute("SELECT id, date FROM imaging_sessions ORDER BY date, id").fetchall()
    files = con.execute("SELECT file FROM fits_files WHERE imaging_session_id = ? ORDER BY file",
                        (sessions[0][0],)).fetchall()
    return lib, sessions, [f for (f,) in files]


def main():
    runs = int(os.environ.get("RUNS", "3"))
    os.makedirs(OUT, exist_ok=True)
    lib, sessions, first_files = library()
    server = Moto()
    tmpdir = os.path.join(OUT, "tmp")
    dest = os.path.join(OUT, "restored")
    config = os.path.join(OUT, "s3_config.json")
    c = json.load(open(os.path.join(lib, "s3_config.json")))
    c.update(target="s3", endpoint_url=server.endpoint, force_path_style=True,
             database_path=os.path.join(lib, "catalog.db"),
             tracking_database_path=os.path.join(OUT, "tracking.db"),
             notes_dir=os.path.join(lib, c.get("notes_dir") or "notes"))
    c["buckets"]["primary"] = "bench"
    json.dump(c, open(config, "w"), indent=2)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(os.path.join(OUT, "tracking.db" + suffix)):
            os.unlink(os.path.join(OUT, "tracking.db" + suffix))
    fitsbak = f"{FITSBAK} -q --config {config}"
    # BEFORE=path/to/an/older/fitsbak adds its rows, for a before/after in one run.
    before = os.environ.get("BEFORE")
    try:
        server.fresh_bucket("bench")
        subprocess.run(f"{fitsbak} upload", shell=True, env=env(), check=True)
        tracking = sqlite3.connect(os.path.join(OUT, "tracking.db"))
        keys = dict(tracking.execute("SELECT session_id, s3_key FROM s3_backup_archives"))
        sizes = tracking.execute("SELECT SUM(compressed_size_bytes) FROM s3_backup_archives").fetchone()[0]
        chosen = first_files[: max(1, len(first_files) // 4)]
        chosen_bytes = FILE_KIB * 1024 * len(chosen)

        def restore_all(binary=fitsbak):
            return " && ".join(f"{binary} restore download --session-id {sid} --to {dest}"
                               for sid, _ in sessions)

        def peer_all():
            return " && ".join(
                f"mkdir -p {dest} && aws --endpoint-url {server.endpoint} s3 cp "
                f"s3://bench/{keys[sid]} - | tar -xf - -C {dest}"
                for sid, _ in sessions)

        def floor_all():
            return " && ".join(
                f"mkdir -p {dest} && curl -sSf -o {dest}/{sid}.tar {server.endpoint}/bench/{keys[sid]}"
                for sid, _ in sessions)

        def receive_all():
            return " && ".join(
                f"curl -sSf -o /dev/null {server.endpoint}/bench/{keys[sid]}" for sid, _ in sessions)

        def restore_files():
            picks = " ".join(f"--file {f}" for f in chosen)
            return f"{fitsbak} restore download --session-id {sessions[0][0]} --to {dest} {picks}"

        tools = [
            ("fitsbak verify --all --deep", lambda: f"{fitsbak} verify --all --deep", sizes),
            ("fitsbak restore download", restore_all, sizes),
            ("aws s3 cp - | tar -x", peer_all, sizes),
            ("floor: curl -o, no check", floor_all, sizes),
            ("floor: curl -o /dev/null", receive_all, sizes),
            (f"fitsbak restore --file x{len(chosen)}", restore_files, chosen_bytes),
        ]
        if before:
            # The older binary keeps its own tracking database (an older schema),
            # rebuilt from the bucket.
            old_config = os.path.join(OUT, "s3_config.before.json")
            c_old = dict(c, tracking_database_path=os.path.join(OUT, "tracking-before.db"))
            json.dump(c_old, open(old_config, "w"), indent=2)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(c_old["tracking_database_path"] + suffix):
                    os.unlink(c_old["tracking_database_path"] + suffix)
            subprocess.run(f"{before} -q --config {old_config} sync-db", shell=True, env=env(),
                           check=True)
            old = f"{before} -q --config {old_config}"
            tools += [
                ("before: verify --all --deep", lambda: f"{old} verify --all --deep", sizes),
                ("before: restore download", lambda: restore_all(old), sizes),
            ]
        results = {name: [] for name, _, _ in tools}
        for r in range(runs):
            for name, command, _ in tools:
                shutil.rmtree(dest, ignore_errors=True)
                subprocess.run(["sync"], check=True)
                m = measure(command(), tmpdir, OUT)
                results[name].append(m)
                print(f"run {r + 1}: {name:30} wall {m[0]:6.2f}s cpu {m[1]:6.2f}s rss {m[2]:5.0f} MB",
                      file=sys.stderr)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
        server.stop()

    med = {n: [statistics.median(x[i] for x in v) for i in range(3)] for n, v in results.items()}
    print(f"\n{sizes / GIB:.2f} GiB in {len(sessions)} sessions of {FILES} files of {FILE_KIB} KiB, "
          f"moto_server on loopback, medians of {runs} runs\n")
    print(f"{'client':30} {'wall s':>7} {'CPU s':>6} {'CPU s/GiB':>9} {'peak RSS MB':>11} "
          f"{'CPU vs peer':>11} {'wall vs peer':>12}")
    peer = med["aws s3 cp - | tar -x"]
    for name, _, size in tools:
        wall, cpu, rss = med[name]
        restore = name.endswith("restore download")
        ratio_cpu = f"{cpu / peer[1]:.2f}" if restore else ""
        ratio_wall = f"{wall / peer[0]:.2f}" if restore else ""
        print(f"{name:30} {wall:7.2f} {cpu:6.2f} {cpu / (size / GIB):9.2f} {rss:11.0f} "
              f"{ratio_cpu:>11} {ratio_wall:>12}")


if __name__ == "__main__":
    main()
