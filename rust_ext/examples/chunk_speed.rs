//! Where chunking's time goes on one core: finding the cuts (the gear hash), the digests
//! (BLAKE3 of each framed chunk) and both as `chunk_text` runs them, on 10 MB of prose.
//!
//!     cargo run --release --example chunk_speed
//!
//! Best of 15 runs each, so a busy neighbour costs less than in a median.
use _native::chunking::{self, Cuts, Sizes};
use std::hint::black_box;
use std::time::Instant;

fn best(mut run: impl FnMut() -> usize) -> f64 {
    (0..15)
        .map(|_| {
            let started = Instant::now();
            black_box(run());
            started.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let words = [
        "the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven",
        "wizards", "report", "shows", "revenue", "growth",
    ];
    let mut text = String::new();
    let mut x: u64 = 1;
    while text.len() < 10_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(words[(x % 16) as usize]);
        text.push_str(if x.is_multiple_of(97) {
            ".\n\n"
        } else if x.is_multiple_of(13) {
            ". "
        } else {
            " "
        });
    }
    let data = text.as_bytes();
    let sizes = Sizes::default();
    let cuts: Vec<usize> = Cuts::new(data, sizes).collect();
    let spans: Vec<(usize, usize)> = cuts
        .iter()
        .scan(0, |start, &end| Some((std::mem::replace(start, end), end)))
        .collect();
    let gb = data.len() as f64 / 1e9;
    let find = best(|| Cuts::new(data, sizes).count());
    let hash = best(|| {
        spans
            .iter()
            .map(|&(start, end)| chunking::digest(&data[start..end])[0] as usize)
            .sum()
    });
    let all = best(|| chunking::chunk_text(&text, &sizes).len());
    println!(
        "{} bytes, {} chunks: cuts {:.2} GB/s, digests {:.2} GB/s, chunk_text {:.2} GB/s",
        data.len(),
        cuts.len(),
        gb / find,
        gb / hash,
        gb / all
    );
}
