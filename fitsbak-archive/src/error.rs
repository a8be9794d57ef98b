//! Errors of the archive crate; each names the file or member (see the rules in
//! `fitsbak_core::error`).

use std::path::PathBuf;

/// Everything that can fail while writing or reading an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file name cannot be an archive member.
    #[error("file {file:?} in {folder}: {reason}")]
    BadName {
        /// The catalogued file name.
        file: String,
        /// Its folder.
        folder: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file to archive is not on disk.
    #[error("file not found: {}", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },

    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// A file's size differs from the planned one (it grew or shrank).
    #[error("{} changed while it was archived: planned {planned} bytes, found {actual}", path.display())]
    SizeChanged {
        /// The file.
        path: PathBuf,
        /// Size when the archive was planned.
        planned: u64,
        /// Size found while reading.
        actual: u64,
    },

    /// A file was modified while it was read.
    #[error("{} was modified while it was archived (its modification time changed)", path.display())]
    Modified {
        /// The file.
        path: PathBuf,
    },

    /// A file's bytes differ between the read that hashed it and the read that
    /// archived it (same size and modification time: rewritten in place).
    #[error("{} changed while it was archived: its bytes differ between the read that hashed it and the read that archived it", path.display())]
    ContentChanged {
        /// The file.
        path: PathBuf,
    },

    /// A file's MD5 differs from the catalog's.
    #[error("{}: MD5 {actual} differs from the catalog's {catalog}", path.display())]
    Md5Mismatch {
        /// The file.
        path: PathBuf,
        /// The catalog's MD5.
        catalog: String,
        /// The MD5 of the bytes read.
        actual: String,
    },

    /// The archive's destination refused bytes (an upload failed or was cancelled).
    #[error("writing the archive: {0}")]
    Sink(std::io::Error),

    /// The tar stream could not be read (it is not a tar, or it ends early).
    #[error("reading the archive: {}", printable(.0))]
    Stream(std::io::Error),

    /// Members were refused during extraction; nothing was written for them.
    #[error("refused {} member(s): {}", .0.len(), .0.join("; "))]
    Refused(Vec<String>),

    /// Extraction would replace a different existing file.
    #[error("{} exists and differs from the archived file", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },

    /// An extracted file does not match the manifest.
    #[error("{member}: {what} (expected {expected}, found {actual}); {}", match kept {
        Some(path) => format!("its bytes are kept aside in {}", path.display()),
        None => "the file was not kept".to_owned(),
    })]
    Corrupt {
        /// The member.
        member: String,
        /// What differs: "MD5", "size".
        what: &'static str,
        /// What the manifest says.
        expected: String,
        /// What was read.
        actual: String,
        /// Where the bytes read were put aside, if they were.
        kept: Option<PathBuf>,
    },

    /// A file or directory could not be written during extraction.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// An error's text without control characters and at most 200 characters long:
/// the tar reader quotes the bytes it could not parse, which may be anything.
fn printable(e: &std::io::Error) -> String {
    let text: String = e
        .to_string()
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{fffd}' {
                '.'
            } else {
                c
            }
        })
        .collect();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

impl From<ArchiveError> for fitsbak_core::Error {
    fn from(e: ArchiveError) -> Self {
        match e {
            e @ ArchiveError::Exists { .. } => fitsbak_core::Error::Unusable {
                message: e.to_string(),
                hint: Some(fitsbak_core::Hint::Overwrite),
            },
            e => fitsbak_core::Error::Archive(Box::new(e)),
        }
    }
}
