//! Format detection from a file's first bytes and name: a thin wrapper
//! over [`FormatRegistry::detect`] with the built-in formats. The rules
//! live with each format (its [`crate::PackageFormat::sniff`]) and their
//! priorities in [`crate::format`]; in short:
//!
//! A Debian binary package is an ar archive whose first member is
//! `debian-binary`, so its first 24 bytes are `!<arch>\n` followed by the
//! 16-byte member name field `debian-binary   ` (GNU ar may write
//! `debian-binary/  `). An RPM package starts with the 4-byte lead magic
//! `ed ab ee db`.
//!
//! A pacman package is a (usually compressed) tar whose magic says nothing
//! about pacman, so it is recognised by its name (`*.pkg.tar.zst`, `.xz`,
//! `.gz`, `.pkg.tar`, see [`crate::pacman::EXTENSIONS`]), or, uncompressed,
//! by a first tar member named `.PKGINFO`, `.BUILDINFO` or `.MTREE`.
//!
//! An Alpine package is a gzip stream whose tar's first member is a
//! `.SIGN.*` signature or `.PKGINFO` (see [`crate::apk`]); the start of
//! the stream is decompressed to see it. A FreeBSD package is a tar
//! (compressed or not) whose first member is `+COMPACT_MANIFEST` or
//! `+MANIFEST`.
//!
//! Anything else is a generic [`Format::File`]...
//!
//! ...unless the name says `.deb` (or `.udeb`, `.ddeb`), `.rpm` or
//! `.pkg.tar*`, `.apk` (unless it is a zip: an Android package) or `.pkg`
//! (unless it is a zip or a macOS xar installer): then the
//! file is treated as a package of that format whatever its bytes, so that
//! a broken or truncated `.deb` or `.rpm` is refused by
//! [`crate::deb::inspect`] or [`crate::rpm::inspect`] with a precise error
//! instead of being stored silently as an opaque file.

use crate::FormatRegistry;
use depot_core::Format;
use std::sync::OnceLock;

/// Which format a file is, from its first bytes (pass at least the first
/// 512 bytes when the file has them) and its name as a hint: the content's
/// magic wins, the name decides only when no magic matches. The same as
/// `FormatRegistry::default().detect(head, filename).id()`.
pub fn sniff(head: &[u8], filename: &str) -> Format {
    static DEFAULT: OnceLock<FormatRegistry> = OnceLock::new();
    DEFAULT
        .get_or_init(FormatRegistry::default)
        .detect(head, filename)
        .id()
}

/// The name of the first tar member inside a gzip, xz or zstd stream
/// that starts `head` (which may stop anywhere).
pub(crate) fn compressed_first_member(head: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut reader: Box<dyn Read + '_> = if head.starts_with(b"\x1f\x8b") {
        Box::new(flate2::read::GzDecoder::new(head))
    } else if head.starts_with(b"\x28\xb5\x2f\xfd") {
        Box::new(zstd::stream::read::Decoder::new(head).ok()?)
    } else if head.starts_with(b"\xfd7zXZ\x00") {
        Box::new(liblzma::read::XzDecoder::new(head))
    } else {
        return None;
    };
    let mut block = [0u8; 512];
    let mut got = 0;
    while got < block.len() {
        match reader.read(&mut block[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    if got < 512 {
        return None;
    }
    crate::format::tar_name(&block).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_debs_by_content() {
        let deb = depot_testkit::DebBuilder::new("hello", "1.0", "all").build();
        assert_eq!(sniff(&deb[..512.min(deb.len())], "upload.bin"), Format::Deb);
        assert_eq!(sniff(&deb, ""), Format::Deb);
        assert_eq!(
            sniff(
                b"!<arch>\ndebian-binary/  1700000000  0     0     100644  4         `\n",
                "x"
            ),
            Format::Deb
        );
    }

    #[test]
    fn other_content_is_a_file() {
        let ar = depot_testkit::ar_archive(&[("libfoo.o", b"\x7fELF")]);
        assert_eq!(sniff(&ar, "libfoo.a"), Format::File);
        assert_eq!(sniff(b"!<arch>\n", "x.a"), Format::File);
        assert_eq!(sniff(b"\x1f\x8b\x08", "image.qcow2.gz"), Format::File);
        assert_eq!(sniff(b"", "empty"), Format::File);
        assert_eq!(sniff(b"!<arch>\ndebian-binaryX", "x"), Format::File);
    }

    #[test]
    fn deb_name_routes_broken_debs_to_the_deb_reader() {
        assert_eq!(
            sniff(b"<html>404</html>", "hello_1.0_amd64.deb"),
            Format::Deb
        );
        assert_eq!(sniff(b"!<arch>\ndeb", "hello.DEB"), Format::Deb);
        assert_eq!(sniff(b"", "x.udeb"), Format::Deb);
        assert_eq!(sniff(b"", ".deb"), Format::File);
        assert_eq!(sniff(b"", "deb"), Format::File);
    }

    #[test]
    fn sniffs_rpms_by_content_and_name() {
        let rpm = depot_testkit::RpmBuilder::new("hello", "1.0", "1", "x86_64").build();
        assert_eq!(sniff(&rpm[..512], "upload.bin"), Format::Rpm);
        assert_eq!(sniff(b"\xed\xab\xee\xdb", ""), Format::Rpm);
        assert_eq!(
            sniff(b"<html>404</html>", "hello-1.0-1.x86_64.rpm"),
            Format::Rpm
        );
        assert_eq!(sniff(b"", "hello.src.RPM"), Format::Rpm);
        assert_eq!(sniff(b"", ".rpm"), Format::File);
        // Content wins over the name.
        assert_eq!(sniff(&rpm[..512], "hello.deb"), Format::Rpm);
        assert_eq!(sniff(b"\xed\xab\xee", "x"), Format::File);
    }

    #[test]
    fn sniffs_pacman_packages_by_name_and_plain_tar_content() {
        assert_eq!(
            sniff(b"\x28\xb5\x2f\xfd", "foo-1.0-1-x86_64.pkg.tar.zst"),
            Format::Pacman
        );
        assert_eq!(sniff(b"<html>", "foo-1.0-1-any.pkg.tar.xz"), Format::Pacman);
        assert_eq!(sniff(b"", "foo-1.0-1-any.pkg.tar"), Format::Pacman);
        assert_eq!(sniff(b"\x28\xb5\x2f\xfd", "backup.tar.zst"), Format::File);
        assert_eq!(sniff(b"", ".pkg.tar.zst"), Format::File);
        let tar = depot_testkit::tar_archive(&[depot_testkit::TarMember::File(
            ".PKGINFO",
            b"pkgname = x\n",
        )]);
        assert_eq!(sniff(&tar[..512], "upload.bin"), Format::Pacman);
        let tar = depot_testkit::tar_archive(&[depot_testkit::TarMember::File("README", b"x")]);
        assert_eq!(sniff(&tar[..512], "upload.tar"), Format::File);
    }
}
