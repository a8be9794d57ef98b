//! `fitsbak processed upload | status | verify | restore`: the files of processing
//! sessions, each its own object at the Python tool's key
//! `{processed_files}/{year}/{processing_session_id}/{subfolder}/{filename}`, with
//! the tags and class of `backup_rules.final_outputs` (finals: readable at once) or
//! `backup_rules.processing_sessions` (intermediates: cold).
//!
//! A file goes again only when it changed: its size and change stamp (mtime and
//! ctime, to the nanosecond) are kept with its row (`fingerprint`), and when they
//! differ its MD5 decides; found the same, the row takes the new stamp. A folder (a
//! file's `.data` companion, or a catalogued folder) goes as one deterministic tar
//! (the archive writer's: same files, same bytes), its row keeping the list of its
//! files' paths, sizes and stamps, so that a changed folder is seen without making
//! its tar. A
//! file missing, unreadable, a link, or changed while read is its own failure:
//! nothing of it is recorded as backed up, and the others go on.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use md5::Digest;
use serde::Serialize;

use crate::archive::{ArchiveSink, MemberSource};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::{MemberPath, ObjectKey, SessionId};
use crate::model::{CatalogFile, StorageClass};
use crate::processed::{
    Part, ProcessedFile, ProcessedRecord, ProcessingNoteRecord, ProcessingScan, year_of,
};
use crate::progress::{ItemOutcome, RunPlan};
use crate::store::{ObjectStoreExt, PutOptions};
use crate::tags::ObjectKind;
use crate::tracker::{LogEntry, Operation, OperationStatus};

/// Which processed files to back up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessedOptions {
    /// Only this processing session.
    pub session: Option<SessionId>,
    /// Only these subfolders (`final`, `intermediate`); all when empty.
    pub subfolders: Vec<String>,
    /// Only these file types (`xisf`, `jpg`); all when empty.
    pub file_types: Vec<String>,
    /// Only sessions not wholly backed up.
    pub incomplete: bool,
    /// Send again even when unchanged.
    pub force: bool,
    /// Say what would go, send nothing.
    pub dry_run: bool,
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessedAction {
    /// Sent and recorded.
    Uploaded,
    /// Already backed up as it is.
    Unchanged,
    /// Would be sent (dry run).
    WouldUpload,
    /// Not backed up: see the reason.
    Failed,
}

/// One file (or companion folder) of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessedOutcome {
    /// The processing session.
    pub session_id: SessionId,
    /// `processed_files.id` (0 for a processing session's notes).
    pub processed_file_id: i64,
    /// The file, or its companion.
    pub part: Part,
    /// Where it is on disk.
    pub path: String,
    /// Its key.
    pub key: Option<String>,
    /// Bytes sent.
    pub bytes: u64,
    /// Parts an interrupted run had sent, found again and not sent twice.
    pub resumed_parts: u64,
    /// What happened.
    pub action: ProcessedAction,
    /// Why (for a failure, or a note).
    pub reason: Option<String>,
}

/// `processed upload`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProcessedSummary {
    /// Files and companions.
    pub files: Vec<ProcessedOutcome>,
    /// Processing notes.
    pub notes: Vec<ProcessedOutcome>,
    /// Catalog rows that cannot be used.
    pub rejected: Vec<String>,
    /// Stopped before the end (Ctrl-C, SIGTERM): the next run goes on.
    pub interrupted: bool,
}

impl ProcessedSummary {
    /// Items that failed.
    pub fn failed(&self) -> usize {
        self.all()
            .filter(|o| o.action == ProcessedAction::Failed)
            .count()
    }

    /// Items with this action.
    pub fn count(&self, action: ProcessedAction) -> usize {
        self.all().filter(|o| o.action == action).count()
    }

    fn all(&self) -> impl Iterator<Item = &ProcessedOutcome> {
        self.files.iter().chain(&self.notes)
    }
}

/// What one object of a processed file is made of.
struct Item<'a> {
    file: &'a ProcessedFile,
    part: Part,
    source: PathBuf,
    name: String,
}

impl Item<'_> {
    fn outcome(&self, key: Option<&ObjectKey>) -> ProcessedOutcome {
        ProcessedOutcome {
            session_id: self.file.session_id.clone(),
            processed_file_id: self.file.id,
            part: self.part,
            path: self.source.display().to_string(),
            key: key.map(ToString::to_string),
            bytes: 0,
            resumed_parts: 0,
            action: ProcessedAction::Failed,
            reason: None,
        }
    }
}

/// The objects of a processed file: itself, and its companion folder.
fn items(file: &ProcessedFile) -> Vec<Item<'_>> {
    let folder = std::fs::symlink_metadata(&file.path).is_ok_and(|m| m.is_dir());
    let mut out = vec![Item {
        file,
        part: Part::File,
        source: file.path.clone(),
        name: if folder {
            format!("{}.tar", file.filename)
        } else {
            file.filename.clone()
        },
    }];
    if let Some(companion) = &file.companion {
        let name = companion
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{}.data", file.filename));
        out.push(Item {
            file,
            part: Part::Companion,
            source: companion.clone(),
            name: format!("{name}.tar"),
        });
    }
    out
}

/// The members of a folder's tar, and the folder's fingerprint.
type Tree = (Vec<(MemberPath, MemberSource)>, String);

