//! fitsbak-archive
