//! The engine: plans, uploads, verifies and restores through the core traits only.
//!
//! Nothing here knows about S3, SQLite or a terminal; the CLI wires real
//! implementations in, and the unit tests wire mocks in.

pub mod report;
