//! Checksums the client computes over the bytes it sends, so that the server can
//! check each request and the client can check the stored object as a whole.
//!
//! - CRC32C per part, and the composite CRC32C of a multipart object
//!   (`base64(crc32c(part crcs...))-{parts}`), as S3 reports it.
//! - MD5 per part (`Content-MD5`), and the multipart ETag
//!   (`hex(md5(part md5s...))-{parts}`).
//! - CRC-64/NVME of the whole stream, recorded in the manifest whatever the upload.

use base64::Engine as _;
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use md5::{Digest as _, Md5};

use crate::config::ChecksumAlgorithm;
use crate::store::Checksum;

/// The checksum of one request body in the configured algorithm.
pub fn of_part(algorithm: ChecksumAlgorithm, bytes: &[u8]) -> Checksum {
    match algorithm {
        ChecksumAlgorithm::Crc32c => {
            Checksum::Crc32c(crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, bytes) as u32)
        }
        ChecksumAlgorithm::Md5 => Checksum::Md5(Md5::digest(bytes).into()),
    }
}

/// What the stored object's checksum (CRC32C) or ETag (MD5) must be, given the
/// checksums of its parts in order; `multipart` tells a single PUT from a
/// one-part multipart upload.
pub fn expected_object_checksum(parts: &[Checksum], multipart: bool) -> String {
    if !multipart {
        return match parts.first() {
            Some(Checksum::Md5(d)) => hex::encode(d),
            Some(other) => other.to_base64(),
            None => String::new(),
        };
    }
    let mut joined = Vec::with_capacity(parts.len() * 16);
    for p in parts {
        joined.extend(p.to_bytes());
    }
    match parts.first() {
        Some(Checksum::Md5(_)) => format!("{}-{}", hex::encode(Md5::digest(&joined)), parts.len()),
        _ => {
            let crc = crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, &joined) as u32;
            format!(
                "{}-{}",
                base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes()),
                parts.len()
            )
        }
    }
}

/// Whether a checksum a store reported is the one expected. A composite checksum
/// ends in `-{parts}`; some stores report it without that suffix, which is
/// accepted when the value itself matches.
pub fn same_checksum(expected: &str, reported: &str) -> bool {
    expected == reported
        || (!reported.contains('-')
            && expected
                .rsplit_once('-')
                .is_some_and(|(value, parts)| value == reported && parts.parse::<u32>().is_ok()))
}

/// CRC-64/NVME over a stream, fed piece by piece.
pub struct StreamCrc(CrcDigest);

impl Default for StreamCrc {
    fn default() -> Self {
        Self(CrcDigest::new(CrcAlgorithm::Crc64Nvme))
    }
}

impl StreamCrc {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The CRC so far, as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0.finalize())
    }
}

/// CRC-64/NVME of `bytes`, as 16 hex digits.
pub fn crc64nvme_hex(bytes: &[u8]) -> String {
    let mut crc = StreamCrc::default();
    crc.update(bytes);
    crc.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(
            of_part(ChecksumAlgorithm::Crc32c, b"123456789"),
            Checksum::Crc32c(0xE306_9283)
        );
        assert_eq!(
            of_part(ChecksumAlgorithm::Md5, b"").to_hex(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        // CRC-64/NVME check value.
        assert_eq!(crc64nvme_hex(b"123456789"), "ae8b14860a799888");
    }

    #[test]
    fn object_checksums_follow_s3() {
        let parts = [b"hello ".as_slice(), b"world"];
        let md5s: Vec<_> = parts
            .iter()
            .map(|p| of_part(ChecksumAlgorithm::Md5, p))
            .collect();
        let etag = expected_object_checksum(&md5s, true);
        let mut joined = Vec::new();
        for p in &parts {
            joined.extend(Md5::digest(p));
        }
        assert_eq!(etag, format!("{}-2", hex::encode(Md5::digest(&joined))));
        assert_eq!(
            expected_object_checksum(&md5s[..1], false),
            hex::encode(Md5::digest(b"hello "))
        );
        let crcs: Vec<_> = parts
            .iter()
            .map(|p| of_part(ChecksumAlgorithm::Crc32c, p))
            .collect();
        assert!(expected_object_checksum(&crcs, true).ends_with("-2"));
        assert_eq!(
            expected_object_checksum(&crcs[..1], false),
            crcs[0].to_base64()
        );
    }

    #[test]
    fn composite_checksums_match_with_or_without_the_part_count() {
        assert!(same_checksum("AYnFhg==-3", "AYnFhg==-3"));
        assert!(same_checksum("AYnFhg==-3", "AYnFhg=="));
        assert!(!same_checksum("AYnFhg==-3", "AYnFhg==-2"));
        assert!(!same_checksum("AYnFhg==-3", "BBBBBB=="));
        assert!(!same_checksum("AYnFhg==", "AYnFhg==-3"));
    }

    #[test]
    fn stream_crc_is_split_invariant() {
        let mut a = StreamCrc::default();
        a.update(b"12345");
        a.update(b"6789");
        assert_eq!(a.hex(), crc64nvme_hex(b"123456789"));
    }
}
