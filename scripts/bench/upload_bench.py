"""Upload benchmark: fitsbak against the peer tools, same library, same server,
same run. Prints medians of wall time, client CPU (user + sys of the client
processes only), peak RSS and temporary disk, and the fitsbak / peer ratios.

Run it through scripts/bench-upload.sh, which builds fitsbak and installs the peers.
"""

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys

from common import FITSBAK, GIB, KEY, ROOT, SECRET, Moto, measure

OUT = os.path.join(ROOT, "bench-out", "upload")


def library():
    lib = os.path.join(OUT, "lib")
    if not os.path.exists(os.path.join(lib, "catalog.db")):
        shutil.rmtree(lib, ignore_errors=True)
        subprocess.run(
            [FITSBAK, "-q", "demo", "init", lib, "--sessions", "8", "--files-per-session", "16",
             "--file-size-kib", "16384"],
            check=True,
        )
    con = sqlite3.connect(os.path.join(lib, "catalog.db"))
    sessions = con.execute("SELECT id, date FROM imaging_sessions ORDER BY date, id").fetchall()
    lists = os.path.join(OUT, "lists")
    os.makedirs(lists, exist_ok=True)
    total = 0
    for sid, _ in sessions:
        rows = con.execute(
            "SELECT folder, file FROM fits_files WHERE imaging_session_id = ?", (sid,)
        ).fetchall()
        with open(os.path.join(lists, sid + ".txt"), "w") as f:
            for folder, name in rows:
                path = os.path.join(folder, name)
                total += os.path.getsize(path)
                f.write(path + "\n")
    return lib, sessions, lists, total


def main():
    runs = int(os.environ.get("RUNS", "3"))
    os.makedirs(OUT, exist_ok=True)
    lib, sessions, lists, total = library()
    server = Moto()
    tmpdir = os.path.join(OUT, "tmp")
    config = os.path.join(OUT, "s3_config.json")
    c = json.load(open(os.path.join(lib, "s3_config.json")))
    c.update(target="s3", endpoint_url=server.endpoint, force_path_style=True,
             database_path=os.path.join(lib, "catalog.db"),
             tracking_database_path=os.path.join(OUT, "tracking.db"))
    c["buckets"]["primary"] = "bench"
    json.dump(c, open(config, "w"), indent=2)

    def fitsbak(binary=FITSBAK):
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(os.path.join(OUT, "tracking.db" + suffix))
            except FileNotFoundError:
                pass
        return f"{binary} -q --config {config} upload"

    def original():
        return f"python3 {ROOT}/scripts/bench/original_upload.py {lib}/catalog.db bench {server.endpoint}"

    def tar_aws():
        cmds = [
            f"tar -cf - -T {lists}/{sid}.txt 2>/dev/null | aws --endpoint-url {server.endpoint} "
            f"s3 cp - s3://bench/backups/raw/{date[:4]}/{sid}.tar"
            for sid, date in sessions
        ]
        return " && ".join(cmds)

    def tar_rclone():
        cmds = [
            f"tar -cf - -T {lists}/{sid}.txt 2>/dev/null | env -u AWS_CA_BUNDLE rclone rcat "
            f"bench:bench/backups/raw/{date[:4]}/{sid}.tar"
            for sid, date in sessions
        ]
        return (
            f"export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other "
            f"RCLONE_CONFIG_BENCH_ACCESS_KEY_ID={KEY} RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY={SECRET} "
            f"RCLONE_CONFIG_BENCH_ENDPOINT={server.endpoint} && " + " && ".join(cmds)
        )

    tools = [("fitsbak", fitsbak), ("original (tarfile+boto3)", original), ("tar | aws s3 cp -", tar_aws)]
    if shutil.which("rclone"):
        tools.append(("tar | rclone rcat", tar_rclone))
    # BEFORE=path/to/an/older/fitsbak adds its row, for a before/after in one run.
    before = os.environ.get("BEFORE")
    if before:
        tools.append(("before: fitsbak", lambda: fitsbak(before)))
    results = {name: [] for name, _ in tools}
    try:
        for r in range(runs):
            for name, command in tools:
                server.fresh_bucket("bench")
                m = measure(command(), tmpdir, OUT)
                results[name].append(m)
                print(f"run {r + 1}: {name:26} wall {m[0]:7.1f}s cpu {m[1]:6.1f}s rss {m[2]:6.0f} MB tmp {m[3]:7.0f} MB",
                      file=sys.stderr)
    finally:
        server.stop()

    gib = total / GIB
    med = {n: [statistics.median(x[i] for x in v) for i in range(4)] for n, v in results.items()}
    f = med["fitsbak"]
    print(f"\n{gib:.2f} GiB in {len(sessions)} sessions to moto_server on loopback, medians of {runs} runs\n")
    print(f"{'client':26} {'wall s':>8} {'CPU s':>7} {'CPU s/GiB':>9} {'peak RSS MB':>11} {'temp MB':>8} {'CPU fitsbak/peer':>16} {'wall fitsbak/peer':>17}")
    for name, (wall, cpu, rss, tmp) in med.items():
        ratio_cpu = "" if name.endswith("fitsbak") else f"{f[1] / cpu:.2f}"
        ratio_wall = "" if name.endswith("fitsbak") else f"{f[0] / wall:.2f}"
        print(f"{name:26} {wall:8.1f} {cpu:7.1f} {cpu / gib:9.2f} {rss:11.0f} {tmp:8.0f} {ratio_cpu:>16} {ratio_wall:>17}")


if __name__ == "__main__":
    main()
