//! The config from the page: shown key by key (comments as help, credentials
//! never), checked by the same parser the CLI uses, written atomically.

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use fitsbak_core::config::{CREDENTIAL_KEYS, Config, ConfigError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{ApiError, WebApp};

/// One key of the file, for the page's form.
#[derive(Debug, Serialize)]
struct Field {
    /// `upload_settings.max_concurrency`.
    key: String,
    /// Its value in the file.
    value: Value,
    /// string, number, boolean, null or array.
    kind: &'static str,
    /// The comment the file keeps beside it (`_key`).
    help: Option<String>,
}

/// An error at a key, for the page to show beside it.
#[derive(Debug, Serialize)]
struct KeyError {
    key: String,
    message: String,
}

fn is_credential(key: &str) -> bool {
    key.split('.')
        .any(|part| CREDENTIAL_KEYS.contains(&part.to_ascii_lowercase().as_str()))
}

fn flatten(map: &Map<String, Value>, prefix: &str, out: &mut Vec<Field>) {
    for (key, value) in map {
        if key.starts_with('_') || is_credential(key) {
            continue;
        }
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let help = map
            .get(&format!("_{key}"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let kind = match value {
            Value::Object(inner) => {
                flatten(inner, &path, out);
                continue;
            }
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "boolean",
            Value::Null => "null",
            Value::Array(_) => "array",
        };
        out.push(Field {
            key: path,
            value: value.clone(),
            kind,
            help,
        });
    }
}

fn read(path: &Path) -> Result<(String, Map<String, Value>), ApiError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let status = if e.kind() == std::io::ErrorKind::NotFound {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        ApiError::new(
            status,
            format!("cannot read the config file {}: {e}", path.display()),
        )
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok((text, map)),
        Ok(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} does not hold a JSON object", path.display()),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} is not valid JSON: {e}", path.display()),
        )),
    }
}

/// The key a config error is about (`.` for the file as a whole).
fn error_key(err: &ConfigError) -> String {
    match err {
        ConfigError::WrongType { key, .. } | ConfigError::Invalid { key, .. } => key.clone(),
        _ => ".".into(),
    }
}

/// The message of a config error without the file and position (the page shows
/// it beside the key).
fn error_message(err: &ConfigError) -> String {
    match err {
        ConfigError::WrongType { message, .. } | ConfigError::Invalid { message, .. } => {
            message.clone()
        }
        other => other.to_string(),
    }
}

/// `changes` applied to the file's object: dotted keys, each naming a key the file
/// or the parser knows.
fn apply(map: &mut Map<String, Value>, changes: &Map<String, Value>) -> Result<(), Vec<KeyError>> {
    let mut errors = Vec::new();
    'keys: for (key, value) in changes {
        if is_credential(key) {
            errors.push(KeyError {
                key: key.clone(),
                message: "credentials are never kept in the config file: use the AWS \
                          environment variables, a profile, SSO or an instance role"
                    .into(),
            });
            continue;
        }
        if key.is_empty() || key.split('.').any(|p| p.is_empty() || p.starts_with('_')) {
            errors.push(KeyError {
                key: key.clone(),
                message: "not a key of the config".into(),
            });
            continue;
        }
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().expect("split yields one part");
        let mut node = &mut *map;
        for part in parts {
            let entry = node
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(inner) = entry else {
                errors.push(KeyError {
                    key: key.clone(),
                    message: format!("`{part}` is not a section"),
                });
                continue 'keys;
            };
            node = inner;
        }
        node.insert(last.to_owned(), value.clone());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Parses `text` as the CLI would; the errors are at their keys, and a key the
/// parser does not know (a typo the page sent) is one too.
fn check(text: &str, path: &Path, changed: &[String]) -> Result<Config, Vec<KeyError>> {
    match Config::parse(text, path) {
        Ok(loaded) => {
            let unknown: Vec<KeyError> = changed
                .iter()
                .filter(|k| {
                    loaded
                        .warnings
                        .iter()
                        .any(|w| w.contains(&format!("unknown key `{k}`")))
                })
                .map(|k| KeyError {
                    key: k.clone(),
                    message: "not a key fitsbak knows".into(),
                })
                .collect();
            if unknown.is_empty() {
                Ok(loaded.config)
            } else {
                Err(unknown)
            }
        }
        Err(err) => Err(vec![KeyError {
            key: error_key(&err),
            message: error_message(&err),
        }]),
    }
}

/// Writes `text` beside `path` and renames it over: a reader sees the old file or
/// the new one, never half of one.
fn write_atomic(path: &Path, text: &str) -> Result<(), ApiError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let fail = |e: std::io::Error| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot write the config file {}: {e}", path.display()),
        )
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `GET /api/config`: the Python service's four fields (`enabled`, `aws_region`,
/// `bucket`, `backup_bucket`), then every key of the file for the form.
pub async fn show(State(app): State<Arc<WebApp>>) -> Result<Json<Value>, ApiError> {
    let path = app.global.config.clone();
    let (text, map) = read(&path)?;
    let mut fields = Vec::new();
    flatten(&map, "", &mut fields);
    let problem = Config::parse(&text, &path).err().map(|e| KeyError {
        key: error_key(&e),
        message: error_message(&e),
    });
    let whole = Value::Object(map);
    let get = |ptr: &str| whole.pointer(ptr).cloned();
    Ok(Json(json!({
        "enabled": get("/enabled").unwrap_or(Value::Bool(false)),
        "aws_region": get("/aws_region").unwrap_or(json!("us-east-1")),
        "bucket": get("/buckets/primary").unwrap_or(json!("")),
        "backup_bucket": get("/buckets/backup").unwrap_or(Value::Null),
        "path": path.display().to_string(),
        "fields": fields,
        "errors": problem.into_iter().collect::<Vec<_>>(),
    })))
}

