//! The JSON API's reports and the requests that start tasks.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use fitsbak_core::engine::list_sessions::{SessionFilter, SessionRow, list_sessions};
use fitsbak_core::engine::processed::Category;
use fitsbak_core::engine::upload::UploadOptions;
use fitsbak_core::ids::SessionId;
use fitsbak_core::progress::ItemOutcome;
use fitsbak_core::store::RestoreTier;
use fitsbak_core::tracker::{ArchiveRecord, CheckMethod};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::tasks::{Finished, TaskInfo, TaskSpec};
use super::{ApiError, WebApp};

/// A JSON body, or the defaults when there is none (the Python service's page
/// sends `{}` or nothing).
pub(super) fn body<T: DeserializeOwned + Default>(
    got: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = got.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if at == "." || at == "?" || !inner.is_data() {
            ApiError::bad_request(format!(
                "the request body is not the JSON expected: {inner}"
            ))
        } else {
            ApiError::bad_request(format!("`{at}` in the request body: {inner}"))
        }
    })
}

pub(super) fn query<T>(got: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    got.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

pub(super) fn session_id(id: &str) -> Result<SessionId, ApiError> {
    SessionId::new(id).map_err(|e| ApiError::bad_request(format!("session id {id:?}: {e}")))
}

/// The Python service's names of the six categories.
fn python_category_name(name: &str) -> &str {
    match name {
        "raw sessions" => "Imaging Sessions",
        "session notes" => "Imaging Session Notes",
        "processing notes" => "Processing Session Notes",
        "intermediate files" => "Processing Sessions - Intermediate",
        "final files" => "Processing Sessions - Final",
        "database snapshots" => "Database Backups",
        other => other,
    }
}

/// The storage class the way the Python page names it.
fn class_words(class: &fitsbak_core::model::StorageClass) -> String {
    use fitsbak_core::model::StorageClass as C;
    match class {
        C::Standard => "Standard".into(),
        C::DeepArchive => "Deep Archive".into(),
        C::Glacier => "Flexible".into(),
        C::GlacierIr => "Instant Retrieval".into(),
        other => other.to_string(),
    }
}

/// A category with the Python service's fields and fitsbak's own.
fn category_json(c: &Category, raw_local_bytes: u64) -> Value {
    let local_bytes = c.local_bytes.unwrap_or(raw_local_bytes);
    let pct = if local_bytes > 0 {
        (c.backed_up_bytes as f64 / local_bytes as f64 * 100.0).min(100.0)
    } else if c.local_count > 0 {
        c.backed_up_count as f64 / c.local_count as f64 * 100.0
    } else {
        0.0
    };
    json!({
        "name": python_category_name(&c.name),
        "key": c.name,
        "local_files": c.local_count,
        "s3_files": c.backed_up_count,
        "local_not_in_s3": c.not_backed_up,
        "local_storage": local_bytes,
        "s3_storage": c.backed_up_bytes,
        "backed_up_size": c.backed_up_bytes,
        "storage_class": class_words(&c.storage_class),
        "storage_class_id": c.storage_class,
        "backup_pct": pct,
        "annual_cost": c.yearly_cost_usd,
    })
}

struct Reports {
    config: fitsbak_core::config::Config,
    catalog: Arc<dyn fitsbak_core::catalog::Catalog>,
    db: Arc<fitsbak_store::Database>,
}

impl WebApp {
    fn reports(&self) -> Result<Reports, ApiError> {
        let ctx = self.context()?;
        let (catalog, db) = ctx
            .open_for_reports()
            .map_err(|e| ApiError::unavailable(&e))?;
        Ok(Reports {
            config: ctx.config,
            catalog,
            db,
        })
    }
}

/// Bytes on disk of the sessions without an archive, and of the archived files.
async fn raw_local_bytes(r: &Reports) -> Result<u64, ApiError> {
    let rows = list_sessions(
        r.catalog.as_ref(),
        r.db.as_ref(),
        &SessionFilter {
            target_bucket: Some(r.config.target_bucket()),
            ..Default::default()
        },
    )
    .await?;
    Ok(rows.sessions.iter().map(|s| s.size_bytes).sum())
}

/// `GET /api/status`: the Python service's fields, then `fitsbak` (the whole
/// `fitsbak status --json` report), the cost panel and the tasks running.
pub async fn status(State(app): State<Arc<WebApp>>) -> Result<Json<Value>, ApiError> {
    let r = app.reports()?;
    let report =
        fitsbak_core::engine::status::status(r.catalog.as_ref(), r.db.as_ref(), &r.config).await?;
    let find = |name: &str| report.categories.iter().find(|c| c.name == name);
    let (notes_count, notes_bytes) =
        find("session notes").map_or((0, 0), |c| (c.backed_up_count, c.backed_up_bytes));
    let processed: Vec<&Category> = ["intermediate files", "final files"]
        .iter()
        .filter_map(|n| find(n))
        .collect();
    let processed_count: u64 = processed.iter().map(|c| c.backed_up_count).sum();
    let processed_bytes: u64 = processed.iter().map(|c| c.backed_up_bytes).sum();
    let finals = find("final files");
    let storage_classes: serde_json::Map<String, Value> = report
        .storage_classes
        .iter()
        .map(|(class, n)| (class.clone(), json!(n.archives)))
        .collect();
    let first_year: f64 = report.categories.iter().map(|c| c.yearly_cost_usd).sum();
    let mut years: Vec<i32> = r
        .catalog
        .sessions()
        .await?
        .sessions
        .iter()
        .map(|s| s.year())
        .collect();
    years.sort_unstable_by(|a, b| b.cmp(a));
    years.dedup();
    let active = app
        .tasks()
        .into_iter()
        .filter(|t| t.status == "running")
        .count();
    Ok(Json(json!({
        "total_sessions": report.sessions_total,
        "backed_up": report.sessions_backed_up,
        "remaining": report.sessions_total.saturating_sub(report.sessions_backed_up),
        "progress_percentage": if report.sessions_total > 0 {
            report.sessions_backed_up as f64 / report.sessions_total as f64 * 100.0
        } else { 0.0 },
        "total_files": report.files_backed_up,
        "total_original_size": report.bytes_backed_up,
        "total_compressed_size": report.archive_bytes,
        "space_saved": report.bytes_backed_up.saturating_sub(report.archive_bytes),
        "avg_compression": if report.bytes_backed_up > 0 {
            report.archive_bytes as f64 / report.bytes_backed_up as f64
        } else { 0.0 },
        "storage_classes": storage_classes,
        "bucket": r.config.target_bucket(),
        "region": r.config.aws_region,
        "enabled": r.config.enabled,
        "raw_images": {
            "count": report.sessions_backed_up,
            "files": report.files_backed_up,
            "size": report.archive_bytes,
        },
        "session_notes": { "count": notes_count, "size": notes_bytes },
        "processed_output": {
            "backed_up": processed_count,
            "total_with_finals": finals.map_or(0, |c| c.local_count),
            "remaining": finals.map_or(0, |c| c.not_backed_up),
            "files": processed_count,
            "size": processed_bytes,
        },
        "cost_panel": {
            "monthly_usd_now": report.cost.monthly_usd_as_stored,
            "monthly_usd_after_lifecycle": report.cost.monthly_usd_with_lifecycle,
            "first_year_usd": first_year,
        },
        "active_tasks": active,
        "years": years,
        "fitsbak": report,
    })))
}

/// `GET /api/storage-categories`: the six categories, with the Python service's
/// fields.
pub async fn storage_categories(State(app): State<Arc<WebApp>>) -> Result<Json<Value>, ApiError> {
    let r = app.reports()?;
    let report =
        fitsbak_core::engine::status::status(r.catalog.as_ref(), r.db.as_ref(), &r.config).await?;
    let raw = raw_local_bytes(&r).await?;
    let categories: Vec<Value> = report
        .categories
        .iter()
        .map(|c| category_json(c, raw))
        .collect();
    Ok(Json(json!({
        "categories": categories,
        "using_fallback_pricing": false,
        "s3_disabled": !r.config.enabled,
        "last_updated": chrono::Utc::now(),
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsQuery {
    #[serde(default)]
    not_backed_up: bool,
    year: Option<i32>,
    /// At most this many (the Python service's default: 50; 0: all).
    limit: Option<usize>,
    /// Words to find in the id, date, telescope or camera.
    search: Option<String>,
}

fn session_json(row: &SessionRow, archive: Option<&ArchiveRecord>) -> Value {
    json!({
        "session_id": row.session_id,
        "session_date": row.date,
        "year": row.year,
        "camera": row.camera,
        "telescope": row.telescope,
        "backed_up": row.backed_up,
        "archive_size": archive.map(|a| a.archive_size_bytes),
        "file_count": row.file_count,
        "size_bytes": row.size_bytes,
        "missing_files": row.missing_files,
        "uploaded_at": archive.and_then(|a| a.uploaded_at),
        "verified": row.verified,
        "last_verified_at": archive.and_then(|a| a.last_verified_at),
        "changed_since_backup": row.changed_since_backup,
        "storage_class": row.storage_class,
    })
}

/// `GET /api/sessions`: the Python service's list (newest first), with fitsbak's
/// columns added.
pub async fn sessions(
    State(app): State<Arc<WebApp>>,
    q: Result<Query<SessionsQuery>, QueryRejection>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let q = query(q)?;
    let r = app.reports()?;
    let filter = SessionFilter {
        year: q.year,
        not_backed_up: q.not_backed_up,
        session_id: None,
        target_bucket: Some(r.config.target_bucket()),
    };
    let list = list_sessions(r.catalog.as_ref(), r.db.as_ref(), &filter).await?;
    let tracker: &dyn fitsbak_core::tracker::Tracker = r.db.as_ref();
    let archives: HashMap<SessionId, ArchiveRecord> = tracker
        .archives()
        .await?
        .into_iter()
        .filter(|a| a.bucket == r.config.target_bucket())
        .map(|a| (a.session_id.clone(), a))
        .collect();
    let words: Vec<String> = q
        .search
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let limit = match q.limit {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => 50,
    };
    let rows = list
        .sessions
        .iter()
        .rev()
        .filter(|s| {
            let hay = format!(
                "{} {} {} {}",
                s.session_id,
                s.date,
                s.telescope.as_deref().unwrap_or(""),
                s.camera.as_deref().unwrap_or("")
            )
            .to_lowercase();
            words.iter().all(|w| hay.contains(w))
        })
        .take(limit)
        .map(|s| session_json(s, archives.get(&s.session_id)))
        .collect();
    Ok(Json(rows))
}

/// `GET /api/sessions/{id}`: one session: its row, archive, members, manifest
/// and log.
pub async fn session_detail(
    State(app): State<Arc<WebApp>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = session_id(&id)?;
    let ctx = app.context()?;
    super::detached(move || session_detail_of(ctx, id)).await
}

async fn session_detail_of(
    ctx: crate::context::Context,
    id: SessionId,
) -> Result<Json<Value>, ApiError> {
    let (engine, db) = ctx
        .engine_and_tracking()
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let filter = SessionFilter {
        session_id: Some(id.clone()),
        target_bucket: Some(ctx.config.target_bucket()),
        ..Default::default()
    };
    let list = list_sessions(engine.catalog.as_ref(), engine.tracker.as_ref(), &filter).await?;
    let Some(row) = list.sessions.first() else {
        return Err(ApiError::not_found(format!(
            "session {id} is not in the catalog"
        )));
    };
    let archive = engine
        .tracker
        .archive(&id)
        .await?
        .filter(|a| a.bucket == ctx.config.target_bucket());
    let members = engine.tracker.members(&id).await?;
    let files: Vec<Value> = engine
        .catalog
        .files(Some(std::slice::from_ref(&id)))
        .await?
        .iter()
        .map(|f| {
            json!({
                "file": f.file,
                "folder": f.folder,
                "frame_type": f.frame_type,
                "object": f.object,
                "filter": f.filter,
                "md5sum": f.md5sum,
            })
        })
        .collect();
    let (manifest, manifest_error) = match &archive {
        None => (None, None),
        Some(record) => match engine.trusted_manifest(record).await {
            Ok((manifest, source)) => (
                Some(json!({ "source": format!("{source:?}"), "manifest": manifest })),
                None,
            ),
            Err(e) => (None, Some(crate::error_words(&e.into()))),
        },
    };
    let log = db.log_rows(&id, 100)?;
    Ok(Json(json!({
        "session": session_json(row, archive.as_ref()),
        "archive": archive,
        "members": members,
        "files": files,
        "manifest": manifest,
        "manifest_error": manifest_error,
        "log": log,
    })))
}

/// `GET /api/costs`: `fitsbak estimate-costs --json`.
pub async fn costs(State(app): State<Arc<WebApp>>) -> Result<Json<Value>, ApiError> {
    let r = app.reports()?;
    let estimate =
        fitsbak_core::engine::costs::estimate_from(&r.config, r.db.as_ref(), None).await?;
    Ok(Json(
        serde_json::to_value(estimate).map_err(anyhow::Error::from)?,
    ))
}

/// `GET /api/doctor`: `fitsbak doctor --json`.
pub async fn doctor(State(app): State<Arc<WebApp>>) -> Result<Json<Value>, ApiError> {
    let ctx = app.context()?;
    super::detached(move || async move {
        let engine = ctx
            .engine_for_reports()
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let checks = engine
            .doctor(fitsbak_core::engine::doctor::DoctorOptions {
                stale_days: 7,
                abort_stale: false,
            })
            .await?;
        Ok(Json(
            serde_json::to_value(checks).map_err(anyhow::Error::from)?,
        ))
    })
    .await
}

// --- tasks -----------------------------------------------------------------

/// How a task's engine is opened.
pub(super) enum Opens {
    /// Catalog and tracking tables (uploads).
    Catalog,
    /// The catalog, or the tracking rows standing in for it (checks).
    Reports,
    /// The tracking tables alone (restores).
    Bucket,
}

impl WebApp {
    /// Takes the run lock of `command` (409 naming who holds it), opens the engine
    /// and starts `work` as a task.
    pub(super) async fn launch<F, Fut>(
        self: &Arc<Self>,
        command: &'static str,
        opens: Opens,
        spec: TaskSpec,
        work: F,
    ) -> Result<TaskInfo, ApiError>
    where
        F: FnOnce(Arc<fitsbak_core::engine::Engine>, Arc<super::tasks::Task>) -> Fut
            + Send
            + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Finished>> + 'static,
    {
        let ctx = self.context()?;
        let lock = ctx.run_lock(&format!("{command} (fitsbak serve)"))?;
        let engine = match opens {
            Opens::Catalog => ctx.engine(None).await,
            Opens::Reports => ctx.engine_for_reports().await,
            Opens::Bucket => ctx.engine_from_bucket().await,
        }
        .map_err(|e| ApiError::unavailable(&e))?;
        Ok(self.start(spec, lock, engine, work))
    }
}

/// The Python service's answer to a started task.
fn started(task: TaskInfo) -> Json<Value> {
    Json(json!({
        "success": true,
        "message": format!("Started: {}", task.label),
        "task_id": task.task_id,
        "in_progress": true,
        "stats": { "queued": task.items_total },
        "task": task,
    }))
}

/// A task's result: the Python service's counts, and fitsbak's whole summary
/// beside them.
pub(super) fn counts(
    done: usize,
    skipped: usize,
    failed: usize,
    summary: &impl Serialize,
) -> serde_json::Result<Value> {
    Ok(json!({
        "uploaded": done,
        "skipped": skipped,
        "failed": failed,
        "total": done + skipped + failed,
        "summary": serde_json::to_value(summary)?,
    }))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// Upload sessions that already have an archive again.
    #[serde(default)]
    force: bool,
    /// At most this many sessions.
    limit: Option<usize>,
    /// Only this year.
    year: Option<i32>,
    /// Only this session.
    session_id: Option<String>,
}

async fn upload_task(app: &Arc<WebApp>, request: UploadRequest) -> Result<TaskInfo, ApiError> {
    let session = request.session_id.as_deref().map(session_id).transpose()?;
    if let Some(id) = &session {
        let r = app.reports()?;
        if !r
            .catalog
            .sessions()
            .await?
            .sessions
            .iter()
            .any(|s| s.id == *id)
        {
            return Err(ApiError::not_found(format!(
                "session {id} is not in the catalog"
            )));
        }
    }
    let label = match (&session, request.year) {
        (Some(id), _) => format!("upload session {id}"),
        (None, Some(year)) => format!("upload the sessions of {year} not backed up"),
        (None, None) => "upload every session not backed up".to_owned(),
    };
    let options = UploadOptions {
        session_id: session.clone(),
        year: request.year,
        limit: request.limit,
        no_skip_existing: request.force,
        keep_copy: None,
        allow_missing: false,
        dry_run: false,
    };
    let spec = TaskSpec {
        kind: "upload",
        category: "Imaging Sessions",
        label,
        session_id: session.map(|s| s.to_string()),
    };
    // The run report goes out as after a CLI upload (`notifications`).
    let ctx = app.context()?;
    app.launch(
        "upload",
        Opens::Catalog,
        spec,
        move |engine, _task| async move {
            let summary = engine.upload(&options).await?;
            crate::commands::upload::send_report(&ctx, &engine, &summary).await;
            let skipped = summary.count(|o| {
                matches!(
                    o,
                    fitsbak_core::engine::upload::SessionOutcome::Skipped { .. }
                )
            });
            let result = counts(summary.done(), skipped, summary.failed(), &summary)?;
            let notes_failed = summary.notes.as_ref().is_some_and(|n| n.failed() > 0);
            Ok(Finished {
                message: crate::views::upload::totals(&summary),
                result,
                failures: summary.failed() > 0 || notes_failed,
                interrupted: summary.interrupted(),
            })
        },
    )
    .await
}

/// `POST /api/backup/raw-files`: upload sessions (`{"force", "limit", "year",
/// "session_id"}`, all optional).
pub async fn backup_raw_files(
    State(app): State<Arc<WebApp>>,
    got: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: UploadRequest = body(got)?;
    Ok(started(upload_task(&app, request).await?))
}

#[derive(Debug, Default, Deserialize)]
pub struct ForceQuery {
    #[serde(default)]
    pub(super) force: bool,
}

/// `POST /api/backup/session/{id}?force=`: upload one session.
pub async fn backup_session(
    State(app): State<Arc<WebApp>>,
    Path(id): Path<String>,
    q: Result<Query<ForceQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let request = UploadRequest {
        force: q.force,
        session_id: Some(id),
        ..Default::default()
    };
    Ok(started(upload_task(&app, request).await?))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    #[serde(default)]
    force: bool,
    /// Accepted for the Python page; notes go all at once.
    #[allow(dead_code)]
    limit: Option<usize>,
}

/// `POST /api/backup/session-notes`: `fitsbak notes upload`.
pub async fn backup_session_notes(
    State(app): State<Arc<WebApp>>,
    got: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: BackupRequest = body(got)?;
    let spec = TaskSpec {
        kind: "notes",
        category: "Imaging Session Notes",
        label: "upload the new and changed session notes".into(),
        session_id: None,
    };
    let task = app
        .launch("notes", Opens::Catalog, spec, move |engine, _| async move {
            let sessions = engine.catalog_sessions(None, None).await?;
            let summary = engine.upload_notes(&sessions, request.force, false).await?;
            use fitsbak_core::engine::notes::NoteAction as N;
            let skipped = summary.count(|a| matches!(a, N::Unchanged | N::NoNote));
            let result = counts(summary.uploaded(), skipped, summary.failed(), &summary)?;
            Ok(Finished {
                message: summary.line(),
                result,
                failures: summary.failed() > 0,
                interrupted: false,
            })
        })
        .await?;
    Ok(started(task))
}

/// What of the processing sessions a route uploads.
#[derive(Debug, Clone, Copy)]
pub enum Processed {
    /// `POST /api/backup/processing-notes`: the notes, and whatever else of the
    /// processing sessions changed (`fitsbak processed upload`).
    Notes,
    /// `POST /api/backup/processed-intermediate`.
    Intermediate,
    /// `POST /api/backup/processed-final`.
    Final,
}

impl Processed {
    /// The subfolders it sends, the Python service's category, the task's label.
    fn parts(self) -> (&'static [&'static str], &'static str, &'static str) {
        match self {
            Self::Notes => (
                &[],
                "Processing Session Notes",
                "upload the processing sessions' notes and files",
            ),
            Self::Intermediate => (
                &["intermediate"],
                "Processing Sessions - Intermediate",
                "upload the intermediate files",
            ),
            Self::Final => (
                &["final"],
                "Processing Sessions - Final",
                "upload the final files",
            ),
        }
    }
}

/// Starts `fitsbak processed upload` with `options` as a task.
pub(super) async fn launch_processed(
    app: &Arc<WebApp>,
    options: fitsbak_core::engine::processed::ProcessedOptions,
    spec: TaskSpec,
) -> Result<TaskInfo, ApiError> {
    app.launch(
        "processed",
        Opens::Catalog,
        spec,
        move |engine, _| async move {
            let summary = engine.upload_processed(&options).await?;
            use fitsbak_core::engine::processed::ProcessedAction as A;
            let (uploaded, unchanged) = (summary.count(A::Uploaded), summary.count(A::Unchanged));
            let result = counts(uploaded, unchanged, summary.failed(), &summary)?;
            Ok(Finished {
                message: format!(
                    "{uploaded} uploaded, {unchanged} unchanged, {} failed",
                    summary.failed()
                ),
                result,
                failures: summary.failed() > 0,
                interrupted: summary.interrupted,
            })
        },
    )
    .await
}

/// The route of `which`: `fitsbak processed upload [--subfolder ...]`.
pub fn backup_processed(which: Processed) -> axum::routing::MethodRouter<Arc<WebApp>> {
    axum::routing::post(
        move |State(app): State<Arc<WebApp>>, got: Result<Bytes, BytesRejection>| async move {
            let request: BackupRequest = body(got)?;
            let (subfolders, category, label) = which.parts();
            let options = fitsbak_core::engine::processed::ProcessedOptions {
                subfolders: subfolders.iter().map(|s| (*s).to_owned()).collect(),
                force: request.force,
                ..Default::default()
            };
            let spec = TaskSpec {
                kind: "processed",
                category,
                label: label.into(),
                session_id: None,
            };
            let task = launch_processed(&app, options, spec).await?;
            Ok::<_, ApiError>(started(task))
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseRequest {
    /// Words kept with the snapshot.
    description: Option<String>,
    /// Accepted for the Python page.
    #[serde(default)]
    #[allow(dead_code)]
    force: bool,
    #[allow(dead_code)]
    limit: Option<usize>,
}

/// `POST /api/backup/database`: `fitsbak backup-db`.
pub async fn backup_database(
    State(app): State<Arc<WebApp>>,
    got: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: DatabaseRequest = body(got)?;
    let source = app.context()?.database_path();
    let spec = TaskSpec {
        kind: "backup-db",
        category: "Database Backups",
        label: "snapshot and upload the catalog database".into(),
        session_id: None,
    };
    let task = app
        .launch(
            "backup-db",
            Opens::Catalog,
            spec,
            move |engine, task| async move {
                let (record, info) = engine.backup_db(&source, request.description).await?;
                task.push_row(
                    record.key.clone(),
                    &ItemOutcome::Done {
                        bytes: record.size_bytes,
                    },
                    Some(format!("{} pages, integrity_check ok", info.pages)),
                );
                Ok(Finished {
                    message: format!("catalog snapshot uploaded to {}", record.key),
                    result: json!({ "uploaded": 1, "skipped": 0, "failed": 0, "total": 1,
                                "snapshot": record }),
                    failures: false,
                    interrupted: false,
                })
            },
        )
        .await?;
    Ok(started(task))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// Read every byte back (else HEAD, tags and manifest).
    #[serde(default)]
    deep: bool,
    session_id: Option<String>,
    year: Option<i32>,
}

/// `POST /api/verify`: `fitsbak verify --all [--deep]`.
pub async fn verify(
    State(app): State<Arc<WebApp>>,
    got: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: VerifyRequest = body(got)?;
    let session = request.session_id.as_deref().map(session_id).transpose()?;
    let ctx = app.context()?;
    let filter = SessionFilter {
        target_bucket: Some(ctx.config.target_bucket()),
        year: request.year,
        not_backed_up: false,
        session_id: session.clone(),
    };
    let methods = vec![if request.deep {
        CheckMethod::Deep
    } else {
        CheckMethod::Quick
    }];
    let spec = TaskSpec {
        kind: "verify",
        category: "Imaging Sessions",
        label: format!(
            "{} check of {}",
            if request.deep { "deep" } else { "quick" },
            match (&session, request.year) {
                (Some(id), _) => format!("session {id}"),
                (None, Some(y)) => format!("the archives of {y}"),
                (None, None) => "every archive".into(),
            }
        ),
        session_id: session.map(|s| s.to_string()),
    };
    let task = app
        .launch(
            "verify",
            Opens::Reports,
            spec,
            move |engine, _| async move {
                let reports = engine.verify(&filter, &methods, false).await?;
                let failed = reports.iter().filter(|r| !r.passed()).count();
                let passed = reports.len() - failed;
                Ok(Finished {
                    message: format!("{passed} passed, {failed} failed"),
                    result: json!({ "passed": passed, "failed": failed, "total": reports.len(),
                                "reports": reports }),
                    failures: failed > 0,
                    interrupted: engine.cancel.stop.is_cancelled(),
                })
            },
        )
        .await?;
    Ok(started(task))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreWhich {
    session_id: Option<String>,
    year: Option<i32>,
    #[serde(default)]
    all: bool,
}

impl RestoreWhich {
    fn chosen(&self) -> Result<(Option<SessionId>, Option<i32>), ApiError> {
        let session = self.session_id.as_deref().map(session_id).transpose()?;
        match (&session, self.year, self.all) {
            (None, None, false) => Err(ApiError::bad_request(
                "say which archives: session_id, year or all",
            )),
            _ => Ok((session, self.year)),
        }
    }
}

/// `GET /api/restore/estimate?session_id=|year=|all=true`: which archives need a
/// restore, and its cost and wait per tier, before anything is asked.
pub async fn restore_estimate(
    State(app): State<Arc<WebApp>>,
    q: Result<Query<RestoreWhich>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let which = query(q)?;
    let (session, year) = which.chosen()?;
    let ctx = app.context()?;
    super::detached(move || async move {
        let engine = ctx
            .engine_from_bucket()
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let records = engine.select_archives(session.as_ref(), year).await?;
        let plan = engine.plan_restore(records).await?;
        let settings = &ctx.config.restore_settings;
        Ok(Json(json!({
            "plan": plan,
            "default_tier": settings.default_tier,
            "default_days": settings.default_days,
        })))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    session_id: Option<String>,
    year: Option<i32>,
    #[serde(default)]
    all: bool,
    /// Bulk, Standard or Expedited (default: restore_settings.default_tier).
    tier: Option<String>,
    /// Days the restored copy stays (default: restore_settings.default_days).
    days: Option<u32>,
}

/// `POST /api/restore/request`: `fitsbak restore request --yes`.
pub async fn restore_request(
    State(app): State<Arc<WebApp>>,
    got: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: RestoreRequest = body(got)?;
    let which = RestoreWhich {
        session_id: request.session_id.clone(),
        year: request.year,
        all: request.all,
    };
    let (session, year) = which.chosen()?;
    let settings = app.context()?.config.restore_settings;
    let tier_name = request.tier.unwrap_or(settings.default_tier);
    let tier = RestoreTier::parse(&tier_name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown tier {tier_name:?}: use Bulk, Standard or Expedited"
        ))
    })?;
    let days = request.days.unwrap_or(settings.default_days);
    if days < 1 {
        return Err(ApiError::bad_request("days must be at least 1"));
    }
    let spec = TaskSpec {
        kind: "restore-request",
        category: "Restore",
        label: format!(
            "{tier} restore of {} for {days} day(s)",
            match (&session, year) {
                (Some(id), _) => format!("session {id}"),
                (None, Some(y)) => format!("the archives of {y}"),
                (None, None) => "every archive".into(),
            }
        ),
        session_id: session.as_ref().map(|s| s.to_string()),
    };
    let task = app
        .launch(
            "restore",
            Opens::Bucket,
            spec,
            move |engine, task| async move {
                let records = engine.select_archives(session.as_ref(), year).await?;
                let plan = engine.plan_restore(records).await?;
                for (id, why) in &plan.not_needed {
                    task.push_row(
                        id.to_string(),
                        &ItemOutcome::Skipped {
                            reason: why.clone(),
                        },
                        None,
                    );
                }
                let rows = if plan.archives.is_empty() {
                    Vec::new()
                } else {
                    engine.request_restore(&plan, tier, days).await?
                };
                for row in &rows {
                    task.push_row(
                        row.session_id.to_string(),
                        &ItemOutcome::Done { bytes: 0 },
                        Some(row.status.to_string()),
                    );
                }
                let cost = plan
                    .tiers
                    .iter()
                    .find(|t| t.tier == tier)
                    .map_or(0.0, |t| t.cost_usd);
                Ok(Finished {
                    message: format!(
                        "{} restore(s) requested at {tier} (about ${cost:.2}), {} not needed",
                        rows.len(),
                        plan.not_needed.len()
                    ),
                    result: json!({ "requested": rows.len(), "not_needed": plan.not_needed.len(),
                                "rows": rows, "plan": plan }),
                    failures: false,
                    interrupted: false,
                })
            },
        )
        .await?;
    Ok(started(task))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    session_id: Option<String>,
}

/// `GET /api/restore/status[?session_id=]`: `fitsbak restore status --json`.
pub async fn restore_status(
    State(app): State<Arc<WebApp>>,
    q: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let session = q.session_id.as_deref().map(session_id).transpose()?;
    let ctx = app.context()?;
    super::detached(move || async move {
        let engine = ctx
            .engine_from_bucket()
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let records = engine.select_archives(session.as_ref(), None).await?;
        let rows = engine.restore_status(records, session.is_none()).await?;
        Ok(Json(
            serde_json::to_value(rows).map_err(anyhow::Error::from)?,
        ))
    })
    .await
}
