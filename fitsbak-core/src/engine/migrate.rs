//! `fitsbak migrate`: adopting what the cataloger's Python `s3_backup` wrote, so
//! that nothing it backed up is uploaded again.
//!
//! Its archives (`{raw_archives}/{year}/{session_id}.tar`, or `.tar.gz`; a `.tar`
//! key may hold gzip data) have rows without members and no manifest. Each one
//! whose object can be read is read once: tar or gzip'd tar told by its first
//! bytes, every member hashed and matched with the catalog's file and MD5. When all
//! agree, a manifest is written next to it and the rows record its members, its
//! CRC32C and the proof, as a deep check would. One in an archive class is recorded
//! on its HEAD (size, ETag) with what reading it would cost; `migrate` after a
//! restore reads it. A damaged or incomplete one is reported with what is wrong and
//! marked unverified: `upload` then sends it again. Objects are retagged with the
//! config's tags, so fitsbak's lifecycle rules move them. Notes rows are adopted as
//! they are (a note goes up again only when its content changed); database
//! snapshots are listed with the descriptions the Python tool wrote. A second run
//! changes nothing.

use std::collections::HashMap;

use serde::Serialize;

use crate::checksum::CrcReader;
use crate::engine::Engine;
use crate::engine::costs::{TierEstimate, tier_estimates};
use crate::engine::database::DbSnapshotListing;
use crate::engine::manifests::facts_of;
use crate::engine::restore::body_reader;
use crate::error::{Error, Result, StoreErrorKind};
use crate::ids::{MemberPath, ObjectKey, SessionId};
use crate::manifest::{
    ArchiveSummary, MANIFEST_FORMAT, MANIFEST_VERSION, Manifest, ManifestMember,
};
use crate::model::{CatalogFile, Fingerprint, Session, StorageClass};
use crate::store::{ObjectMeta, ObjectStoreExt};
use crate::tags::ObjectKind;
use crate::tracker::{
    ArchiveFacts, ArchiveRecord, CheckMethod, CheckOutcome, LogEntry, NoteRecord, Operation,
    OperationStatus,
};

/// What became, or would become, of one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Adoption {
    /// Already fitsbak's (uploaded, or adopted by an earlier run): nothing to do.
    Tracked,
    /// Read once; every member is the catalog's file with the catalog's MD5: its
    /// manifest written, its members recorded, verified.
    DeepChecked,
    /// In an archive class: recorded on its HEAD (size, ETag); read after a restore.
    OnHeadEvidence,
    /// Readable, to be read and checked (a dry run reads nothing).
    ToRead,
    /// Damaged or incomplete: not adopted, marked unverified; `upload` sends it again.
    Damaged,
    /// Its row names an object that is not in the bucket: `upload` sends it again.
    Missing,
    /// Its session is not in the catalog: nothing to check it against; left as it is.
    NotCatalogued,
}

/// One archive of the bucket or of the tracking rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyArchive {
    /// The session.
    pub session_id: String,
    /// The object's key.
    pub key: String,
    /// Its size.
    pub size_bytes: u64,
    /// Its storage class, when it is there.
    pub storage_class: Option<StorageClass>,
    /// `gzip` when its bytes are compressed.
    pub compression: Option<String>,
    /// Members read.
    pub members: usize,
    /// What became of it.
    pub adoption: Adoption,
    /// What was found: the problems of a damaged archive, the retagging.
    pub details: Vec<String>,
    /// For one recorded on its HEAD: what reading it needs, per restore tier.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deep_check_cost: Vec<TierEstimate>,
}

/// What became, or would become, of one session's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteAdoption {
    /// Already recorded with the MD5 of its content.
    Tracked,
    /// The row (or the object, when there was no row) adopted as it is: the local
    /// note is the content uploaded.
    Adopted,
    /// The local note changed since: `fitsbak notes upload` sends it.
    Changed,
    /// Under fitsbak's older key `{id}_notes.md`: `fitsbak notes upload` moves it.
    OlderKey,
}

/// One note of the bucket or of the tracking rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyNote {
    /// The session.
    pub session_id: String,
    /// The object's key.
    pub key: String,
    /// What became of it.
    pub adoption: NoteAdoption,
}

