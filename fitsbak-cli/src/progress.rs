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

/// The rate over the last seconds: bytes moved (not resumed) in a sliding window
/// that opens when the work starts. Until the window has slid, the rate is what has
/// moved over the time since the start, so that neither a burst of parts
/// acknowledged together nor a slow first acknowledgement reads as more than the line
/// rate (under `--bandwidth`, no part is sent before its share of the time, so the
/// rate shown never exceeds the limit).
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    /// (when, bytes moved by then), oldest first: the start, (start, 0), until the
    /// window slides past it.
    window: std::collections::VecDeque<(Instant, u64)>,
    total: u64,
}

/// How far back the rate looks.
const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for Rate {
    /// A rate whose work starts now.
    fn default() -> Self {
        Self::since(Instant::now())
    }
}

impl Rate {
    /// A rate whose work started at `start`.
    pub(crate) fn since(start: Instant) -> Self {
        Self {
            window: [(start, 0)].into(),
            total: 0,
        }
    }

    /// `bytes` more have moved.
    pub(crate) fn add(&mut self, bytes: u64) {
        self.add_at(Instant::now(), bytes);
    }

    fn add_at(&mut self, now: Instant, bytes: u64) {
        self.total += bytes;
        self.window.push_back((now, self.total));
        // Keep the newest sample at or before the window's start as its origin.
        while self
            .window
            .get(1)
            .is_some_and(|(t, _)| now.duration_since(*t) >= RATE_WINDOW)
        {
            self.window.pop_front();
        }
    }

    /// Bytes per second up to now, once there is something to go on.
    pub(crate) fn per_second(&self) -> Option<f64> {
        self.per_second_at(Instant::now())
    }

    fn per_second_at(&self, now: Instant) -> Option<f64> {
        let (first_at, first) = *self.window.front()?;
        let moved = self.total - first;
        let seconds = now.duration_since(first_at).as_secs_f64();
        (seconds > 0.2 && moved > 0).then(|| moved as f64 / seconds)
    }

    /// `4.8 MiB/s  ETA 3m 12s` for `remaining` bytes.
    fn describe(&self, remaining: u64) -> String {
        match self.per_second() {
            Some(rate) => format!(
                "{}/s  ETA {}",
                human_bytes(rate as u64),
                human_duration(remaining as f64 / rate)
            ),
            None => "measuring...".to_owned(),
        }
    }
}

/// The bar of the current item.
struct Item {
    bar: ProgressBar,
    started: Instant,
    rate: Rate,
}

/// The run's counts.
#[derive(Default)]
struct RunState {
    operation: &'static str,
    done: u64,
    items: u64,
    resumed: u64,
    rate: Rate,
}

/// Bars on a terminal: the run (exact bytes, moving as the store acknowledges
/// each part, the rate over the last seconds, ETA) and the current item (its full
/// name, bytes sent, rate, ETA). Bytes found already sent by a resume are shown
/// apart and do not count in the rates. Lines fit 80 columns.
struct Bars {
    multi: MultiProgress,
    run: Mutex<Option<ProgressBar>>,
    /// The items under way, by name (checks run several at once); bytes go to the
    /// newest.
    current: Mutex<Vec<(String, Item)>>,
    state: Mutex<RunState>,
}

/// `{prefix}` then the bar, the bytes and the rate: 80 columns at most.
const RUN_TEMPLATE: &str = "{prefix:<12} [{bar:16}] {bytes:>10}/{total_bytes:<10} {msg}";
const ITEM_TEMPLATE: &str = "  {prefix:<17} [{bar:12}] {bytes:>10}/{total_bytes:<10} {msg}";

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ")
}

impl Bars {
    fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            run: Mutex::new(None),
            current: Mutex::new(Vec::new()),
            state: Mutex::new(RunState::default()),
        }
    }

    /// The run bar's prefix and message from the state.
    fn refresh_run(&self, state: &RunState) {
        if let Some(bar) = &*self.run.lock().expect("not poisoned") {
            bar.set_prefix(format!(
                "{} {}/{}",
                state.operation, state.done, state.items
            ));
            let remaining = bar.length().unwrap_or(0).saturating_sub(bar.position());
            let mut msg = state.rate.describe(remaining);
            if state.resumed > 0 {
                msg.push_str(&format!("  ({} resumed)", human_bytes(state.resumed)));
            }
            bar.set_message(msg);
        }
    }
}

impl Progress for Bars {
    fn run_started(&self, plan: &RunPlan) {
        let bar = self.multi.add(ProgressBar::new(plan.bytes));
        bar.set_style(bar_style(RUN_TEMPLATE));
        *self.run.lock().expect("not poisoned") = Some(bar);
        let mut state = self.state.lock().expect("not poisoned");
        *state = RunState {
            operation: plan.operation,
            rate: Rate::default(),
            items: plan.items,
            ..RunState::default()
        };
        self.refresh_run(&state);
    }

