//! Checksums the client computes over the bytes it sends, so that the server can
//! check each request and the client can check the stored object as a whole.
//!
//! - CRC32C per part, and the composite CRC32C of a multipart object
//!   (`base64(crc32c(part crcs...))-{parts}`), as S3 reports it.
//! - MD5 per part (`Content-MD5`), and the multipart ETag
//!   (`hex(md5(part md5s...))-{parts}`).
//! - CRC32C of the whole stream, recorded in the manifest whatever the upload; it is
//!   combined from the parts' CRCs, so the bytes are read once.

use base64::Engine as _;
use crc_fast::CrcAlgorithm;
use md5::{Digest as _, Md5};

use crate::config::ChecksumAlgorithm;
use crate::store::Checksum;

/// The checksum of one request body in the configured algorithm.
pub fn of_part(algorithm: ChecksumAlgorithm, bytes: &[u8]) -> Checksum {
    match algorithm {
        ChecksumAlgorithm::Crc32c => Checksum::Crc32c(crc32c(bytes)),
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
            let crc = crc32c(&joined);
            format!(
                "{}-{}",
                base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes()),
                parts.len()
            )
        }
    }
}

/// The composite CRC32C S3 reports for a multipart object of parts with these
/// CRC32Cs: `base64(crc32c(crcs...))-{parts}`.
pub fn composite_crc32c(parts: &[u32]) -> String {
    let parts: Vec<Checksum> = parts.iter().map(|c| Checksum::Crc32c(*c)).collect();
    expected_object_checksum(&parts, true)
}

/// The ETag S3 gives a multipart object of parts with these MD5s:
/// `hex(md5(md5s...))-{parts}`.
pub fn md5_of_md5s(parts: &[[u8; 16]]) -> String {
    let parts: Vec<Checksum> = parts.iter().map(|d| Checksum::Md5(*d)).collect();
    expected_object_checksum(&parts, true)
}

/// A CRC32C as S3 writes it in `x-amz-checksum-crc32c`.
pub fn crc32c_base64(crc: u32) -> String {
    Checksum::Crc32c(crc).to_base64()
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

/// CRC32C of `bytes`.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::checksum(CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

/// CRC32C over a stream, fed byte by byte or part by part: the CRC of a part whose
/// CRC is already known (an upload part's) is combined into the running value, so
/// its bytes are not read again.
pub struct StreamCrc {
    value: u32,
    pending: crc_fast::Digest,
    pending_len: u64,
}

impl Default for StreamCrc {
    fn default() -> Self {
        Self {
            value: 0,
            pending: crc_fast::Digest::new(CrcAlgorithm::Crc32Iscsi),
            pending_len: 0,
        }
    }
}

fn combine(a: u32, b: u32, b_len: u64) -> u32 {
    if b_len == 0 {
        return a;
    }
    crc_fast::checksum_combine(CrcAlgorithm::Crc32Iscsi, a.into(), b.into(), b_len) as u32
}

impl StreamCrc {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.pending.update(bytes);
        self.pending_len += bytes.len() as u64;
    }

    /// Adds a piece of `len` bytes whose CRC32C is `crc`.
    pub fn append(&mut self, crc: u32, len: u64) {
        self.value = combine(self.value(), crc, len);
        self.pending.reset();
        self.pending_len = 0;
    }

    /// The CRC so far.
    pub fn value(&self) -> u32 {
        combine(self.value, self.pending.finalize() as u32, self.pending_len)
    }

    /// The CRC so far, as 8 hex digits.
    pub fn hex(&self) -> String {
        format!("{:08x}", self.value())
    }
}

/// CRC32C of `bytes`, as 8 hex digits.
pub fn crc32c_hex(bytes: &[u8]) -> String {
    format!("{:08x}", crc32c(bytes))
}

/// Takes the CRC32C of what is read through it, and counts the bytes.
pub struct CrcReader<'a> {
    inner: &'a mut dyn std::io::Read,
    /// The CRC so far.
    pub crc: StreamCrc,
    /// Bytes read so far.
    pub bytes: u64,
}

impl<'a> CrcReader<'a> {
    /// Reads through `inner`.
    pub fn new(inner: &'a mut dyn std::io::Read) -> Self {
        Self {
            inner,
            crc: StreamCrc::default(),
            bytes: 0,
        }
    }
}

impl std::io::Read for CrcReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
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
        // CRC-32C check value.
        assert_eq!(crc32c_hex(b"123456789"), "e3069283");
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
        a.update(b"");
        a.update(b"6789");
        assert_eq!(a.hex(), crc32c_hex(b"123456789"));
        let mut b = StreamCrc::default();
        b.append(crc32c(b"1234"), 4);
        b.update(b"5");
        b.append(crc32c(b"6789"), 4);
        assert_eq!(b.hex(), crc32c_hex(b"123456789"));
        assert_eq!(StreamCrc::default().hex(), crc32c_hex(b""));
    }
}