/// What `migrate` found and did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MigrateReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Archives, by key.
    pub archives: Vec<LegacyArchive>,
    /// Notes, by key.
    pub notes: Vec<LegacyNote>,
    /// Database snapshots, newest first, with their descriptions.
    pub snapshots: Vec<DbSnapshotListing>,
    /// Objects whose tags were (or would be) set to the config's.
    pub retagged: Vec<String>,
}

impl MigrateReport {
    /// Whether the run changed (or would change) something.
    pub fn changes(&self) -> bool {
        !self.retagged.is_empty()
            || self.archives.iter().any(|a| {
                matches!(
                    a.adoption,
                    Adoption::DeepChecked | Adoption::OnHeadEvidence | Adoption::ToRead
                )
            })
            || self
                .notes
                .iter()
                .any(|n| n.adoption == NoteAdoption::Adopted)
    }

    /// Archives that are not good: they will be uploaded again.
    pub fn damaged(&self) -> usize {
        self.archives
            .iter()
            .filter(|a| matches!(a.adoption, Adoption::Damaged | Adoption::Missing))
            .count()
    }
}

/// The session an archive key names: `{id}.tar` or `{id}.tar.gz`.
fn session_of_key(key: &str) -> Option<SessionId> {
    let name = key.rsplit('/').next()?;
    let stem = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tar"))?;
    SessionId::new(stem).ok()
}

/// The members of a legacy archive matched with the catalog's files (the Python
/// tool wrote `{session_id}/{file}`), and what does not match.
fn match_members(
    session: &SessionId,
    inventory: &crate::archive::Inventory,
    files: &[CatalogFile],
) -> (Vec<ManifestMember>, Vec<String>) {
    let mut used = vec![false; files.len()];
    let mut members = Vec::new();
    let mut problems = Vec::new();
    let prefix = format!("{session}/");
    for entry in &inventory.entries {
        if !entry.regular {
            if entry.path.trim_end_matches('/') != session.as_str() {
                problems.push(format!("{:?} is not a regular file", entry.path));
            }
            continue;
        }
        let Some(name) = entry
            .path
            .strip_prefix(&prefix)
            .filter(|n| !n.contains('/'))
        else {
            problems.push(format!("{:?} is not below {prefix}", entry.path));
            continue;
        };
        let candidates: Vec<usize> = (0..files.len())
            .filter(|&i| !used[i] && files[i].file == name)
            .collect();
        let same_md5 = candidates.iter().copied().find(|&i| {
            files[i]
                .md5sum
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(&entry.md5))
        });
        let Some(i) = same_md5.or_else(|| candidates.first().copied()) else {
            problems.push(format!(
                "{} is in the archive but not in the catalog",
                entry.path
            ));
            continue;
        };
        used[i] = true;
        let f = &files[i];
        if let Some(catalog) = &f.md5sum
            && !catalog.eq_ignore_ascii_case(&entry.md5)
        {
            problems.push(format!(
                "{}: MD5 {} in the archive, {catalog} in the catalog",
                entry.path, entry.md5
            ));
            continue;
        }
        let Ok(path) = MemberPath::new(entry.path.clone()) else {
            problems.push(format!("{:?} cannot be a member path", entry.path));
            continue;
        };
        members.push(ManifestMember {
            path,
            file: f.file.clone(),
            folder: f.folder.clone(),
            source_path: f.path.display().to_string(),
            size: entry.size,
            md5: entry.md5.clone(),
            catalog_md5: f.md5sum.as_ref().map(|m| m.to_ascii_lowercase()),
            header_offset: entry.header_offset,
            data_offset: entry.data_offset,
            mtime: entry.mtime,
            frame_type: f.frame_type.clone(),
            object: f.object.clone(),
            filter: f.filter.clone(),
            catalog_id: Some(f.id),
        });
    }
    for (f, _) in files.iter().zip(&used).filter(|(_, used)| !**used) {
        problems.push(format!(
            "{} is catalogued but not in the archive",
            f.path.display()
        ));
    }
    (members, problems)
}

impl Engine {
    /// Adopts what the cataloger's Python tool wrote (see the module's rules).
    pub async fn migrate(&self, dry_run: bool) -> Result<MigrateReport> {
        let mut report = MigrateReport {
            dry_run,
            ..MigrateReport::default()
        };
        self.migrate_archives(dry_run, &mut report).await?;
        self.migrate_notes(dry_run, &mut report).await?;
        report.snapshots = self.list_db_snapshots().await?;
        let snapshot_keys: Vec<String> = report
            .snapshots
            .iter()
            .filter(|s| s.is_latest)
            .map(|s| s.key.clone())
            .collect();
        for key in snapshot_keys {
            self.retag(&key, ObjectKind::DatabaseSnapshot, dry_run, &mut report)
                .await?;
        }
        Ok(report)
    }