/// The files below `root`, in path order, as members of a tar whose paths start
/// with the folder's name, and the folder's fingerprint (see [`tree_print`]). A link
/// or anything but files and folders is refused.
fn tree(root: &Path, session: &SessionId) -> Result<Tree> {
    let top = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::unusable(format!("{} has no name", root.display())))?;
    let mut out = Vec::new();
    let mut pending = vec![(root.to_path_buf(), top)];
    while let Some((dir, inside)) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(&dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
            let inner = format!("{inside}/{name}");
            if meta.is_dir() {
                pending.push((path, inner));
            } else if meta.is_file() {
                let member = MemberPath::new(inner)
                    .map_err(|e| Error::unusable(format!("{}: {}", path.display(), e.reason)))?;
                out.push((
                    crate::time::change_stamp(&meta),
                    member,
                    MemberSource {
                        catalog: CatalogFile {
                            id: 0,
                            session_id: session.clone(),
                            file: name,
                            folder: dir.display().to_string(),
                            path: path.clone(),
                            frame_type: None,
                            md5sum: None,
                            object: None,
                            filter: None,
                            bad: false,
                            file_not_found: false,
                        },
                        size: meta.len(),
                        mtime: crate::time::mtime_seconds(&meta),
                    },
                ));
            } else {
                return Err(Error::unusable(format!(
                    "{} is a link or a special file: not followed, the folder is not backed up",
                    path.display()
                )));
            }
        }
    }
    out.sort_by(|a, b| a.1.as_str().cmp(b.1.as_str()));
    let print = tree_print(
        out.iter()
            .map(|(stamp, path, source)| (path, source.size, stamp)),
    );
    Ok((
        out.into_iter()
            .map(|(_, path, source)| (path, source))
            .collect(),
        print,
    ))
}

/// What a folder's files were: their paths, sizes and change stamps. Rows written
/// before the stamps had nanoseconds and ctimes hold a `tree:` print of whole-second
/// mtimes, which cannot tell a rewrite within the same second: for those the tar's
/// MD5 decides (see [`is_whole_second_print`]).
fn tree_print<'a>(
    files: impl ExactSizeIterator<Item = (&'a MemberPath, u64, &'a String)>,
) -> String {
    let count = files.len();
    let mut md5 = md5::Md5::new();
    for (path, size, stamp) in files {
        md5.update(format!("{path}\t{size}\t{stamp}\n"));
    }
    format!("tree@ns:{count}:{}", hex::encode(md5.finalize()))
}

/// What a file was: its size and change stamp.
fn file_print(meta: &std::fs::Metadata) -> String {
    format!("file@ns:{}:{}", meta.len(), crate::time::change_stamp(meta))
}

/// A fingerprint of whole-second mtimes, written by earlier versions.
fn is_whole_second_print(print: &str) -> bool {
    print.starts_with("tree:") || print.starts_with("file:")
}

/// Hashes what goes through it into the sink.
struct Md5Sink<'a> {
    inner: &'a mut dyn ArchiveSink,
    md5: md5::Md5,
}

impl ArchiveSink for Md5Sink<'_> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.md5.update(bytes);
        self.inner.put(bytes)
    }
}

/// The MD5 (hex) of a file (blocking).
fn file_md5(path: &Path) -> Result<String> {
    crate::engine::verify::hash_file(path)
        .map(|(_, md5)| md5)
        .map_err(|e| Error::io(path, e))
}

/// A processing session's notes: `{notes_dir}/Processing_Sessions/{year}/{id}.md`.
pub fn processing_note_path(notes_dir: &Path, session: &SessionId) -> PathBuf {
    notes_dir
        .join("Processing_Sessions")
        .join(year_of(session).to_string())
        .join(format!("{session}.md"))
}

impl Engine {
    /// The catalog's processing sessions and files.
    pub async fn processing_scan(&self) -> Result<ProcessingScan> {
        self.catalog.processing().await
    }

    /// The rule, kind and options of a processed file's object.
    fn processed_put_options(&self, item: &Item<'_>) -> (ObjectKind, PutOptions) {
        let kind = if item.file.is_final() {
            ObjectKind::ProcessedFinal
        } else {
            ObjectKind::ProcessedIntermediate
        };
        let class = self
            .config
            .rule_for(kind)
            .map(|r| r.storage_class.clone())
            .unwrap_or_default();
        let mut metadata = BTreeMap::new();
        metadata.insert("processed-file-id".into(), item.file.id.to_string());
        metadata.insert(
            "processing-session-id".into(),
            item.file.session_id.to_string(),
        );
        metadata.insert("subfolder".into(), item.file.subfolder.clone());
        metadata.insert("file-type".into(), item.file.file_type.clone());
        metadata.insert(
            "part".into(),
            match item.part {
                Part::File => "file",
                Part::Companion => "companion",
            }
            .into(),
        );
        metadata.insert("tool-version".into(), crate::tool_version());
        let options = PutOptions {
            tags: self.config.tags_for(kind),
            metadata,
            storage_class: class,
            content_type: Some(
                if item.name.ends_with(".tar") {
                    "application/x-tar"
                } else {
                    match item.file.file_type.as_str() {
                        "jpg" | "jpeg" => "image/jpeg",
                        _ => "application/octet-stream",
                    }
                }
                .into(),
            ),
            encryption: self.encryption(),
            if_none_match: false,
        };
        (kind, options)
    }

