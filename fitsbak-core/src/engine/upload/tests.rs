//! The upload engine's branches, on the in-memory store (with faults injected)
//! and mocks for the tracker and the catalog: what happens to the
//! multipart upload and the tracking rows when a part fails, when the stored
//! object's checksum is wrong, and when a retried Complete finds its upload gone.

use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use md5::Digest;

use super::plan::snapshot_of;
use super::*;
use crate::archive::{ArchiveBuilder, ArchiveSink, PlannedMember};
use crate::archive::{ArchivePlan, MemberSource};
use crate::catalog::MockCatalog;
use crate::checksum::expected_object_checksum;
use crate::config::Config;
use crate::error::StoreErrorKind;
use crate::ids::ObjectKey;
use crate::manifest::Manifest;
use crate::model::CatalogFile;
use crate::model::SessionScan;
use crate::progress::NoProgress;
use crate::store::PutOptions;
use crate::store::memory::{Fault, MemoryStore, Request};
use crate::store::{Checksum, ChecksumKind, MultipartStore, ObjectMeta, ObjectStore, Payload};
use crate::tracker::OperationStatus;
use crate::tracker::mock::MockTracker;

/// Lays members end to end, no headers: enough to drive the engine.
struct FlatArchiver;

impl ArchiveBuilder for FlatArchiver {
    fn plan(&self, session: &SessionId, sources: Vec<MemberSource>) -> Result<ArchivePlan> {
        let mut offset = 0;
        let members = sources
            .into_iter()
            .map(|source| {
                let path =
                    crate::ids::MemberPath::in_session(session, &source.catalog.file).unwrap();
                let m = PlannedMember {
                    header_offset: offset,
                    data_offset: offset,
                    path,
                    source,
                };
                offset += m.source.size;
                m
            })
            .collect();
        Ok(ArchivePlan {
            session_id: session.clone(),
            members,
            total_size: offset,
        })
    }

    fn plan_tree(
        &self,
        _: &SessionId,
        _: Vec<(crate::ids::MemberPath, MemberSource)>,
    ) -> Result<ArchivePlan> {
        unreachable!("no folders in these tests")
    }

    fn write(&self, plan: &ArchivePlan, out: &mut dyn ArchiveSink) -> Result<Vec<String>> {
        plan.members
            .iter()
            .map(|m| {
                let bytes = std::fs::read(&m.source.catalog.path).unwrap();
                out.put(&bytes).map_err(|e| Error::task("writing", e))?;
                Ok(hex::encode(md5::Md5::digest(&bytes)))
            })
            .collect()
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    files: Vec<CatalogFile>,
}

/// Two files of 3000 bytes, one session.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let session = SessionId::new("S1").unwrap();
    let files = (0..2)
        .map(|i| {
            let path = dir.path().join(format!("f{i}.fits"));
            std::fs::write(&path, vec![i as u8 + 1; 3000]).unwrap();
            CatalogFile {
                id: i,
                session_id: session.clone(),
                file: format!("f{i}.fits"),
                folder: dir.path().to_string_lossy().into_owned(),
                path,
                frame_type: None,
                md5sum: None,
                object: None,
                filter: None,
                bad: false,
                file_not_found: false,
            }
        })
        .collect();
    Setup { _dir: dir, files }
}

fn catalog(files: Vec<CatalogFile>) -> MockCatalog {
    let mut catalog = MockCatalog::new();
    catalog
        .expect_describe()
        .return_const("catalog.db".to_owned());
    catalog.expect_sessions().returning(|| {
        Ok(SessionScan {
            sessions: vec![Session {
                id: SessionId::new("S1").unwrap(),
                date: NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
                telescope: None,
                camera: None,
                notes: None,
                file_count: 2,
            }],
            rejected: vec![],
        })
    });
    catalog.expect_files().returning(move |_| Ok(files.clone()));
    catalog
}

