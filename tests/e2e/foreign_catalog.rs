//! A cataloger database written by another program (Python's sqlite3, with the
//! cataloger's own table definitions), read by fitsbak.

use std::process::Command as Process;

use crate::support::*;

/// The cataloger's tables as SQLAlchemy creates them, and rows as it writes them
/// (booleans 0/1, DATETIME as text), plus a session with a bad date.
const SCRIPT: &str = r#"
import sqlite3, sys, os, hashlib
db, frames = sys.argv[1], sys.argv[2]
con = sqlite3.connect(db)
con.executescript('''
CREATE TABLE imaging_sessions (
    id VARCHAR(50) NOT NULL, date VARCHAR(10) NOT NULL, telescope VARCHAR(50),
    camera VARCHAR(50), site_name VARCHAR(100), latitude FLOAT, longitude FLOAT,
    elevation FLOAT, observer VARCHAR(100), notes TEXT, avg_seeing FLOAT,
    avg_sky_quality FLOAT, avg_cloud_cover FLOAT, created_at DATETIME,
    updated_at DATETIME, PRIMARY KEY (id));
CREATE TABLE fits_files (
    id INTEGER NOT NULL, file VARCHAR(255) NOT NULL, folder VARCHAR(500) NOT NULL,
    object VARCHAR(100), obs_date VARCHAR(10), obs_timestamp DATETIME, ra VARCHAR(20),
    dec VARCHAR(20), width_pixels INTEGER, height_pixels INTEGER,
    imaging_session_id VARCHAR(50), frame_type VARCHAR(20), filter VARCHAR(20),
    focal_length FLOAT, exposure FLOAT, camera VARCHAR(50), telescope VARCHAR(50),
    md5sum VARCHAR(32), bad BOOLEAN, file_not_found BOOLEAN, orig_file VARCHAR(255),
    validation_score FLOAT, created_at DATETIME, updated_at DATETIME, PRIMARY KEY (id),
    FOREIGN KEY(imaging_session_id) REFERENCES imaging_sessions (id));
CREATE INDEX idx_imaging_session ON fits_files (imaging_session_id);
CREATE UNIQUE INDEX ix_fits_files_md5sum ON fits_files (md5sum);
''')
con.execute("INSERT INTO imaging_sessions (id, date, telescope, camera, created_at) VALUES "
            "('20240315_A7B3C2D1', '2024-03-15', 'RedCat 51', 'ASI2600MM', '2024-03-16 08:00:00.000000')")
con.execute("INSERT INTO imaging_sessions (id, date) VALUES ('20240399_BROKEN', '2024-03-99')")
os.makedirs(frames, exist_ok=True)
for i in range(3):
    name = f'M42_Light_Ha_{i:03d}.fits'
    data = (b'SIMPLE  =                    T' + b' ' * 50) * 36 * (i + 1)
    with open(os.path.join(frames, name), 'wb') as f:
        f.write(data)
    con.execute("INSERT INTO fits_files (file, folder, imaging_session_id, frame_type, filter, "
                "md5sum, bad, file_not_found, created_at) VALUES (?, ?, ?, 'LIGHT', 'Ha', ?, 0, 0, ?)",
                (name, frames, '20240315_A7B3C2D1', hashlib.md5(data).hexdigest(),
                 '2024-03-16 08:00:00.000000'))
con.commit()
"#;

#[test]
fn a_catalog_written_by_python_is_read_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fits_catalog.db");
    let frames = dir.path().join("frames");
    let status = Process::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&db)
        .arg(&frames)
        .status()
        .expect("python3 is needed by this test (it writes the foreign catalog)");
    assert!(status.success());
    let config = dir.path().join("s3_config.json");
    std::fs::write(
        &config,
        r#"{"target": "local", "database_path": "fits_catalog.db"}"#,
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let rows = json(fitsbak().args(["--config", config, "--json", "list-sessions"]));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "the session with a bad date is skipped");
    assert_eq!(rows[0]["session_id"], "20240315_A7B3C2D1");
    assert_eq!(rows[0]["file_count"], 3);
    assert_eq!(rows[0]["size_bytes"], 2880 * (1 + 2 + 3));
    assert_eq!(rows[0]["telescope"], "RedCat 51");

    let out = fitsbak()
        .args(["--config", config, "status"])
        .assert()
        .success()
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("20240399_BROKEN") && err.contains("2024-03-99"),
        "{err}"
    );
}
