//! Processing sessions of the demo library: what a person makes on top of the raw
//! data (a stacked master, a project with its `.data` folder, final XISF and JPEG
//! images), catalogued in `processing_sessions` and `processed_files` as the
//! cataloger does, with a processing note each.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use md5::{Digest, Md5};
use rusqlite::{Connection, params};

use crate::DemoError;
use crate::fits::Rng;

/// The cataloger's `processing_sessions` and `processed_files` (models.py).
pub const PROCESSING_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS processing_sessions (
    id VARCHAR(50) NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    folder_path VARCHAR(500),
    objects TEXT,
    notes TEXT,
    status VARCHAR(20),
    version INTEGER,
    astrobin_url VARCHAR(500),
    social_urls TEXT,
    processing_started DATETIME,
    processing_completed DATETIME,
    primary_target VARCHAR(255),
    target_type VARCHAR(50),
    image_type VARCHAR(50),
    ra VARCHAR(50),
    dec VARCHAR(50),
    total_integration_seconds INTEGER,
    date_range_start DATETIME,
    date_range_end DATETIME,
    created_at DATETIME,
    updated_at DATETIME
);
CREATE TABLE IF NOT EXISTS processed_files (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    processing_session_id VARCHAR(50) REFERENCES processing_sessions (id) ON DELETE CASCADE,
    file_path VARCHAR(500) NOT NULL UNIQUE,
    filename VARCHAR(255) NOT NULL,
    file_type VARCHAR(20) NOT NULL,
    subfolder VARCHAR(50),
    file_size INTEGER,
    created_date DATETIME,
    modified_date DATETIME,
    md5sum VARCHAR(32),
    has_companion BOOLEAN,
    companion_path VARCHAR(500),
    companion_size INTEGER,
    image_width INTEGER,
    image_height INTEGER,
    bit_depth INTEGER,
    color_space VARCHAR(50),
    associated_object VARCHAR(255),
    processing_stage VARCHAR(50),
    metadata_json TEXT,
    notes TEXT,
    cataloged_at DATETIME,
    updated_at DATETIME
);
CREATE INDEX IF NOT EXISTS idx_processed_session ON processed_files (processing_session_id);
";

/// One processed file of the demo.
#[derive(Debug, Clone)]
pub struct DemoProcessed {
    /// `processed_files.id`.
    pub id: i64,
    /// Where it is.
    pub path: PathBuf,
    /// `final` or `intermediate`.
    pub subfolder: String,
    /// Its size.
    pub size: u64,
    /// Its MD5.
    pub md5: String,
    /// Its `.data` folder, when it has one.
    pub companion: Option<PathBuf>,
}

/// One processing session of the demo.
#[derive(Debug, Clone)]
pub struct DemoProcessing {
    /// Its id (`20250115_ABC123`).
    pub id: String,
    /// Its folder.
    pub folder: PathBuf,
    /// Its files.
    pub files: Vec<DemoProcessed>,
    /// Its note.
    pub note: PathBuf,
}

