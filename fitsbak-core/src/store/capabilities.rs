//! What a store can do, as a probe of cheap requests found it (see
//! `engine::probe`), and how uploads protect their bytes given that.
//!
//! S3-compatible stores differ where it matters to a backup: whether they check a
//! request's checksum at all, whether they report a whole-object checksum, what
//! their multipart ETag is, whether tags land. fitsbak does not guess from the
//! endpoint's name: it asks, once per target, and keeps the answers with the time
//! of the probe. A config key can pin answers for stores that mislead a probe.

use serde::{Deserialize, Serialize};

/// The form of a multipart upload's ETag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EtagForm {
    /// `hex(md5(part md5s...))-{parts}`, as AWS writes it.
    Md5OfMd5s,
    /// The MD5 of the whole object.
    WholeMd5,
    /// Anything else (random, empty, encrypted).
    #[default]
    Other,
}

/// What a store was found to do. Each `bool` is what the probe saw; `false` is
/// also what an error other than "not implemented" left unknown (with a note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Capabilities {
    /// A wrong `x-amz-checksum-crc32c` is refused.
    pub checks_crc32c: bool,
    /// A wrong `Content-MD5` is refused.
    pub checks_content_md5: bool,
    /// HEAD reports the CRC32C of an object written in one PUT.
    pub reports_crc32c_put: bool,
    /// HEAD reports a CRC32C of a multipart object.
    pub reports_crc32c_multipart: bool,
    /// The ETag of a single PUT is the MD5 of its bytes.
    pub put_etag_is_md5: bool,
    /// The ETag of a multipart object.
    pub multipart_etag: EtagForm,
    /// Multipart uploads work.
    pub multipart: bool,
    /// Get/PutObjectTagging work.
    pub tagging: bool,
    /// Tags sent with a PUT land on the object.
    pub tags_on_put: bool,
    /// Tags sent with CreateMultipartUpload land on the object.
    pub tags_on_multipart: bool,
    /// Bucket lifecycle rules can be read and written.
    pub lifecycle: bool,
    /// The bucket says whether it keeps versions.
    pub versioning: bool,
    /// RestoreObject is understood.
    pub restore: bool,
    /// ListMultipartUploads works.
    pub list_multipart_uploads: bool,
    /// `If-None-Match: *` refuses to overwrite.
    pub conditional_writes: bool,
    /// HEAD accepts `x-amz-checksum-mode: ENABLED`.
    pub checksum_mode_header: bool,
    /// Odd answers met while probing, for doctor.
    pub notes: Vec<String>,
}

impl Capabilities {
    /// What a store that does everything AWS does answers: what a store is taken
    /// to offer before it has been probed, and where no probe can run.
    pub fn aws() -> Self {
        Self {
            checks_crc32c: true,
            checks_content_md5: true,
            reports_crc32c_put: true,
            reports_crc32c_multipart: true,
            put_etag_is_md5: true,
            multipart_etag: EtagForm::Md5OfMd5s,
            multipart: true,
            tagging: true,
            tags_on_put: true,
            tags_on_multipart: true,
            lifecycle: true,
            versioning: true,
            restore: true,
            list_multipart_uploads: true,
            conditional_writes: true,
            checksum_mode_header: true,
            notes: Vec::new(),
        }
    }

    /// How the parts of an upload are protected on this store.
    pub fn part_checks(&self, prefer_md5: bool) -> PartChecks {
        PartChecks {
            // The CRC32C header is sent where the store checks or keeps it.
            crc32c: self.checks_crc32c || self.reports_crc32c_put || self.reports_crc32c_multipart,
            // Content-MD5 where it is the server's only check of a request, where
            // the MD5 ETags prove the whole object, or when the config asks for it.
            md5: prefer_md5
                || (!self.checks_crc32c && self.checks_content_md5)
                || (!self.reports_crc32c_multipart && self.multipart_etag == EtagForm::Md5OfMd5s)
                || (!self.reports_crc32c_put && self.put_etag_is_md5),
        }
    }