/// A tracker that accepts bookkeeping and must never record an archive.
fn tracker_recording_nothing() -> MockTracker {
    let mut tracker = MockTracker::new();
    tracker.expect_archives().returning(|| Ok(vec![]));
    tracker.expect_notes().returning(|| Ok(vec![]));
    tracker.expect_db_snapshots().returning(|| Ok(vec![]));
    tracker.expect_processing_notes().returning(|| Ok(vec![]));
    tracker.expect_processed().returning(|| Ok(vec![]));
    tracker.expect_inflight().returning(|| Ok(vec![]));
    tracker.expect_begin_upload().returning(|_| Ok(()));
    tracker.expect_record_part().returning(|_, _| Ok(()));
    tracker.expect_end_upload().returning(|_| Ok(()));
    tracker
        .expect_log()
        .withf(|e| e.status == OperationStatus::Failed && e.error_message.is_some())
        .times(1)
        .returning(|_| Ok(()));
    tracker.expect_record_archive().times(0);
    tracker.expect_record_stats().returning(|_| Ok(()));
    tracker
}

/// The requests a store saw: operation and part number.
type Calls = Mutex<Vec<(String, Option<u32>)>>;

/// A memory store that counts the requests of each operation and injects the
/// faults `fault` asks for.
fn store_with(
    fault: impl Fn(&Request<'_>) -> Option<Fault> + Send + Sync + 'static,
) -> (Arc<MemoryStore>, Arc<Calls>) {
    let store = Arc::new(MemoryStore::new());
    let calls: Arc<Calls> = Arc::default();
    let seen = calls.clone();
    store.set_faults(move |r| {
        seen.lock().unwrap().push((r.operation.to_owned(), r.part));
        fault(r)
    });
    (store, calls)
}

/// How many requests of `operation` were made.
fn count(calls: &Calls, operation: &str) -> usize {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(o, _)| o == operation)
        .count()
}

/// The multipart uploads a store holds.
async fn uploads_in(store: &MemoryStore) -> usize {
    store.list_multipart_uploads("").await.unwrap().len()
}

const KEY: &str = "backups/raw/2024/S1.tar";

/// The session's archive, when the store has it.
async fn archive_in(store: &MemoryStore) -> Option<ObjectMeta> {
    store.head(&ObjectKey::new(KEY).unwrap()).await.unwrap()
}

/// 1000-byte parts above a 1000-byte threshold: the 6000-byte archive takes 6.
fn config(verify: bool) -> Config {
    let mut c = Config::default();
    c.upload_settings.multipart_chunksize_mb = 1000.0 / (1 << 20) as f64;
    c.upload_settings.multipart_threshold_mb = 1000.0 / (1 << 20) as f64;
    c.archive_settings.verify_after_upload = verify;
    c
}

fn engine(
    config: Config,
    catalog: MockCatalog,
    tracker: MockTracker,
    store: Arc<MemoryStore>,
) -> Engine {
    Engine {
        config: Arc::new(config),
        catalog: Arc::new(catalog),
        tracker: Arc::new(tracker),
        store,
        archiver: Arc::new(FlatArchiver),
        reader: Arc::new(NoReader),
        snapshots: Arc::new(crate::engine::testing::NoSnapshots),
        progress: Arc::new(NoProgress),
        hints: crate::engine::plain_hints(),
        retries: Default::default(),
        cancel: Default::default(),
        capabilities: Default::default(),
        transferred: Default::default(),
    }
}

struct NoReader;

impl crate::archive::ArchiveReader for NoReader {
    fn inventory(&self, _: &mut dyn std::io::Read) -> Result<crate::archive::Inventory> {
        unreachable!("not read in these tests")
    }
    fn verify(
        &self,
        _: Vec<crate::archive::Lane<'_>>,
        _: &Manifest,
    ) -> Result<crate::archive::VerifyReport> {
        unreachable!("not read in these tests")
    }
    fn extract(
        &self,
        _: Vec<crate::archive::Lane<'_>>,
        _: &Manifest,
        _: &std::path::Path,
        _: &crate::archive::ExtractOptions,
    ) -> Result<Vec<crate::archive::ExtractedFile>> {
        unreachable!("not read in these tests")
    }
    fn present(
        &self,
        _: &Manifest,
        _: &std::path::Path,
        _: &crate::archive::ExtractOptions,
    ) -> Result<std::collections::BTreeSet<crate::ids::MemberPath>> {
        unreachable!("not read in these tests")
    }
}