    /// Backs up the processed files `options` chooses, and their sessions' notes.
    pub async fn upload_processed(&self, options: &ProcessedOptions) -> Result<ProcessedSummary> {
        let scan = self.processing_scan().await?;
        let bucket = self.store.bucket();
        let records: HashMap<(i64, Part), ProcessedRecord> = self
            .tracker
            .processed()
            .await?
            .into_iter()
            .filter(|r| r.bucket == bucket)
            .map(|r| ((r.processed_file_id, r.part), r))
            .collect();
        if let Some(id) = &options.session
            && !scan.sessions.iter().any(|s| s.id == *id)
        {
            return Err(Error::unusable(format!(
                "processing session {id} is not in the catalog's processing_sessions ({})",
                self.catalog.describe()
            )));
        }
        let mut catalogued: HashMap<&SessionId, u64> = HashMap::new();
        for f in &scan.files {
            *catalogued.entry(&f.session_id).or_default() += 1;
        }
        let incomplete: std::collections::HashSet<&SessionId> = scan
            .files
            .iter()
            .filter(|f| !records.contains_key(&(f.id, Part::File)))
            .map(|f| &f.session_id)
            .collect();
        let wanted = |f: &&ProcessedFile| {
            options.session.as_ref().is_none_or(|s| *s == f.session_id)
                && (options.subfolders.is_empty()
                    || options
                        .subfolders
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(&f.subfolder)))
                && (options.file_types.is_empty()
                    || options
                        .file_types
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(&f.file_type)))
                && (!options.incomplete || incomplete.contains(&f.session_id))
        };
        let files: Vec<&ProcessedFile> = scan.files.iter().filter(wanted).collect();
        self.progress.run_started(&RunPlan {
            operation: "processed upload",
            items: files.len() as u64,
            bytes: files.iter().filter_map(|f| f.size).sum(),
        });
        let mut summary = ProcessedSummary {
            rejected: scan.rejected.clone(),
            ..ProcessedSummary::default()
        };
        'files: for file in files {
            for item in items(file) {
                // A stop (Ctrl-C, SIGTERM) ends the run between files; an upload
                // cut short keeps its parts for the next run.
                if self.cancel.stop.is_cancelled() {
                    summary.interrupted = true;
                    break 'files;
                }
                let label = format!("{} {}", file.session_id, item.name);
                self.progress.item_started(&label, file.size.unwrap_or(0));
                let record = records.get(&(file.id, item.part));
                let count = catalogued.get(&file.session_id).copied().unwrap_or(0);
                let outcome = match self.upload_item(&item, record, options, count).await {
                    Ok(outcome) => outcome,
                    Err(e) if crate::engine::stops_the_run(&e) => {
                        self.progress.run_finished();
                        return Err(e);
                    }
                    Err(e) if matches!(e.innermost(), Error::Interrupted) => {
                        summary.interrupted = true;
                        let mut stopped = item.outcome(self.item_key(&item).ok().as_ref());
                        stopped.reason = Some("interrupted: the next run resumes it".into());
                        summary.files.push(stopped);
                        break 'files;
                    }
                    Err(e) => {
                        let key = self.item_key(&item).ok();
                        let mut failed = item.outcome(key.as_ref());
                        failed.reason = Some(self.describe(&e));
                        self.log_processed_failure(&item, key.as_ref(), &e).await;
                        failed
                    }
                };
                self.progress.item_finished(
                    &label,
                    &match outcome.action {
                        ProcessedAction::Uploaded => ItemOutcome::Done {
                            bytes: outcome.bytes,
                        },
                        ProcessedAction::Failed => ItemOutcome::Failed {
                            reason: outcome.reason.clone().unwrap_or_default(),
                        },
                        _ => ItemOutcome::Skipped {
                            reason: "unchanged".into(),
                        },
                    },
                );
                summary.files.push(outcome);
            }
        }
        let sessions: Vec<&SessionId> = scan
            .sessions
            .iter()
            .map(|s| &s.id)
            .filter(|id| options.session.as_ref().is_none_or(|s| s == *id))
            .collect();
        if !summary.interrupted {
            summary.notes = self
                .upload_processing_notes(&sessions, options.dry_run)
                .await?;
        }
        self.progress.run_finished();
        Ok(summary)
    }

    /// Where an item goes in the bucket.
    fn item_key(&self, item: &Item<'_>) -> Result<ObjectKey> {
        let file = item.file;
        self.config
            .s3_paths
            .processed_key(
                year_of(&file.session_id),
                &file.session_id,
                &file.subfolder,
                &item.name,
            )
            .map_err(|e| Error::unusable(format!("{}: {e}", item.source.display())))
    }

    async fn log_processed_failure(&self, item: &Item<'_>, key: Option<&ObjectKey>, error: &Error) {
        let log = LogEntry {
            session_id: Some(item.file.session_id.clone()),
            bucket: Some(self.store.bucket()),
            key: key.map(ToString::to_string),
            error_message: Some(self.describe(error)),
            notes: Some(format!("processed file {}", item.source.display())),
            ..LogEntry::new(Operation::Upload, OperationStatus::Failed)
        };
        if let Err(e) = self.tracker.log(&log).await {
            tracing::warn!("the failure of {} was not logged: {e}", item.name);
        }
    }

    /// One object: unchanged, or sent and recorded.
    async fn upload_item(
        &self,
        item: &Item<'_>,
        record: Option<&ProcessedRecord>,
        options: &ProcessedOptions,
        catalogued: u64,
    ) -> Result<ProcessedOutcome> {
        let started = Instant::now();
        let file = item.file;
        let meta = match std::fs::symlink_metadata(&item.source) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::unusable(format!(
                    "{} is missing (processed_files {}): not backed up",
                    item.source.display(),
                    file.id
                )));
            }
            Err(e) => return Err(Error::io(&item.source, e)),
        };
        if meta.file_type().is_symlink() {
            return Err(Error::unusable(format!(
                "{} is a symbolic link: not followed, not backed up",
                item.source.display()
            )));
        }
        let key = self.item_key(item)?;
        let mut out = item.outcome(Some(&key));
        let folder = meta.is_dir();
        let same_key = record.filter(|r| r.key == key.as_str());
        let (entries, print) = if folder {
            let (entries, print) = tree(&item.source, &file.session_id)?;
            (Some(entries), print)
        } else {
            (None, file_print(&meta))
        };
        if !options.force
            && let Some(r) = same_key
        {
            let recorded = r.fingerprint.as_deref();
            let unchanged = if let Some(entries) = entries.as_ref().filter(|_| folder) {
                if recorded == Some(print.as_str()) {
                    true
                } else if recorded.is_none_or(is_whole_second_print) {
                    // A row rebuilt from the bucket knows the tar's MD5 only, and an
                    // older row's print cannot tell a rewrite within the same second:
                    // the tar is deterministic, so hashing it again tells.
                    let plan = self.archiver.plan_tree(&file.session_id, entries.clone())?;
                    let archiver = self.archiver.clone();
                    plan.total_size == r.size
                        && Engine::blocking("hashing a folder's tar", move || {
                            let mut sink = Md5Sink {
                                inner: &mut std::io::sink(),
                                md5: md5::Md5::new(),
                            };
                            archiver.write(&plan, &mut sink)?;
                            Ok(hex::encode(sink.md5.finalize()))
                        })
                        .await?
                            == r.md5
                } else {
                    false
                }
            } else if r.size != meta.len() {
                false
            } else if recorded == Some(print.as_str())
                && file.md5sum.as_deref().is_none_or(|m| m == r.md5)
            {
                true
            } else {
                let path = item.source.clone();
                let md5 =
                    Engine::blocking("hashing a processed file", move || file_md5(&path)).await?;
                md5 == r.md5
            };
            if unchanged && recorded != Some(print.as_str()) {
                // Found the same by their MD5 (an equal print needs no hashing): keep
                // what the file (or folder) is now, so the next run need not hash it.
                self.tracker
                    .refresh_processed_fingerprint(file.id, item.part, &print)
                    .await?;
            }
            if unchanged {
                out.action = ProcessedAction::Unchanged;
                return Ok(out);
            }
        }
        if options.dry_run {
            out.action = ProcessedAction::WouldUpload;
            return Ok(out);
        }
        let (_, put_options) = self.processed_put_options(item);
        // An interrupted multipart upload goes on where it stopped, as long as the
        // file (or folder) is what it was: the processing session's in-flight row
        // names the key and the fingerprint.
        let resume = crate::engine::transfer::Resume {
            session: &file.session_id,
            snapshot: format!("{key}\n{print}"),
        };
        let (put, md5, size) = match entries {
            Some(entries) => {
                let plan = self.archiver.plan_tree(&file.session_id, entries)?;
                let size = plan.total_size;
                let archiver = self.archiver.clone();
                let sent = self
                    .send_stream(
                        &key,
                        size,
                        &put_options,
                        move |sink| {
                            let mut hashing = Md5Sink {
                                inner: sink,
                                md5: md5::Md5::new(),
                            };
                            archiver.write(&plan, &mut hashing)?;
                            Ok(hex::encode(hashing.md5.finalize()))
                        },
                        None,
                        Some(resume),
                    )
                    .await?;
                // The folder must still be what its tar holds.
                let (_, again) = tree(&item.source, &file.session_id)?;
                if again != print {
                    return Err(Error::unusable(format!(
                        "{} changed while it was read: not recorded, it goes again next run",
                        item.source.display()
                    )));
                }
                out.resumed_parts = sent.resumed_parts;
                (sent.put, sent.output, size)
            }
            None => {
                let (source, size) = (item.source.clone(), meta.len());
                let sent = self
                    .send_stream(
                        &key,
                        size,
                        &put_options,
                        move |sink| crate::engine::transfer::copy_file(&source, size, sink),
                        None,
                        Some(resume),
                    )
                    .await?;
                out.resumed_parts = sent.resumed_parts;
                let (put, md5) = (sent.put, sent.output);
                let after = std::fs::symlink_metadata(&item.source)
                    .map_err(|e| Error::io(&item.source, e))?;
                let now = file_print(&after);
                if now != print {
                    return Err(Error::unusable(format!(
                        "{} changed while it was read: not recorded, it goes again next run",
                        item.source.display()
                    )));
                }
                (put, md5, meta.len())
            }
        };
        let stale = file
            .md5sum
            .as_deref()
            .filter(|m| *m != md5 && item.part == Part::File && !folder)
            .map(|m| format!("the catalog's MD5 {m} is older than the file's ({md5})"));
        let record = ProcessedRecord {
            processed_file_id: file.id,
            part: item.part,
            session_id: file.session_id.clone(),
            bucket: self.store.bucket(),
            key: key.to_string(),
            region: self.store.region(),
            etag: Some(put.etag.clone()),
            size,
            md5,
            fingerprint: Some(print),
            uploaded_at: crate::time::now(),
            storage_class: put_options.storage_class.clone(),
            verified: false,
            verified_at: None,
            notes: stale.clone(),
        };
        let log = LogEntry {
            session_id: Some(file.session_id.clone()),
            bucket: Some(record.bucket.clone()),
            key: Some(record.key.clone()),
            duration_seconds: Some(started.elapsed().as_secs_f64()),
            bytes_transferred: Some(size),
            notes: Some(format!(
                "processed file {} ({})",
                item.source.display(),
                file.subfolder
            )),
            ..LogEntry::new(Operation::Upload, OperationStatus::Success)
        };
        self.tracker
            .record_processed(&record, catalogued, &log)
            .await?;
        out.action = ProcessedAction::Uploaded;
        out.bytes = size;
        out.reason = stale;
        Ok(out)
    }

    /// The notes of `sessions`, each sent when its content changed.
    async fn upload_processing_notes(
        &self,
        sessions: &[&SessionId],
        dry_run: bool,
    ) -> Result<Vec<ProcessedOutcome>> {
        let Ok(dir) = self.notes_dir() else {
            return Ok(Vec::new());
        };
        let recorded: HashMap<SessionId, ProcessingNoteRecord> = self
            .tracker
            .processing_notes()
            .await?
            .into_iter()
            .filter(|n| n.bucket == self.store.bucket())
            .map(|n| (n.session_id.clone(), n))
            .collect();
        let mut out = Vec::new();
        for &session in sessions {
            let path = processing_note_path(&dir, session);
            let Some(content) = Self::read_note(&path)? else {
                continue;
            };
            let key = self.config.s3_paths.processing_note_key(session)?;
            let md5 = hex::encode(md5::Md5::digest(&content));
            let mut outcome = ProcessedOutcome {
                session_id: session.clone(),
                processed_file_id: 0,
                part: Part::File,
                path: path.display().to_string(),
                key: Some(key.to_string()),
                bytes: 0,
                resumed_parts: 0,
                action: ProcessedAction::Unchanged,
                reason: None,
            };
            let known = recorded.get(session);
            if known.is_some_and(|n| {
                n.content_md5.as_deref() == Some(md5.as_str()) && n.key == key.as_str()
            }) {
                out.push(outcome);
                continue;
            }
            if dry_run {
                outcome.action = ProcessedAction::WouldUpload;
                out.push(outcome);
                continue;
            }
            let (rule, options) = self.note_options(
                ObjectKind::ProcessingNotes,
                ("processing-session-id", session),
                &md5,
            );
            let size = content.len() as u64;
            match self.put_bytes(&key, content.into(), &options).await {
                Ok(put) => {
                    let note = ProcessingNoteRecord {
                        session_id: session.clone(),
                        bucket: self.store.bucket(),
                        key: key.to_string(),
                        region: self.store.region(),
                        etag: Some(put.etag),
                        uploaded_at: crate::time::now(),
                        size,
                        content_md5: Some(md5),
                        archive_policy: rule.archive_value(),
                        backup_policy: rule.backup_value(),
                        storage_class: rule.storage_class.clone(),
                    };
                    let log = LogEntry {
                        session_id: Some(session.clone()),
                        bucket: Some(note.bucket.clone()),
                        key: Some(note.key.clone()),
                        bytes_transferred: Some(size),
                        notes: Some("processing notes".into()),
                        ..LogEntry::new(Operation::NotesUpload, OperationStatus::Success)
                    };
                    self.tracker.record_processing_note(&note, &log).await?;
                    outcome.action = ProcessedAction::Uploaded;
                    outcome.bytes = size;
                }
                Err(e) if crate::engine::stops_the_run(&e) => return Err(e),
                Err(e) => {
                    outcome.action = ProcessedAction::Failed;
                    outcome.reason = Some(self.describe(&e));
                }
            }
            out.push(outcome);
        }
        Ok(out)
    }
}

