//! Where does `Hasher::update_rayon` start to beat `Hasher::update` on this machine?
//! `cargo run --release --example thresholds` prints the median time of each per size.
use std::time::Instant;

fn median_ns(mut f: impl FnMut(), rounds: usize) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as f64
        })
        .collect();
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[rounds / 2]
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("rayon threads: {threads}");
    println!("{:>10} {:>12} {:>12} {:>8}", "bytes", "update µs", "rayon µs", "speedup");
    for kib in [16, 32, 64, 96, 128, 192, 256, 512, 1024, 4096] {
        let data: Vec<u8> = (0..kib * 1024).map(|i| (i * 31 % 251) as u8).collect();
        let rounds = (200_000 / kib).clamp(51, 2001);
        let single = median_ns(
            || {
                std::hint::black_box(blake3::Hasher::new().update(&data).finalize());
            },
            rounds,
        );
        let multi = median_ns(
            || {
                std::hint::black_box(blake3::Hasher::new().update_rayon(&data).finalize());
            },
            rounds,
        );
        println!(
            "{:>10} {:>12.2} {:>12.2} {:>8.2}",
            kib * 1024,
            single / 1000.0,
            multi / 1000.0,
            single / multi
        );
    }
}
