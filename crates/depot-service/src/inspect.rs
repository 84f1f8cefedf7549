//! Turning a staged upload into a [`NewPackage`]: detect the format from the
//! content (the name is only a hint), parse it, pre-render its index entry.

use crate::staging::Staged;
use crate::{Depot, ServiceError};
use depot_core::{FileName, Format, NewPackage, Timestamp};
use depot_formats::{deb, detect, rpm};

/// Characters apt and every mirror tool handle in a pool file name without
/// escaping.
fn apt_safe(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._+~-".contains(&b))
}

/// What parsing an upload needs from the [`Depot`], owned, so that one
/// blocking task can stage, hash and parse a file without going back to
/// the async runtime in between (each hop costs a thread wake-up, which
/// dominates for the small packages of a bulk import or a rebuild).
#[derive(Clone)]
pub(crate) struct Inspector {
    limits: depot_formats::deb::Limits,
    rpm_limits: depot_formats::rpm::Limits,
    pacman_limits: depot_formats::pacman::Limits,
    apk_limits: depot_formats::apk::Limits,
    freebsd_limits: depot_formats::freebsd::Limits,
    signer: depot_sign::PgpKey,
}

impl Depot {
    pub(crate) fn inspector(&self) -> Inspector {
        let c = &self.inner.config;
        Inspector {
            limits: c.deb_limits,
            rpm_limits: c.rpm_limits,
            pacman_limits: c.pacman_limits,
            apk_limits: c.apk_limits,
            freebsd_limits: c.freebsd_limits,
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
        let format = detect::sniff(&staged.head, filename.as_str());
        tokio::task::spawn_blocking(move || {
            inspector.inspect_file(&path, format, size, hashes, filename, file_time, keep_sig)
        })
        .await
        .map_err(crate::error::join_error)?
    }
}

impl Inspector {
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
        match format {
            Format::Deb => {
                if !apt_safe(filename.as_str()) {
                    return Err(ServiceError::Invalid(format!(
                        "file name '{filename}' of a Debian package may only contain letters, digits and . _ + ~ -"
                    )));
                }
                let file = std::fs::File::open(path)?;
                let info = deb::inspect(file, &self.limits)?;
                let index_entry =
                    deb::index_entry(&info, &format!("packages/{filename}"), size, &hashes);
                Ok(NewPackage {
                    fields: deb::fields_json(&info),
                    filename,
                    size,
                    hashes,
                    format: Format::Deb,
                    name: info.name,
                    version: info.version,
                    arch: info.arch,
                    index_entry,
                })
            }
            Format::Rpm => {
                if !apt_safe(filename.as_str()) {
                    return Err(ServiceError::Invalid(format!(
                        "file name '{filename}' of an RPM package may only contain letters, digits and . _ + ~ -"
                    )));
                }
                let file = std::fs::File::open(path)?;
                let info = rpm::inspect(file, &self.rpm_limits)?;
                // The location is relative to the tree's base URL;
                // every tree serves the download route under `packages/`.
                let fragments = rpm::fragments(
                    &info,
                    &format!("packages/{filename}"),
                    size,
                    &hashes.sha256,
                    file_time.0.max(0) as u64,
                );
                Ok(NewPackage {
                    fields: rpm::fields_json(&info),
                    filename,
                    size,
                    hashes,
                    format: Format::Rpm,
                    version: info.evr(),
                    name: info.name,
                    arch: info.arch,
                    index_entry: serde_json::to_string(&fragments).expect("fragments serialize"),
                })
            }
            Format::Pacman => crate::pacman::inspect_blocking(
                path,
                filename,
                size,
                hashes,
                &self.pacman_limits,
                &self.signer,
                keep_sig,
            ),
            // `sniff` classes every `*.deb` name as Deb, so a corrupt
            // package gets inspect's precise refusal, not storage as a file.
            Format::Apk => {
                crate::apk::inspect_blocking(path, filename, size, hashes, &self.apk_limits)
            }
            Format::Freebsd => {
                crate::freebsd::inspect_blocking(path, filename, size, hashes, &self.freebsd_limits)
            }
            Format::File => Ok(NewPackage {
                filename,
                size,
                hashes,
                format: Format::File,
                name: String::new(),
                version: String::new(),
                arch: String::new(),
                index_entry: String::new(),
                fields: serde_json::json!({}),
            }),
        }
    }
}
