"""The original tool's way of backing up sessions, re-stated for the benchmark:
for each session, write an uncompressed tar with tarfile into a temporary
directory, upload it with boto3's upload_fileobj (25 MiB chunks, concurrency 4),
HEAD it, delete the temporary file.

    python original_upload.py CATALOG_DB BUCKET ENDPOINT
"""

import os
import sqlite3
import sys
import tarfile
import tempfile

import boto3
from boto3.s3.transfer import TransferConfig


def main():
    db, bucket, endpoint = sys.argv[1:4]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    config = TransferConfig(
        multipart_threshold=100 * 1024 * 1024,
        multipart_chunksize=25 * 1024 * 1024,
        max_concurrency=4,
        use_threads=True,
    )
    con = sqlite3.connect(db)
    sessions = con.execute("SELECT id, date FROM imaging_sessions ORDER BY date, id").fetchall()
    peak = 0
    for session_id, date in sessions:
        files = con.execute(
            "SELECT folder, file FROM fits_files WHERE imaging_session_id = ?", (session_id,)
        ).fetchall()
        fd, path = tempfile.mkstemp(suffix=".tar")
        os.close(fd)
        try:
            with tarfile.open(path, "w") as tar:
                for folder, name in files:
                    tar.add(os.path.join(folder, name), arcname=f"{session_id}/{name}")
            peak = max(peak, os.path.getsize(path))
            key = f"backups/raw/{date[:4]}/{session_id}.tar"
            with open(path, "rb") as f:
                s3.upload_fileobj(
                    f,
                    bucket,
                    key,
                    ExtraArgs={"StorageClass": "STANDARD", "Tagging": "archive=fast&backup=deep-archive"},
                    Config=config,
                )
            s3.head_object(Bucket=bucket, Key=key)
        finally:
            os.unlink(path)
    print(f"peak temporary archive: {peak} bytes")


if __name__ == "__main__":
    main()