    async fn migrate_archives(&self, dry_run: bool, report: &mut MigrateReport) -> Result<()> {
        let prefix = format!("{}/", self.config.s3_paths.raw_archives.trim_matches('/'));
        let listed: HashMap<String, u64> = self
            .store
            .list(&prefix)
            .await?
            .into_iter()
            .filter(|o| o.key.ends_with(".tar") || o.key.ends_with(".tar.gz"))
            .map(|o| (o.key, o.size))
            .collect();
        let bucket = self.store.bucket();
        let rows: HashMap<SessionId, ArchiveRecord> = self
            .tracker
            .archives()
            .await?
            .into_iter()
            .filter(|a| a.bucket == bucket)
            .map(|a| (a.session_id.clone(), a))
            .collect();
        // Every key to look at: the rows' and the listing's, one per session (the
        // row's key wins where both a `.tar` and a `.tar.gz` are there).
        let mut keys: HashMap<SessionId, String> = HashMap::new();
        for key in listed.keys() {
            if let Some(session) = session_of_key(key) {
                let row_key = rows.get(&session).map(|r| r.key.as_str());
                if row_key.is_none_or(|k| k == key) {
                    keys.insert(session, key.clone());
                }
            }
        }
        for (session, row) in &rows {
            keys.entry(session.clone())
                .or_insert_with(|| row.key.clone());
        }
        let sessions: HashMap<SessionId, Session> = match self.catalog.sessions().await {
            Ok(listing) => listing
                .sessions
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect(),
            Err(Error::Catalog(_) | Error::Tracker(_)) => HashMap::new(),
            Err(e) => return Err(e),
        };
        let ids: Vec<SessionId> = keys
            .keys()
            .filter(|s| sessions.contains_key(*s))
            .cloned()
            .collect();
        let mut files: HashMap<SessionId, Vec<CatalogFile>> = HashMap::new();
        if !ids.is_empty() {
            for f in self.catalog.files(Some(&ids)).await? {
                files.entry(f.session_id.clone()).or_default().push(f);
            }
        }
        let mut keys: Vec<(SessionId, String)> = keys.into_iter().collect();
        keys.sort_by(|a, b| a.1.cmp(&b.1));
        for (session, key) in keys {
            let row = rows.get(&session);
            let found = self
                .migrate_archive(
                    &session,
                    &key,
                    row,
                    sessions.get(&session),
                    files.remove(&session).unwrap_or_default(),
                    dry_run,
                )
                .await?;
            if matches!(
                found.adoption,
                Adoption::DeepChecked
                    | Adoption::OnHeadEvidence
                    | Adoption::Tracked
                    | Adoption::ToRead
            ) {
                self.retag(&key, ObjectKind::RawArchive, dry_run, report)
                    .await?;
            }
            report.archives.push(found);
        }
        Ok(())
    }

