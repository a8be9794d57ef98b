//! `fitsbak serve`: the web page and the JSON API it uses.
//!
//! One binary, no CDN: the page (HTML, CSS, JavaScript) is compiled in. axum, on the
//! tokio runtime the engine already runs on, serves it; hyper underneath is the
//! HTTP stack the AWS SDK uses too. Every link is relative, so the page works at
//! `/` and behind the cataloger's `/s3-backup/` proxy.
//!
//! The API answers the routes of the cataloger's Python service with the same
//! fields (`/api/status`, `/api/sessions`, `/api/storage-categories`,
//! `/api/config`, `/api/backup/...`), so its proxy and page keep working; the rest
//! is fitsbak's own (docs/api.md).
//!
//! Another program mounts the router where it likes:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let global = fitsbak_cli::GlobalArgs::with_config("s3_config.json");
//! let app = fitsbak_cli::web::WebApp::new(global, None);
//! let router = axum::Router::new().nest("/s3-backup", fitsbak_cli::web::router(app.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, router).await?;
//! # Ok(()) }
//! ```

mod api;
mod assets;
mod config_edit;
mod guard;
mod python;
mod tasks;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::GlobalArgs;
use crate::context::Context;

pub use tasks::TaskInfo;

/// Requests larger than this are refused (413, by the guard, for every route):
/// the API takes small JSON bodies.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Bodies up to this size are read to the end before the 413, so that the client
/// hears the answer instead of a reset; beyond it the connection is cut.
pub(crate) const READ_BODY_BYTES: usize = 1024 * 1024;

/// The environment variable a token is read from.
pub const TOKEN_ENV: &str = "FITSBAK_SERVE_TOKEN";

/// What the server shares between requests: the global options every request
/// loads its config with, the background tasks, and the token.
pub struct WebApp {
    global: GlobalArgs,
    tasks: tasks::Tasks,
    token: Option<String>,
}

impl WebApp {
    /// The app for the config `global` names; with `token`, every request must
    /// carry it.
    pub fn new(global: GlobalArgs, token: Option<String>) -> Arc<Self> {
        let mut global = global;
        // The page shows warnings; stderr stays for the server's own lines.
        global.quiet = true;
        global.json = true;
        global.wait = false;
        Arc::new(Self {
            global,
            tasks: tasks::Tasks::default(),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    /// Stops every running task the way Ctrl-C stops a command (between parts,
    /// resumable) and waits for them to end.
    pub async fn stop_tasks(&self) {
        self.tasks.stop_all().await;
    }

    /// Every task this server ran or runs, newest first.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.tasks.infos()
    }

    /// The config, loaded afresh: an edit on the page (or in an editor) counts at
    /// once, with no restart.
    fn context(&self) -> Result<Context, ApiError> {
        Context::load(&self.global).map_err(|e| ApiError::unavailable(&e))
    }
}

/// The page and the API, for the app's config.
pub fn router(app: Arc<WebApp>) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/app.js", get(assets::script))
        .route("/app.css", get(assets::style))
        .route("/api/status", get(api::status))
        .route("/api/storage-categories", get(api::storage_categories))
        .route("/api/sessions", get(api::sessions))
        .route("/api/sessions/{id}", get(api::session_detail))
        .route("/api/costs", get(api::costs))
        .route("/api/doctor", get(api::doctor))
        .route(
            "/api/config",
            get(config_edit::show).post(config_edit::update),
        )
        .route("/api/config/validate", post(config_edit::validate))
        .route("/api/toggle-enabled", post(config_edit::toggle_enabled))
        .route("/api/backup/raw-files", post(api::backup_raw_files))
        .route("/api/backup/session/{id}", post(api::backup_session))
        .route(
            "/api/backup/session/{id}/status",
            get(tasks::session_task_status),
        )
        .route("/api/backup/session-notes", post(api::backup_session_notes))
        .route(
            "/api/backup/processing-notes",
            api::backup_processed(api::Processed::Notes),
        )
        .route(
            "/api/backup/processed-intermediate",
            api::backup_processed(api::Processed::Intermediate),
        )
        .route(
            "/api/backup/processed-final",
            api::backup_processed(api::Processed::Final),
        )
        .route("/api/backup/database", post(api::backup_database))
        .route("/api/temp-info", get(python::temp_info))
        .route(
            "/api/processing-session/{id}/backup-status",
            get(python::processing_status),
        )
        .route(
            "/api/processing-session/{id}/backup-intermediate",
            python::processing_backup("intermediate"),
        )
        .route(
            "/api/processing-session/{id}/backup-final",
            python::processing_backup("final"),
        )
        .route("/api/backup/task/{id}", get(tasks::task_status))
        .route("/api/backup/tasks/active", get(tasks::active_tasks))
        .route("/api/tasks", get(tasks::all_tasks))
        .route("/api/tasks/{id}/events", get(tasks::events))
        .route("/api/tasks/{id}/stop", post(tasks::stop))
        .route("/api/verify", post(api::verify))
        .route("/api/restore/estimate", get(api::restore_estimate))
        .route("/api/restore/request", post(api::restore_request))
        .route("/api/restore/status", get(api::restore_status))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::guard,
        ))
        .with_state(app)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such page: {}", uri.path()),
    )
}