/// Runs an upload whose one session must fail; returns its error.
async fn failed_session_error(e: Engine) -> String {
    let summary = e.upload(&UploadOptions::default()).await.unwrap();
    assert_eq!(summary.failed(), 1);
    let SessionOutcome::Failed { error } = &summary.sessions[0].outcome else {
        panic!("{summary:?}");
    };
    error.clone()
}

/// Uploads one session whose part 3 fails with `kind`; `aborts` says whether the
/// multipart upload must be aborted. Returns the session's error.
async fn upload_with_a_failing_part(
    kind: StoreErrorKind,
    message: &'static str,
    aborts: bool,
) -> String {
    let s = setup();
    let (store, calls) = store_with(move |r| {
        (r.operation == "UploadPart" && r.part == Some(3)).then(|| Fault::fail(kind, message))
    });
    let e = engine(
        config(true),
        catalog(s.files),
        tracker_recording_nothing(),
        store.clone(),
    );
    let error = failed_session_error(e).await;
    assert_eq!(count(&calls, "CompleteMultipartUpload"), 0);
    assert_eq!(count(&calls, "AbortMultipartUpload"), usize::from(aborts));
    assert_eq!(uploads_in(&store).await, usize::from(!aborts));
    assert!(archive_in(&store).await.is_none());
    error
}

#[tokio::test]
async fn a_failed_part_aborts_the_upload_and_records_nothing() {
    let error = upload_with_a_failing_part(
        StoreErrorKind::Integrity,
        "BadDigest: the CRC32C you specified did not match the calculated checksum",
        true,
    )
    .await;
    assert!(
        error.contains("UploadPart") && error.contains("BadDigest"),
        "{error}"
    );
}

#[tokio::test]
async fn a_network_failure_after_every_retry_keeps_the_upload_for_the_next_run() {
    let error =
        upload_with_a_failing_part(StoreErrorKind::Network, "connection reset", false).await;
    assert!(
        error.contains("UploadPart") && error.contains("connection reset"),
        "{error}"
    );
}

#[tokio::test]
async fn a_part_the_store_keeps_damaged_is_caught_before_complete() {
    let s = setup();
    // The store keeps part 2 damaged: ListParts shows another CRC32C than sent.
    let (store, calls) = store_with(|r| {
        (r.operation == "UploadPart" && r.part == Some(2)).then_some(Fault::Corrupt)
    });
    let e = engine(
        config(true),
        catalog(s.files),
        tracker_recording_nothing(),
        store.clone(),
    );
    let error = failed_session_error(e).await;
    assert!(
        error.contains("part 2")
            && error.contains("not the ones sent")
            && error.contains("aborted"),
        "{error}"
    );
    assert_eq!(count(&calls, "ListParts"), 1);
    assert_eq!(count(&calls, "CompleteMultipartUpload"), 0);
    assert_eq!(count(&calls, "AbortMultipartUpload"), 1);
    assert!(archive_in(&store).await.is_none());
}

#[tokio::test]
async fn a_stored_object_with_the_wrong_checksum_is_removed() {
    let s = setup();
    // The store reports a checksum that is not that of the bytes sent.
    let (store, calls) = store_with(|r| (r.operation == "HeadObject").then_some(Fault::Corrupt));
    let e = engine(
        config(true),
        catalog(s.files),
        tracker_recording_nothing(),
        store.clone(),
    );
    let error = failed_session_error(e).await;
    assert!(
        error.contains("is not that of the bytes sent") && error.contains("removed"),
        "{error}"
    );
    assert_eq!(count(&calls, "CompleteMultipartUpload"), 1);
    assert_eq!(count(&calls, "DeleteObject"), 1);
    store.set_faults(|_| None);
    assert!(archive_in(&store).await.is_none(), "the object was removed");
}

