"""Fills the tracking tables of a rows-only demo catalog as if every session had
been backed up: one archive row per session and one member row per file, so that
the commands that read the tracking tables can be timed at scale without
uploading. Usage: scale_tracked.py CATALOG_DB TRACKING_DB BUCKET (the tracking
tables must exist: run `fitsbak status` once first; BUCKET is the target's bucket,
or the local target's root, as the rows record it)."""

import hashlib
import sqlite3
import sys

catalog, tracking, bucket = sys.argv[1], sys.argv[2], sys.argv[3]
src = sqlite3.connect(catalog)
dst = sqlite3.connect(tracking)
sessions = src.execute("SELECT id, date, telescope, camera FROM imaging_sessions ORDER BY id").fetchall()
files = {}
for sid, file, folder, md5 in src.execute(
    "SELECT imaging_session_id, file, folder, md5sum FROM fits_files ORDER BY imaging_session_id, file"
):
    files.setdefault(sid, []).append((file, folder, md5))
now = "2026-01-01 00:00:00.000000"
with dst:
    for sid, date, telescope, camera in sessions:
        members = files.get(sid, [])
        size = 512 * 3 * len(members) + 1024
        cur = dst.execute(
            "INSERT INTO s3_backup_archives (session_id, session_date, session_year, s3_bucket, s3_key,"
            " s3_region, s3_etag, file_count, original_size_bytes, compressed_size_bytes,"
            " archive_policy, backup_policy, current_storage_class, expected_storage_class,"
            " created_at, uploaded_at, verified, telescope_name, camera_name)"
            " VALUES (?, ?, ?, ?, ?, 'us-east-1', ?, ?, ?, ?, 'fast', 'deep-archive',"
            " 'DEEP_ARCHIVE', 'DEEP_ARCHIVE', ?, ?, 1, ?, ?)",
            (sid, date, int(date[:4]), bucket, f"backups/raw/{date[:4]}/{sid}.tar",
             hashlib.md5(sid.encode()).hexdigest(), len(members), 512 * len(members), size,
             now, now, telescope, camera),
        )
        archive = cur.lastrowid
        dst.executemany(
            "INSERT INTO s3_backup_archive_members (archive_id, position, member_path, file, folder,"
            " source_path, size_bytes, md5, catalog_md5, header_offset, data_offset, mtime)"
            " VALUES (?, ?, ?, ?, ?, ?, 512, ?, ?, ?, ?, 0)",
            [
                (archive, i, f"{sid}/{f}", f, folder, f"{folder}/{f}", md5, md5, i * 1024, i * 1024 + 512)
                for i, (f, folder, md5) in enumerate(members)
            ],
        )
print(f"{len(sessions)} archives, {sum(len(v) for v in files.values())} members tracked")
