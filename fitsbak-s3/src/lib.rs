//! fitsbak-s3