/// The outcome of checking one processed file's object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessedCheck {
    /// The processing session.
    pub session_id: SessionId,
    /// `processed_files.id`.
    pub processed_file_id: i64,
    /// The file or its companion.
    pub part: Part,
    /// Its key.
    pub key: String,
    /// `passed`, `failed`, `needs_restore`.
    pub outcome: String,
    /// Why it failed.
    pub reasons: Vec<String>,
    /// The storage class seen.
    pub storage_class: Option<StorageClass>,
}

/// A processed file put back on disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestoredProcessed {
    /// Its key.
    pub key: String,
    /// Where it went.
    pub destination: PathBuf,
    /// Its size.
    pub size: u64,
    /// `written` or `already-present`.
    pub action: String,
}

impl Engine {
    /// The processed file rows of this target (of one processing session).
    async fn processed_rows(&self, session: Option<&SessionId>) -> Result<Vec<ProcessedRecord>> {
        let bucket = self.store.bucket();
        Ok(self
            .tracker
            .processed()
            .await?
            .into_iter()
            .filter(|r| r.bucket == bucket && session.is_none_or(|s| *s == r.session_id))
            .collect())
    }

    /// Checks the objects of processed files: there, with the size and ETag
    /// recorded; `deep` also reads each and compares its MD5. Each check is
    /// recorded (`verified`, `verified_at`, the session's summary).
    pub async fn verify_processed(
        &self,
        session: Option<&SessionId>,
        deep: bool,
    ) -> Result<Vec<ProcessedCheck>> {
        let rows = self.processed_rows(session).await?;
        self.progress.run_started(&RunPlan {
            operation: "processed verify",
            items: rows.len() as u64,
            bytes: 0,
        });
        let mut checks = Vec::new();
        for row in rows {
            let mut check = ProcessedCheck {
                session_id: row.session_id.clone(),
                processed_file_id: row.processed_file_id,
                part: row.part,
                key: row.key.clone(),
                outcome: "passed".into(),
                reasons: Vec::new(),
                storage_class: None,
            };
            let key = ObjectKey::new(row.key.clone())?;
            match self.store.head(&key).await {
                Ok(None) => check
                    .reasons
                    .push(format!("{key} is not in {}", self.store.describe())),
                Ok(Some(meta)) => {
                    check.storage_class = Some(meta.storage_class.clone());
                    if meta.size != row.size {
                        check.reasons.push(format!(
                            "{key} holds {} bytes, {} were recorded",
                            meta.size, row.size
                        ));
                    }
                    if let Some(etag) = &row.etag
                        && *etag != meta.etag
                    {
                        check
                            .reasons
                            .push(format!("{key} has ETag {}, {etag} was recorded", meta.etag));
                    }
                    if deep && check.reasons.is_empty() {
                        if meta.is_readable() {
                            let (md5, size) = self.object_md5(&key).await?;
                            if md5 != row.md5 || size != row.size {
                                check.reasons.push(format!(
                                    "{key} reads as MD5 {md5} ({size} bytes), {} ({} bytes) was \
                                     recorded",
                                    row.md5, row.size
                                ));
                            }
                        } else {
                            check.outcome = "needs_restore".into();
                        }
                    }
                }
                Err(e) if crate::engine::stops_the_run(&e) => {
                    self.progress.run_finished();
                    return Err(e);
                }
                Err(e) => check.reasons.push(self.describe(&e)),
            }
            if !check.reasons.is_empty() {
                check.outcome = "failed".into();
            }
            let passed = check.outcome == "passed";
            let log = LogEntry {
                session_id: Some(row.session_id.clone()),
                bucket: Some(row.bucket.clone()),
                key: Some(row.key.clone()),
                error_message: (!passed).then(|| check.reasons.join("; ")),
                notes: Some(format!(
                    "processed file {} check",
                    if deep { "deep" } else { "quick" }
                )),
                ..LogEntry::new(
                    Operation::Verify,
                    if passed {
                        OperationStatus::Success
                    } else {
                        OperationStatus::Failed
                    },
                )
            };
            if check.outcome != "needs_restore" {
                self.tracker
                    .record_processed_check(row.processed_file_id, row.part, passed, &log)
                    .await?;
            }
            self.progress.item_finished(
                &row.key,
                &if passed {
                    ItemOutcome::Done { bytes: 0 }
                } else {
                    ItemOutcome::Failed {
                        reason: check.reasons.join("; "),
                    }
                },
            );
            checks.push(check);
        }
        self.progress.run_finished();
        Ok(checks)
    }

