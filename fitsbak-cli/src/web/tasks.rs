//! Background tasks: what a button on the page starts. Each holds the run lock of
//! its command (so a CLI run and the page never work on the same target at once),
//! reports progress through the engine's [`Progress`] trait, and can be stopped the
//! way Ctrl-C stops a command.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use fitsbak_core::engine::{Cancel, Engine};
use fitsbak_core::progress::{ItemOutcome, Progress, RunPlan};
use serde::Serialize;
use serde_json::Value;

use super::{ApiError, WebApp};
use crate::progress::Rate;

/// Finished tasks kept for the page to show.
const KEEP_FINISHED: usize = 50;

/// Rows of a task's result table kept (the counts cover all of them).
const KEEP_ROWS: usize = 5_000;

/// Rows of the result table in the event of a running task.
const EVENT_ROWS: usize = 200;

/// How often a task's events are sent at most.
const EVENT_EVERY: Duration = Duration::from_millis(250);

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskState {
    /// Working.
    Running,
    /// Asked to stop; finishing the parts in flight.
    Stopping,
    /// Ended; everything asked for was done.
    Complete,
    /// Ended; some items failed (the rows say which).
    Failed,
    /// Stopped before its end; what was done is kept, the next run resumes.
    Stopped,
    /// Could not run (the error says why, in the CLI's words).
    Error,
}

impl TaskState {
    fn finished(self) -> bool {
        !matches!(self, Self::Running | Self::Stopping)
    }

    /// The Python service's three words: running, complete, error.
    fn python(self) -> &'static str {
        match self {
            Self::Running | Self::Stopping => "running",
            Self::Complete | Self::Failed => "complete",
            Self::Stopped | Self::Error => "error",
        }
    }
}

/// One line of a task's result table.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    /// The session, archive, note or file.
    pub item: String,
    /// `done`, `skipped` or `failed`.
    pub outcome: &'static str,
    /// Bytes moved for it.
    pub bytes: u64,
    /// Why it was skipped or failed, or what was done.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Counters {
    items_total: u64,
    items_done: u64,
    items_failed: u64,
    items_skipped: u64,
    bytes_total: u64,
    bytes_done: u64,
    bytes_resumed: u64,
    current: Option<String>,
    /// The rate of the bytes moved, from the first run's start.
    rate: Option<Rate>,
    rows: Vec<ResultRow>,
    rows_dropped: u64,
    notes: VecDeque<String>,
}

#[derive(Debug)]
struct Live {
    state: TaskState,
    counters: Counters,
    message: Option<String>,
    error: Option<String>,
    result: Option<Value>,
    completed_at: Option<DateTime<Utc>>,
}

/// A task, shared by its runner, its progress reporter and the requests that ask
/// about it.
pub struct Task {
    id: String,
    kind: &'static str,
    category: &'static str,
    label: String,
    session_id: Option<String>,
    started_at: DateTime<Utc>,
    started: Instant,
    cancel: Cancel,
    live: Mutex<Live>,
    changed: tokio::sync::watch::Sender<u64>,
}

/// What a task says of itself (`GET /api/backup/task/{id}`): the Python service's
/// fields (`task_id`, `status`, `progress`, `started_at`, `completed_at`,
/// `session_id`, `category`, `result`, `error`) and fitsbak's own.
#[derive(Debug, Clone, Serialize)]
pub struct TaskInfo {
    pub task_id: String,
    /// running, complete or error (the Python service's words).
    pub status: &'static str,
    /// running, stopping, complete, failed, stopped or error.
    pub state: TaskState,
    /// Percent done: of the bytes when known, else of the items.
    pub progress: f64,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub session_id: Option<String>,
    pub category: &'static str,
    /// upload, verify, notes, processed, backup-db, restore-request.
    pub kind: &'static str,
    /// What was asked, in words.
    pub label: String,
    pub items_total: u64,
    pub items_done: u64,
    pub items_failed: u64,
    pub items_skipped: u64,
    pub bytes_total: u64,
    pub bytes_done: u64,
    /// Bytes an earlier run had sent (a resumed upload).
    pub bytes_resumed: u64,
    /// Bytes per second moved by this task.
    pub rate_bytes_per_second: Option<f64>,
    /// Seconds left at that rate.
    pub eta_seconds: Option<f64>,
    /// The item being worked on.
    pub current: Option<String>,
    pub elapsed_seconds: f64,
    /// The result table.
    pub rows: Vec<ResultRow>,
    /// Rows left out of the table (it keeps the first 5,000).
    pub rows_dropped: u64,
    /// Rows of the table kept (`rows` holds only the latest of them in the events
    /// of a running task).
    pub rows_total: u64,
    /// Notes from the run (retries, resumes, warnings), the latest last.
    pub notes: Vec<String>,
    /// How it ended, in a sentence.
    pub message: Option<String>,
    /// Why it could not run, in the CLI's words.
    pub error: Option<String>,
    /// The Python service's counts (`uploaded`, `skipped`, `failed`, `total`) and
    /// the engine's own summary.
    pub result: Option<Value>,
}

