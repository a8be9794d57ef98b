//! Names that cannot be wrong: session ids, object keys and archive member paths.
//!
//! Every name that reaches a bucket key, a tar header or a path on disk comes from
//! outside (the catalog database, the config, a manifest in the bucket). Each is
//! validated once, here, when it is constructed; everything downstream trusts the type.
//! A session id can never climb out of its directory, an object key never has an
//! empty or `..` segment, and a member path is always relative and clean.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct NameError {
    /// What kind of name it was: "session id", "object key", "member path".
    pub kind: &'static str,
    /// The refused text, as given (control characters are escaped by `{:?}`).
    pub value: String,
    /// The rule it broke.
    pub reason: &'static str,
}

fn refuse(kind: &'static str, value: &str, reason: &'static str) -> NameError {
    NameError {
        kind,
        value: value.to_owned(),
        reason,
    }
}

/// Rules shared by every segment of a path-like name.
fn check_segment(kind: &'static str, whole: &str, segment: &str) -> Result<(), NameError> {
    if segment.is_empty() {
        return Err(refuse(kind, whole, "empty path segment"));
    }
    if segment == "." || segment == ".." {
        return Err(refuse(kind, whole, "`.` or `..` path segment"));
    }
    if segment.chars().any(char::is_control) {
        return Err(refuse(kind, whole, "control character"));
    }
    if segment.contains('\\') {
        return Err(refuse(kind, whole, "backslash"));
    }
    Ok(())
}