    /// The MD5 (hex) and size of an object, read as it streams.
    async fn object_md5(&self, key: &ObjectKey) -> Result<(String, u64)> {
        use futures::StreamExt;
        let got = self.store.get(key, None).await?;
        let mut body = got.body;
        let mut md5 = md5::Md5::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            md5.update(&chunk);
        }
        Ok((hex::encode(md5.finalize()), size))
    }

    /// Downloads a processing session's files below `target/{subfolder}/`, each
    /// checked against the MD5 recorded (a folder comes back as its `.tar`). From
    /// the tracking rows, or, when they hold none of it, from the bucket alone.
    /// `files` (names) chooses some; all when empty.
    pub async fn restore_processed(
        &self,
        session: &SessionId,
        target: &Path,
        files: &[String],
        overwrite: bool,
    ) -> Result<Vec<RestoredProcessed>> {
        let mut objects: Vec<(String, u64, Option<String>)> = self
            .processed_rows(Some(session))
            .await?
            .into_iter()
            .map(|r| (r.key, r.size, Some(r.md5)))
            .collect();
        let prefix = format!(
            "{}/{}/{session}/",
            self.config.s3_paths.processed_files.trim_matches('/'),
            year_of(session)
        );
        if objects.is_empty() {
            objects = self
                .store
                .list(&prefix)
                .await?
                .into_iter()
                .map(|o| (o.key, o.size, None))
                .collect();
        }
        if objects.is_empty() {
            return Err(Error::unusable(format!(
                "processing session {session} has no files in {} (below {prefix})",
                self.store.describe()
            )));
        }
        let chosen: Vec<_> = objects
            .into_iter()
            .filter(|(key, _, _)| {
                let name = key.rsplit('/').next().unwrap_or_default();
                files.is_empty()
                    || files.iter().any(|f| {
                        f == name
                            || key.ends_with(&format!("/{f}"))
                            || f.trim_end_matches(".tar") == name.trim_end_matches(".tar")
                    })
            })
            .collect();
        if chosen.is_empty() {
            return Err(Error::unusable(format!(
                "none of {} is a file of processing session {session}",
                files.join(", ")
            )));
        }
        let mut out = Vec::new();
        let mut failures = Vec::new();
        for (key, size, md5) in chosen {
            match self
                .restore_object(&key, &prefix, size, md5.as_deref(), target, overwrite)
                .await
            {
                Ok(done) => out.push(done),
                Err(e) if crate::engine::stops_the_run(&e) => return Err(e),
                Err(e) => failures.push(self.describe(&e)),
            }
        }
        if !failures.is_empty() {
            return Err(Error::unusable(format!(
                "{} of the processing session's files were not restored: {}",
                failures.len(),
                failures.join("; ")
            )));
        }
        Ok(out)
    }

    /// One object to `target/{subfolder}/{name}`: written to a new file beside it,
    /// checked, fsync'd, then moved there.
    async fn restore_object(
        &self,
        key: &str,
        prefix: &str,
        size: u64,
        md5: Option<&str>,
        target: &Path,
        overwrite: bool,
    ) -> Result<RestoredProcessed> {
        use futures::StreamExt;
        use std::io::Write;
        let relative = key.strip_prefix(prefix).unwrap_or(key);
        let mut dest = target.to_path_buf();
        for part in relative.split('/') {
            if part.is_empty() || part == "." || part == ".." {
                return Err(Error::unusable(format!(
                    "{key}: not a plain path below {prefix}"
                )));
            }
            dest.push(part);
        }
        let done = |action: &str| RestoredProcessed {
            key: key.to_owned(),
            destination: dest.clone(),
            size,
            action: action.into(),
        };
        if let Ok(meta) = std::fs::symlink_metadata(&dest) {
            if !meta.is_file() {
                return Err(Error::unusable(format!(
                    "{} exists and is not a regular file",
                    dest.display()
                )));
            }
            if let Some(md5) = md5
                && meta.len() == size
                && file_md5(&dest)? == md5
            {
                return Ok(done("already-present"));
            }
            if !overwrite {
                return Err(Error::unusable(format!(
                    "{} exists with other bytes (--overwrite replaces it)",
                    dest.display()
                )));
            }
        }
        let parent = dest.parent().unwrap_or(target).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let staged = parent.join(format!(".fitsbak-part-{:016x}", crate::random_u64()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staged)
            .map_err(|e| Error::io(&staged, e))?;
        let object = ObjectKey::new(key.to_owned())?;
        let result: Result<(String, u64)> = async {
            let got = self.store.get(&object, None).await?;
            let mut body = got.body;
            let mut hash = md5::Md5::new();
            let mut got_bytes = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                hash.update(&chunk);
                got_bytes += chunk.len() as u64;
                file.write_all(&chunk).map_err(|e| Error::io(&staged, e))?;
            }
            file.sync_all().map_err(|e| Error::io(&staged, e))?;
            Ok((hex::encode(hash.finalize()), got_bytes))
        }
        .await;
        let checked = result.and_then(|(got, got_bytes)| {
            if got_bytes != size || md5.is_some_and(|m| m != got) {
                Err(Error::unusable(format!(
                    "{key} read as MD5 {got} ({got_bytes} bytes), {} ({size} bytes) was recorded: \
                     not restored",
                    md5.unwrap_or("unknown")
                )))
            } else {
                Ok(())
            }
        });
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
        std::fs::rename(&staged, &dest).map_err(|e| Error::io(&dest, e))?;
        if let Ok(dir) = std::fs::File::open(&parent) {
            let _ = dir.sync_all();
        }
        Ok(done("written"))
    }
}