impl Task {
    fn info(&self) -> TaskInfo {
        self.info_with(usize::MAX)
    }

    /// [`Task::info`] with at most the latest `rows` rows of the table while the
    /// task runs (all of them once it ended).
    fn info_with(&self, rows: usize) -> TaskInfo {
        let live = self.live.lock().expect("task state");
        let c = &live.counters;
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = c.rate.as_ref().and_then(Rate::per_second);
        let eta = rate
            .filter(|_| !live.state.finished())
            .map(|r| c.bytes_total.saturating_sub(c.bytes_done) as f64 / r);
        let progress = if live.state == TaskState::Complete {
            100.0
        } else if c.bytes_total > 0 {
            (c.bytes_done as f64 / c.bytes_total as f64 * 100.0).min(100.0)
        } else if c.items_total > 0 {
            (c.items_done + c.items_failed + c.items_skipped) as f64 / c.items_total as f64 * 100.0
        } else {
            0.0
        };
        TaskInfo {
            task_id: self.id.clone(),
            status: live.state.python(),
            state: live.state,
            progress,
            started_at: self.started_at,
            completed_at: live.completed_at,
            session_id: self.session_id.clone(),
            category: self.category,
            kind: self.kind,
            label: self.label.clone(),
            items_total: c.items_total,
            items_done: c.items_done,
            items_failed: c.items_failed,
            items_skipped: c.items_skipped,
            bytes_total: c.bytes_total,
            bytes_done: c.bytes_done,
            bytes_resumed: c.bytes_resumed,
            rate_bytes_per_second: rate,
            eta_seconds: eta,
            current: c.current.clone(),
            elapsed_seconds: elapsed,
            rows: match live.state.finished() {
                true => c.rows.clone(),
                false => c.rows[c.rows.len().saturating_sub(rows)..].to_vec(),
            },
            rows_dropped: c.rows_dropped,
            rows_total: c.rows.len() as u64,
            notes: c.notes.iter().cloned().collect(),
            message: live.message.clone(),
            error: live.error.clone(),
            result: live.result.clone(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Live)) {
        f(&mut self.live.lock().expect("task state"));
        self.changed.send_modify(|n| *n += 1);
    }

    /// Adds a row to the result table (for tasks whose engine call reports none).
    pub fn push_row(&self, item: impl Into<String>, outcome: &ItemOutcome, detail: Option<String>) {
        let item = item.into();
        self.update(|l| record_item(&mut l.counters, item, outcome, detail));
    }

    fn finish(&self, outcome: anyhow::Result<Finished>) {
        self.update(|l| {
            l.completed_at = Some(Utc::now());
            l.counters.current = None;
            match outcome {
                Ok(done) => {
                    l.state = if done.interrupted {
                        TaskState::Stopped
                    } else if done.failures {
                        TaskState::Failed
                    } else {
                        TaskState::Complete
                    };
                    l.message = Some(done.message);
                    l.result = Some(done.result);
                }
                Err(err) => {
                    l.state = TaskState::Error;
                    l.error = Some(crate::error_words(&err));
                }
            }
        });
    }

    fn stop(&self) {
        self.update(|l| {
            if l.state == TaskState::Running {
                l.state = TaskState::Stopping;
            }
        });
        self.cancel.stop.cancel();
    }

    fn is_finished(&self) -> bool {
        self.live.lock().expect("task state").state.finished()
    }
}

fn record_item(c: &mut Counters, item: String, outcome: &ItemOutcome, detail: Option<String>) {
    let (word, bytes, reason) = match outcome {
        ItemOutcome::Done { bytes } => {
            c.items_done += 1;
            ("done", *bytes, None)
        }
        ItemOutcome::Skipped { reason } => {
            c.items_skipped += 1;
            ("skipped", 0, Some(reason.clone()))
        }
        ItemOutcome::Failed { reason } => {
            c.items_failed += 1;
            ("failed", 0, Some(reason.clone()))
        }
    };
    if c.current.as_deref() == Some(item.as_str()) {
        c.current = None;
    }
    if c.rows.len() < KEEP_ROWS {
        c.rows.push(ResultRow {
            item,
            outcome: word,
            bytes,
            detail: detail.or(reason),
        });
    } else {
        c.rows_dropped += 1;
    }
}

/// The engine's progress, into a task.
struct TaskProgress(Arc<Task>);

impl Progress for TaskProgress {
    fn run_started(&self, plan: &RunPlan) {
        self.0.update(|l| {
            l.counters.rate.get_or_insert_with(Rate::default);
            l.counters.items_total += plan.items;
            l.counters.bytes_total += plan.bytes;
        });
    }