    /// What to make of one archive, and (unless `dry_run`) doing it.
    async fn migrate_archive(
        &self,
        session: &SessionId,
        key: &str,
        row: Option<&ArchiveRecord>,
        catalogued: Option<&Session>,
        files: Vec<CatalogFile>,
        dry_run: bool,
    ) -> Result<LegacyArchive> {
        let object_key = ObjectKey::new(key.to_owned())?;
        let mut found = LegacyArchive {
            session_id: session.to_string(),
            key: key.to_owned(),
            size_bytes: 0,
            storage_class: None,
            compression: None,
            members: 0,
            adoption: Adoption::Tracked,
            details: Vec::new(),
            deep_check_cost: Vec::new(),
        };
        let facts = row.and_then(|r| r.facts.as_ref());
        let Some(head) = self.store.head(&object_key).await? else {
            found.adoption = Adoption::Missing;
            found
                .details
                .push(format!("{key} is not in {}", self.store.describe()));
            if !dry_run && let Some(row) = row.filter(|r| r.verified) {
                self.mark_unverified(row, found.details.clone()).await?;
            }
            return Ok(found);
        };
        found.size_bytes = head.size;
        found.storage_class = Some(head.storage_class.clone());
        found.compression = facts.and_then(|f| f.compression.clone());
        if facts.is_some_and(|f| !f.members_unknown) {
            return Ok(found); // fitsbak's own, or adopted by an earlier run
        }
        let Some(session_row) = catalogued else {
            found.adoption = Adoption::NotCatalogued;
            found.details.push(format!(
                "session {session} is not in the catalog: nothing to check it against"
            ));
            return Ok(found);
        };
        if !head.is_readable() {
            found.deep_check_cost = tier_estimates(
                &[(head.size, head.storage_class.clone())],
                &self.config.cost_tracking,
            );
            if facts.is_some() {
                return Ok(found); // recorded on its HEAD already; read after a restore
            }
            found.adoption = Adoption::OnHeadEvidence;
            if !dry_run {
                self.adopt_on_head(session_row, &object_key, &head, row, &files)
                    .await?;
            }
            return Ok(found);
        }
        if dry_run {
            found.adoption = Adoption::ToRead;
            return Ok(found);
        }
        let (inventory, crc, stored) = match self.read_inventory(&object_key).await {
            Ok(read) => read,
            Err(e) if e.store_kind().is_some() => return Err(e),
            Err(e) => {
                found.adoption = Adoption::Damaged;
                found
                    .details
                    .push(format!("{key} cannot be read as a tar archive: {e}"));
                if let Some(row) = row {
                    self.mark_unverified(row, found.details.clone()).await?;
                }
                return Ok(found);
            }
        };
        found.compression = inventory.compression.clone();
        let (members, mut problems) = match_members(session, &inventory, &files);
        found.members = members.len();
        if stored != head.size {
            problems.push(format!("read {stored} bytes, the object has {}", head.size));
        }
        if !problems.is_empty() {
            found.adoption = Adoption::Damaged;
            found.details = problems;
            if let Some(row) = row {
                self.mark_unverified(row, found.details.clone()).await?;
            }
            return Ok(found);
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            session_id: session.clone(),
            session_date: session_row.date,
            telescope: session_row.telescope.clone(),
            camera: session_row.camera.clone(),
            tool_version: crate::tool_version(),
            created_at: head.last_modified.unwrap_or_else(crate::time::now),
            archive: ArchiveSummary {
                key: key.to_owned(),
                size: head.size,
                crc32c: crc,
                etag: Some(head.etag.clone()),
                checksum: head.checksum.clone(),
                part_size: 0,
                data_bytes: members.iter().map(|m| m.size).sum(),
                compression: inventory.compression.clone(),
            },
            members,
            excluded: Vec::new(),
        };
        self.adopt_read(session_row, &object_key, &head, &manifest, &files)
            .await?;
        found.adoption = Adoption::DeepChecked;
        Ok(found)
    }

    /// Reads an object once: its inventory, the CRC32C and size of its bytes.
    async fn read_inventory(
        &self,
        key: &ObjectKey,
    ) -> Result<(crate::archive::Inventory, String, u64)> {
        let got = self.store.get(key, None).await?;
        let mut bridge = body_reader(got);
        let reader = self.reader.clone();
        Engine::blocking("reading a legacy archive", move || {
            let mut counted = CrcReader::new(&mut bridge);
            let inventory = reader.inventory(&mut counted)?;
            Ok((inventory, counted.crc.hex(), counted.bytes))
        })
        .await
    }

    /// Records an archive read and matched: its manifest first, then the rows, then
    /// the passed deep check.
    async fn adopt_read(
        &self,
        session: &Session,
        key: &ObjectKey,
        head: &ObjectMeta,
        manifest: &Manifest,
        files: &[CatalogFile],
    ) -> Result<()> {
        self.put_manifest(session, manifest).await?;
        let proof = format!(
            "migrate: read the cataloger's archive{}; its {} member MD5s agree with the catalog",
            manifest
                .archive
                .compression
                .as_deref()
                .map_or(String::new(), |c| format!(" ({c})")),
            manifest.members.len()
        );
        let facts = facts_of(manifest, catalog_fingerprint(files), proof);
        let notes = Some("adopted from the cataloger's s3_backup by fitsbak migrate".into());
        let archive = self.new_archive(session, key, head, manifest.data_bytes(), notes, facts);
        self.tracker
            .record_archive(&archive, &manifest.members, &self.migrate_log(session, key))
            .await?;
        self.record_passed(session, CheckMethod::Deep, head).await
    }

