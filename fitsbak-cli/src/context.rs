//! What every command starts from: logging, the config file and the database.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::Context as _;
use fitsbak_archive::TarArchiver;
use fitsbak_core::catalog::{Catalog, TrackedCatalog};
use fitsbak_core::config::{Config, LoadedConfig};
use fitsbak_core::engine::Engine;
use fitsbak_store::{Database, DbError, OpenOptions};

use crate::GlobalArgs;

/// Sends log lines to stderr: warnings by default, more with `-v`. The AWS SDK's
/// own logs stay at warnings unless `-vvv`, so that request details (which carry
/// signatures) never reach a log by accident.
pub fn init_logging(global: &GlobalArgs) {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let sdk = if global.verbose >= 3 { level } else { "warn" };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| {
        format!(
            "{level},aws_config={sdk},aws_smithy_runtime={sdk},aws_smithy_runtime_api={sdk},\
             aws_sdk_s3={sdk},hyper={sdk},hyper_util={sdk},rustls={sdk},h2={sdk}"
        )
    });
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Lines meant for the log file only (what stdout and stderr already said).
    let filter = format!("{filter},{REPORT}=off");
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal; a cron log or a pipe gets plain text.
        .with_ansi(terminal)
        .with_target(false);
    // Each line is stamped where no person watches (cron, a pipe, a log file).
    let stderr = match terminal {
        true => stderr.without_time().boxed(),
        false => stderr.with_timer(UtcSeconds).boxed(),
    };
    let file = log_file(global).map(|(file, verbose)| {
        let level = if verbose { "debug" } else { "info" };
        tracing_subscriber::fmt::layer()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_target(false)
            .with_timer(UtcSeconds)
            .with_filter(tracing_subscriber::EnvFilter::new(format!(
                "warn,fitsbak_core={level},fitsbak_cli={level},fitsbak_s3={level},{REPORT}=info"
            )))
    });
    // A second call (an embedding program that already set a subscriber) is fine.
    let _ = tracing_subscriber::registry()
        .with(stderr.with_filter(tracing_subscriber::EnvFilter::new(filter)))
        .with(file)
        .try_init();
}

/// The target of events meant for the log file alone.
pub const REPORT: &str = "fitsbak_report";

/// The config's `logging.file`, rotated when it grew past `logging.max_size_mb`,
/// opened to append; and whether `logging.verbose` asks for debug lines.
fn log_file(global: &GlobalArgs) -> Option<(std::fs::File, bool)> {
    let loaded = Config::load(&global.config).ok()?.config;
    let logging = &loaded.logging;
    let path = loaded.resolve(logging.file.as_deref()?);
    let limit = (logging.max_size_mb.max(0.0001) * 1024.0 * 1024.0) as u64;
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > limit) {
        let numbered = |n: u32| {
            let mut p = path.clone().into_os_string();
            p.push(format!(".{n}"));
            std::path::PathBuf::from(p)
        };
        let _ = std::fs::remove_file(numbered(logging.keep.max(1)));
        for n in (1..logging.keep.max(1)).rev() {
            let _ = std::fs::rename(numbered(n), numbered(n + 1));
        }
        let _ = std::fs::rename(&path, numbered(1));
    }
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(file) => Some((file, logging.verbose)),
        Err(e) => {
            crate::output::print_error(format!("cannot open the log file {}: {e}", path.display()));
            None
        }
    }
}

/// Waits for Ctrl-C, or SIGTERM (systemd stopping the service, `kill`): both
/// stop a run the same way. False when no signal can be watched.
pub(crate) async fn stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            got = tokio::signal::ctrl_c() => got.is_ok(),
            got = term.recv() => got.is_some(),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// The time of a log line: UTC to the second.
struct UtcSeconds;

