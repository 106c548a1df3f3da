//! From what text size does hashing a key's message on all cores beat one core?
//! `cargo run --release --example thresholds` prints, per text size, the median time of
//! `spec::digest` with and without rayon (the two take turns, so background load hits
//! both alike) and their ratio. MULTITHREAD_MIN_BYTES in spec.rs is set from this.
use _native::spec;
use std::time::Instant;

fn time_us(f: &mut impl FnMut(), calls: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_nanos() as f64 / 1000.0 / calls as f64
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

fn main() {
    println!("rayon threads: {}", rayon::current_num_threads());
    println!(
        "{:>10} {:>12} {:>12} {:>8}",
        "bytes", "1 core µs", "rayon µs", "speedup"
    );
    for kib in [32, 64, 96, 128, 192, 256, 384, 512, 1024, 4096] {
        let text: Vec<u8> = (0..kib * 1024).map(|i| (i * 31 % 251) as u8).collect();
        let fields = spec::Fields {
            operation: b"summarize",
            text: &text,
            options: b"",
            question: b"",
            model: b"local",
            prompt_version: b"1",
        };
        let calls = (2048 / kib).max(1);
        let mut single = || {
            std::hint::black_box(spec::digest_parallel_from(&fields, u64::MAX));
        };
        let mut multi = || {
            std::hint::black_box(spec::digest_parallel_from(&fields, 0));
        };
        let (mut s, mut m) = (Vec::new(), Vec::new());
        for _ in 0..301 {
            s.push(time_us(&mut single, calls));
            m.push(time_us(&mut multi, calls));
        }
        let (s, m) = (median(s), median(m));
        println!("{:>10} {:>12.2} {:>12.2} {:>8.2}", kib * 1024, s, m, s / m);
    }
}