    /// Records an archived object on its HEAD alone.
    async fn adopt_on_head(
        &self,
        session: &Session,
        key: &ObjectKey,
        head: &ObjectMeta,
        row: Option<&ArchiveRecord>,
        files: &[CatalogFile],
    ) -> Result<()> {
        let facts = ArchiveFacts {
            object_checksum: head.checksum.clone(),
            catalog_fingerprint: Some(catalog_fingerprint(files).to_string()),
            proof: format!(
                "migrate: adopted on its HEAD (size, ETag) while in {}; its members are read \
                 after a restore",
                head.storage_class
            ),
            members_unknown: true,
            ..ArchiveFacts::default()
        };
        let data_bytes = row.map_or(0, |r| r.original_size_bytes);
        let notes =
            Some("adopted from the cataloger's s3_backup by fitsbak migrate (HEAD only)".into());
        let mut archive = self.new_archive(session, key, head, data_bytes, notes, facts);
        if let Some(row) = row {
            archive.uploaded_at = row.uploaded_at.unwrap_or(archive.uploaded_at);
        }
        self.tracker
            .record_archive(&archive, &[], &self.migrate_log(session, key))
            .await?;
        self.record_passed(session, CheckMethod::Quick, head).await
    }

    fn migrate_log(&self, session: &Session, key: &ObjectKey) -> LogEntry {
        LogEntry {
            session_id: Some(session.id.clone()),
            bucket: Some(self.store.bucket()),
            key: Some(key.to_string()),
            notes: Some("migrate: adopted from the cataloger's s3_backup".into()),
            ..LogEntry::new(Operation::Sync, OperationStatus::Success)
        }
    }

    async fn record_passed(
        &self,
        session: &Session,
        method: CheckMethod,
        head: &ObjectMeta,
    ) -> Result<()> {
        let check = crate::tracker::CheckRecord {
            session_id: session.id.clone(),
            method,
            outcome: CheckOutcome::Passed,
            storage_class: Some(head.storage_class.clone()),
            at: crate::time::now(),
        };
        let log = LogEntry {
            session_id: Some(session.id.clone()),
            bucket: Some(self.store.bucket()),
            key: Some(head.key.to_string()),
            notes: Some(format!("migrate: {} check passed", method.name())),
            ..LogEntry::new(Operation::Verify, OperationStatus::Success)
        };
        self.tracker.record_check(&check, &log).await
    }

    /// A legacy row whose archive is not good: no longer counted as verified, so
    /// that `upload` sends the session again.
    async fn mark_unverified(&self, row: &ArchiveRecord, problems: Vec<String>) -> Result<()> {
        let check = crate::tracker::CheckRecord {
            session_id: row.session_id.clone(),
            method: CheckMethod::Deep,
            outcome: CheckOutcome::Failed(problems.clone()),
            storage_class: row.current_storage_class.clone(),
            at: crate::time::now(),
        };
        let log = LogEntry {
            session_id: Some(row.session_id.clone()),
            bucket: Some(row.bucket.clone()),
            key: Some(row.key.clone()),
            error_message: Some(problems.join("; ")),
            notes: Some(
                "migrate: the cataloger's archive is not good; upload sends it again".into(),
            ),
            ..LogEntry::new(Operation::Verify, OperationStatus::Failed)
        };
        self.tracker.record_check(&check, &log).await
    }

    /// Sets an object's tags to the config's when they differ (where the store
    /// keeps tags); says so in the report.
    async fn retag(
        &self,
        key: &str,
        kind: ObjectKind,
        dry_run: bool,
        report: &mut MigrateReport,
    ) -> Result<()> {
        if !self.capabilities().await?.tagging {
            return Ok(());
        }
        let Some(admin) = self.store.admin() else {
            return Ok(());
        };
        let object = ObjectKey::new(key.to_owned())?;
        let wanted = self.config.tags_for(kind);
        let have = match admin.get_tags(&object).await {
            Ok(tags) => tags,
            // Some stores read an archived object's tags only after a restore; it
            // is in its final class already, so no rule needs to match it.
            Err(e) if e.store_kind() == Some(StoreErrorKind::NeedsRestore) => return Ok(()),
            Err(e) => return Err(e),
        };
        if wanted.iter().all(|(k, v)| have.get(k) == Some(v)) {
            return Ok(());
        }
        if !dry_run {
            // The other tags stay; the config's are added or corrected.
            let mut tags = have;
            tags.extend(wanted);
            admin.put_tags(&object, &tags).await?;
        }
        report.retagged.push(key.to_owned());
        Ok(())
    }