impl tracing_subscriber::fmt::time::FormatTime for UtcSeconds {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// Watches for Ctrl-C while a run goes: the first stops it between parts (an upload
/// stays resumable), the second aborts it. Abort the handle when the run is over.
pub fn stop_on_ctrl_c(cancel: fitsbak_core::engine::Cancel) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if stop_signal().await {
            eprintln!(
                "\nstopping after the parts in flight; the next `fitsbak upload` resumes \
                 (Ctrl-C again to abort the upload)"
            );
            cancel.stop.cancel();
            if stop_signal().await {
                eprintln!("aborting the upload");
                cancel.abort.cancel();
            }
        }
    })
}

/// The loaded configuration and the global options.
pub struct Context {
    /// The configuration, with paths relative to its file.
    pub config: Config,
    /// The file it came from.
    pub config_path: PathBuf,
    /// The global options.
    pub global: GlobalArgs,
}

impl Context {
    /// Loads the config named by `--config`, printing its warnings.
    pub fn load(global: &GlobalArgs) -> anyhow::Result<Self> {
        let LoadedConfig {
            config,
            path,
            warnings,
        } = Config::load_with(&global.config, global.catalog_config.as_deref())?;
        if !global.quiet {
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
        }
        Ok(Self {
            config,
            config_path: path,
            global: global.clone(),
        })
    }

    /// Takes the lock of this tracking database and target for `command`, for as
    /// long as the returned value lives; `--wait` waits for a run that holds it.
    pub fn run_lock(&self, command: &str) -> anyhow::Result<fitsbak_core::runlock::RunLock> {
        use fitsbak_core::runlock::{LockHolder, RunLock, lock_path};
        let tracking = self.tracking_path().unwrap_or_else(|| self.database_path());
        let tracking = std::path::absolute(&tracking).unwrap_or(tracking);
        let target = self.config.target_description();
        let holder = LockHolder {
            command: command.to_owned(),
            pid: std::process::id(),
            started_at: fitsbak_core::time::now(),
            target: target.clone(),
        };
        let wait = self
            .global
            .wait
            .then(|| std::time::Duration::from_secs(100 * 365 * 86_400));
        Ok(RunLock::acquire(
            &lock_path(&tracking, &target),
            &holder,
            wait,
        )?)
    }

    /// The catalog database: `--database`, else the config's `database_path`.
    pub fn database_path(&self) -> PathBuf {
        match &self.global.database {
            Some(path) => path.clone(),
            None => self.config.database(),
        }
    }

    /// The tracking database, when kept apart from the catalog.
    fn tracking_path(&self) -> Option<PathBuf> {
        self.config
            .tracking_database_path
            .as_ref()
            .map(|p| self.config.resolve(p))
    }

    /// Opens the catalog and the tracking tables.
    pub fn open_database(&self) -> anyhow::Result<Database> {
        let (catalog, tracking) = (self.database_path(), self.tracking_path());
        Database::open(&catalog, tracking.as_deref(), &self.open_options()).with_context(|| {
            format!(
                "cannot open the catalog (config {})",
                self.config_path.display()
            )
        })
    }

    /// The tracking tables without requiring the catalog: when the catalog database
    /// is missing (after a disaster), a database with only the tracking tables is
    /// created in its place (or at `tracking_database_path`).
    pub fn open_tracking(&self) -> anyhow::Result<Database> {
        let (catalog, tracking) = (self.database_path(), self.tracking_path());
        match Database::open(&catalog, tracking.as_deref(), &self.open_options()) {
            Ok(db) => Ok(db),
            Err(DbError::NotFound { .. } | DbError::NotACatalog { .. }) => {
                let path = tracking.unwrap_or(catalog);
                Database::open_tracking_only(&path, &self.open_options()).with_context(|| {
                    format!("cannot open the tracking database {}", path.display())
                })
            }
            Err(e) => Err(e).with_context(|| {
                format!(
                    "cannot open the catalog (config {})",
                    self.config_path.display()
                )
            }),
        }
    }

    /// Everything a command that talks to the target needs: the database, the
    /// store (with retries and the bandwidth limit), the archiver, progress.
    pub async fn engine(&self, bandwidth_mbps: Option<f64>) -> anyhow::Result<Engine> {
        self.engine_with(self.open_database()?, bandwidth_mbps)
            .await
    }

