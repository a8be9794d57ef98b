//! Progress reporting: the engine says what it is doing, a front end shows it.
//!
//! The CLI implements [`Progress`] with indicatif bars on a terminal and one plain
//! line per item otherwise; tests and `--quiet` use [`NoProgress`]. Every method has
//! a do-nothing default, so an implementation shows only what it cares about.

/// What a run is about to do, so that bars can show exact totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    /// `upload`, `verify`, `restore`, ...
    pub operation: &'static str,
    /// Items (sessions, archives) in the run.
    pub items: u64,
    /// Bytes the run will move, exactly when known.
    pub bytes: u64,
}

/// How one item ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Done.
    Done {
        /// Bytes moved for the item.
        bytes: u64,
    },
    /// Nothing to do.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Failed; the run goes on.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Receives progress from the engine. Called from async tasks and blocking threads.
pub trait Progress: Send + Sync {
    /// A run starts.
    fn run_started(&self, _plan: &RunPlan) {}
    /// An item (session, archive) starts, with its exact size when known.
    fn item_started(&self, _item: &str, _bytes: u64) {}
    /// Bytes of the current item are done (sent, read or checked).
    fn advance(&self, _bytes: u64) {}
    /// Bytes of the current item an earlier run sent (a resumed upload): done, but
    /// not moved now.
    fn resumed(&self, bytes: u64) {
        self.advance(bytes);
    }
    /// An item ended.
    fn item_finished(&self, _item: &str, _outcome: &ItemOutcome) {}
    /// A note worth showing between bars (a retry, a resume, a warning).
    fn note(&self, _message: &str) {}
    /// The run ended.
    fn run_finished(&self) {}
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