/// The page's edit (`{"changes": {"key.path": value}}`) or the Python page's four
/// fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    #[serde(default)]
    changes: Map<String, Value>,
    enabled: Option<bool>,
    aws_region: Option<String>,
    bucket: Option<String>,
    backup_bucket: Option<Value>,
}

impl Update {
    fn changes(self) -> Map<String, Value> {
        let mut changes = self.changes;
        if let Some(v) = self.enabled {
            changes.insert("enabled".into(), Value::Bool(v));
        }
        if let Some(v) = self.aws_region {
            changes.insert("aws_region".into(), Value::String(v));
        }
        if let Some(v) = self.bucket {
            changes.insert("buckets.primary".into(), Value::String(v));
        }
        if let Some(v) = self.backup_bucket {
            changes.insert("buckets.backup".into(), v);
        }
        changes
    }
}

/// Applies `changes` to `map` (the file as read) and checks the result; the new
/// text when it is good.
fn edited(
    path: &Path,
    mut map: Map<String, Value>,
    changes: &Map<String, Value>,
) -> Result<String, (StatusCode, Vec<KeyError>)> {
    apply(&mut map, changes).map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let mut text = serde_json::to_string_pretty(&Value::Object(map)).expect("JSON serialises");
    text.push('\n');
    let keys: Vec<String> = changes.keys().cloned().collect();
    check(&text, path, &keys).map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(text)
}

fn refused(status: StatusCode, errors: Vec<KeyError>) -> ApiError {
    let words = errors
        .iter()
        .map(|e| format!("`{}`: {}", e.key, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    let mut err = ApiError::new(status, format!("the config was not changed: {words}"));
    err.errors = serde_json::to_value(errors).ok();
    err
}

/// `POST /api/config`: applies the changes when the whole file still parses;
/// else 422 with each error at its key and the file untouched.
pub async fn update(
    State(app): State<Arc<WebApp>>,
    got: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let update: Update = super::api::body(got)?;
    let changes = update.changes();
    if changes.is_empty() {
        return Err(ApiError::bad_request(
            "nothing to change: send {\"changes\": {\"key\": value}}",
        ));
    }
    let path = app.global.config.clone();
    let (_, map) = read(&path)?;
    let text = edited(&path, map, &changes).map_err(|(s, e)| refused(s, e))?;
    write_atomic(&path, &text)?;
    tracing::info!(target: crate::context::REPORT, "config {} changed from the web page: {}", path.display(),
        changes.keys().cloned().collect::<Vec<_>>().join(", "));
    Ok(Json(json!({
        "success": true,
        "message": format!("Configuration saved ({} key(s)); it applies to the next task.", changes.len()),
        "requires_restart": false,
        "changed": changes.keys().collect::<Vec<_>>(),
    })))
}

/// `POST /api/config/validate`: with `{"changes": ...}`, checks them without
/// writing; without, checks the file and connects to the target (the Python
/// service's `valid`, `message`/`error`, `bucket`, `region`).
pub async fn validate(
    State(app): State<Arc<WebApp>>,
    got: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let update: Update = super::api::body(got)?;
    let changes = update.changes();
    let path = app.global.config.clone();
    if !changes.is_empty() {
        let (_, map) = read(&path)?;
        return Ok(Json(match edited(&path, map, &changes) {
            Ok(_) => json!({ "valid": true, "message": "the changes are valid", "errors": [] }),
            Err((_, errors)) => json!({
                "valid": false,
                "error": errors.iter().map(|e| format!("`{}`: {}", e.key, e.message)).collect::<Vec<_>>().join("; "),
                "errors": errors,
            }),
        }));
    }
    let ctx = match app.context() {
        Ok(ctx) => ctx,
        Err(e) => return Ok(Json(json!({ "valid": false, "error": e.message }))),
    };
    if !ctx.config.enabled {
        return Ok(Json(
            json!({ "valid": false, "error": "S3 backup is disabled (`enabled: false`)" }),
        ));
    }
    let bucket = ctx.config.target_bucket();
    let region = ctx.config.aws_region.clone();
    super::detached(move || async move {
        let engine = match ctx.engine_for_reports().await {
            Ok(engine) => engine,
            Err(e) => return Ok(Json(json!({ "valid": false, "error": crate::error_words(&e) }))),
        };
        let access = engine.check_access().await;
        Ok(Json(
            if access.status == fitsbak_core::engine::doctor::Health::Fail {
                json!({ "valid": false, "error": access.message, "fix": access.fix,
                        "bucket": bucket, "region": region })
            } else {
                json!({ "valid": true, "message": access.message, "bucket": bucket, "region": region })
            },
        ))
    })
    .await
}

/// `POST /api/toggle-enabled`: flips `enabled`, atomically.
pub async fn toggle_enabled(State(app): State<Arc<WebApp>>) -> Result<Json<Value>, ApiError> {
    let path = app.global.config.clone();
    let (_, map) = read(&path)?;
    let now = map.get("enabled").and_then(Value::as_bool).unwrap_or(false);
    let mut changes = Map::new();
    changes.insert("enabled".into(), Value::Bool(!now));
    let text = edited(&path, map, &changes).map_err(|(s, e)| refused(s, e))?;
    write_atomic(&path, &text)?;
    Ok(Json(json!({
        "enabled": !now,
        "message": if now { "backups disabled" } else { "backups enabled" },
        "requires_restart": false,
    })))
}