    /// An engine over the tracking tables alone (restores, `sync-db`).
    pub async fn engine_from_bucket(&self) -> anyhow::Result<Engine> {
        self.engine_with(self.open_tracking()?, None).await
    }

    /// The catalog and tracking tables a report reads: the catalog database, or,
    /// when that file holds only tracking tables (after a disaster, once `sync-db`
    /// rebuilt them), the tracking rows standing in for the catalog, which is said.
    pub fn open_for_reports(&self) -> anyhow::Result<(Arc<dyn Catalog>, Arc<Database>)> {
        let (catalog, tracking) = (self.database_path(), self.tracking_path());
        match Database::open(&catalog, tracking.as_deref(), &self.open_options()) {
            Ok(db) => {
                let db = Arc::new(db);
                Ok((db.clone(), db))
            }
            Err(DbError::NotACatalog { .. })
                if Database::holds_tracking_tables(tracking.as_deref().unwrap_or(&catalog)) =>
            {
                let path = tracking.unwrap_or(catalog.clone());
                let db = Arc::new(
                    Database::open_tracking_only(&path, &self.open_options()).with_context(
                        || format!("cannot open the tracking database {}", path.display()),
                    )?,
                );
                if !self.global.quiet {
                    eprintln!(
                        "warning: {} holds no catalog: reporting from the tracking rows alone                          (restore the catalog with `fitsbak restore-db`)",
                        catalog.display()
                    );
                }
                let rows = TrackedCatalog::new(db.clone(), catalog.display().to_string());
                Ok((Arc::new(rows), db))
            }
            Err(e) => Err(e).with_context(|| {
                format!(
                    "cannot open the catalog (config {})",
                    self.config_path.display()
                )
            }),
        }
    }

    /// An engine for reports and checks: [`Context::open_for_reports`]'s catalog.
    pub async fn engine_for_reports(&self) -> anyhow::Result<Engine> {
        Ok(self.engine_and_tracking().await?.0)
    }

    /// [`Context::engine_for_reports`], and the tracking database it reads, for
    /// what the tracker traits do not offer (the log rows of one session).
    pub async fn engine_and_tracking(&self) -> anyhow::Result<(Engine, Arc<Database>)> {
        let (catalog, db) = self.open_for_reports()?;
        let mut engine = self.engine_from(db.clone(), None).await?;
        engine.catalog = catalog;
        Ok((engine, db))
    }

    async fn engine_with(
        &self,
        db: Database,
        bandwidth_mbps: Option<f64>,
    ) -> anyhow::Result<Engine> {
        self.engine_from(Arc::new(db), bandwidth_mbps).await
    }

    async fn engine_from(
        &self,
        db: Arc<Database>,
        bandwidth_mbps: Option<f64>,
    ) -> anyhow::Result<Engine> {
        let retries = Arc::new(AtomicU64::new(0));
        let store = fitsbak_s3::open_target(&self.config, bandwidth_mbps, retries.clone())
            .await
            .with_context(|| format!("config {}", self.config_path.display()))?;
        Ok(Engine {
            config: Arc::new(self.config.clone()),
            catalog: db.clone(),
            tracker: db,
            store,
            archiver: Arc::new(TarArchiver),
            reader: Arc::new(TarArchiver),
            snapshots: Arc::new(fitsbak_store::snapshot::SqliteSnapshots),
            progress: crate::progress::reporter(&self.global),
            hints: Arc::new(crate::hints::CliHints),
            retries,
            cancel: Default::default(),
            capabilities: Default::default(),
            transferred: Default::default(),
        })
    }

    fn open_options(&self) -> OpenOptions {
        OpenOptions {
            busy_timeout: std::time::Duration::from_secs_f64(
                self.config.database_busy_timeout_seconds,
            ),
        }
    }

    /// Prints rejected catalog rows as warnings (they are skipped, the run goes on).
    pub fn warn_rejected(&self, rejected: &[fitsbak_core::model::RejectedSession]) {
        if self.global.quiet {
            return;
        }
        for r in rejected {
            eprintln!("warning: skipped: {}", r.reason);
        }
    }
}
