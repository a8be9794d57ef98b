//! The `fitsbak` binary, run as a user runs it.

mod bad_input;
mod bad_upload_input;
mod disaster;
mod integrity;
mod legacy;
mod lifecycle;
mod notes_and_snapshots;
mod processed;
mod read_only;
mod resilience;
mod support;
mod unattended;
mod upload;
mod verify;
mod web;