/// One kind of thing to protect, as `status` and the web page show it: what is
/// on disk, what is backed up, and what that costs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Category {
    /// `raw sessions`, `session notes`, `processing notes`, `intermediate files`,
    /// `final files`, `database snapshots`.
    pub name: String,
    /// Items on disk (sessions, notes, files; the catalog database for snapshots).
    pub local_count: u64,
    /// Their bytes (`None` for raw sessions: `analyze` reads the disk for them).
    pub local_bytes: Option<u64>,
    /// Items backed up to this target.
    pub backed_up_count: u64,
    /// Bytes stored for them.
    pub backed_up_bytes: u64,
    /// Items on disk not backed up yet (or changed since, for raw sessions).
    pub not_backed_up: u64,
    /// Where the lifecycle rules put them.
    pub storage_class: StorageClass,
    /// USD over the first year for what is stored, lifecycle transitions counted.
    pub yearly_cost_usd: f64,
}

impl Category {
    fn new(config: &crate::config::Config, name: &str, kind: ObjectKind) -> Self {
        Self {
            name: name.into(),
            local_count: 0,
            local_bytes: Some(0),
            backed_up_count: 0,
            backed_up_bytes: 0,
            not_backed_up: 0,
            storage_class: crate::engine::costs::StorageSchedule::for_kind(config, kind)
                .final_class(),
            yearly_cost_usd: 0.0,
        }
    }

