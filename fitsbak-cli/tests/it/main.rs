//! The `fitsbak` binary, run as a user runs it.

mod bad_input;
mod disaster;
mod lifecycle;
mod read_only;
mod support;
mod upload;
mod verify;
