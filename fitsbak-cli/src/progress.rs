//! Progress on the terminal: indicatif bars (one for the run with exact totals, one
//! for the current item) when stderr is a terminal, one plain line per item
//! otherwise (cron logs), nothing with `--quiet` or `--json`.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fitsbak_core::model::{human_bytes, human_duration};
use fitsbak_core::progress::{ItemOutcome, Progress, RunPlan};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::GlobalArgs;

/// The progress display the global options ask for.
pub fn reporter(global: &GlobalArgs) -> Arc<dyn Progress> {
    if global.quiet || global.json {
        Arc::new(FileOnly)
    } else if std::io::stderr().is_terminal() {
        Arc::new(Bars::new())
    } else {
        Arc::new(Lines::default())
    }
}

/// Each item's outcome, for the log file (`logging.file`) alone.
fn log_outcome(line: &str) {
    tracing::info!(target: crate::context::REPORT, "{line}");
}

/// With `--quiet` or `--json`: nothing on the terminal, the outcomes in the log file.
struct FileOnly;

impl Progress for FileOnly {
    fn item_finished(&self, item: &str, outcome: &ItemOutcome) {
        log_outcome(&outcome_line(item, outcome, 0.0));
    }
}

fn outcome_line(item: &str, outcome: &ItemOutcome, seconds: f64) -> String {
    match outcome {
        ItemOutcome::Done { bytes: 0 } => format!("ok       {item}"),
        ItemOutcome::Done { bytes } => format!(
            "done     {item}  {} in {} ({}/s)",
            human_bytes(*bytes),
            human_duration(seconds),
            human_bytes((*bytes as f64 / seconds.max(0.001)) as u64)
        ),
        ItemOutcome::Skipped { reason } => format!("skipped  {item}  {reason}"),
        ItemOutcome::Failed { reason } => format!("FAILED   {item}  {reason}"),
    }
}

/// Bars on a terminal.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    current: Mutex<Option<(ProgressBar, Instant)>>,
    items: Mutex<(u64, u64)>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::hidden());
        Self {
            multi,
            overall,
            current: Mutex::new(None),
            items: Mutex::new((0, 0)),
        }
    }
}

impl Progress for Bars {
    fn run_started(&self, plan: &RunPlan) {
        self.overall.set_draw_target(ProgressDrawTarget::stderr());
        self.overall.set_length(plan.bytes);
        self.overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>14} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        *self.items.lock().expect("not poisoned") = (0, plan.items);
        self.overall
            .set_prefix(format!("{} 0/{}", plan.operation, plan.items));
    }

    fn item_started(&self, item: &str, bytes: u64) {
        let bar = self.multi.add(ProgressBar::new(bytes));
        bar.set_style(
            ProgressStyle::with_template("{msg:>14} [{bar:30}] {bytes}/{total_bytes}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        let short: String = item.chars().take(14).collect();
        bar.set_message(short);
        *self.current.lock().expect("not poisoned") = Some((bar, Instant::now()));
    }

    fn advance(&self, bytes: u64) {
        self.overall.inc(bytes);
        if let Some((bar, _)) = &*self.current.lock().expect("not poisoned") {
            bar.inc(bytes);
        }
    }

    fn item_finished(&self, item: &str, outcome: &ItemOutcome) {
        let seconds = match self.current.lock().expect("not poisoned").take() {
            Some((bar, started)) => {
                bar.finish_and_clear();
                self.multi.remove(&bar);
                started.elapsed().as_secs_f64()
            }
            None => 0.0,
        };
        let line = outcome_line(item, outcome, seconds);
        log_outcome(&line);
        let _ = self.multi.println(line);
        let mut items = self.items.lock().expect("not poisoned");
        items.0 += 1;
        let prefix = self.overall.prefix();
        let operation = prefix.split(' ').next().unwrap_or("").to_owned();
        self.overall
            .set_prefix(format!("{operation} {}/{}", items.0, items.1));
    }

    fn note(&self, message: &str) {
        let _ = self.multi.println(message);
    }

    fn run_finished(&self) {
        self.overall.finish_and_clear();
    }
}

/// One line per item, for logs.
#[derive(Default)]
struct Lines {
    started: Mutex<Option<Instant>>,
}

impl Progress for Lines {
    fn run_started(&self, plan: &RunPlan) {
        let bytes = match plan.bytes {
            0 => String::new(),
            b => format!(", {}", human_bytes(b)),
        };
        eprintln!(
            "{}{}: {} item(s){bytes}",
            crate::output::stamp(),
            plan.operation,
            plan.items
        );
    }

    fn item_started(&self, _item: &str, _bytes: u64) {
        *self.started.lock().expect("not poisoned") = Some(Instant::now());
    }

    fn item_finished(&self, item: &str, outcome: &ItemOutcome) {
        let seconds = self
            .started
            .lock()
            .expect("not poisoned")
            .take()
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let line = outcome_line(item, outcome, seconds);
        log_outcome(&line);
        eprintln!("{}{line}", crate::output::stamp());
    }

    fn note(&self, message: &str) {
        eprintln!("{}{message}", crate::output::stamp());
    }
}