    fn item_started(&self, item: &str, _bytes: u64) {
        self.0
            .update(|l| l.counters.current = Some(item.to_owned()));
    }

    fn advance(&self, bytes: u64) {
        self.0.update(|l| {
            l.counters.rate.get_or_insert_with(Rate::default).add(bytes);
            l.counters.bytes_done += bytes;
        });
    }

    fn resumed(&self, bytes: u64) {
        self.0.update(|l| {
            l.counters.bytes_done += bytes;
            l.counters.bytes_resumed += bytes;
        });
    }

    fn item_finished(&self, item: &str, outcome: &ItemOutcome) {
        self.0
            .update(|l| record_item(&mut l.counters, item.to_owned(), outcome, None));
    }

    fn note(&self, message: &str) {
        self.0.update(|l| {
            l.counters.notes.push_back(message.to_owned());
            while l.counters.notes.len() > 20 {
                l.counters.notes.pop_front();
            }
        });
    }
}

/// How a task's work ended when it ran.
pub struct Finished {
    /// In a sentence.
    pub message: String,
    /// Counts and the engine's summary.
    pub result: Value,
    /// Some item failed.
    pub failures: bool,
    /// A stop ended it early.
    pub interrupted: bool,
}

/// What a task is, before it starts.
pub struct TaskSpec {
    /// upload, verify, notes, processed, backup-db, restore-request.
    pub kind: &'static str,
    /// The Python service's category (`Imaging Sessions`, ...).
    pub category: &'static str,
    /// What was asked, in words.
    pub label: String,
    /// The session it is about, when one.
    pub session_id: Option<String>,
}

/// The tasks of this server.
#[derive(Default)]
pub struct Tasks {
    list: Mutex<VecDeque<Arc<Task>>>,
    running: tokio_util::task::TaskTracker,
    next: std::sync::atomic::AtomicU64,
}

impl Tasks {
    fn find(&self, id: &str) -> Result<Arc<Task>, ApiError> {
        self.list
            .lock()
            .expect("task list")
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no task {id}")))
    }

    /// The tasks kept, newest first, without holding the list's lock.
    fn all(&self) -> Vec<Arc<Task>> {
        self.list
            .lock()
            .expect("task list")
            .iter()
            .cloned()
            .collect()
    }

    pub fn infos(&self) -> Vec<TaskInfo> {
        self.all().iter().map(|t| t.info()).collect()
    }

    /// Aborts every running task now (the second Ctrl-C of a command).
    pub fn abort_all(&self) {
        for task in &self.all() {
            task.cancel.abort.cancel();
        }
    }

    pub async fn stop_all(&self) {
        for task in self.all().iter().filter(|t| !t.is_finished()) {
            task.stop();
        }
        self.running.close();
        self.running.wait().await;
    }
}

impl WebApp {
    /// Starts `work` on `engine` as a background task holding `lock`; returns its
    /// description at once.
    pub(super) fn start<F, Fut>(
        &self,
        spec: TaskSpec,
        lock: fitsbak_core::runlock::RunLock,
        mut engine: Engine,
        work: F,
    ) -> TaskInfo
    where
        F: FnOnce(Arc<Engine>, Arc<Task>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Finished>> + 'static,
    {
        let n = self
            .tasks
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let started_at = Utc::now();
        let id = format!("{}_{}_{n}", spec.kind, started_at.format("%Y%m%d_%H%M%S"));
        let (changed, _) = tokio::sync::watch::channel(0);
        let task = Arc::new(Task {
            id,
            kind: spec.kind,
            category: spec.category,
            label: spec.label,
            session_id: spec.session_id,
            started_at,
            started: Instant::now(),
            cancel: engine.cancel.clone(),
            live: Mutex::new(Live {
                state: TaskState::Running,
                counters: Counters::default(),
                message: None,
                error: None,
                result: None,
                completed_at: None,
            }),
            changed,
        });
        engine.progress = Arc::new(TaskProgress(task.clone()));
        {
            let mut list = self.tasks.list.lock().expect("task list");
            list.push_front(task.clone());
            while list.len() > KEEP_FINISHED
                && let Some(pos) = list.iter().rposition(|t| t.is_finished())
            {
                list.remove(pos);
            }
        }
        // The engine's futures are not `Send` (they borrow across awaits), so a
        // task runs on a runtime of its own, on its own thread, as a CLI command
        // runs on its `main`. The tracker's token counts it until it ends.
        let runner = task.clone();
        let running = self.tasks.running.token();
        let thread = std::thread::Builder::new()
            .name(format!("fitsbak-task-{n}"))
            .spawn(move || {
                let _running = running;
                let _lock = lock;
                let outcome = match tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(work(Arc::new(engine), runner.clone())),
                    Err(e) => Err(anyhow::anyhow!("cannot start the task's runtime: {e}")),
                };
                if let Err(err) = &outcome {
                    tracing::warn!("task {}: {}", runner.id, crate::error_words(err));
                }
                runner.finish(outcome);
            });
        if let Err(e) = thread {
            task.finish(Err(anyhow::anyhow!("cannot start the task's thread: {e}")));
        }
        task.info()
    }
}

impl WebApp {
    /// Waits for task `id` to end (at most `within`); its last state.
    pub(super) async fn wait_for(&self, id: &str, within: Duration) -> Result<TaskInfo, ApiError> {
        let task = self.tasks.find(id)?;
        let mut rx = task.changed.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        while !task.is_finished() {
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(ApiError::new(
                    axum::http::StatusCode::GATEWAY_TIMEOUT,
                    format!("task {id} is still running; ask GET /api/backup/task/{id}"),
                ));
            }
        }
        Ok(task.info())
    }
}

