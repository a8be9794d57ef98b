//! The upload engine's branches, with mocks for every trait: what happens to the
//! multipart upload and the tracking rows when a part fails, when the stored
//! object's checksum is wrong, and when a retried Complete finds its upload gone.

use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use md5::Digest;

use super::*;
use crate::archive::{ArchiveBuilder, ArchiveSink, PlannedMember};
use crate::catalog::MockCatalog;
use crate::checksum::expected_object_checksum;
use crate::config::Config;
use crate::error::StoreError;
use crate::model::SessionScan;
use crate::progress::NoProgress;
use crate::store::{Checksum, MockObjectStore, ObjectMeta, PartReceipt};
use crate::tracker::MockTracker;

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

    fn write(&self, plan: &ArchivePlan, out: &mut dyn ArchiveSink) -> Result<Vec<String>> {
        plan.members
            .iter()
            .map(|m| {
                let bytes = std::fs::read(&m.source.catalog.path).unwrap();
                out.put(&bytes).map_err(|e| Error::Refused(e.to_string()))?;
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

/// What any upload asks the store first: which bucket, and what is already there.
fn store_identity(store: &mut MockObjectStore) {
    store.expect_describe().return_const("s3://b".to_owned());
    store.expect_bucket().return_const("b".to_owned());
    store.expect_region().return_const("us-east-1".to_owned());
    store.expect_list().returning(|_| Ok(vec![]));
}

fn store_basics(store: &mut MockObjectStore) {
    store_identity(store);
    store
        .expect_create_multipart()
        .returning(|_, _, _| Ok(MultipartId("up-1".into())));
    store
        .expect_list_multipart_uploads()
        .returning(|_| Ok(vec![]));
}

/// What Complete answers for a good 6-part upload whose composite CRC32C is `whole`.
fn completed(whole: String) -> PutResult {
    PutResult {
        etag: "whole-6".into(),
        version_id: None,
        checksum: Some(ObjectChecksum {
            algorithm: "CRC32C".into(),
            value: whole,
        }),
    }
}

/// After a good Complete: the archive's HEAD, and the manifest's PUT, once.
fn expect_archive_and_manifest(store: &mut MockObjectStore) {
    store.expect_head().returning(|key| {
        Ok(Some(ObjectMeta {
            key: key.clone(),
            size: 6000,
            etag: "whole-6".into(),
            last_modified: None,
            storage_class: StorageClass::Standard,
            restore: None,
            version_id: None,
            metadata: Default::default(),
            checksum: None,
        }))
    });
    store.expect_put().times(1).returning(|_, _, _, _| {
        Ok(PutResult {
            etag: "manifest".into(),
            version_id: None,
            checksum: None,
        })
    });
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
    store: MockObjectStore,
) -> Engine {
    Engine {
        config: Arc::new(config),
        catalog: Arc::new(catalog),
        tracker: Arc::new(tracker),
        store: Arc::new(store),
        archiver: Arc::new(FlatArchiver),
        reader: Arc::new(NoReader),
        progress: Arc::new(NoProgress),
        retries: Default::default(),
        cancel: Default::default(),
    }
}

struct NoReader;

impl crate::archive::ArchiveReader for NoReader {
    fn verify(
        &self,
        _: &mut dyn std::io::Read,
        _: &Manifest,
    ) -> Result<crate::archive::VerifyReport> {
        unreachable!("not read in these tests")
    }
    fn extract(
        &self,
        _: &mut dyn std::io::Read,
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
    fn extract_member(
        &self,
        _: &mut dyn std::io::Read,
        _: &crate::manifest::ManifestMember,
        _: &std::path::Path,
        _: &crate::archive::ExtractOptions,
    ) -> Result<crate::archive::ExtractedFile> {
        unreachable!("not read in these tests")
    }
}

fn receipt(n: u32, body: &bytes::Bytes, checksum: Option<Checksum>) -> PartReceipt {
    PartReceipt {
        part_number: n,
        etag: format!("etag-{n}"),
        size: body.len() as u64,
        checksum: checksum.map(|c| c.to_base64()),
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
    let mut store = MockObjectStore::new();
    store_basics(&mut store);
    store
        .expect_put_part()
        .returning(move |key, _, n, body, c| {
            if n == 3 {
                Err(StoreError::new(kind, "UploadPart", key.to_string(), message).into())
            } else {
                Ok(receipt(n, &body, c))
            }
        });
    store
        .expect_abort_multipart()
        .times(usize::from(aborts))
        .returning(|_, _| Ok(()));
    store.expect_complete_multipart().times(0);
    let e = engine(
        config(true),
        catalog(s.files),
        tracker_recording_nothing(),
        store,
    );
    failed_session_error(e).await
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
async fn a_stored_object_with_the_wrong_checksum_is_deleted() {
    let s = setup();
    let mut store = MockObjectStore::new();
    store_basics(&mut store);
    store
        .expect_put_part()
        .returning(|_, _, n, body, c| Ok(receipt(n, &body, c)));
    store
        .expect_complete_multipart()
        .times(1)
        .returning(|_, _, parts| {
            Ok(PutResult {
                etag: "x-6".into(),
                version_id: None,
                checksum: Some(ObjectChecksum {
                    algorithm: "CRC32C".into(),
                    value: format!("AAAAAA==-{}", parts.len()),
                }),
            })
        });
    store.expect_delete().times(1).returning(|_| Ok(()));
    store.expect_abort_multipart().times(0);
    let e = engine(
        config(true),
        catalog(s.files),
        tracker_recording_nothing(),
        store,
    );
    let error = failed_session_error(e).await;
    assert!(
        error.contains("does not match the bytes sent") && error.contains("deleted"),
        "{error}"
    );
}

#[tokio::test]
async fn a_retried_complete_that_finds_its_upload_gone_checks_the_object() {
    let s = setup();
    let sent: Arc<Mutex<Vec<(u32, Checksum)>>> = Arc::default();
    let mut store = MockObjectStore::new();
    store_basics(&mut store);
    let seen = sent.clone();
    store.expect_put_part().returning(move |_, _, n, body, c| {
        seen.lock().unwrap().push((n, c.unwrap()));
        Ok(receipt(n, &body, c))
    });
    store
        .expect_complete_multipart()
        .times(1)
        .returning(|key, _, _| {
            Err(StoreError::new(
                StoreErrorKind::NoSuchUpload,
                "CompleteMultipartUpload",
                key.to_string(),
                "NoSuchUpload",
            )
            .into())
        });
    let parts = sent.clone();
    store.expect_head().returning(move |key| {
        let mut sent = parts.lock().unwrap().clone();
        sent.sort_by_key(|(n, _)| *n);
        let ordered: Vec<Checksum> = sent.into_iter().map(|(_, c)| c).collect();
        Ok(Some(ObjectMeta {
            key: key.clone(),
            size: 6000,
            etag: "whole-6".into(),
            last_modified: None,
            storage_class: StorageClass::Standard,
            restore: None,
            version_id: None,
            metadata: Default::default(),
            checksum: Some(ObjectChecksum {
                algorithm: "CRC32C".into(),
                value: expected_object_checksum(&ordered, true),
            }),
        }))
    });
    store.expect_put().times(1).returning(|_, _, _, _| {
        Ok(PutResult {
            etag: "manifest".into(),
            version_id: None,
            checksum: None,
        })
    });
    store.expect_abort_multipart().times(0);
    let e = engine(
        config(false),
        catalog(s.files),
        tracker_recording_one_archive("whole-6"),
        store,
    );
    let summary = e.upload(&UploadOptions::default()).await.unwrap();
    assert!(
        matches!(
            summary.sessions[0].outcome,
            SessionOutcome::Uploaded { parts: 6, .. }
        ),
        "{summary:?}"
    );
}

/// A tracker that must record exactly one archive, with `etag`, as a success.
fn tracker_recording_one_archive(etag: &'static str) -> MockTracker {
    let mut tracker = MockTracker::new();
    tracker.expect_archives().returning(|| Ok(vec![]));
    tracker.expect_notes().returning(|| Ok(vec![]));
    tracker.expect_db_snapshots().returning(|| Ok(vec![]));
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
    let whole = composite(&s.files);
    let mut store = MockObjectStore::new();
    store_identity(&mut store);
    store
        .expect_create_multipart()
        .returning(|_, _, _| Ok(MultipartId("up-1".into())));
    store
        .expect_list_multipart_uploads()
        .times(1)
        .returning(|prefix| {
            Err(StoreError::new(
                StoreErrorKind::NotImplemented,
                "ListMultipartUploads",
                prefix.to_owned(),
                "NotImplemented: A header you provided implies functionality that is not implemented",
            )
            .into())
        });
    store
        .expect_put_part()
        .times(6)
        .returning(|_, _, n, body, c| Ok(receipt(n, &body, c)));
    store
        .expect_complete_multipart()
        .times(1)
        .returning(move |_, _, _| Ok(completed(whole.clone())));
    expect_archive_and_manifest(&mut store);
    store.expect_abort_multipart().times(0);
    let e = engine(
        config(false),
        catalog(s.files),
        tracker_recording_one_archive("whole-6"),
        store,
    );
    let summary = e.upload(&UploadOptions::default()).await.unwrap();
    assert!(
        matches!(
            summary.sessions[0].outcome,
            SessionOutcome::Uploaded { parts: 6, .. }
        ),
        "{summary:?}"
    );
}

#[tokio::test]
async fn uploads_are_refused_when_the_config_turns_them_off() {
    let s = setup();
    let mut c = config(true);
    c.enabled = false;
    let e = engine(
        c,
        catalog(s.files),
        MockTracker::new(),
        MockObjectStore::new(),
    );
    let err = e.upload(&UploadOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("enabled: false"), "{err}");
}

/// The in-flight record of an upload that sent `done` of the 6 parts.
fn interrupted(
    files: &[CatalogFile],
    done: &[u32],
    snapshot_matches: bool,
) -> crate::tracker::InflightUpload {
    let session = SessionId::new("S1").unwrap();
    let (sources, _) = member_sources(&session, files.to_vec(), false).unwrap();
    let plan = FlatArchiver.plan(&session, sources).unwrap();
    let mut bytes = Vec::new();
    FlatArchiver.write(&plan, &mut bytes).unwrap();
    let parts = done
        .iter()
        .map(|&n| {
            let body = &bytes[(n as usize - 1) * 1000..n as usize * 1000];
            let checksum = crate::checksum::of_part(crate::config::ChecksumAlgorithm::Crc32c, body);
            crate::tracker::PartRecord {
                receipt: PartReceipt {
                    part_number: n,
                    etag: format!("etag-{n}"),
                    size: 1000,
                    checksum: None,
                },
                client_checksum: checksum.to_string(),
            }
        })
        .collect();
    crate::tracker::InflightUpload {
        session_id: session,
        bucket: "b".into(),
        key: "backups/raw/2024/S1.tar".into(),
        upload_id: MultipartId("up-old".into()),
        part_size: 1000,
        archive_size: 6000,
        checksum_algorithm: Some("CRC32C".into()),
        snapshot: if snapshot_matches {
            snapshot_of(&plan)
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

/// The composite CRC32C of the fake archive of `files` in 1000-byte parts.
fn composite(files: &[CatalogFile]) -> String {
    let bytes: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(&f.path).unwrap())
        .collect();
    let parts: Vec<Checksum> = bytes
        .chunks(1000)
        .map(|c| crate::checksum::of_part(crate::config::ChecksumAlgorithm::Crc32c, c))
        .collect();
    expected_object_checksum(&parts, true)
}

#[tokio::test]
async fn an_interrupted_upload_resumes_sending_only_the_missing_parts() {
    let s = setup();
    let inflight = interrupted(&s.files, &[1, 2], true);
    let whole = composite(&s.files);
    let mut store = MockObjectStore::new();
    store_identity(&mut store);
    store
        .expect_list_multipart_uploads()
        .returning(|_| Ok(vec![]));
    store.expect_create_multipart().times(0);
    store.expect_list_parts().times(1).returning(|_, _| {
        Ok((1..=2)
            .map(|n| PartReceipt {
                part_number: n,
                etag: format!("etag-{n}"),
                size: 1000,
                checksum: None,
            })
            .collect())
    });
    store
        .expect_put_part()
        .withf(|_, upload, n, _, _| upload.0 == "up-old" && *n >= 3)
        .times(4)
        .returning(|_, _, n, body, c| Ok(receipt(n, &body, c)));
    store
        .expect_complete_multipart()
        .withf(|_, upload, parts| upload.0 == "up-old" && parts.len() == 6)
        .times(1)
        .returning(move |_, _, _| Ok(completed(whole.clone())));
    expect_archive_and_manifest(&mut store);
    let e = engine(
        config(false),
        catalog(s.files),
        resuming_tracker(inflight),
        store,
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
}

#[tokio::test]
async fn a_part_whose_bytes_changed_since_the_interruption_aborts_the_upload() {
    let s = setup();
    let mut inflight = interrupted(&s.files, &[1, 2], true);
    inflight.parts[1].client_checksum = "CRC32C:AAAAAA==".into();
    let mut store = MockObjectStore::new();
    store_basics(&mut store);
    store.expect_list_parts().returning(|_, _| {
        Ok((1..=2)
            .map(|n| PartReceipt {
                part_number: n,
                etag: format!("etag-{n}"),
                size: 1000,
                checksum: None,
            })
            .collect())
    });
    store
        .expect_put_part()
        .returning(|_, _, n, body, c| Ok(receipt(n, &body, c)));
    store
        .expect_abort_multipart()
        .times(1)
        .returning(|_, _| Ok(()));
    store.expect_complete_multipart().times(0);
    let e = engine(
        config(false),
        catalog(s.files),
        resuming_tracker(inflight),
        store,
    );
    let error = failed_session_error(e).await;
    assert!(
        error.contains("part 2") && error.contains("does not have the bytes uploaded before"),
        "{error}"
    );
}

#[tokio::test]
async fn files_changed_since_the_interruption_abort_it_and_start_over() {
    let s = setup();
    let inflight = interrupted(&s.files, &[1], false);
    let mut store = MockObjectStore::new();
    store_basics(&mut store);
    store
        .expect_abort_multipart()
        .withf(|_, upload| upload.0 == "up-old")
        .times(1)
        .returning(|_, _| Ok(()));
    store.expect_list_parts().times(0);
    store
        .expect_put_part()
        .withf(|_, upload, _, _, _| upload.0 == "up-1")
        .times(6)
        .returning(|_, _, n, body, c| Ok(receipt(n, &body, c)));
    store
        .expect_complete_multipart()
        .times(1)
        .returning(|_, _, _| {
            Ok(PutResult {
                etag: "x".into(),
                version_id: None,
                checksum: None,
            })
        });
    store.expect_head().returning(|_| Ok(None));
    store.expect_delete().returning(|_| Ok(()));
    let e = engine(
        config(false),
        catalog(s.files),
        resuming_tracker(inflight),
        store,
    );
    let summary = e.upload(&UploadOptions::default()).await.unwrap();
    assert_eq!(
        summary.failed(),
        1,
        "the mock store reports no checksum: {summary:?}"
    );
}
