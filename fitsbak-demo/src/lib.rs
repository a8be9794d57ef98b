//! A realistic demo library: FITS files over several nights and years, the
//! cataloger's database listing them with their true MD5s, and a config pointing
//! at both with the local target. `fitsbak demo init` and the tests use it.
//!
//! The library has what real ones have: light frames through several filters,
//! darks, flats and biases; file names with spaces and non-ASCII characters; names
//! longer than 100 bytes; and flats with the same file name in two folders.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use md5::{Digest, Md5};
use rusqlite::{Connection, params};

pub mod fits;
pub mod processing;

use fits::{Header, Rng, write_image};

/// What can fail while writing the demo library, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or directory could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The demo catalog could not be written.
    #[error("{}: {what}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// Why.
        source: rusqlite::Error,
    },
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    /// Imaging sessions.
    pub sessions: usize,
    /// Files per session (at least 4: lights, a dark, two flats, a bias).
    pub files_per_session: usize,
    /// Image width in pixels (file size is about width x height x 2 bytes).
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Seed; the same seed gives the same library.
    pub seed: u64,
    /// The first year; sessions spread over three years from it.
    pub first_year: i32,
    /// Write only the catalog rows, no files (for scale benchmarks).
    pub rows_only: bool,
    /// Processing sessions (final and intermediate files, a `.data` folder, a
    /// note each); none with `rows_only`.
    pub processing_sessions: usize,
}

impl Default for DemoSpec {
    fn default() -> Self {
        Self {
            sessions: 6,
            files_per_session: 8,
            width: 160,
            height: 120,
            seed: 2024,
            first_year: 2022,
            rows_only: false,
            processing_sessions: 2,
        }
    }
}

impl DemoSpec {
    /// A spec whose files are close to `bytes` each.
    pub fn with_file_size(mut self, bytes: u64) -> Self {
        let pixels = (bytes.saturating_sub(2880) / 2).max(1);
        self.width = 1024.min(pixels as u32).max(1);
        self.height = (pixels / u64::from(self.width)).max(1) as u32;
        self
    }
}

/// One generated file.
#[derive(Debug, Clone)]
pub struct DemoFile {
    /// Where it is.
    pub path: PathBuf,
    /// `fits_files.file`.
    pub file: String,
    /// `fits_files.folder`.
    pub folder: String,
    /// Its MD5, lower-case hex (also in the catalog).
    pub md5: String,
    /// Its size.
    pub size: u64,
    /// `LIGHT`, `DARK`, `FLAT`, `BIAS`.
    pub frame_type: String,
}

/// One generated session.
#[derive(Debug, Clone)]
pub struct DemoSession {
    /// Its id.
    pub id: String,
    /// Its date.
    pub date: NaiveDate,
    /// Its target.
    pub object: String,
    /// Its files.
    pub files: Vec<DemoFile>,
}

/// A generated library.
#[derive(Debug, Clone)]
pub struct DemoLibrary {
    /// The directory holding everything.
    pub root: PathBuf,
    /// `s3_config.json` (local target).
    pub config_path: PathBuf,
    /// The catalog database.
    pub database_path: PathBuf,
    /// Where the FITS files are.
    pub library_dir: PathBuf,
    /// The local target's directory.
    pub local_root: PathBuf,
    /// The notes directory (`notes_dir`): every session but each fourth has a note.
    pub notes_dir: PathBuf,
    /// The sessions.
    pub sessions: Vec<DemoSession>,
    /// The processing sessions.
    pub processing: Vec<processing::DemoProcessing>,
}

impl DemoLibrary {
    /// Where a session's note is (whether it has one or not).
    pub fn note_path(&self, session: &DemoSession) -> PathBuf {
        self.notes_dir
            .join("Imaging_Sessions")
            .join(session.date.year().to_string())
            .join(format!("{}.md", session.id))
    }
}

impl DemoLibrary {
    /// Total bytes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.sessions
            .iter()
            .flat_map(|s| &s.files)
            .map(|f| f.size)
            .sum()
    }

    /// Total number of files.
    pub fn file_count(&self) -> usize {
        self.sessions.iter().map(|s| s.files.len()).sum()
    }
}

const TARGETS: [&str; 6] = [
    "M42",
    "NGC 7000 North America",
    "Caldwell 49 Rosette",
    "M31",
    "IC 1805 Heart",
    "Sh2-129 Flying Bat",
];
const FILTERS: [&str; 5] = ["Hα", "OIII", "SII", "L", "R"];
const RIGS: [(&str, &str); 2] = [("RedCat 51", "ASI2600MM Pro"), ("EdgeHD 8", "ASI533MC Pro")];

