use super::*;
use serde_json::Value;
use std::path::PathBuf;

fn vectors() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/chunks.json");
    let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&file).expect("valid JSON");
    assert_eq!(doc["spec"], "aitext/chunk/v1");
    doc
}

/// The generator recipes of tests/vectors/make_chunks.py.
fn text_of(case: &Value) -> String {
    if let Some(text) = case.get("text") {
        return text.as_str().expect("text").to_owned();
    }
    let recipe = &case["text_recipe"];
    let count = recipe["count"].as_u64().expect("count") as usize;
    if let Some(unit) = recipe.get("repeat") {
        return unit.as_str().expect("unit").repeat(count);
    }
    let prefix = recipe["numbered"].as_str().expect("prefix");
    let suffix = recipe["suffix"].as_str().expect("suffix");
    let every = recipe.get("every").and_then(Value::as_u64).unwrap_or(0) as usize;
    let separator = recipe
        .get("separator")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!("{prefix}{i}{suffix}"));
        if every > 0 && (i + 1) % every == 0 {
            text.push_str(separator);
        }
    }
    text
}

fn sizes_of(case: &Value) -> Sizes {
    let size = |name: &str, default: usize| {
        case.get(name)
            .map_or(default as i64, |v| v.as_i64().unwrap())
    };
    Sizes::new(
        size("target_bytes", DEFAULT_TARGET_BYTES),
        size("min_bytes", DEFAULT_MIN_BYTES),
        size("max_bytes", DEFAULT_MAX_BYTES),
    )
    .expect("valid sizes")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_vector_gives_its_chunks() {
    let doc = vectors();
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 40);
    for case in cases {
        let got: Vec<Value> = chunk_text(&text_of(case), &sizes_of(case))
            .iter()
            .map(|c| serde_json::json!([c.start, c.end, c.byte_start, c.byte_end, hex(&c.digest)]))
            .collect();
        let want = case["chunks"].as_array().expect("chunks");
        assert_eq!(&got, want, "{}", case["name"]);
    }
}

#[test]
fn gear_table_is_derived_as_the_vectors_say() {
    let doc = vectors();
    assert_eq!(doc["gear"]["seed"].as_str().unwrap().as_bytes(), GEAR_SEED);
    let first: Vec<u64> = doc["gear"]["first"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(&gear()[..4], &first[..]);
    let table: Vec<u8> = gear().iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(
        blake3::hash(&table).to_hex().as_str(),
        doc["gear"]["blake3_of_table"].as_str().unwrap()
    );
}

#[test]
fn digest_is_the_framed_blake3() {
    let mut message = Vec::new();
    message.extend_from_slice(&15u64.to_le_bytes());
    message.extend_from_slice(b"aitext/chunk/v1");
    message.extend_from_slice(&3u64.to_le_bytes());
    message.extend_from_slice(b"abc");
    assert_eq!(digest(b"abc"), *blake3::hash(&message).as_bytes());
    // Two chunks that differ only by where framing would put a boundary stay apart.
    assert_ne!(digest(b"ab"), digest(b"abc"));
}

#[test]
fn sizes_are_checked_in_order_with_the_reference_messages() {
    assert_eq!(Sizes::new(8192, 2048, 32768), Ok(Sizes::default()));
    assert_eq!(
        Sizes::new(63, 2048, 32768).unwrap_err(),
        "target_bytes must be between 64 and 4294967296, not 63"
    );
    assert_eq!(
        Sizes::new(8192, -1, 32768).unwrap_err(),
        "min_bytes must be between 64 and 4294967296, not -1"
    );
    assert_eq!(
        Sizes::new(8192, 2048, (1 << 32) + 1).unwrap_err(),
        "max_bytes must be between 64 and 4294967296, not 4294967297"
    );
    assert_eq!(
        Sizes::new(1000, 2048, 32768).unwrap_err(),
        "sizes must satisfy min_bytes <= target_bytes <= max_bytes, not 2048, 1000, 32768"
    );
    assert_eq!(
        Sizes::new(64, 64, 66).unwrap_err(),
        "max_bytes must be at least min_bytes + 3, not 66 (min_bytes 64)"
    );
    assert!(Sizes::new(64, 64, 67).is_ok());
}

#[test]
fn thresholds_are_fastcdc_level_two() {
    // 8 KiB: b = 13, so 15 top bits zero before the target and 11 after it.
    assert_eq!(Sizes::default().thresholds(), (1 << 49, 1 << 53));
    let odd = Sizes::new(12_000, 2048, 32768).unwrap();
    assert_eq!(odd.thresholds(), (1 << 49, 1 << 53));
}

/// xorshift64: random texts without a crate.
fn random_text(seed: u64, len: usize, alphabet: &[&str]) -> String {
    let mut x = seed | 1;
    let mut text = String::new();
    while text.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
    }
    text
}

