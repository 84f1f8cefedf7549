//! The change epoch of an SQLite database: [`MetaStore::change_epoch`].
//!
//! # The bytes
//!
//! `depot.db.epoch`, beside `depot.db`: exactly 8 bytes, a little-endian
//! `u64` drawn at random. Every write transaction that commits rewrites it
//! with a fresh random value (one `pwrite` at offset 0), after the commit
//! and before the method returns; a reader reads it with one `pread`, no
//! SQL. Nothing else is in the file, and nothing in it is meaningful beyond
//! "differs from what you saw".
//!
//! # Why this gives read-your-writes
//!
//! A reader reads the epoch `e`, then the database, and keeps what it read
//! tagged with `e`; it reuses that only while the file still reads `e`.
//! Suppose a write returned after the reader's database read: that writer
//! wrote its own fresh value after its commit, so the file has been
//! written since the reader read `e` and reads some later value. It cannot
//! read `e` again, because values are random and each is written once
//! (a counter would not do: two processes bumping at once could both write
//! `n + 1`, and a reader holding `n + 1` would miss the second commit).
//! A torn read (half of two values) is a value no one writes, so it is only
//! a cache miss later.
//!
//! The file is shared by every process on the data directory: the CLI
//! writing under a running server, and several servers on one SQLite file.
//! An epoch file that cannot be read (deleted, short) means "no cheap
//! signal": readers go to the database every time.
//!
//! [`MetaStore::change_epoch`]: depot_core::meta::MetaStore::change_epoch

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub(crate) enum ChangeEpoch {
    /// A database file: the epoch file beside it.
    File { file: File, path: PathBuf },
    /// A private in-memory database: one process, one store, so an atomic
    /// in the store is the whole story.
    Memory(AtomicU64),
}

impl ChangeEpoch {
    /// The epoch file of the database at `db` (`{db}.epoch`), created with
    /// a random value if missing.
    pub(crate) fn beside(db: &Path) -> std::io::Result<ChangeEpoch> {
        let mut path = db.as_os_str().to_owned();
        path.push(".epoch");
        let path = PathBuf::from(path);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let epoch = ChangeEpoch::File { file, path };
        if epoch.read().is_none() {
            epoch.bump();
        }
        Ok(epoch)
    }

    pub(crate) fn in_memory() -> ChangeEpoch {
        ChangeEpoch::Memory(AtomicU64::new(rand::random()))
    }

    /// The current value, or `None` if it cannot be read.
    pub(crate) fn read(&self) -> Option<u64> {
        match self {
            ChangeEpoch::File { file, .. } => {
                let mut bytes = [0u8; 8];
                file.read_exact_at(&mut bytes, 0).ok()?;
                Some(u64::from_le_bytes(bytes))
            }
            ChangeEpoch::Memory(value) => Some(value.load(Ordering::SeqCst)),
        }
    }

    /// Writes a fresh random value. Called after every committed write.
    pub(crate) fn bump(&self) {
        let value: u64 = rand::random();
        match self {
            ChangeEpoch::File { file, path } => {
                if let Err(e) = file.write_all_at(&value.to_le_bytes(), 0) {
                    // Readers in other processes may now reuse what they
                    // read before this commit; say so loudly.
                    tracing::error!(
                        path = %path.display(),
                        error = %e,
                        "cannot write the change epoch: other processes on this data directory may serve stale indexes until the next write"
                    );
                }
            }
            ChangeEpoch::Memory(v) => v.store(value, Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_is_seen_through_another_open_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("depot.db");
        let a = ChangeEpoch::beside(&db).unwrap();
        let b = ChangeEpoch::beside(&db).unwrap();
        let before = a.read().unwrap();
        assert_eq!(b.read(), Some(before), "opening does not change it");
        a.bump();
        let after = b.read().unwrap();
        assert_ne!(after, before);
        assert_eq!(
            std::fs::read(dir.path().join("depot.db.epoch")).unwrap(),
            after.to_le_bytes()
        );
    }

    #[test]
    fn a_short_file_is_no_signal_until_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("depot.db");
        let a = ChangeEpoch::beside(&db).unwrap();
        std::fs::write(dir.path().join("depot.db.epoch"), b"abc").unwrap();
        assert_eq!(a.read(), None);
        a.bump();
        assert!(a.read().is_some());
    }
}
