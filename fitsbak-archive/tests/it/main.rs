//! Archive tests on real files: interop with GNU tar and Python's tarfile,
//! determinism, the size property, errors, hostile archives, ranged extraction.

mod hostile;
mod interop;
mod properties;
mod reading;
mod support;
mod writing;
