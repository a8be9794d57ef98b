//! fitsbak-archive: session archives as deterministic, uncompressed POSIX tar.
//!
//! [`TarArchiver`] implements the core's [`ArchiveBuilder`] and [`ArchiveReader`]:
//! it lays an archive out exactly before writing it ([`layout`]), streams it with a
//! per-member MD5 checked against the catalog ([`write`]), and reads archives back
//! to verify them or extract them safely ([`read`]). The bytes depend only on the
//! files and the session: not on the catalog's row order, the umask, the user, the
//! clock or the locale. GNU tar and Python's tarfile read them.

mod error;
mod lanes;
pub mod layout;
pub mod multimd5;
pub mod read;
mod staged;
pub mod write;

use std::io::Read;
use std::path::Path;

use fitsbak_core::archive::{
    ArchiveBuilder, ArchivePlan, ArchiveReader, ExtractOptions, ExtractedFile, Lane, MemberSource,
    VerifyReport,
};
use fitsbak_core::ids::SessionId;
use fitsbak_core::manifest::Manifest;

pub use error::ArchiveError;

/// The tar implementation of the archive traits.
#[derive(Debug, Clone, Copy, Default)]
pub struct TarArchiver;

impl ArchiveBuilder for TarArchiver {
    fn plan(
        &self,
        session: &SessionId,
        sources: Vec<MemberSource>,
    ) -> fitsbak_core::Result<ArchivePlan> {
        Ok(layout::plan(session, sources)?)
    }

    fn plan_tree(
        &self,
        session: &SessionId,
        entries: Vec<(fitsbak_core::ids::MemberPath, MemberSource)>,
    ) -> fitsbak_core::Result<ArchivePlan> {
        Ok(layout::plan_tree(session, entries))
    }

    fn write(
        &self,
        plan: &ArchivePlan,
        out: &mut dyn fitsbak_core::archive::ArchiveSink,
    ) -> fitsbak_core::Result<Vec<String>> {
        Ok(write::write(plan, out)?)
    }
}

impl ArchiveReader for TarArchiver {
    fn inventory(
        &self,
        input: &mut dyn Read,
    ) -> fitsbak_core::Result<fitsbak_core::archive::Inventory> {
        Ok(read::inventory(input)?)
    }

    fn verify(
        &self,
        lanes: Vec<Lane<'_>>,
        manifest: &Manifest,
    ) -> fitsbak_core::Result<VerifyReport> {
        Ok(read::verify(lanes, manifest)?)
    }

    fn extract(
        &self,
        lanes: Vec<Lane<'_>>,
        manifest: &Manifest,
        target: &Path,
        options: &ExtractOptions,
    ) -> fitsbak_core::Result<Vec<ExtractedFile>> {
        Ok(read::extract(lanes, manifest, target, options)?)
    }

    fn lanes(&self) -> usize {
        multimd5::MultiMd5::native_lanes()
    }

    fn present(
        &self,
        manifest: &Manifest,
        target: &Path,
        options: &ExtractOptions,
    ) -> fitsbak_core::Result<std::collections::BTreeSet<fitsbak_core::ids::MemberPath>> {
        Ok(read::present(manifest, target, options)?)
    }
}
