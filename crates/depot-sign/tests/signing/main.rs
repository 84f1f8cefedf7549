//! Integration tests of depot-sign against the real GnuPG tools and apt.
//!
//! One test binary, so the RSA-4096 key (seconds to generate) is made once.

mod api;
mod apt;
mod common;
mod gnupg;
mod gpg_keys;
mod timing;
