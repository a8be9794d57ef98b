//! What the commands print for people (their `--json` output is the engine's
//! reports as they are): one module per command.

pub mod analyze;
pub mod costs;
pub mod database;
pub mod lifecycle;
pub mod list_sessions;
pub mod migrate;
pub mod notes;
pub mod processed;
pub mod restore;
pub mod status;
pub mod upload;
pub mod verify;