#[tokio::test]
async fn a_rejected_object_leaves_no_hidden_version_behind() {
    let s = setup();
    let store = Arc::new(MemoryStore::versioned());
    store.set_faults(|r| (r.operation == "HeadObject").then_some(Fault::Corrupt));
    let e = engine(
        config(true),
        catalog(s.files),
        tracker_recording_nothing(),
        store.clone(),
    );
    let error = failed_session_error(e).await;
    assert!(error.contains("removed"), "{error}");
    store.set_faults(|_| None);
    let versions = crate::store::ColdStorage::list_versions(store.as_ref(), "backups/raw/")
        .await
        .unwrap();
    assert!(
        versions.is_empty(),
        "deleted by version id, not hidden: {versions:?}"
    );
}

#[tokio::test]
async fn a_retried_complete_that_finds_its_upload_gone_checks_the_object() {
    let s = setup();
    let etag = multipart_etag(&s.files);
    // Complete goes through, but its answer is lost: the retry finds no upload.
    let (store, calls) = store_with(|r| {
        (r.operation == "CompleteMultipartUpload")
            .then(|| Fault::fail_after(StoreErrorKind::NoSuchUpload, "NoSuchUpload"))
    });
    let e = engine(
        config(false),
        catalog(s.files),
        tracker_recording_one_archive(etag),
        store.clone(),
    );
    let summary = e.upload(&UploadOptions::default()).await.unwrap();
    assert!(
        matches!(
            summary.sessions[0].outcome,
            SessionOutcome::Uploaded { parts: 6, .. }
        ),
        "{summary:?}"
    );
    assert_eq!(count(&calls, "AbortMultipartUpload"), 0);
    assert_eq!(count(&calls, "PutObject"), 1, "the manifest, once");
}

/// A tracker that must record exactly one archive, with `etag`, as a success.
fn tracker_recording_one_archive(etag: String) -> MockTracker {
    let mut tracker = MockTracker::new();
    tracker.expect_archives().returning(|| Ok(vec![]));
    tracker.expect_notes().returning(|| Ok(vec![]));
    tracker.expect_db_snapshots().returning(|| Ok(vec![]));
    tracker.expect_processing_notes().returning(|| Ok(vec![]));
    tracker.expect_processed().returning(|| Ok(vec![]));
    tracker.expect_inflight().returning(|| Ok(vec![]));
    tracker.expect_begin_upload().returning(|_| Ok(()));
    tracker.expect_record_part().returning(|_, _| Ok(()));
    tracker.expect_end_upload().returning(|_| Ok(()));
    tracker
        .expect_record_archive()
        .withf(move |a, members, log| {
            a.etag == etag && members.len() == 2 && log.status == OperationStatus::Success
        })
        .times(1)
        .returning(|_, _, _| Ok(1));
    tracker.expect_record_stats().returning(|_| Ok(()));
    tracker
}

#[tokio::test]
async fn a_store_that_cannot_list_multipart_uploads_still_uploads() {
    let s = setup();
    let etag = multipart_etag(&s.files);
    let (store, calls) = store_with(|r| {
        (r.operation == "ListMultipartUploads").then(|| {
            Fault::fail(
                StoreErrorKind::NotImplemented,
                "NotImplemented: A header you provided implies functionality that is not implemented",
            )
        })
    });
    let e = engine(
        config(false),
        catalog(s.files),
        tracker_recording_one_archive(etag),
        store.clone(),
    );
    let summary = e.upload(&UploadOptions::default()).await.unwrap();
    assert!(
        matches!(
            summary.sessions[0].outcome,
            SessionOutcome::Uploaded { parts: 6, .. }
        ),
        "{summary:?}"
    );
    assert_eq!(count(&calls, "ListMultipartUploads"), 1);
    assert_eq!(count(&calls, "UploadPart"), 6);
    assert_eq!(count(&calls, "AbortMultipartUpload"), 0);
}