    async fn migrate_notes(&self, dry_run: bool, report: &mut MigrateReport) -> Result<()> {
        let prefix = format!("{}/", self.config.s3_paths.session_notes.trim_matches('/'));
        let bucket = self.store.bucket();
        let rows: HashMap<SessionId, NoteRecord> = self
            .tracker
            .notes()
            .await?
            .into_iter()
            .filter(|n| n.bucket == bucket)
            .map(|n| (n.session_id.clone(), n))
            .collect();
        let dir = self.config.notes_dir();
        let mut listed: Vec<crate::store::ObjectSummary> = self
            .store
            .list(&prefix)
            .await?
            .into_iter()
            .filter(|o| o.key.ends_with(".md"))
            .collect();
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        for object in listed {
            let name = object.key.rsplit('/').next().unwrap_or_default();
            let stem = name.trim_end_matches(".md");
            let (stem, older) = match stem.strip_suffix("_notes") {
                Some(s) => (s, true),
                None => (stem, false),
            };
            let Ok(session) = SessionId::new(stem) else {
                continue;
            };
            let year: Option<i32> = object.key.rsplit('/').nth(1).and_then(|y| y.parse().ok());
            let local = match (&dir, year) {
                (Some(dir), Some(year)) => std::fs::read(
                    dir.join("Imaging_Sessions")
                        .join(year.to_string())
                        .join(format!("{session}.md")),
                )
                .ok()
                .map(|b| hex::encode(<md5::Md5 as md5::Digest>::digest(&b))),
                _ => None,
            };
            let row = rows.get(&session);
            let adoption = match row {
                Some(r) if r.key != object.key => continue, // a stray copy
                Some(r) if r.content_md5.is_some() => match older {
                    true => NoteAdoption::OlderKey,
                    false => NoteAdoption::Tracked,
                },
                _ if older => NoteAdoption::OlderKey,
                Some(r) => match &local {
                    Some(md5) if r.holds(md5) => NoteAdoption::Adopted,
                    _ => NoteAdoption::Changed,
                },
                None => match &local {
                    Some(md5)
                        if object
                            .etag
                            .as_deref()
                            .is_some_and(|e| e.trim_matches('"').eq_ignore_ascii_case(md5)) =>
                    {
                        NoteAdoption::Adopted
                    }
                    _ => NoteAdoption::Changed,
                },
            };
            let adopt_row = adoption == NoteAdoption::Adopted
                || (row.is_none() && adoption == NoteAdoption::Changed);
            if adopt_row && !dry_run {
                let record = NoteRecord {
                    session_id: session.clone(),
                    session_year: year.unwrap_or_default(),
                    bucket: bucket.clone(),
                    key: object.key.clone(),
                    region: self.store.region(),
                    etag: object
                        .etag
                        .as_deref()
                        .map(|e| e.trim_matches('"').to_owned()),
                    uploaded_at: row.and_then(|r| r.uploaded_at).or(object.last_modified),
                    size_bytes: object.size,
                    content_md5: local.clone().filter(|_| adoption == NoteAdoption::Adopted),
                    archive_policy: row.and_then(|r| r.archive_policy.clone()),
                    backup_policy: row.and_then(|r| r.backup_policy.clone()),
                    storage_class: Some(object.storage_class.clone()),
                };
                let log = LogEntry {
                    session_id: Some(session.clone()),
                    bucket: Some(bucket.clone()),
                    key: Some(object.key.clone()),
                    notes: Some("migrate: notes adopted from the cataloger's s3_backup".into()),
                    ..LogEntry::new(Operation::Sync, OperationStatus::Success)
                };
                self.tracker.record_note(&record, &log).await?;
            }
            if !older {
                self.retag(&object.key, ObjectKind::SessionNotes, dry_run, report)
                    .await?;
            }
            report.notes.push(LegacyNote {
                session_id: session.to_string(),
                key: object.key.clone(),
                adoption,
            });
        }
        Ok(())
    }
}

/// The fingerprint the catalog's files give a session (as an upload records it).
fn catalog_fingerprint(files: &[CatalogFile]) -> Fingerprint {
    crate::engine::upload::plan::fingerprint_of(files)
}