    fn priced(mut self, config: &crate::config::Config, kind: ObjectKind) -> Self {
        let schedule = crate::engine::costs::StorageSchedule::for_kind(config, kind);
        self.yearly_cost_usd = crate::engine::costs::gb(self.backed_up_bytes)
            * schedule.first_year_price(&config.cost_tracking);
        self
    }
}

/// The `.md` files below `dir` (recursively), by stem, with their sizes.
fn markdown_files(dir: &Path) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() && path.extension().is_some_and(|e| e == "md") {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                out.insert(stem.into_owned(), meta.len());
            }
        }
    }
    out
}

/// The notes on disk below `{notes_dir}/{sub}`, by session id, with their sizes.
fn local_notes(config: &crate::config::Config, sub: &str) -> HashMap<String, u64> {
    config
        .notes_dir()
        .map(|d| markdown_files(&d.join(sub)))
        .unwrap_or_default()
}

/// Bytes of a file, or of all the files below a folder.
fn bytes_on_disk(path: &Path) -> Option<u64> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_file() {
        return Some(meta.len());
    }
    if !meta.is_dir() {
        return None;
    }
    let mut total = 0;
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    Some(total)
}

/// A category of notes: those on disk (by session id, with their sizes) against
/// the rows of this target.
fn notes_category(
    config: &crate::config::Config,
    (name, kind): (&str, ObjectKind),
    on_disk: &HashMap<String, u64>,
    rows: &HashMap<String, u64>,
) -> Category {
    let mut c = Category::new(config, name, kind);
    c.local_count = on_disk.len() as u64;
    c.local_bytes = Some(on_disk.values().sum());
    c.backed_up_count = rows.len() as u64;
    c.backed_up_bytes = rows.values().sum();
    c.not_backed_up = on_disk.keys().filter(|k| !rows.contains_key(*k)).count() as u64;
    c.priced(config, kind)
}

/// What `status` needs of the raw sessions (it computes them itself).
pub struct RawCounts {
    /// Sessions in the catalog.
    pub sessions: u64,
    /// Sessions with an unchanged archive here.
    pub backed_up: u64,
    /// Bytes of their archives.
    pub archive_bytes: u64,
}

/// The six categories: raw sessions, session notes, processing notes,
/// intermediate files, final files, database snapshots.
pub async fn categories(
    catalog: &dyn crate::catalog::Catalog,
    tracker: &dyn crate::tracker::Tracker,
    config: &crate::config::Config,
    raw: RawCounts,
) -> Result<Vec<Category>> {
    let bucket = config.target_bucket();
    let mut out = Vec::new();

    let mut sessions = Category::new(config, "raw sessions", ObjectKind::RawArchive);
    sessions.local_count = raw.sessions;
    sessions.local_bytes = None;
    sessions.backed_up_count = raw.backed_up;
    sessions.backed_up_bytes = raw.archive_bytes;
    sessions.not_backed_up = raw.sessions.saturating_sub(raw.backed_up);
    out.push(sessions.priced(config, ObjectKind::RawArchive));

    let rows: HashMap<String, u64> = tracker
        .notes()
        .await?
        .into_iter()
        .filter(|n| n.bucket == bucket)
        .map(|n| (n.session_id.to_string(), n.size_bytes))
        .collect();
    out.push(notes_category(
        config,
        ("session notes", ObjectKind::SessionNotes),
        &local_notes(config, "Imaging_Sessions"),
        &rows,
    ));
    out.extend(processed_categories(catalog, tracker, config).await?);

    let mut snapshots = Category::new(config, "database snapshots", ObjectKind::DatabaseSnapshot);
    let db = std::fs::metadata(catalog.describe()).ok();
    snapshots.local_count = u64::from(db.is_some());
    snapshots.local_bytes = Some(db.map_or(0, |m| m.len()));
    let rows: Vec<_> = tracker
        .db_snapshots()
        .await?
        .into_iter()
        .filter(|s| s.bucket == bucket)
        .collect();
    snapshots.backed_up_count = rows.len() as u64;
    snapshots.backed_up_bytes = rows.iter().map(|s| s.size_bytes).sum();
    snapshots.not_backed_up = u64::from(snapshots.local_count > 0 && rows.is_empty());
    out.push(snapshots.priced(config, ObjectKind::DatabaseSnapshot));
    Ok(out)
}

/// Processing notes, intermediate files and final files.
async fn processed_categories(
    catalog: &dyn crate::catalog::Catalog,
    tracker: &dyn crate::tracker::Tracker,
    config: &crate::config::Config,
) -> Result<Vec<Category>> {
    let bucket = config.target_bucket();
    let mut out = Vec::new();
    let rows: HashMap<String, u64> = tracker
        .processing_notes()
        .await?
        .into_iter()
        .filter(|n| n.bucket == bucket)
        .map(|n| (n.session_id.to_string(), n.size))
        .collect();
    out.push(notes_category(
        config,
        ("processing notes", ObjectKind::ProcessingNotes),
        &local_notes(config, "Processing_Sessions"),
        &rows,
    ));

    let scan = catalog.processing().await.unwrap_or_default();
    let mut records: HashMap<i64, Vec<ProcessedRecord>> = HashMap::new();
    for r in tracker
        .processed()
        .await?
        .into_iter()
        .filter(|r| r.bucket == bucket)
    {
        records.entry(r.processed_file_id).or_default().push(r);
    }
    for (name, kind, finals) in [
        (
            "intermediate files",
            ObjectKind::ProcessedIntermediate,
            false,
        ),
        ("final files", ObjectKind::ProcessedFinal, true),
    ] {
        let mut c = Category::new(config, name, kind);
        let mut local = 0;
        for f in scan.files.iter().filter(|f| f.is_final() == finals) {
            c.local_count += 1;
            local += bytes_on_disk(&f.path).unwrap_or(0)
                + f.companion.as_deref().and_then(bytes_on_disk).unwrap_or(0);
            let mine = records.get(&f.id).map_or(&[][..], Vec::as_slice);
            if mine.iter().any(|r| r.part == Part::File) {
                c.backed_up_count += 1;
                c.backed_up_bytes += mine.iter().map(|r| r.size).sum::<u64>();
            } else {
                c.not_backed_up += 1;
            }
        }
        c.local_bytes = Some(local);
        out.push(c.priced(config, kind));
    }
    Ok(out)
}