#[test]
fn chunks_cover_the_text_within_their_sizes_at_code_points() {
    let alphabet = [
        "word", "a", " ", " ", ". ", "\n\n", "\r\n", "é", "漢字", "。", "🦊", "!", "\r\n\r\n", "x",
    ];
    for (seed, sizes) in [
        (1, Sizes::default()),
        (2, Sizes::new(128, 64, 256).unwrap()),
        (3, Sizes::new(64, 64, 67).unwrap()),
        (4, Sizes::new(1000, 100, 1000).unwrap()),
    ] {
        let text = random_text(seed, 300_000, &alphabet);
        let chunks = chunk_text(&text, &sizes);
        let (mut byte, mut char) = (0, 0);
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!((chunk.byte_start, chunk.start), (byte, char));
            let piece = &text[chunk.byte_start..chunk.byte_end]; // panics inside a code point
            assert_eq!(chunk.end - chunk.start, piece.chars().count());
            assert_eq!(chunk.digest, digest(piece.as_bytes()));
            let len = piece.len();
            assert!(len <= sizes.max, "chunk {i}: {len} > {}", sizes.max);
            if i + 1 < chunks.len() {
                assert!(len >= sizes.min, "chunk {i}: {len} < {}", sizes.min);
            }
            (byte, char) = (chunk.byte_end, chunk.end);
        }
        assert_eq!((byte, char), (text.len(), text.chars().count()));
    }
    assert!(chunk_text("", &Sizes::default()).is_empty());
}

#[test]
fn preferred_cut_takes_paragraph_then_sentence_then_whitespace() {
    let pad = "x".repeat(64);
    let at = |tail: &str| {
        let text = format!("{pad}{tail}!");
        preferred_cut(text.as_bytes(), 64, text.len() - 1).map(|q| q - 64)
    };
    assert_eq!(at("ab\n\ncd. ef gh"), Some(4));
    assert_eq!(at("ab\r\n\r\ncd. ef"), Some(6));
    assert_eq!(at("ab. cd ef"), Some(4));
    assert_eq!(at("ab? cd ef"), Some(4));
    assert_eq!(at("ab.\r\ncd ef"), Some(5));
    assert_eq!(at("文。字 字"), Some(6));
    assert_eq!(at("ab cd ef"), Some(6));
    assert_eq!(at("3.14 e.gx"), Some(5));
    assert_eq!(at("abcdef"), None);
    // Never between CR and LF: the whitespace end is after the LF.
    assert_eq!(at("ab\r\ncd"), Some(4));
    let text = format!("{pad}ab\r\ncd");
    assert_eq!(preferred_cut(text.as_bytes(), 64, 67), None);
}

#[test]
fn inserting_a_paragraph_at_the_start_keeps_the_other_chunks() {
    let mut text = String::new();
    for i in 0..12_000 {
        text.push_str(&format!(
            "The report for region {i} shows growth and a few risks. "
        ));
        if i % 7 == 6 {
            text.push_str("\n\n");
        }
    }
    let before: std::collections::HashSet<[u8; 32]> = chunk_text(&text, &Sizes::default())
        .iter()
        .map(|c| c.digest)
        .collect();
    let edited = format!("A new opening paragraph, inserted before everything else.\n\n{text}");
    let after = chunk_text(&edited, &Sizes::default());
    let kept = after.iter().filter(|c| before.contains(&c.digest)).count();
    assert!(before.len() > 60);
    assert!(
        kept * 100 >= before.len() * 95,
        "{kept} of {}",
        before.len()
    );
}
