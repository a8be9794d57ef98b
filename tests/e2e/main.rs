//! End-to-end tests that cross crates: the binary, the examples, and databases
//! written by other tools.

mod embedding;
mod foreign_catalog;
mod support;