/// The cataloger's tables, with their real column names (a representative subset
/// plus columns fitsbak does not use, to prove they are tolerated).
pub const CATALOG_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS imaging_sessions (
    id VARCHAR(50) NOT NULL PRIMARY KEY,
    date VARCHAR(10) NOT NULL,
    telescope VARCHAR(50),
    camera VARCHAR(50),
    site_name VARCHAR(100),
    latitude FLOAT,
    longitude FLOAT,
    elevation FLOAT,
    observer VARCHAR(100),
    notes TEXT,
    avg_seeing FLOAT,
    avg_sky_quality FLOAT,
    avg_cloud_cover FLOAT,
    created_at DATETIME,
    updated_at DATETIME
);
CREATE INDEX IF NOT EXISTS idx_session_date ON imaging_sessions (date);
CREATE TABLE IF NOT EXISTS fits_files (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    file VARCHAR(255) NOT NULL,
    folder VARCHAR(500) NOT NULL,
    object VARCHAR(100),
    obs_date VARCHAR(10),
    obs_timestamp DATETIME,
    ra VARCHAR(20),
    dec VARCHAR(20),
    width_pixels INTEGER,
    height_pixels INTEGER,
    imaging_session_id VARCHAR(50) REFERENCES imaging_sessions (id),
    frame_type VARCHAR(20),
    filter VARCHAR(20),
    focal_length FLOAT,
    exposure FLOAT,
    camera VARCHAR(50),
    telescope VARCHAR(50),
    md5sum VARCHAR(32) UNIQUE,
    gain INTEGER,
    sensor_temp FLOAT,
    bad BOOLEAN,
    file_not_found BOOLEAN,
    created_at DATETIME,
    updated_at DATETIME
);
CREATE INDEX IF NOT EXISTS idx_imaging_session ON fits_files (imaging_session_id);
CREATE INDEX IF NOT EXISTS ix_fits_files_md5sum ON fits_files (md5sum);
";

/// Creates the cataloger's tables in `conn`.
pub fn create_catalog_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CATALOG_SCHEMA)
}

struct Planned {
    folder: PathBuf,
    file: String,
    frame_type: &'static str,
    filter: Option<&'static str>,
    exposure: f64,
}

fn plan_files(
    root: &Path,
    session: usize,
    id: &str,
    object: &str,
    date: NaiveDate,
    n: usize,
) -> Vec<Planned> {
    // One folder per night and rig, as capture tools lay them out.
    let rig = id.rsplit('_').next().unwrap_or(id);
    let night = root
        .join(date.year().to_string())
        .join(format!("{date}_{object}_{rig}"));
    let lights = n.saturating_sub(4).max(1);
    let mut files = Vec::with_capacity(n);
    for i in 0..lights {
        let filter = FILTERS[(session + i) % FILTERS.len()];
        // Every third session carries names as long and odd as real capture tools
        // write them: spaces, non-ASCII, over 100 bytes.
        let file = if session % 3 == 2 {
            format!(
                "{object} - {filter} 300s - gain 100 offset 50 - -10.0°C - bin1x1 - \
                 mosaic panel 2 of 4 - frame {:04} of the night.fits",
                i + 1
            )
        } else {
            format!("{object}_{date}_{filter}_300s_{:04}.fits", i + 1)
        };
        files.push(Planned {
            folder: night.join("LIGHT").join(filter),
            file,
            frame_type: "LIGHT",
            filter: Some(filter),
            exposure: 300.0,
        });
    }
    if n >= 4 {
        files.push(Planned {
            folder: night.join("DARK"),
            file: "Dark_300s_0001.fits".into(),
            frame_type: "DARK",
            filter: None,
            exposure: 300.0,
        });
        // The same flat file name in two folders: both must be backed up.
        for filter in ["Hα", "OIII"] {
            files.push(Planned {
                folder: night.join("FLAT").join(filter),
                file: "Flat_0001.fits".into(),
                frame_type: "FLAT",
                filter: Some(filter),
                exposure: 1.5,
            });
        }
        files.push(Planned {
            folder: night.join("BIAS"),
            file: "Bias_0001.fits".into(),
            frame_type: "BIAS",
            filter: None,
            exposure: 0.0,
        });
    }
    files.truncate(n.max(1));
    files
}

/// What one session of the demo is, before its files are written.
struct SessionMeta {
    id: String,
    date: NaiveDate,
    object: &'static str,
    rig: (&'static str, &'static str),
}

/// Writes a demo library: the catalog rows, the files and the notes.
struct Writer<'a> {
    spec: &'a DemoSpec,
    rng: Rng,
    library_dir: PathBuf,
    notes_dir: PathBuf,
    database_path: PathBuf,
}

