//! Signing cost, printed, never asserted (machines differ). Run with
//! `cargo test -p depot-sign --test signing -- --ignored --nocapture timing`.

use std::time::{Duration, Instant};

use depot_core::sign::PgpSigner;
use depot_sign::{KeyAlgorithm, PgpKey};

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// Median of `n` runs.
fn median(n: usize, mut f: impl FnMut()) -> Duration {
    let mut runs: Vec<Duration> = (0..n).map(|_| time(&mut f).1).collect();
    runs.sort();
    runs[n / 2]
}

#[test]
#[ignore = "prints timings; run explicitly"]
fn timing() {
    // A 10 KB Release-like text.
    let line = " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 1234 main/binary-amd64/Packages\n";
    let text = line.repeat(10 * 1024 / line.len() + 1);
    assert!(text.len() >= 10 * 1024);

    for algo in [KeyAlgorithm::Ed25519, KeyAlgorithm::Rsa4096] {
        let (key, keygen) = time(|| PgpKey::generate(algo, "timing <t@depot.test>").unwrap());
        let (_, first_clearsign) = time(|| key.clearsign(&text).unwrap());
        let clearsign = median(21, || {
            key.clearsign(&text).unwrap();
        });
        let detached = median(21, || {
            key.sign_detached_armored(text.as_bytes()).unwrap();
        });
        let armored = key.to_armored_secret();
        let load = median(5, || {
            PgpKey::from_armored_secret(&armored).unwrap();
        });
        println!(
            "{algo}: keygen {keygen:.2?}; clearsign {} B: first {first_clearsign:.2?}, \
             median {clearsign:.2?}; detached median {detached:.2?}; \
             from_armored_secret median {load:.2?}",
            text.len()
        );
    }
}