    /// The rows of doctor's capability table: what, whether, and what it means
    /// for the user when the store lacks it.
    pub fn table(&self) -> Vec<(&'static str, bool, &'static str)> {
        vec![
            (
                "checks CRC32C per request",
                self.checks_crc32c,
                "a request's CRC32C is not checked by the store; fitsbak sends Content-MD5 \
                 where the store checks that, and proves each object after its upload",
            ),
            (
                "checks Content-MD5 per request",
                self.checks_content_md5,
                "a request's MD5 is not checked by the store either: only the proof after \
                 the upload (ListParts, HEAD, or reading the object back) protects the bytes",
            ),
            (
                "reports CRC32C of a PUT",
                self.reports_crc32c_put,
                "objects written in one request are proven by their MD5 ETag, or read back",
            ),
            (
                "reports CRC32C of a multipart object",
                self.reports_crc32c_multipart,
                "multipart objects are proven by their MD5-of-MD5s ETag, or read back",
            ),
            (
                "single-PUT ETag is its MD5",
                self.put_etag_is_md5,
                "with no CRC32C either, objects written in one request are read back when \
                 archive_settings.verify_after_upload is on",
            ),
            (
                "multipart ETag is MD5 of part MD5s",
                self.multipart_etag == EtagForm::Md5OfMd5s,
                "a multipart ETag proves nothing; with no CRC32C either, uploads are read \
                 back when archive_settings.verify_after_upload is on",
            ),
            (
                "multipart uploads",
                self.multipart,
                "every archive goes in one PUT: at most 5 GiB, and no resume",
            ),
            (
                "object tagging",
                self.tagging,
                "lifecycle rules by tag cannot move these objects: write them with their \
                 storage class directly (backup_rules.*.storage_class), or use prefix rules",
            ),
            (
                "tags on CreateMultipartUpload",
                self.tags_on_multipart,
                "tags of multipart objects are put after the upload (one more request)",
            ),
            (
                "lifecycle rules",
                self.lifecycle,
                "nothing moves objects to colder classes: set each rule's storage_class, \
                 and the store's own tiering, if it has one",
            ),
            (
                "versioning",
                self.versioning,
                "an archive overwritten or deleted by mistake cannot be recovered",
            ),
            (
                "restore from archive classes",
                self.restore,
                "no archive class to restore from: objects are readable at once",
            ),
            (
                "ListMultipartUploads",
                self.list_multipart_uploads,
                "doctor cannot find incomplete uploads: keep a lifecycle rule that aborts \
                 them, where the store has rules",
            ),
            (
                "conditional writes (If-None-Match)",
                self.conditional_writes,
                "catalog snapshots on an unversioned bucket could overwrite one another \
                 if two runs picked the same timestamp",
            ),
            (
                "x-amz-checksum-mode on HEAD",
                self.checksum_mode_header,
                "HEAD is sent without it (the store refuses the header)",
            ),
        ]
    }
}

/// The checksums each request of an upload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartChecks {
    /// `x-amz-checksum-crc32c` (the CRC32C is computed in any case: the whole
    /// stream's CRC32C is made from the parts').
    pub crc32c: bool,
    /// `Content-MD5`.
    pub md5: bool,
}

impl PartChecks {
    /// The name recorded with an interrupted upload: a resumed one must carry the
    /// same checksums.
    pub fn name(self) -> Option<String> {
        match (self.crc32c, self.md5) {
            (true, false) => Some("CRC32C".into()),
            (false, true) => Some("MD5".into()),
            (true, true) => Some("CRC32C+MD5".into()),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_carry_the_checksum_the_store_checks() {
        let aws = Capabilities::aws();
        assert_eq!(
            aws.part_checks(false),
            PartChecks {
                crc32c: true,
                md5: false
            }
        );
        assert!(aws.part_checks(true).md5, "the config can ask for MD5");
        // Ceph 16: checks Content-MD5, ignores CRC32C, MD5-of-MD5s ETags.
        let ceph = Capabilities {
            checks_content_md5: true,
            put_etag_is_md5: true,
            multipart_etag: EtagForm::Md5OfMd5s,
            ..Capabilities::default()
        };
        assert_eq!(
            ceph.part_checks(false),
            PartChecks {
                crc32c: false,
                md5: true
            }
        );
        assert_eq!(ceph.part_checks(false).name().as_deref(), Some("MD5"));
        assert_eq!(PartChecks::default().name(), None);
    }
}
