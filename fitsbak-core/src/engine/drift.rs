//! Catalog drift: sessions whose catalog rows no longer match the archive made of
//! them (files catalogued later, files dropped, MD5s that changed).
//!
//! The upload records the [`Fingerprint`] of the session's catalog rows with its
//! archive; comparing it with the catalog's fingerprint now tells a changed session
//! in one scan of `fits_files`, without reading a manifest.

use std::collections::{HashMap, HashSet};

use crate::catalog::Catalog;
use crate::error::Result;
use crate::ids::SessionId;
use crate::manifest::ManifestMember;
use crate::model::{CatalogFile, Fingerprint};
use crate::tracker::ArchiveRecord;

/// The sessions of `archives` whose catalog rows changed since their archive was
/// made. An archive recorded without a fingerprint is not counted: nothing tells.
pub async fn changed_since_backup<'a>(
    catalog: &dyn Catalog,
    archives: impl IntoIterator<Item = &'a ArchiveRecord>,
) -> Result<HashSet<SessionId>> {
    let recorded: Vec<(&SessionId, Fingerprint)> = archives
        .into_iter()
        .filter_map(|a| {
            let facts = a.facts.as_ref()?;
            let fingerprint = Fingerprint::parse(facts.catalog_fingerprint.as_deref()?)?;
            Some((&a.session_id, fingerprint))
        })
        .collect();
    if recorded.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<SessionId> = recorded.iter().map(|(id, _)| (*id).clone()).collect();
    let now = catalog.fingerprints(Some(&ids)).await?;
    Ok(recorded
        .into_iter()
        .filter(|(id, then)| now.get(*id).copied().unwrap_or_default() != *then)
        .map(|(id, _)| id.clone())
        .collect())
}

/// What an archive made from the catalog now would lose against the archive made
/// before: members no longer catalogued, and members catalogued with another MD5.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Losses {
    /// `folder/file` of members the catalog no longer lists.
    pub removed: Vec<String>,
    /// `folder/file` of members whose catalog MD5 is not the archived one.
    pub changed: Vec<String>,
}

impl Losses {
    /// Compares the archived `members` with the catalog's `files` of the session.
    pub fn between(members: &[ManifestMember], files: &[CatalogFile]) -> Self {
        let catalogued: HashMap<(&str, &str), Option<&str>> = files
            .iter()
            .map(|f| ((f.folder.as_str(), f.file.as_str()), f.md5sum.as_deref()))
            .collect();
        let mut losses = Self::default();
        for m in members {
            let name = || format!("{}/{}", m.folder.trim_end_matches('/'), m.file);
            match catalogued.get(&(m.folder.as_str(), m.file.as_str())) {
                None => losses.removed.push(name()),
                Some(Some(md5)) if !md5.eq_ignore_ascii_case(&m.md5) => losses.changed.push(name()),
                Some(_) => {}
            }
        }
        losses
    }

    /// True when nothing archived would be lost.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.changed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::MockCatalog;
    use crate::engine::testing::{archive, catalog_file, member};
    use crate::model::StorageClass;
    use crate::tracker::ArchiveFacts;

    #[tokio::test]
    async fn a_session_is_changed_when_its_fingerprint_moved_and_unknown_without_one() {
        let files = [
            catalog_file("S1", "/d", "a.fits", "aa"),
            catalog_file("S1", "/d", "b.fits", "bb"),
        ];
        let then = Fingerprint::of(
            files
                .iter()
                .map(|f| (f.folder.as_str(), f.file.as_str(), f.md5sum.as_deref())),
        );
        let mut same = archive("S1", StorageClass::Standard, 2, 10);
        same.facts = Some(ArchiveFacts {
            catalog_fingerprint: Some(then.to_string()),
            ..Default::default()
        });
        let mut grown = archive("S2", StorageClass::Standard, 2, 10);
        grown.facts = same.facts.clone();
        let mut emptied = archive("S3", StorageClass::Standard, 2, 10);
        emptied.facts = same.facts.clone();
        let unknown = archive("S4", StorageClass::Standard, 2, 10);
        let mut catalog = MockCatalog::new();
        catalog.expect_fingerprints().returning(move |ids| {
            let ids = ids.expect("only the recorded sessions are read");
            assert_eq!(ids.len(), 3);
            let mut more = then;
            more.add("/d", "c.fits", Some("cc"));
            Ok(HashMap::from([
                (SessionId::new("S1").unwrap(), then),
                (SessionId::new("S2").unwrap(), more),
            ]))
        });
        let changed = changed_since_backup(&catalog, [&same, &grown, &emptied, &unknown])
            .await
            .unwrap();
        let mut changed: Vec<_> = changed.into_iter().map(|s| s.to_string()).collect();
        changed.sort();
        assert_eq!(changed, ["S2", "S3"]);
    }

    #[test]
    fn losses_name_removed_and_rehashed_members_not_added_ones() {
        let members = [
            member("/d", "a.fits", "aa"),
            member("/d", "b.fits", "bb"),
            member("/d", "c.fits", "cc"),
        ];
        let files = [
            catalog_file("S1", "/d", "a.fits", "AA"),
            catalog_file("S1", "/d", "b.fits", "b2"),
            catalog_file("S1", "/d", "new.fits", "nn"),
        ];
        let losses = Losses::between(&members, &files);
        assert_eq!(losses.removed, ["/d/c.fits"]);
        assert_eq!(losses.changed, ["/d/b.fits"]);
        assert!(!losses.is_empty());
        assert!(Losses::between(&members[..1], &files).is_empty());
    }
}