/// One output to write: subfolder, name, type, size, and its companion's files
/// (path inside the `.data` folder, size).
type Output = (
    &'static str,
    String,
    &'static str,
    u64,
    Vec<(&'static str, u64)>,
);

fn io(path: &Path) -> impl Fn(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `size` pseudo-random bytes to `path`; returns their MD5.
fn write_bytes(path: &Path, size: u64, rng: &mut Rng) -> Result<String, DemoError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut bytes = Vec::with_capacity(size as usize + 8);
    while (bytes.len() as u64) < size {
        bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    bytes.truncate(size as usize);
    std::fs::write(path, &bytes).map_err(io(path))?;
    Ok(hex::encode(Md5::digest(&bytes)))
}

/// Where processing sessions are written: the catalog being written, the
/// library's root (files go below `root/processing`), the notes directory.
pub(crate) struct Place<'a> {
    pub tx: &'a Connection,
    pub database: &'a Path,
    pub root: &'a Path,
    pub notes_dir: &'a Path,
}

/// Writes processing session `index`, its rows and its note; `frame` is the size
/// of one raw frame (the outputs are sized from it).
pub(crate) fn write(
    place: &Place<'_>,
    index: usize,
    date: NaiveDate,
    object: &str,
    frame: u64,
    rng: &mut Rng,
) -> Result<DemoProcessing, DemoError> {
    let sql = |source| DemoError::Sqlite {
        path: place.database.to_owned(),
        what: "writing the demo's processing sessions",
        source,
    };
    let (tx, root, notes_dir) = (place.tx, place.root, place.notes_dir);
    let id = format!(
        "{}_{:06X}",
        date.format("%Y%m%d"),
        rng.next_u64() as u32 & 0xFF_FFFF
    );
    let slug: String = object
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let folder = root.join("processing").join(&id);
    tx.execute(
        "INSERT INTO processing_sessions (id, name, folder_path, objects, notes, status, version,
            primary_target, image_type, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, 'SHO', ?8, ?8)",
        params![
            id,
            format!(
                "{object} {}",
                if index.is_multiple_of(2) {
                    "SHO"
                } else {
                    "LRGB"
                }
            ),
            folder.to_string_lossy(),
            serde_json::to_string(&[object]).unwrap_or_default(),
            "Stacked in PixInsight; final crop and stretch.",
            if index.is_multiple_of(2) {
                "complete"
            } else {
                "in_progress"
            },
            object,
            format!("{date} 20:00:00.000000"),
        ],
    )
    .map_err(sql)?;
    let plan: Vec<Output> = vec![
        (
            "final",
            format!("{slug}_final.xisf"),
            "xisf",
            frame * 3,
            vec![],
        ),
        (
            "final",
            format!("{slug}_final.jpg"),
            "jpg",
            (frame / 4).max(1024),
            vec![],
        ),
        (
            "intermediate",
            format!("{slug}_master_L.xisf"),
            "xisf",
            frame * 2,
            vec![],
        ),
        (
            "intermediate",
            format!("{slug}_stack.xosm"),
            "xosm",
            8 * 1024,
            vec![("cache.bin", frame), ("history/step1.xisf", frame / 2)],
        ),
    ];
    let mut files = Vec::new();
    for (subfolder, name, kind, size, companion) in plan {
        let path = folder.join(subfolder).join(&name);
        let md5 = write_bytes(&path, size, rng)?;
        let data = (!companion.is_empty()).then(|| {
            folder
                .join(subfolder)
                .join(format!("{}.data", name.trim_end_matches(".xosm")))
        });
        let mut companion_size = 0;
        if let Some(dir) = &data {
            for (inner, bytes) in &companion {
                write_bytes(&dir.join(inner), *bytes, rng)?;
                companion_size += bytes;
            }
        }
        tx.execute(
            "INSERT INTO processed_files (processing_session_id, file_path, filename, file_type,
                subfolder, file_size, md5sum, has_companion, companion_path, companion_size,
                associated_object, processing_stage, created_date, modified_date, cataloged_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?5, ?12, ?12, ?12)",
            params![
                id,
                path.to_string_lossy(),
                name,
                kind,
                subfolder,
                (size + companion_size) as i64,
                md5,
                data.is_some(),
                data.as_ref().map(|d| d.to_string_lossy().into_owned()),
                companion_size as i64,
                object,
                format!("{date} 22:00:00.000000"),
            ],
        )
        .map_err(sql)?;
        files.push(DemoProcessed {
            id: tx.last_insert_rowid(),
            path,
            subfolder: subfolder.to_owned(),
            size,
            md5,
            companion: data,
        });
    }
    let note = notes_dir
        .join("Processing_Sessions")
        .join(&id[..4])
        .join(format!("{id}.md"));
    let text = format!(
        "# Processing session {id}\n\n- Target: {object}\n- Files: {}\n\n\
         ## Steps\n\nWBPP, DBE, BlurXTerminator, NoiseXTerminator, stretch, curves.\n",
        files.len()
    );
    if let Some(dir) = note.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(&note, text).map_err(io(&note))?;
    Ok(DemoProcessing {
        id,
        folder,
        files,
        note,
    })
}
