//! fitsbak-store