/// How `fitsbak serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The token requests must carry (required for a non-loopback address).
    pub token: Option<String>,
}

/// Runs the server until SIGTERM or Ctrl-C, then stops the running tasks the way
/// Ctrl-C stops a command and returns once they ended.
pub async fn serve(global: GlobalArgs, options: ServeOptions) -> anyhow::Result<()> {
    let token = match (options.token, options.listen.ip().is_loopback()) {
        (Some(token), _) => Some(token),
        (None, true) => None,
        (None, false) => {
            let token = new_token()?;
            eprintln!(
                "fitsbak serve: {} is not a loopback address, so every request needs this \
                 token (shown once; set {TOKEN_ENV} to choose your own):\n  {token}\n\
                 open http://{}/?token={token}",
                options.listen.ip(),
                options.listen
            );
            Some(token)
        }
    };
    // Fails early on a config that cannot be read, with the CLI's words.
    Context::load(&global)?;
    let app = WebApp::new(global, token);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.listen))?;
    let local = listener.local_addr()?;
    eprintln!("fitsbak serve: listening on http://{local}/ (Ctrl-C or SIGTERM stops it)");
    let stopping = app.clone();
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            crate::context::stop_signal().await;
            eprintln!(
                "fitsbak serve: stopping; running tasks stop after the parts in flight \
                 (the next run resumes them)"
            );
            tokio::select! {
                () = stopping.stop_tasks() => {}
                _ = crate::context::stop_signal() => {
                    eprintln!("fitsbak serve: aborting the running tasks");
                    stopping.tasks.abort_all();
                    stopping.stop_tasks().await;
                }
            }
        })
        .await?;
    Ok(())
}

/// A report's work, handed to the reports thread.
type Job = Box<dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send>;

/// The thread the reports that call the store run on: one runtime of its own,
/// as a CLI command runs on its `main`, shared by every request (one blocking pool,
/// one allocator arena, instead of a thread and a runtime per request).
fn reports() -> Result<&'static tokio::sync::mpsc::UnboundedSender<Job>, ApiError> {
    static REPORTS: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Job>> =
        std::sync::OnceLock::new();
    if let Some(tx) = REPORTS.get() {
        return Ok(tx);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot start a runtime for the reports: {e}"),
            )
        })?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
    std::thread::Builder::new()
        .name("fitsbak-reports".into())
        .spawn(move || {
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                while let Some(job) = rx.recv().await {
                    tokio::task::spawn_local(job());
                }
            });
        })
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot start the reports thread: {e}"),
            )
        })?;
    // Two requests racing here start two threads; the loser's ends with its channel.
    Ok(REPORTS.get_or_init(|| tx))
}

/// Runs `work` (engine calls, whose futures are not `Send`) on the reports thread
/// and hands back the answer.
async fn detached<F, Fut, T>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>> + 'static,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        Box::pin(async move {
            let _ = tx.send(work().await);
        })
    });
    reports()?.send(job).map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the reports thread has ended",
        )
    })?;
    rx.await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the request's work ended without an answer",
        )
    })?
}

/// 32 random bytes, hex.
fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random bytes for a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An API error: a status and the message, as `{"error": ..., "detail": ...}`
/// (`detail` is what the Python service's FastAPI errors carry).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// Errors at their keys (a config edit), as `errors`.
    errors: Option<serde_json::Value>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, message)
    }

    /// The config or database cannot be used: the CLI's words.
    fn unavailable(err: &anyhow::Error) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, crate::error_words(err))
    }

    /// An engine error, with the words the CLI prints: 409 when another run holds
    /// the lock, 400 for what the config or the request asks that cannot be done,
    /// 502 when the store or the database failed.
    fn engine(err: anyhow::Error) -> Self {
        use fitsbak_core::Error as E;
        let status = match err.chain().find_map(|e| e.downcast_ref::<E>()) {
            Some(E::Locked { .. }) => StatusCode::CONFLICT,
            Some(E::NotConfigured { .. } | E::Unusable { .. }) => StatusCode::BAD_REQUEST,
            Some(E::NotInCatalog { .. } | E::NoArchive { .. }) => StatusCode::NOT_FOUND,
            Some(E::NeedsRestore { .. } | E::Name(_)) => StatusCode::BAD_REQUEST,
            _ if err
                .chain()
                .any(|e| e.is::<fitsbak_core::config::ConfigError>()) =>
            {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, crate::error_words(&err))
    }
}

impl<E: Into<anyhow::Error>> From<E> for ApiError {
    fn from(err: E) -> Self {
        Self::engine(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message, "detail": self.message });
        if let Some(errors) = self.errors {
            body["errors"] = errors;
        }
        (self.status, axum::Json(body)).into_response()
    }
}