#[tokio::test]
async fn uploads_are_refused_when_the_config_turns_them_off() {
    let s = setup();
    let mut c = config(true);
    c.enabled = false;
    let (store, calls) = store_with(|_| None);
    let e = engine(c, catalog(s.files), MockTracker::new(), store);
    let err = e.upload(&UploadOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("enabled: false"), "{err}");
    assert!(
        calls.lock().unwrap().is_empty(),
        "nothing was asked of the store"
    );
}

/// The fake archive of `files`: its bytes, and its plan's snapshot.
fn fake_archive(files: &[CatalogFile]) -> (Vec<u8>, String) {
    let session = SessionId::new("S1").unwrap();
    let (sources, _) = member_sources(&session, files.to_vec(), false).unwrap();
    let plan = FlatArchiver.plan(&session, sources).unwrap();
    let mut bytes = Vec::new();
    FlatArchiver.write(&plan, &mut bytes).unwrap();
    (bytes, snapshot_of(&plan))
}

/// An upload of the session that an earlier run started in `store` and stopped
/// after sending parts `done`, and its in-flight record.
async fn interrupted(
    store: &MemoryStore,
    files: &[CatalogFile],
    done: &[u32],
    snapshot_matches: bool,
) -> crate::tracker::InflightUpload {
    let (bytes, snapshot) = fake_archive(files);
    let key = ObjectKey::new(KEY).unwrap();
    let upload = store
        .create_multipart(&key, &PutOptions::default(), Some(ChecksumKind::Crc32c))
        .await
        .unwrap();
    let mut parts = Vec::new();
    for &n in done {
        let body = bytes[(n as usize - 1) * 1000..n as usize * 1000].to_vec();
        let checksum = crate::checksum::of_part(crate::config::ChecksumAlgorithm::Crc32c, &body);
        let receipt = store
            .put_part(&key, &upload, n, Payload::new(body, Some(checksum)))
            .await
            .unwrap();
        parts.push(crate::tracker::PartRecord {
            receipt,
            client_checksum: checksum.to_string(),
        });
    }
    crate::tracker::InflightUpload {
        session_id: SessionId::new("S1").unwrap(),
        bucket: "memory".into(),
        key: KEY.into(),
        upload_id: upload,
        part_size: 1000,
        archive_size: 6000,
        checksum_algorithm: Some("CRC32C".into()),
        snapshot: if snapshot_matches {
            snapshot
        } else {
            "[]".into()
        },
        started_at: crate::time::now(),
        parts,
    }
}

fn resuming_tracker(inflight: crate::tracker::InflightUpload) -> MockTracker {
    let mut tracker = MockTracker::new();
    tracker.expect_archives().returning(|| Ok(vec![]));
    tracker.expect_notes().returning(|| Ok(vec![]));
    tracker.expect_db_snapshots().returning(|| Ok(vec![]));
    tracker.expect_processing_notes().returning(|| Ok(vec![]));
    tracker.expect_processed().returning(|| Ok(vec![]));
    tracker
        .expect_inflight()
        .returning(move || Ok(vec![inflight.clone()]));
    tracker.expect_begin_upload().returning(|_| Ok(()));
    tracker.expect_record_part().returning(|_, _| Ok(()));
    tracker.expect_end_upload().returning(|_| Ok(()));
    tracker.expect_record_archive().returning(|_, _, _| Ok(1));
    tracker.expect_log().returning(|_| Ok(()));
    tracker.expect_record_stats().returning(|_| Ok(()));
    tracker
}

