//! Config errors that name the file, the key and where it is: bad JSON with its
//! line and column, a wrong type with the key path, a bad value with the key path
//! and its line.

use std::path::{Path, PathBuf};

/// An error in the configuration, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file does not exist.
    #[error("config file {} not found", path.display())]
    NotFound {
        /// The path that was tried.
        path: PathBuf,
    },
    /// The file exists but could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{}:{line}:{column}: not valid JSON: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// A key holds a value of the wrong type.
    #[error("{}:{line}:{column}: `{key}`: {message}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The key path, `upload_settings.max_concurrency`.
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was found and what was expected.
        message: String,
    },
    /// A key holds a value of the right type that cannot be used.
    #[error("{}{}: `{key}`: {message}", path.display(), location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key path.
        key: String,
        /// Line and column of the key in the file, when it is there.
        location: Option<(usize, usize)>,
        /// Why the value cannot be used.
        message: String,
    },
    /// `init-config` would overwrite a file.
    #[error("{} already exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The template could not be written.
    #[error("cannot write config file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl ConfigError {
    /// What the caller can do about it.
    pub fn hint(&self) -> Option<crate::error::Hint> {
        match self {
            ConfigError::NotFound { .. } => Some(crate::error::Hint::InitConfig),
            ConfigError::Exists { .. } => Some(crate::error::Hint::ForceInitConfig),
            _ => None,
        }
    }
}

/// Where a section's values are checked: the file's text and name, so that an
/// error can say where the key is.
pub struct Check<'a> {
    /// The file's text.
    pub text: &'a str,
    /// The file.
    pub path: &'a Path,
}

impl Check<'_> {
    /// The error for the value at `key` (`section.key`).
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            location: locate_key(self.text, key),
            message: message.into(),
        }
    }

    /// Fails for `key` unless `value` is a finite number at least `min`.
    pub fn at_least(&self, key: &str, value: f64, min: f64, what: &str) -> Result<(), ConfigError> {
        if value.is_finite() && value >= min {
            Ok(())
        } else {
            Err(self.invalid(key, format!("{value} is not {what}")))
        }
    }
}

/// Turns a serde_json error into a [`ConfigError`] that names the file, the key and
/// the position.
pub(crate) fn json_error(path: &Path, key: &str, err: serde_json::Error) -> ConfigError {
    use serde_json::error::Category;
    let (line, column) = (err.line(), err.column());
    // serde_json appends " at line L column C"; the position is printed separately.
    let message = err.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(m, _)| m)
        .to_owned();
    match err.classify() {
        Category::Data if key != "." => ConfigError::WrongType {
            path: path.to_owned(),
            key: key.to_owned(),
            line,
            column,
            message,
        },
        Category::Io => ConfigError::Read {
            path: path.to_owned(),
            source: std::io::Error::other(message),
        },
        _ => ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message,
        },
    }
}

/// Finds the line and column (1-based) of the key at `key_path` (`a.b.c`) in JSON
/// `text`, by walking its objects. Returns `None` when the key is not in the text
/// (its value is a default).
pub fn locate_key(text: &str, key_path: &str) -> Option<(usize, usize)> {
    let wanted: Vec<&str> = key_path.split('.').collect();
    let (parents, last) = wanted.split_at(wanted.len() - 1);
    let bytes = text.as_bytes();
    // One frame per open bracket: whether it is an object, and the key holding it
    // (`None` for the root and for values inside arrays).
    let mut frames: Vec<(bool, Option<String>)> = Vec::new();
    let mut last_key: Option<String> = None;
    let mut expecting_key = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            open @ (b'{' | b'[') => {
                let in_object = frames.last().is_some_and(|(object, _)| *object);
                let holder = if in_object { last_key.take() } else { None };
                frames.push((open == b'{', holder));
                expecting_key = open == b'{';
            }
            b'}' | b']' => {
                frames.pop();
                last_key = None;
                expecting_key = false;
            }
            b',' => expecting_key = frames.last().is_some_and(|(object, _)| *object),
            b'"' => {
                let start = i;
                let mut raw = Vec::new();
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    if let Some(&b) = bytes.get(i) {
                        raw.push(b);
                    }
                    i += 1;
                }
                if expecting_key {
                    let key = String::from_utf8_lossy(&raw).into_owned();
                    let chain: Option<Vec<&str>> =
                        frames.iter().skip(1).map(|(_, k)| k.as_deref()).collect();
                    if key == last[0] && chain.as_deref() == Some(parents) {
                        let line = text[..start].matches('\n').count() + 1;
                        let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
                        return Some((line, text[line_start..start].chars().count() + 1));
                    }
                    last_key = Some(key);
                    expecting_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}
