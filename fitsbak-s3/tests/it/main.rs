//! What only a real S3 endpoint shows (the contract every store keeps runs in
//! `fitsbak-testkit`): moto_server on loopback.

mod s3_only;
