//! Turning a staged upload into a [`NewPackage`]: detect the format from the
//! content (the name is only a hint), check the file name, parse it and
//! pre-render its index entry, all through the configured
//! [`FormatRegistry`] ([`crate::ServiceConfig::formats`]). One step is
//! service policy rather than format reading, and is explicit here:
//! pacman packages are signed with the repository key at upload
//! ([`crate::pacman::sign_at_upload`]).

use crate::staging::Staged;
use crate::{Depot, ServiceError};
use depot_core::{FileName, Format, NewPackage, Timestamp};
use depot_formats::{FormatRegistry, InspectInput};

/// What parsing an upload needs from the [`Depot`], owned, so that one
/// blocking task can stage, hash and parse a file without going back to
/// the async runtime in between (each hop costs a thread wake-up, which
/// dominates for the small packages of a bulk import or a rebuild).
#[derive(Clone)]
pub(crate) struct Inspector {
    formats: FormatRegistry,
    signer: depot_sign::PgpKey,
}

impl Depot {
    pub(crate) fn inspector(&self) -> Inspector {
        Inspector {
            formats: self.inner.config.formats.clone(),
            signer: self.inner.signer.clone(),
        }
    }

    /// Parses the staged file on the blocking pool. `keep_sig` is what a
    /// re-read (a rebuild) keeps from the stored record because it is not
    /// in the file: a pacman package's signature.
    pub(crate) async fn inspect(
        &self,
        staged: &Staged,
        filename: FileName,
        file_time: Timestamp,
        keep_sig: Option<crate::pacman::PackageSig>,
    ) -> Result<NewPackage, ServiceError> {
        let inspector = self.inspector();
        let path = staged.path().to_path_buf();
        let (size, hashes) = (staged.size, staged.hashes.clone());
        let format = inspector.detect(&staged.head, filename.as_str());
        tokio::task::spawn_blocking(move || {
            inspector.inspect_file(&path, format, size, hashes, filename, file_time, keep_sig)
        })
        .await
        .map_err(crate::error::join_error)?
    }
}

impl Inspector {
    /// The format of a file from its first bytes and name
    /// ([`FormatRegistry::detect`]).
    pub(crate) fn detect(&self, head: &[u8], filename: &str) -> Format {
        self.formats.detect(head, filename).id()
    }

    /// [`Depot::inspect`] on the calling (blocking) thread, for a file
    /// staged or stored at `path` whose first bytes sniffed as `format`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn inspect_file(
        &self,
        path: &std::path::Path,
        format: Format,
        size: u64,
        hashes: depot_core::Hashes,
        filename: FileName,
        file_time: Timestamp,
        keep_sig: Option<crate::pacman::PackageSig>,
    ) -> Result<NewPackage, ServiceError> {
        let reader = self.formats.get(format).ok_or_else(|| {
            ServiceError::Internal(format!("no reader registered for format {format:?}"))
        })?;
        reader.check_file_name(filename.as_str())?;
        let input = InspectInput {
            file_name: filename.as_str(),
            size,
            hashes: &hashes,
            file_time,
        };
        let mut file = std::fs::File::open(path)?;
        // Pacman's upload signature covers the whole file: hash it as the
        // reader reads it, so the file is read once.
        let (inspected, content) = if format == Format::Pacman {
            let mut tee = crate::pacman::Sha256Tee::new(file);
            let inspected = reader.inspect(&mut tee, &input)?;
            std::io::copy(&mut tee, &mut std::io::sink())?;
            (inspected, Some(tee.finish()))
        } else {
            (reader.inspect(&mut file, &input)?, None)
        };
        let mut package = NewPackage {
            filename,
            size,
            hashes,
            format,
            name: inspected.name,
            version: inspected.version,
            arch: inspected.arch,
            index_entry: inspected.entry,
            fields: inspected.fields,
        };
        if let Some(content) = content {
            crate::pacman::sign_at_upload(&mut package, &self.signer, content, keep_sig)?;
        }
        Ok(package)
    }
}
