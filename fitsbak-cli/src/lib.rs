//! fitsbak-cli