impl Writer<'_> {
    fn sql_err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> DemoError + '_ {
        move |source| DemoError::Sqlite {
            path: self.database_path.clone(),
            what,
            source,
        }
    }

    /// The `index`-th session: its row, its files (and their rows), its note.
    fn session(&mut self, tx: &Connection, index: usize) -> Result<DemoSession, DemoError> {
        let spec = self.spec;
        let year = spec.first_year + (index % 3) as i32;
        let rng = &mut self.rng;
        let date =
            NaiveDate::from_ymd_opt(year, 1 + rng.below(12) as u32, 1 + rng.below(28) as u32)
                .expect("day 1-28 exists in every month");
        let meta = SessionMeta {
            id: format!("{}_{:08X}", date.format("%Y%m%d"), rng.next_u64() as u32),
            date,
            object: TARGETS[index % TARGETS.len()],
            rig: RIGS[index % RIGS.len()],
        };
        let (telescope, camera) = meta.rig;
        tx.execute(
            "INSERT INTO imaging_sessions (id, date, telescope, camera, site_name, observer,
                notes, created_at)
             VALUES (?1, ?2, ?3, ?4, 'Backyard Observatory', 'Demo Observer', ?5, ?6)",
            params![
                meta.id,
                date.to_string(),
                telescope,
                camera,
                format!(
                    "{}: {} frames, seeing fair",
                    meta.object, spec.files_per_session
                ),
                format!("{date} 08:00:00.000000"),
            ],
        )
        .map_err(self.sql_err("writing the demo catalog"))?;
        let planned = plan_files(
            &self.library_dir,
            index,
            &meta.id,
            meta.object,
            date,
            spec.files_per_session,
        );
        let mut files = Vec::with_capacity(planned.len());
        for p in planned {
            let n = files.len();
            files.push(self.file(tx, &meta, p, n)?);
        }
        if index % 4 != 3 && !spec.rows_only {
            let note = self
                .notes_dir
                .join("Imaging_Sessions")
                .join(date.year().to_string())
                .join(format!("{}.md", meta.id));
            write_note(
                &note,
                &meta.id,
                meta.object,
                date,
                telescope,
                camera,
                files.len(),
            )?;
        }
        Ok(DemoSession {
            id: meta.id,
            date,
            object: meta.object.to_owned(),
            files,
        })
    }

    /// One file of a session (only its row with `rows_only`).
    fn file(
        &mut self,
        tx: &Connection,
        meta: &SessionMeta,
        planned: Planned,
        number: usize,
    ) -> Result<DemoFile, DemoError> {
        let spec = self.spec;
        let path = planned.folder.join(&planned.file);
        let (size, md5) = if spec.rows_only {
            (
                0,
                hex::encode(Md5::digest(path.to_string_lossy().as_bytes())),
            )
        } else {
            write_demo_file(&path, &planned, meta, number, spec, &mut self.rng)?
        };
        let folder = planned.folder.to_string_lossy().into_owned();
        let (telescope, camera) = meta.rig;
        tx.prepare_cached(
            "INSERT INTO fits_files (file, folder, object, obs_date, imaging_session_id,
                frame_type, filter, exposure, camera, telescope, md5sum, width_pixels,
                height_pixels, gain, bad, file_not_found, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 100, 0, 0, ?14)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                planned.file,
                folder,
                meta.object,
                meta.date.to_string(),
                meta.id,
                planned.frame_type,
                planned.filter,
                planned.exposure,
                camera,
                telescope,
                md5,
                spec.width,
                spec.height,
                format!("{} 09:00:00.000000", meta.date),
            ])
        })
        .map_err(self.sql_err("writing the demo catalog"))?;
        Ok(DemoFile {
            path,
            file: planned.file,
            folder,
            md5,
            size,
            frame_type: planned.frame_type.to_owned(),
        })
    }
}