/// `GET /api/backup/task/{id}`.
pub async fn task_status(
    State(app): State<Arc<WebApp>>,
    Path(id): Path<String>,
) -> Result<Json<TaskInfo>, ApiError> {
    Ok(Json(app.tasks.find(&id)?.info()))
}

/// `GET /api/backup/tasks/active`: `{"active_tasks": {id: task}}`.
pub async fn active_tasks(State(app): State<Arc<WebApp>>) -> Json<Value> {
    let active: serde_json::Map<String, Value> = app
        .tasks
        .infos()
        .into_iter()
        .filter(|t| !t.state.finished())
        .map(|t| {
            (
                t.task_id.clone(),
                serde_json::to_value(&t).unwrap_or(Value::Null),
            )
        })
        .collect();
    Json(serde_json::json!({ "active_tasks": active }))
}

/// `GET /api/tasks`: every task kept, newest first.
pub async fn all_tasks(State(app): State<Arc<WebApp>>) -> Json<Vec<TaskInfo>> {
    Json(app.tasks.infos())
}

/// `GET /api/backup/session/{id}/status`: the Python service's answer about the
/// newest task of one session.
pub async fn session_task_status(
    State(app): State<Arc<WebApp>>,
    Path(id): Path<String>,
) -> Json<Value> {
    let newest = app
        .tasks
        .infos()
        .into_iter()
        .find(|t| t.session_id.as_deref() == Some(id.as_str()));
    Json(match newest {
        None => serde_json::json!({ "has_active_task": false }),
        Some(t) => serde_json::json!({
            "has_active_task": true,
            "status": t.status,
            "state": t.state,
            "started_at": t.started_at,
            "task_id": t.task_id,
            "error": t.error,
        }),
    })
}

/// `POST /api/tasks/{id}/stop`: stops the task between parts, as Ctrl-C does.
pub async fn stop(
    State(app): State<Arc<WebApp>>,
    Path(id): Path<String>,
) -> Result<Json<TaskInfo>, ApiError> {
    let task = app.tasks.find(&id)?;
    if task.is_finished() {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            format!("task {id} has already ended"),
        ));
    }
    task.stop();
    Ok(Json(task.info()))
}

/// `GET /api/tasks/{id}/events`: server-sent events, one `task` event with the
/// whole [`TaskInfo`] on each change (at most four a second), the last one when
/// the task ends.
pub async fn events(
    State(app): State<Arc<WebApp>>,
    Path(id): Path<String>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let task = app.tasks.find(&id)?;
    let rx = task.changed.subscribe();
    let stream = futures::stream::unfold(
        (task, rx, false, true),
        |(task, mut rx, done, first)| async move {
            if done {
                return None;
            }
            if !first {
                tokio::time::sleep(EVENT_EVERY).await;
                // Nothing new: wait for a change (an ended task changes no more).
                if !rx.has_changed().unwrap_or(false) && !task.is_finished() {
                    let _ = rx.changed().await;
                }
            }
            rx.mark_unchanged();
            // A running task's event carries the table's latest rows, not all
            // (a long upload has thousands, four times a second).
            let info = task.info_with(EVENT_ROWS);
            let finished = info.state.finished();
            let event = Event::default()
                .event("task")
                .json_data(&info)
                .unwrap_or_else(|_| Event::default().event("task"));
            Some((Ok(event), (task, rx, finished, false)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
