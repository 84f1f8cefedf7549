//! Chunked index files.
//!
//! A large index (a `Packages` file of 10,000 packages is ~7 MB) is stored as
//! a list of content-addressed chunks whose concatenation is the file. When
//! one package is added, the publisher appends one small chunk instead of
//! rewriting and re-hashing megabytes:
//!
//! - the plain file and its `.gz` twin are kept *aligned*: chunk `i` of the
//!   `.gz` file is a gzip member of chunk `i` of the plain file, and a gzip
//!   file may consist of several members (RFC 1952 §2.2; zlib's `gzread`,
//!   which apt uses, reads them all);
//! - after an append, the tail is merged while the second-to-last chunk is
//!   not more than twice the size of the last, so a file holds O(log n)
//!   chunks and every byte is rewritten O(log n) times over its life;
//! - the whole-file digests every Release lists are computed by extending
//!   the hash state of the unchanged prefix. The state after each chunk is
//!   stored in the manifest with the chunk ([`Chunk::state`], ~200-360
//!   bytes of base64), so any node extends a file another node published
//!   without reading a byte of its prefix (issue 5: with several nodes
//!   behind a balancer, the next publish is usually on another node). The
//!   states are also kept per prefix in memory ([`ChunkCache`]); only a
//!   file of a manifest written before states were stored is re-read from
//!   the blobs, once.

use crate::ServiceError;
use bytes::Bytes;
use depot_core::blob::BlobStore;
use depot_core::{Chunk, HashState, ManifestFile, MultiHasher, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

/// Above this many entries the mid-state cache is dropped wholesale; entries
/// are ~0.5 KB, and a cold entry only costs decoding the state persisted on
/// the chunk (or, for a manifest older than those, re-hashing from the blob
/// store).
const MAX_MIDSTATES: usize = 4096;
/// Compressing more than this runs on the blocking pool.
const INLINE_COMPRESS: usize = 256 * 1024;

#[derive(Default)]
pub struct ChunkCache {
    midstates: Mutex<HashMap<[u8; 32], MultiHasher>>,
}

impl ChunkCache {
    fn get(&self, key: &[u8; 32]) -> Option<MultiHasher> {
        self.midstates.lock().expect("poisoned").get(key).cloned()
    }
    fn put(&self, key: [u8; 32], state: MultiHasher) {
        let mut m = self.midstates.lock().expect("poisoned");
        if m.len() >= MAX_MIDSTATES {
            m.clear();
        }
        m.insert(key, state);
    }
}

/// Key of the prefix `chunks[..=i]`: a hash chain over the chunk digests.
fn prefix_keys(chunks: &[Chunk]) -> Vec<[u8; 32]> {
    let mut out = Vec::with_capacity(chunks.len());
    let mut k = [0u8; 32];
    for c in chunks {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&k);
        buf[32..].copy_from_slice(&c.digest.0);
        k = Sha256::of(&buf).0;
        out.push(k);
    }
    out
}

/// [`gzip`] of each part, the large ones on the blocking pool at the same
/// time (a full render of rpm's three metadata files compresses megabytes
/// each).
pub async fn gzip_all(parts: &[Bytes]) -> Result<Vec<Bytes>, ServiceError> {
    let jobs = parts.iter().cloned().map(|part| async move {
        if part.len() > INLINE_COMPRESS {
            tokio::task::spawn_blocking(move || Bytes::from(gzip(&part)))
                .await
                .map_err(crate::error::join_error)
        } else {
            Ok(Bytes::from(gzip(&part)))
        }
    });
    futures::future::try_join_all(jobs).await
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::new(6),
    );
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

pub struct Chunker<'a> {
    pub blobs: &'a dyn BlobStore,
    pub cache: &'a ChunkCache,
    /// Bytes of chunks made or read during this render.
    fresh: HashMap<Sha256, Bytes>,
    /// Chunks made during this render and not stored yet: [`Chunker::flush`]
    /// writes them all at once, so their syncs to disk overlap.
    pending: Vec<Sha256>,
}

/// The plain file and its gzip twin.
pub struct Pair {
    pub plain: ManifestFile,
    pub gz: ManifestFile,
}