/// The id of one imaging session, as the cataloger writes it (`20240315_A7B3C2D1`).
///
/// It becomes a key segment (`backups/raw/2024/{id}.tar`) and the top directory of
/// the archive, so it must be a single clean path segment.
///
/// ```
/// use fitsbak_core::ids::SessionId;
/// assert!(SessionId::new("20240315_A7B3C2D1").is_ok());
/// assert!(SessionId::new("../etc").is_err());
/// assert!(SessionId::new("a/b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// Longest id accepted, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Validates `value` as a session id.
    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        const KIND: &str = "session id";
        let value = value.into();
        if value.is_empty() {
            return Err(refuse(KIND, &value, "empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(refuse(KIND, &value, "longer than 128 bytes"));
        }
        if value.contains('/') {
            return Err(refuse(KIND, &value, "contains `/`"));
        }
        if value.contains("..") {
            return Err(refuse(KIND, &value, "contains `..`"));
        }
        if value.trim() != value {
            return Err(refuse(KIND, &value, "leading or trailing white space"));
        }
        check_segment(KIND, &value, &value)?;
        Ok(Self(value))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key of an object in the bucket (or a file below the local target's root).
///
/// No leading `/`, no empty, `.` or `..` segment, no control character, at most
/// 1024 bytes (the S3 limit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Longest key S3 accepts, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Validates `value` as an object key.
    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        const KIND: &str = "object key";
        let value = value.into();
        if value.is_empty() {
            return Err(refuse(KIND, &value, "empty"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(refuse(KIND, &value, "longer than 1024 bytes"));
        }
        if value.starts_with('/') {
            return Err(refuse(KIND, &value, "leading `/`"));
        }
        for segment in value.split('/') {
            check_segment(KIND, &value, segment)?;
        }
        Ok(Self(value))
    }

    /// Joins a configured prefix (`backups/raw`, with or without slashes around it)
    /// and further segments into a key.
    pub fn join(prefix: &str, segments: &[&str]) -> Result<Self, NameError> {
        let mut key = prefix.trim_matches('/').to_owned();
        for segment in segments {
            if !key.is_empty() {
                key.push('/');
            }
            key.push_str(segment);
        }
        Self::new(key)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments of the key.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// The path of one member inside a session archive: `{session_id}/{file}`.
///
/// Always relative, `/`-separated, made of clean segments, so that nothing outside
/// the session's own directory can ever be named by a member.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberPath(String);

impl MemberPath {
    /// Validates `value` as a member path.
    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        const KIND: &str = "member path";
        let value = value.into();
        if value.is_empty() {
            return Err(refuse(KIND, &value, "empty"));
        }
        if value.starts_with('/') {
            return Err(refuse(KIND, &value, "absolute path"));
        }
        for segment in value.split('/') {
            check_segment(KIND, &value, segment)?;
        }
        Ok(Self(value))
    }

    /// The member path for `file` directly below the session's directory.
    pub fn in_session(session: &SessionId, file: &str) -> Result<Self, NameError> {
        if file.contains('/') {
            return Err(refuse("member path", file, "file name contains `/`"));
        }
        Self::new(format!("{}/{}", session.as_str(), file))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the first segment is `session`'s id.
    pub fn is_in_session(&self, session: &SessionId) -> bool {
        self.0
            .split_once('/')
            .is_some_and(|(top, rest)| top == session.as_str() && !rest.is_empty())
    }

    /// The last segment: the file's name.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

macro_rules! text_newtype {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_newtype!(SessionId);
text_newtype!(ObjectKey);
text_newtype!(MemberPath);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn session_ids_from_the_cataloger_are_accepted() {
        for id in ["20240315_A7B3C2D1", "2023-01-01_rig 2", "Hα_session"] {
            assert_eq!(SessionId::new(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn hostile_session_ids_are_refused_with_the_reason() {
        let cases = [
            ("", "empty"),
            ("a/b", "contains `/`"),
            ("../x", "contains `/`"),
            ("..", "contains `..`"),
            ("x..y", "contains `..`"),
            ("bad\nid", "control character"),
            ("nul\0", "control character"),
            (" padded", "leading or trailing white space"),
            ("back\\slash", "backslash"),
        ];
        for (id, reason) in cases {
            let err = SessionId::new(id).unwrap_err();
            assert_eq!(err.reason, reason, "{id:?}");
            assert!(err.to_string().contains("session id"));
        }
        assert!(SessionId::new("x".repeat(129)).is_err());
    }

    #[test]
    fn object_keys_have_clean_segments() {
        assert!(ObjectKey::new("backups/raw/2024/S1.tar").is_ok());
        for bad in ["", "/abs", "a//b", "a/./b", "a/../b", "a/", "a/\u{7}"] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?}");
        }
        let key = ObjectKey::join("/backups/raw/", &["2024", "S1.tar"]).unwrap();
        assert_eq!(key.as_str(), "backups/raw/2024/S1.tar");
        assert_eq!(key.segments().count(), 4);
        assert_eq!(
            ObjectKey::join("", &["a", "b"]).unwrap().as_str(),
            "a/b",
            "an empty prefix adds no segment"
        );
    }

    #[test]
    fn member_paths_stay_inside_the_session() {
        let session = SessionId::new("S1").unwrap();
        let member = MemberPath::in_session(&session, "M 42 Hα.fits").unwrap();
        assert_eq!(member.as_str(), "S1/M 42 Hα.fits");
        assert!(member.is_in_session(&session));
        assert_eq!(member.file_name(), "M 42 Hα.fits");
        assert!(MemberPath::in_session(&session, "../x").is_err());
        assert!(MemberPath::in_session(&session, "..").is_err());
        assert!(MemberPath::new("/etc/passwd").is_err());
        assert!(!MemberPath::new("S2/x").unwrap().is_in_session(&session));
        assert!(!MemberPath::new("S1").unwrap().is_in_session(&session));
    }

    #[test]
    fn names_round_trip_through_serde_and_are_validated_on_the_way_in() {
        let id = SessionId::new("S1").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"S1\"");
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SessionId>("\"../S1\"").is_err());
        assert!(serde_json::from_str::<MemberPath>("\"/etc/x\"").is_err());
    }

    proptest! {
        #[test]
        fn any_accepted_key_has_only_clean_segments(s in "[a-z./]{0,12}") {
            if let Ok(key) = ObjectKey::new(s) {
                for segment in key.segments() {
                    prop_assert!(!segment.is_empty() && segment != "." && segment != "..");
                }
            }
        }

        #[test]
        fn any_accepted_member_path_is_relative_and_clean(s in "[a-z./\\\\]{0,12}") {
            if let Ok(path) = MemberPath::new(s) {
                let p = std::path::Path::new(path.as_str());
                prop_assert!(p.is_relative());
                for c in p.components() {
                    prop_assert!(matches!(c, std::path::Component::Normal(_)));
                }
            }
        }
    }
}
