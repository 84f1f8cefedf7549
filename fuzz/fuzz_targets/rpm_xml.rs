//! Shared by the rpm targets: an accepted package's primary, filelists and
//! other fragments, wrapped as in the real files, must be well-formed XML
//! (dnf refuses the whole repository otherwise).
use depot_core::Sha256;
use depot_formats::rpm::{self, repodata};

pub fn check(info: &rpm::RpmInfo, sha256: &Sha256, size: u64) {
    let f = rpm::fragments(info, "Packages/x.rpm", size, sha256, 1_700_000_000);
    for (what, doc) in [
        (
            "primary",
            format!("{}{}{}", repodata::primary_header(1), f.primary, repodata::PRIMARY_FOOTER),
        ),
        (
            "filelists",
            format!("{}{}{}", repodata::filelists_header(1), f.filelists, repodata::FILELISTS_FOOTER),
        ),
        (
            "other",
            format!("{}{}{}", repodata::other_header(1), f.other, repodata::OTHER_FOOTER),
        ),
    ] {
        if let Err(e) = roxmltree::Document::parse(&doc) {
            panic!("{what}.xml for an accepted package is not well-formed: {e}\n{doc}");
        }
    }
}