/// The ETag S3 gives the fake archive of `files` sent in 1000-byte parts.
fn multipart_etag(files: &[CatalogFile]) -> String {
    let (bytes, _) = fake_archive(files);
    let parts: Vec<Checksum> = bytes
        .chunks(1000)
        .map(|c| crate::checksum::of_part(crate::config::ChecksumAlgorithm::Md5, c))
        .collect();
    expected_object_checksum(&parts, true)
}

/// The part numbers sent, in the order they were sent.
fn parts_sent(calls: &Calls) -> Vec<u32> {
    calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(o, _)| o == "UploadPart")
        .filter_map(|(_, p)| *p)
        .collect()
}

#[tokio::test]
async fn an_interrupted_upload_resumes_sending_only_the_missing_parts() {
    let s = setup();
    let (store, calls) = store_with(|_| None);
    let inflight = interrupted(&store, &s.files, &[1, 2], true).await;
    calls.lock().unwrap().clear();
    let e = engine(
        config(false),
        catalog(s.files),
        resuming_tracker(inflight),
        store.clone(),
    );
    let summary = e.upload(&UploadOptions::default()).await.unwrap();
    assert!(
        matches!(
            summary.sessions[0].outcome,
            SessionOutcome::Uploaded {
                parts: 6,
                resumed_parts: 2,
                ..
            }
        ),
        "{summary:?}"
    );
    assert_eq!(count(&calls, "CreateMultipartUpload"), 0);
    // One to see which parts the store holds, one to check them all before Complete.
    assert_eq!(count(&calls, "ListParts"), 2);
    let mut sent = parts_sent(&calls);
    sent.sort_unstable();
    assert_eq!(sent, [3, 4, 5, 6]);
    assert_eq!(count(&calls, "CompleteMultipartUpload"), 1);
    assert_eq!(archive_in(&store).await.unwrap().size, 6000);
}

#[tokio::test]
async fn a_part_whose_bytes_changed_since_the_interruption_aborts_the_upload() {
    let s = setup();
    let (store, calls) = store_with(|_| None);
    let mut inflight = interrupted(&store, &s.files, &[1, 2], true).await;
    inflight.parts[1].client_checksum = "CRC32C:AAAAAA==".into();
    calls.lock().unwrap().clear();
    let e = engine(
        config(false),
        catalog(s.files),
        resuming_tracker(inflight),
        store.clone(),
    );
    let error = failed_session_error(e).await;
    assert!(
        error.contains("part 2") && error.contains("does not have the bytes uploaded before"),
        "{error}"
    );
    assert_eq!(count(&calls, "AbortMultipartUpload"), 1);
    assert_eq!(count(&calls, "CompleteMultipartUpload"), 0);
    assert_eq!(uploads_in(&store).await, 0);
    assert!(archive_in(&store).await.is_none());
}

#[tokio::test]
async fn files_changed_since_the_interruption_abort_it_and_start_over() {
    let s = setup();
    let (store, calls) = store_with(|_| None);
    let inflight = interrupted(&store, &s.files, &[1], false).await;
    let old = inflight.upload_id.clone();
    calls.lock().unwrap().clear();
    let e = engine(
        config(false),
        catalog(s.files),
        resuming_tracker(inflight),
        store.clone(),
    );
    let summary = e.upload(&UploadOptions::default()).await.unwrap();
    assert_eq!(count(&calls, "AbortMultipartUpload"), 1, "the old upload");
    assert_eq!(count(&calls, "ListParts"), 1, "the check before Complete");
    assert_eq!(count(&calls, "CreateMultipartUpload"), 1);
    assert_eq!(parts_sent(&calls).len(), 6, "every part, on the new upload");
    assert!(
        !store
            .list_multipart_uploads("")
            .await
            .unwrap()
            .iter()
            .any(|u| u.upload_id == old)
    );
    assert!(
        matches!(
            summary.sessions[0].outcome,
            SessionOutcome::Uploaded {
                parts: 6,
                resumed_parts: 0,
                ..
            }
        ),
        "{summary:?}"
    );
}
