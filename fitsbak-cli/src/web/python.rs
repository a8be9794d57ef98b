//! The rest of the routes the cataloger's pages call on the Python service: the
//! temporary directory's space, and one processing session's backups.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use fitsbak_core::engine::list_sessions::{SessionFilter, list_sessions};
use fitsbak_core::engine::processed::ProcessedOptions;
use fitsbak_core::processed::Part;
use serde_json::{Value, json};

use super::api::{ForceQuery, query, session_id};
use super::tasks::TaskSpec;
use super::{ApiError, WebApp};

/// Total, used and free bytes of the file system holding `path`.
fn disk_usage(path: &std::path::Path) -> (u64, u64, u64) {
    #[cfg(unix)]
    {
        if let Ok(s) = rustix::fs::statvfs(path) {
            let unit = s.f_frsize.max(1);
            let total = s.f_blocks * unit;
            return (total, total - s.f_bfree * unit, s.f_bavail * unit);
        }
    }
    let _ = path;
    (0, 0, 0)
}

/// `GET /api/temp-info`: the Python service's answer about its temporary
/// directory. fitsbak streams archives and writes none there (unless `upload
/// --no-cleanup` asks for a copy), so an upload needs no space in it; the largest
/// session and what archives lie there are still said.
pub async fn temp_info(State(app): State<Arc<WebApp>>) -> Result<Json<Value>, ApiError> {
    let ctx = app.context()?;
    let dir = ctx.config.temp_dir();
    let (catalog, db) = ctx
        .open_for_reports()
        .map_err(|e| ApiError::unavailable(&e))?;
    let rows = list_sessions(
        catalog.as_ref(),
        db.as_ref(),
        &SessionFilter {
            target_bucket: Some(ctx.config.target_bucket()),
            ..Default::default()
        },
    )
    .await?;
    let largest = rows.sessions.iter().max_by_key(|s| s.size_bytes);
    let mut archives = (0u64, 0u64);
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".tar") {
            archives.0 += 1;
            archives.1 += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    let (total, used, free) = disk_usage(&dir);
    Ok(Json(json!({
        "exists": dir.is_dir(),
        "path": dir.display().to_string(),
        "total": total,
        "used": used,
        "free": free,
        "usage_percent": if total > 0 { used as f64 / total as f64 * 100.0 } else { 0.0 },
        "largest_session_id": largest.map(|s| s.session_id.to_string()),
        "largest_session_size": largest.map_or(0, |s| s.size_bytes),
        "required_with_buffer": 0,
        "has_space": true,
        "streamed": true,
        "orphaned_archives": archives.0,
        "orphaned_size": archives.1,
    })))
}

/// `GET /api/processing-session/{id}/backup-status`: its intermediate and final
/// files, on disk and backed up to this target.
pub async fn processing_status(
    State(app): State<Arc<WebApp>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = session_id(&id)?;
    let ctx = app.context()?;
    super::detached(move || async move {
        let engine = ctx
            .engine_for_reports()
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let scan = engine.processing_scan().await?;
        if !scan.sessions.iter().any(|s| s.id == id) {
            return Err(ApiError::not_found(format!(
                "processing session {id} is not in the catalog"
            )));
        }
        let bucket = ctx.config.target_bucket();
        let backed: HashSet<i64> = engine
            .tracker
            .processed()
            .await?
            .into_iter()
            .filter(|r| r.bucket == bucket && r.part == Part::File && r.session_id == id)
            .map(|r| r.processed_file_id)
            .collect();
        let of = |subfolder: &str| {
            let files: Vec<_> = scan
                .files
                .iter()
                .filter(|f| f.session_id == id && f.subfolder == subfolder)
                .collect();
            let done: Vec<_> = files.iter().filter(|f| backed.contains(&f.id)).collect();
            let size = |fs: &mut dyn Iterator<Item = u64>| fs.sum::<u64>();
            let total = files.len();
            json!({
                "total_files": total,
                "backed_up_files": done.len(),
                "total_size": size(&mut files.iter().map(|f| f.size.unwrap_or(0))),
                "backed_up_size": size(&mut done.iter().map(|f| f.size.unwrap_or(0))),
                "is_complete": total > 0 && done.len() >= total,
                "backup_percentage": if total > 0 { done.len() as f64 / total as f64 * 100.0 } else { 0.0 },
            })
        };
        Ok(Json(json!({
            "session_id": id,
            "s3_enabled": ctx.config.enabled,
            "intermediate": of("intermediate"),
            "final": of("final"),
        })))
    })
    .await
}

/// `POST /api/processing-session/{id}/backup-intermediate?force=` and
/// `.../backup-final`: one processing session's files of one subfolder. As in the
/// Python service, the answer comes when the upload ended, with its counts; the
/// task is listed like any other meanwhile.
pub fn processing_backup(subfolder: &'static str) -> axum::routing::MethodRouter<Arc<WebApp>> {
    axum::routing::post(
        move |State(app): State<Arc<WebApp>>,
              Path(id): Path<String>,
              q: Result<Query<ForceQuery>, QueryRejection>| async move {
            let force = query(q)?.force;
            let id = session_id(&id)?;
            let options = ProcessedOptions {
                session: Some(id.clone()),
                subfolders: vec![subfolder.to_owned()],
                force,
                ..Default::default()
            };
            let spec = TaskSpec {
                kind: "processed",
                category: if subfolder == "final" {
                    "Processing Sessions - Final"
                } else {
                    "Processing Sessions - Intermediate"
                },
                label: format!("upload the {subfolder} files of processing session {id}"),
                session_id: Some(id.to_string()),
            };
            let task = super::api::launch_processed(&app, options, spec).await?;
            let done = app
                .wait_for(&task.task_id, Duration::from_secs(24 * 3600))
                .await?;
            if let Some(error) = &done.error {
                return Err(ApiError::bad_gateway(error.clone()));
            }
            Ok::<_, ApiError>(Json(json!({
                "success": done.items_failed == 0,
                "message": format!("Backup complete for {subfolder} files: {}",
                    done.message.clone().unwrap_or_default()),
                "stats": done.result,
                "task_id": done.task_id,
            })))
        },
    )
}