impl<'a> Chunker<'a> {
    pub fn new(blobs: &'a dyn BlobStore, cache: &'a ChunkCache) -> Self {
        Chunker {
            blobs,
            cache,
            fresh: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Makes `bytes` a chunk. It is stored by [`Chunker::flush`].
    pub fn put(&mut self, bytes: Bytes) -> Chunk {
        let digest = Sha256::of(&bytes);
        let size = bytes.len() as u64;
        if self.fresh.insert(digest, bytes).is_none() {
            self.pending.push(digest);
        }
        Chunk {
            digest,
            size,
            state: None,
        }
    }

    /// Stores, concurrently, every chunk made since the last flush that
    /// `manifest` references (intermediate merge results are dropped). Must
    /// complete before the manifest is published.
    pub async fn flush(&mut self, manifest: &depot_core::Manifest) -> Result<(), ServiceError> {
        let wanted: std::collections::HashSet<Sha256> = manifest
            .files
            .values()
            .flat_map(|f| f.chunks.iter().map(|c| c.digest))
            .collect();
        let puts = self
            .pending
            .drain(..)
            .filter(|d| wanted.contains(d))
            .map(|d| {
                let bytes = self.fresh[&d].clone();
                let blobs = self.blobs;
                async move { blobs.put_bytes(&d, bytes).await }
            });
        futures::future::try_join_all(puts).await?;
        Ok(())
    }

    /// A single-chunk file.
    pub async fn single(&mut self, bytes: Bytes) -> Result<ManifestFile, ServiceError> {
        let hashes = depot_core::Hashes::of(&bytes);
        let size = bytes.len() as u64;
        let chunk = if bytes.is_empty() {
            None
        } else {
            Some(self.put(bytes))
        };
        Ok(ManifestFile {
            size,
            hashes,
            chunks: chunk.into_iter().collect(),
        })
    }

    /// The bytes of a chunk made during this render or stored earlier.
    pub async fn bytes_of(&mut self, c: &Chunk) -> Result<Bytes, ServiceError> {
        if let Some(b) = self.fresh.get(&c.digest) {
            return Ok(b.clone());
        }
        let b = self.blobs.get_bytes(&c.digest).await?;
        self.fresh.insert(c.digest, b.clone());
        Ok(b)
    }

    async fn gz_chunk(&mut self, plain: Bytes) -> Result<Chunk, ServiceError> {
        let gz = if plain.len() > INLINE_COMPRESS {
            tokio::task::spawn_blocking(move || gzip(&plain))
                .await
                .map_err(crate::error::join_error)?
        } else {
            gzip(&plain)
        };
        Ok(self.put(Bytes::from(gz)))
    }

    /// Appends `delta` to the index pair `prev` (or starts one), merging the
    /// tail as described in the module docs.
    pub async fn append(
        &mut self,
        prev: Option<&Pair>,
        delta: Bytes,
    ) -> Result<Pair, ServiceError> {
        let (plain, gz, delta) = match prev {
            Some(p) if p.plain.size > 0 && p.plain.chunks.len() == p.gz.chunks.len() => {
                (p.plain.chunks.clone(), p.gz.chunks.clone(), delta)
            }
            Some(p) if p.plain.size > 0 => {
                // Not aligned (written by another layout): start over from
                // the plain bytes.
                let mut all = Vec::with_capacity(p.plain.size as usize + delta.len());
                for c in &p.plain.chunks {
                    all.extend_from_slice(&self.bytes_of(c).await?);
                }
                all.extend_from_slice(&delta);
                (Vec::new(), Vec::new(), Bytes::from(all))
            }
            _ => (Vec::new(), Vec::new(), delta),
        };
        let (plain, mut gz) = self.append_chunks(plain, gz, delta).await?;
        if gz.is_empty() {
            // An empty index still needs a valid (empty) gzip file.
            gz.push(self.put(Bytes::from(gzip(b""))));
        }
        Ok(Pair {
            plain: self.finish(plain).await?,
            gz: self.finish(gz).await?,
        })
    }

    /// Appends `delta` to an aligned chunk list pair (plain, gzip members)
    /// and merges the tail as the module docs describe. No digests are
    /// computed: the caller hashes what it serves.
    pub async fn append_chunks(
        &mut self,
        plain: Vec<Chunk>,
        gz: Vec<Chunk>,
        delta: Bytes,
    ) -> Result<(Vec<Chunk>, Vec<Chunk>), ServiceError> {
        self.append_chunks_gz(plain, gz, delta, None).await
    }

    /// [`Chunker::append_chunks`] with the gzip member of `delta` already
    /// made (by [`gzip_all`], so that several files compress at once).
    pub async fn append_chunks_gz(
        &mut self,
        mut plain: Vec<Chunk>,
        mut gz: Vec<Chunk>,
        delta: Bytes,
        delta_gz: Option<Bytes>,
    ) -> Result<(Vec<Chunk>, Vec<Chunk>), ServiceError> {
        debug_assert_eq!(plain.len(), gz.len());
        if !delta.is_empty() {
            plain.push(self.put(delta.clone()));
            gz.push(match delta_gz {
                Some(z) => self.put(z),
                None => self.gz_chunk(delta).await?,
            });
        }
        while plain.len() >= 2 && plain[plain.len() - 2].size <= 2 * plain[plain.len() - 1].size {
            let b = plain.pop().expect("len >= 2");
            let a = plain.pop().expect("len >= 2");
            gz.truncate(gz.len() - 2);
            let (ab, bb) = (self.bytes_of(&a).await?, self.bytes_of(&b).await?);
            let mut merged = Vec::with_capacity(ab.len() + bb.len());
            merged.extend_from_slice(&ab);
            merged.extend_from_slice(&bb);
            let merged = Bytes::from(merged);
            plain.push(self.put(merged.clone()));
            gz.push(self.gz_chunk(merged).await?);
        }
        Ok((plain, gz))
    }

    /// Makes `bytes` a chunk and its gzip member a second one.
    pub async fn put_with_gz(&mut self, bytes: Bytes) -> Result<(Chunk, Chunk), ServiceError> {
        let plain = self.put(bytes.clone());
        let gz = self.gz_chunk(bytes).await?;
        Ok((plain, gz))
    }

    /// The file made of `chunks` with its size and SHA-256 only (the other
    /// [`depot_core::Hashes`] fields are left empty): for files no client
    /// looks up by MD5, SHA-1 or SHA-512 (rpm's `repodata/`). Uncached:
    /// for files whose first chunk changes at every publish.
    pub async fn finish_sha256(
        &mut self,
        chunks: Vec<Chunk>,
    ) -> Result<ManifestFile, ServiceError> {
        let mut bytes = Vec::with_capacity(chunks.len());
        for c in &chunks {
            bytes.push(self.bytes_of(c).await?);
        }
        let total: usize = bytes.iter().map(Bytes::len).sum();
        let hash = move || {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            for b in &bytes {
                h.update(b);
            }
            Sha256(h.finalize().into())
        };
        let sha256 = if total > INLINE_COMPRESS {
            tokio::task::spawn_blocking(hash)
                .await
                .map_err(crate::error::join_error)?
        } else {
            hash()
        };
        Ok(ManifestFile {
            size: total as u64,
            hashes: depot_core::Hashes {
                md5: String::new(),
                sha1: String::new(),
                sha256,
                sha512: String::new(),
            },
            chunks,
        })
    }

    /// Computes the whole-file digests of `chunks`, extending the longest
    /// prefix whose hash state is known, and sets the state after each
    /// chunk on the returned file's chunks ([`Chunk::state`]).
    pub async fn finish(&mut self, chunks: Vec<Chunk>) -> Result<ManifestFile, ServiceError> {
        Ok(self.finish_with_state(chunks).await?.0)
    }

    /// [`Chunker::finish`], also returning the hash state after the whole
    /// file (a signer can sign from its SHA-256 without re-reading it).
    ///
    /// The state of a prefix comes from the in-memory cache or from the
    /// state persisted on its last chunk, whichever covers more; a
    /// persisted state is trusted only if it counts as many bytes as the
    /// prefix (a guard against chunks reused out of place). Only the chunks
    /// after that prefix are read.
    pub async fn finish_with_state(
        &mut self,
        mut chunks: Vec<Chunk>,
    ) -> Result<(ManifestFile, MultiHasher), ServiceError> {
        let keys = prefix_keys(&chunks);
        let mut ends = Vec::with_capacity(chunks.len());
        let mut end = 0u64;
        for c in &chunks {
            end += c.size;
            ends.push(end);
        }
        let mut start = 0;
        let mut state = MultiHasher::new();
        for i in (0..keys.len()).rev() {
            if let Some(s) = self.cache.get(&keys[i]) {
                state = s;
                start = i + 1;
                break;
            }
            if let Some(s) = chunks[i].state.as_ref().and_then(|s| s.hasher().ok())
                && s.len() == ends[i]
            {
                self.cache.put(keys[i], s.clone());
                state = s;
                start = i + 1;
                break;
            }
        }
        // States of the known prefix that the chunks do not carry yet (a
        // manifest written before they were persisted, extended from the
        // cache).
        for i in 0..start {
            if chunks[i].state.is_none() {
                chunks[i].state = self.cache.get(&keys[i]).map(|s| HashState::of(&s));
            }
        }
        for i in start..chunks.len() {
            let bytes = self.bytes_of(&chunks[i]).await?;
            if bytes.len() > INLINE_COMPRESS {
                let mut s = state;
                state = tokio::task::spawn_blocking(move || {
                    s.update(&bytes);
                    s
                })
                .await
                .map_err(crate::error::join_error)?;
            } else {
                state.update(&bytes);
            }
            chunks[i].state = Some(HashState::of(&state));
            self.cache.put(keys[i], state.clone());
        }
        let (hashes, size) = state.finish();
        Ok((
            ManifestFile {
                size,
                hashes,
                chunks,
            },
            state,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use depot_core::Hashes;
    use std::io::Read;

    fn manifest_of(p: &Pair) -> depot_core::Manifest {
        let mut m = depot_core::Manifest::default();
        m.files.insert("Packages".into(), p.plain.clone());
        m.files.insert("Packages.gz".into(), p.gz.clone());
        m
    }

    async fn concat(blobs: &dyn BlobStore, f: &ManifestFile) -> Vec<u8> {
        let mut out = Vec::new();
        for c in &f.chunks {
            out.extend_from_slice(&blobs.get_bytes(&c.digest).await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn appends_stay_consistent_and_logarithmic() {
        let blobs = depot_store::ObjectBlobStore::memory();
        let cache = ChunkCache::default();
        let mut expected = Vec::new();
        let mut pair: Option<Pair> = None;
        for i in 0..200 {
            let delta = format!("Package: p{i}\nVersion: 1.{i}\n\n").into_bytes();
            expected.extend_from_slice(&delta);
            // A fresh chunker per publish, as the publisher uses them.
            let mut ch = Chunker::new(&blobs, &cache);
            let next = ch.append(pair.as_ref(), Bytes::from(delta)).await.unwrap();
            ch.flush(&manifest_of(&next)).await.unwrap();
            assert_eq!(concat(&blobs, &next.plain).await, expected, "after {i}");
            assert_eq!(next.plain.hashes, Hashes::of(&expected));
            assert_eq!(next.plain.size, expected.len() as u64);
            let gz = concat(&blobs, &next.gz).await;
            assert_eq!(next.gz.hashes, Hashes::of(&gz));
            let mut unzipped = Vec::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_end(&mut unzipped)
                .unwrap();
            assert_eq!(unzipped, expected);
            assert!(
                next.plain.chunks.len() <= 10,
                "{} chunks after {i}",
                next.plain.chunks.len()
            );
            pair = Some(next);
        }
    }

    #[tokio::test]
    async fn cold_cache_gives_the_same_digests() {
        let blobs = depot_store::ObjectBlobStore::memory();
        let warm = ChunkCache::default();
        let mut ch = Chunker::new(&blobs, &warm);
        let a = ch.append(None, Bytes::from_static(b"one\n")).await.unwrap();
        let b = ch
            .append(Some(&a), Bytes::from_static(b"two\n"))
            .await
            .unwrap();
        ch.flush(&manifest_of(&b)).await.unwrap();
        let cold = ChunkCache::default();
        let again = Chunker::new(&blobs, &cold)
            .finish(b.gz.chunks.clone())
            .await
            .unwrap();
        assert_eq!(again, b.gz);
    }

    /// A blob store that counts reads, over a memory store.
    struct CountingBlobs {
        inner: depot_store::ObjectBlobStore,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl CountingBlobs {
        fn new() -> Self {
            CountingBlobs {
                inner: depot_store::ObjectBlobStore::memory(),
                reads: Default::default(),
            }
        }
        fn reads(&self) -> usize {
            self.reads.load(std::sync::atomic::Ordering::SeqCst)
        }
        fn count(&self) {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[async_trait::async_trait]
    impl BlobStore for CountingBlobs {
        async fn put_file(
            &self,
            d: &Sha256,
            path: &std::path::Path,
        ) -> Result<depot_core::blob::PutOutcome, depot_core::blob::BlobError> {
            self.inner.put_file(d, path).await
        }
        async fn put_bytes(
            &self,
            d: &Sha256,
            bytes: Bytes,
        ) -> Result<depot_core::blob::PutOutcome, depot_core::blob::BlobError> {
            self.inner.put_bytes(d, bytes).await
        }
        async fn get(
            &self,
            d: &Sha256,
            range: Option<std::ops::Range<u64>>,
        ) -> Result<depot_core::blob::BlobRead, depot_core::blob::BlobError> {
            self.count();
            self.inner.get(d, range).await
        }
        async fn get_bytes(&self, d: &Sha256) -> Result<Bytes, depot_core::blob::BlobError> {
            self.count();
            self.inner.get_bytes(d).await
        }
        async fn size(&self, d: &Sha256) -> Result<Option<u64>, depot_core::blob::BlobError> {
            self.inner.size(d).await
        }
        async fn stat(
            &self,
            d: &Sha256,
        ) -> Result<Option<depot_core::blob::BlobInfo>, depot_core::blob::BlobError> {
            self.inner.stat(d).await
        }
        async fn delete(&self, d: &Sha256) -> Result<(), depot_core::blob::BlobError> {
            self.inner.delete(d).await
        }
        async fn list(
            &self,
        ) -> Result<Vec<depot_core::blob::BlobInfo>, depot_core::blob::BlobError> {
            self.inner.list().await
        }
    }

    /// Publishes 40 appends on a warm node, then returns the pair as it
    /// comes back from the database: through the manifest's JSON.
    async fn published(blobs: &dyn BlobStore, expected: &mut Vec<u8>) -> Pair {
        let warm = ChunkCache::default();
        let mut pair: Option<Pair> = None;
        for i in 0..40 {
            let delta = format!("Package: p{i}\nVersion: 1.{i}\n\n").into_bytes();
            expected.extend_from_slice(&delta);
            let mut ch = Chunker::new(blobs, &warm);
            let next = ch.append(pair.as_ref(), Bytes::from(delta)).await.unwrap();
            ch.flush(&manifest_of(&next)).await.unwrap();
            pair = Some(next);
        }
        let json = serde_json::to_string(&manifest_of(&pair.unwrap())).unwrap();
        let m: depot_core::Manifest = serde_json::from_str(&json).unwrap();
        Pair {
            plain: m.files["Packages"].clone(),
            gz: m.files["Packages.gz"].clone(),
        }
    }

    #[tokio::test]
    async fn a_cold_node_appends_from_persisted_states_without_reading_the_prefix() {
        let blobs = CountingBlobs::new();
        let mut expected = Vec::new();
        let prev = published(&blobs, &mut expected).await;
        assert!(prev.plain.chunks.len() >= 2, "a prefix to keep");
        for c in prev.plain.chunks.iter().chain(&prev.gz.chunks) {
            assert!(c.state.is_some(), "every chunk carries its state");
        }
        // Another node, nothing cached: the append reads no blob at all
        // (the merged tail is this node's own new chunk or, when the merge
        // reaches old chunks, those are read to be merged, not to be
        // hashed; pick a delta small enough not to merge).
        let before = blobs.reads();
        let cold = ChunkCache::default();
        let mut ch = Chunker::new(&blobs, &cold);
        let delta = b"Package: z\n\n";
        let last = prev.plain.chunks.last().unwrap().size;
        assert!((2 * delta.len() as u64) < last, "no merge");
        let next = ch
            .append(Some(&prev), Bytes::from_static(delta))
            .await
            .unwrap();
        ch.flush(&manifest_of(&next)).await.unwrap();
        assert_eq!(blobs.reads(), before, "no chunk of the prefix was read");
        expected.extend_from_slice(delta);
        assert_eq!(next.plain.hashes, Hashes::of(&expected));
        assert_eq!(next.plain.size, expected.len() as u64);
        assert_eq!(concat(&blobs, &next.plain).await, expected);
        let gz = concat(&blobs, &next.gz).await;
        assert_eq!(next.gz.hashes, Hashes::of(&gz));
        // The states it wrote are the ones a full re-hash gives.
        for f in [&next.plain, &next.gz] {
            let bytes = concat(&blobs, f).await;
            let mut end = 0;
            for c in &f.chunks {
                end += c.size as usize;
                let mut h = MultiHasher::new();
                h.update(&bytes[..end]);
                assert_eq!(c.state, Some(HashState::of(&h)));
            }
        }

        // And `finish` alone on a cold node, as `cold_cache_gives_the_same
        // _digests` does, reads nothing either.
        let before = blobs.reads();
        let again = Chunker::new(&blobs, &ChunkCache::default())
            .finish(next.gz.chunks.clone())
            .await
            .unwrap();
        assert_eq!(blobs.reads(), before);
        assert_eq!(again, next.gz);
    }

    #[tokio::test]
    async fn a_manifest_without_states_is_read_and_rehashed() {
        let blobs = CountingBlobs::new();
        let mut expected = Vec::new();
        let mut prev = published(&blobs, &mut expected).await;
        let with_states = prev.plain.clone();
        // As written before states were persisted.
        let json = serde_json::to_string(&prev.plain).unwrap();
        assert!(json.contains("\"state\""));
        for c in prev.plain.chunks.iter_mut().chain(&mut prev.gz.chunks) {
            c.state = None;
        }
        let json = serde_json::to_string(&prev.plain).unwrap();
        assert!(!json.contains("state"), "{json}");
        let old: ManifestFile = serde_json::from_str(&json).unwrap();
        assert_eq!(old, prev.plain);

        let before = blobs.reads();
        let cold = ChunkCache::default();
        let again = Chunker::new(&blobs, &cold)
            .finish(old.chunks.clone())
            .await
            .unwrap();
        assert_eq!(blobs.reads() - before, old.chunks.len(), "every chunk read");
        assert_eq!(again, with_states, "same digests, states filled in");

        // A state that does not fit its place (here: the first chunk's
        // state on the second) is ignored, not trusted.
        let mut wrong = with_states.chunks.clone();
        wrong[1].state = wrong[0].state.clone();
        let before = blobs.reads();
        let fixed = Chunker::new(&blobs, &ChunkCache::default())
            .finish(wrong[..2].to_vec())
            .await
            .unwrap();
        assert_eq!(blobs.reads() - before, 1, "the second chunk re-read");
        assert_eq!(fixed.chunks[..], with_states.chunks[..2]);
    }

    #[tokio::test]
    async fn empty_index_has_a_valid_gzip() {
        let blobs = depot_store::ObjectBlobStore::memory();
        let cache = ChunkCache::default();
        let mut ch = Chunker::new(&blobs, &cache);
        let p = ch.append(None, Bytes::new()).await.unwrap();
        ch.flush(&manifest_of(&p)).await.unwrap();
        assert_eq!(p.plain.size, 0);
        let gz = concat(&blobs, &p.gz).await;
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert!(out.is_empty());
    }
}