/// Generates a library in `dir` (created; must be empty or absent).
pub fn create(dir: &Path, spec: &DemoSpec) -> Result<DemoLibrary, DemoError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let root = dir.canonicalize().map_err(io(dir))?;
    let config_path = root.join("s3_config.json");
    let mut writer = Writer {
        spec,
        rng: Rng::new(spec.seed),
        library_dir: root.join("library"),
        notes_dir: root.join("notes"),
        database_path: root.join("catalog.db"),
    };
    let mut conn = Connection::open(&writer.database_path)
        .map_err(writer.sql_err("creating the demo catalog"))?;
    create_catalog_schema(&conn).map_err(writer.sql_err("writing the demo catalog"))?;
    let tx = conn
        .transaction()
        .map_err(writer.sql_err("writing the demo catalog"))?;
    let mut sessions = Vec::with_capacity(spec.sessions);
    for index in 0..spec.sessions {
        sessions.push(writer.session(&tx, index)?);
    }
    tx.execute_batch(processing::PROCESSING_SCHEMA)
        .map_err(writer.sql_err("writing the demo catalog"))?;
    let mut processing = Vec::new();
    if !spec.rows_only {
        let frame = u64::from(spec.width) * u64::from(spec.height) * 2 + 2880;
        let place = processing::Place {
            tx: &tx,
            database: &writer.database_path,
            root: &root,
            notes_dir: &writer.notes_dir,
        };
        for index in 0..spec.processing_sessions.min(sessions.len().max(1)) {
            let (date, object) = sessions
                .get(index)
                .map(|s| (s.date, s.object.clone()))
                .unwrap_or((
                    NaiveDate::from_ymd_opt(spec.first_year, 6, 1).expect("a date"),
                    TARGETS[0].to_owned(),
                ));
            let date = date + chrono::Days::new(30);
            processing.push(processing::write(
                &place,
                index,
                date,
                &object,
                frame,
                &mut writer.rng,
            )?);
        }
    }
    tx.commit()
        .map_err(writer.sql_err("writing the demo catalog"))?;
    drop(conn);

    write_config(&config_path, "catalog.db", "bucket")?;
    let with_notes = std::fs::read_to_string(&config_path)
        .map_err(io(&config_path))?
        .replace(r#""notes_dir": null"#, r#""notes_dir": "notes""#);
    std::fs::write(&config_path, with_notes).map_err(io(&config_path))?;
    sessions.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
    Ok(DemoLibrary {
        local_root: root.join("bucket"),
        config_path,
        database_path: writer.database_path,
        library_dir: writer.library_dir,
        notes_dir: writer.notes_dir,
        root,
        sessions,
        processing,
    })
}

/// Writes a session's markdown notes, as the cataloger's notes tool would.
fn write_note(
    path: &Path,
    id: &str,
    object: &str,
    date: NaiveDate,
    telescope: &str,
    camera: &str,
    frames: usize,
) -> Result<(), DemoError> {
    let io = |source| DemoError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let text = format!(
        "# Imaging session {id}\n\n\
         - Date: {date}\n\
         - Target: {object}\n\
         - Rig: {telescope} + {camera}\n\
         - Frames: {frames}\n\n\
         ## Conditions\n\n\
         Seeing fair, transparency good, no wind after midnight.\n\n\
         ## Notes\n\n\
         Guiding RMS 0.6\". Flats taken at dawn with the same focus position.\n"
    );
    std::fs::write(path, text).map_err(io)
}

/// Writes the commented template with the local target, pointing at `database`
/// and `local_root` (relative to the config's directory).
pub fn write_config(path: &Path, database: &str, local_root: &str) -> Result<(), DemoError> {
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let text = fitsbak_core::config::Config::template()
        .replace(
            r#""database_path": "fits_catalog.db""#,
            &format!(r#""database_path": {}"#, quote(database)),
        )
        .replace(
            r#""local_root": "fitsbak-store""#,
            &format!(r#""local_root": {}"#, quote(local_root)),
        );
    std::fs::write(path, text).map_err(|source| DemoError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes one FITS file of the demo; returns its size and MD5.
fn write_demo_file(
    path: &Path,
    planned: &Planned,
    meta: &SessionMeta,
    index: usize,
    spec: &DemoSpec,
    rng: &mut Rng,
) -> Result<(u64, String), DemoError> {
    let (session, object, date) = (meta.id.as_str(), meta.object, meta.date);
    let (telescope, camera) = meta.rig;
    let io = |source| DemoError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(&planned.folder).map_err(io)?;
    let mut header = Header::image(spec.width, spec.height);
    header.string("IMAGETYP", planned.frame_type, "frame type");
    header.string("OBJECT", object, "target");
    header.string("FILTER", planned.filter.unwrap_or(""), "filter");
    header.string(
        "DATE-OBS",
        &format!("{date}T22:{:02}:00", index % 60),
        "UTC",
    );
    header.string("INSTRUME", camera, "camera");
    header.string("TELESCOP", telescope, "telescope");
    header.float("EXPTIME", planned.exposure, "seconds");
    header.string("IMGSESS", session, "imaging session");
    let mut hasher = HashingWriter {
        inner: BufWriter::new(File::create(path).map_err(io)?),
        md5: Md5::new(),
    };
    let size = write_image(&mut hasher, &header, spec.width, spec.height, rng)
        .and_then(|n| hasher.inner.flush().map(|()| n))
        .map_err(io)?;
    Ok((size, hex::encode(hasher.md5.finalize())))
}

struct HashingWriter<W> {
    inner: W,
    md5: Md5,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.md5.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