/// One processing session in `processed status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessingSessionStatus {
    /// Its id.
    pub session_id: SessionId,
    /// Its name.
    pub name: String,
    /// Files catalogued.
    pub files: u64,
    /// Their bytes on disk (with companions).
    pub bytes: u64,
    /// Files backed up here.
    pub backed_up: u64,
    /// Bytes stored for them.
    pub backed_up_bytes: u64,
    /// Files whose last check passed.
    pub verified: u64,
    /// Whether its notes are backed up (`None`: it has none on disk).
    pub notes_backed_up: Option<bool>,
}

/// `processed status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessedStatus {
    /// Per processing session.
    pub sessions: Vec<ProcessingSessionStatus>,
    /// Processing notes, intermediate and final files.
    pub categories: Vec<Category>,
    /// Catalog rows that cannot be used.
    pub rejected: Vec<String>,
}

impl Engine {
    /// `processed status`.
    pub async fn processed_status(&self) -> Result<ProcessedStatus> {
        let scan = self.processing_scan().await?;
        let rows = self.processed_rows(None).await?;
        let notes: HashMap<SessionId, ProcessingNoteRecord> = self
            .tracker
            .processing_notes()
            .await?
            .into_iter()
            .filter(|n| n.bucket == self.store.bucket())
            .map(|n| (n.session_id.clone(), n))
            .collect();
        let notes_dir = self.config.notes_dir();
        let sessions = scan
            .sessions
            .iter()
            .map(|s| {
                let files: Vec<&ProcessedFile> =
                    scan.files.iter().filter(|f| f.session_id == s.id).collect();
                let mine: Vec<&ProcessedRecord> =
                    rows.iter().filter(|r| r.session_id == s.id).collect();
                let has_note = notes_dir
                    .as_ref()
                    .is_some_and(|d| processing_note_path(d, &s.id).is_file());
                ProcessingSessionStatus {
                    session_id: s.id.clone(),
                    name: s.name.clone(),
                    files: files.len() as u64,
                    bytes: files
                        .iter()
                        .map(|f| {
                            bytes_on_disk(&f.path).unwrap_or(0)
                                + f.companion.as_deref().and_then(bytes_on_disk).unwrap_or(0)
                        })
                        .sum(),
                    backed_up: mine.iter().filter(|r| r.part == Part::File).count() as u64,
                    backed_up_bytes: mine.iter().map(|r| r.size).sum(),
                    verified: mine
                        .iter()
                        .filter(|r| r.part == Part::File && r.verified)
                        .count() as u64,
                    notes_backed_up: has_note.then(|| notes.contains_key(&s.id)),
                }
            })
            .collect();
        let categories =
            processed_categories(self.catalog.as_ref(), self.tracker.as_ref(), &self.config)
                .await?;
        Ok(ProcessedStatus {
            sessions,
            categories,
            rejected: scan.rejected,
        })
    }
}

impl Engine {
    /// Rows for the processed files in the bucket that have none (after the
    /// tracking database was lost): from each object's metadata (the file's id,
    /// session and part fitsbak wrote), its size and ETag, and its MD5 (the
    /// single-PUT ETag, or the object read through). Objects without fitsbak's
    /// metadata are left alone. Returns their keys.
    pub async fn sync_processed(&self, dry_run: bool) -> Result<Vec<String>> {
        let prefix = format!(
            "{}/",
            self.config.s3_paths.processed_files.trim_matches('/')
        );
        let known: std::collections::HashSet<String> = self
            .processed_rows(None)
            .await?
            .into_iter()
            .map(|r| r.key)
            .collect();
        let mut catalogued: HashMap<SessionId, u64> = HashMap::new();
        for f in self
            .catalog
            .processing()
            .await
            .map(|s| s.files)
            .unwrap_or_default()
        {
            *catalogued.entry(f.session_id).or_default() += 1;
        }
        let mut added = Vec::new();
        for object in self.store.list(&prefix).await? {
            if known.contains(&object.key) {
                continue;
            }
            let key = ObjectKey::new(object.key.clone())?;
            let Some(head) = self.store.head(&key).await? else {
                continue;
            };
            let meta = &head.metadata;
            let (Some(id), Some(session)) = (
                meta.get("processed-file-id")
                    .and_then(|v| v.parse::<i64>().ok()),
                meta.get("processing-session-id")
                    .and_then(|v| SessionId::new(v.clone()).ok()),
            ) else {
                continue;
            };
            let part = match meta.get("part").map(String::as_str) {
                Some("companion") => Part::Companion,
                _ => Part::File,
            };
            if dry_run {
                added.push(object.key);
                continue;
            }
            let etag = head.etag.trim_matches('"').to_ascii_lowercase();
            let md5 = if etag.len() == 32 && !etag.contains('-') {
                etag.clone()
            } else {
                self.object_md5(&key).await?.0
            };
            let record = ProcessedRecord {
                processed_file_id: id,
                part,
                session_id: session.clone(),
                bucket: self.store.bucket(),
                key: object.key.clone(),
                region: self.store.region(),
                etag: Some(head.etag.clone()),
                size: head.size,
                md5,
                fingerprint: None,
                uploaded_at: head.last_modified.unwrap_or_else(crate::time::now),
                storage_class: head.storage_class.clone(),
                verified: false,
                verified_at: None,
                notes: Some("row rebuilt from the bucket by sync-db".into()),
            };
            let log = LogEntry {
                session_id: Some(session.clone()),
                bucket: Some(record.bucket.clone()),
                key: Some(record.key.clone()),
                notes: Some("processed file row rebuilt from the bucket".into()),
                ..LogEntry::new(Operation::Sync, OperationStatus::Success)
            };
            let count = catalogued.get(&session).copied().unwrap_or(0);
            self.tracker.record_processed(&record, count, &log).await?;
            added.push(object.key);
        }
        Ok(added)
    }
}