    fn item_started(&self, item: &str, bytes: u64) {
        let bar = self.multi.add(ProgressBar::new(bytes));
        bar.set_style(bar_style(ITEM_TEMPLATE));
        bar.set_prefix(item.to_owned());
        bar.set_message("starting...");
        let started = Instant::now();
        self.current.lock().expect("not poisoned").push((
            item.to_owned(),
            Item {
                bar,
                started,
                rate: Rate::since(started),
            },
        ));
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = &*self.run.lock().expect("not poisoned") {
            bar.inc(bytes);
        }
        if let Some((_, item)) = self.current.lock().expect("not poisoned").last_mut() {
            item.bar.inc(bytes);
            item.rate.add(bytes);
            let remaining = item
                .bar
                .length()
                .unwrap_or(0)
                .saturating_sub(item.bar.position());
            item.bar.set_message(item.rate.describe(remaining));
        }
        let mut state = self.state.lock().expect("not poisoned");
        state.rate.add(bytes);
        self.refresh_run(&state);
    }

    fn resumed(&self, bytes: u64) {
        if let Some(bar) = &*self.run.lock().expect("not poisoned") {
            bar.inc(bytes);
        }
        if let Some((_, item)) = self.current.lock().expect("not poisoned").last() {
            item.bar.inc(bytes);
        }
        let mut state = self.state.lock().expect("not poisoned");
        state.resumed += bytes;
        self.refresh_run(&state);
    }

    fn item_finished(&self, item: &str, outcome: &ItemOutcome) {
        let finished = {
            let mut current = self.current.lock().expect("not poisoned");
            current
                .iter()
                .position(|(name, _)| name == item)
                .map(|i| current.remove(i).1)
        };
        let seconds = match finished {
            Some(current) => {
                current.bar.finish_and_clear();
                self.multi.remove(&current.bar);
                current.started.elapsed().as_secs_f64()
            }
            None => 0.0,
        };
        let line = outcome_line(item, outcome, seconds);
        log_outcome(&line);
        let _ = self.multi.println(line);
        let mut state = self.state.lock().expect("not poisoned");
        state.done += 1;
        self.refresh_run(&state);
    }

    fn note(&self, message: &str) {
        let _ = self.multi.println(message);
    }

    fn run_finished(&self) {
        if let Some(bar) = self.run.lock().expect("not poisoned").take() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

/// One line per item, for logs.
#[derive(Default)]
struct Lines {
    started: Mutex<std::collections::HashMap<String, Instant>>,
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

    fn item_started(&self, item: &str, _bytes: u64) {
        self.started
            .lock()
            .expect("not poisoned")
            .insert(item.to_owned(), Instant::now());
    }

    fn item_finished(&self, item: &str, outcome: &ItemOutcome) {
        let seconds = self
            .started
            .lock()
            .expect("not poisoned")
            .remove(item)
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let line = outcome_line(item, outcome, seconds);
        log_outcome(&line);
        eprintln!("{}{line}", crate::output::stamp());
    }

    fn note(&self, message: &str) {
        eprintln!("{}{message}", crate::output::stamp());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: u64 = 1 << 20;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Parts sent 0.21 s apart (40 Mbit/s, 1 MiB parts) whose first answer came late:
    /// three acknowledgements 0.29 s apart read as 6.9 MiB/s when the rate was
    /// measured from the first of them, over the 4.77 the line allowed.
    #[test]
    fn a_late_first_acknowledgement_does_not_read_over_the_line_rate() {
        let start = Instant::now();
        let mut rate = Rate::since(start);
        for at in [340, 500, 630] {
            rate.add_at(start + ms(at), MIB);
        }
        let shown = rate.per_second_at(start + ms(630)).unwrap() / MIB as f64;
        assert!((4.7..4.8).contains(&shown), "{shown} MiB/s");
    }

    #[test]
    fn nothing_is_shown_before_there_is_something_to_go_on() {
        let start = Instant::now();
        let mut rate = Rate::since(start);
        assert_eq!(rate.per_second_at(start + ms(500)), None, "nothing moved");
        rate.add_at(start + ms(100), MIB);
        assert_eq!(rate.per_second_at(start + ms(150)), None, "too soon");
        assert!(rate.per_second_at(start + ms(300)).is_some());
    }

    /// After the window has slid, the rate is the last seconds', not the run's; and a
    /// stalled transfer reads slower and slower.
    #[test]
    fn the_rate_follows_the_last_seconds() {
        let start = Instant::now();
        let mut rate = Rate::since(start);
        // 1 MiB/s for 20 s, then 4 MiB/s for 10 s.
        for s in 1..=20 {
            rate.add_at(start + ms(s * 1000), MIB);
        }
        for s in 21..=30 {
            rate.add_at(start + ms(s * 1000), 4 * MIB);
        }
        let at = start + ms(30_000);
        let shown = rate.per_second_at(at).unwrap() / MIB as f64;
        assert!((3.9..4.1).contains(&shown), "{shown} MiB/s");
        let stalled = rate.per_second_at(at + ms(10_000)).unwrap() / MIB as f64;
        assert!((1.9..2.1).contains(&stalled), "{stalled} MiB/s");
    }
}
