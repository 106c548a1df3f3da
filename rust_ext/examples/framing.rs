//! What does framing cost: the key digest of a text against BLAKE3 of the text alone.
//! `cargo run --release --example framing`
use _native::spec;
use std::time::Instant;

fn median_us(mut f: impl FnMut(), rounds: usize) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as f64 / 1000.0
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[rounds / 2]
}

fn main() {
    for size in [100_000usize, 1_000_000, 10_000_000] {
        let text: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let fields = spec::Fields {
            operation: b"summarize",
            text: &text,
            options: b"",
            question: b"",
            model: b"m",
            prompt_version: b"1",
        };
        let rounds = (20_000_000 / size).clamp(21, 401);
        let (mut key, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            key.push(median_us(
                || {
                    std::hint::black_box(spec::digest(&fields));
                },
                rounds,
            ));
            raw.push(median_us(
                || {
                    std::hint::black_box(spec::raw_digest(&text));
                },
                rounds,
            ));
        }
        key.sort_by(|a, b| a.partial_cmp(b).unwrap());
        raw.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{size:>9} B: framed digest {:>9.1} µs, raw {:>9.1} µs",
            key[2], raw[2]
        );
    }
}
