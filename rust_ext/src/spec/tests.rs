use super::*;
use serde_json::Value;
use std::path::PathBuf;

fn vectors() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/cache_keys.json");
    let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&file).expect("valid JSON");
    assert_eq!(doc["spec"], "aitext/cache-key/v1");
    doc["cases"].as_array().expect("cases").clone()
}

/// The generator recipes of tests/vectors/make_cache_keys.py.
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
    (0..count).map(|i| format!("{prefix}{i}\n")).collect()
}

fn key_of(case: &Value) -> String {
    let text = text_of(case);
    let options = case["options"].as_object().expect("options");
    let decimals: Vec<(String, String)> = options
        .iter()
        .map(|(name, value)| (name.clone(), value.to_string()))
        .collect();
    let mut items: Vec<(&[u8], OptionValue<'_>)> = options
        .iter()
        .zip(&decimals)
        .map(|((name, value), (_, decimal))| {
            let value = match value {
                Value::Bool(flag) => OptionValue::Bool(*flag),
                Value::Number(n) => match n.as_i64() {
                    Some(n) => OptionValue::Int(n),
                    None => OptionValue::Text(decimal.as_bytes()),
                },
                Value::String(s) => OptionValue::Text(s.as_bytes()),
                other => panic!("option {name}: {other}"),
            };
            (name.as_bytes(), value)
        })
        .collect();
    make_key(
        case.get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_NAMESPACE),
        case["operation"].as_str().expect("operation"),
        &text,
        &mut items,
        case["question"].as_str(),
        case["model"].as_str().expect("model"),
        case["prompt_version"].as_str().expect("prompt_version"),
    )
}

#[test]
fn every_vector_gives_its_key() {
    let cases = vectors();
    assert!(cases.len() >= 60);
    for case in &cases {
        assert_eq!(
            key_of(case),
            case["key"].as_str().unwrap(),
            "{}",
            case["name"]
        );
    }
}

#[test]
fn only_declared_vectors_share_a_key() {
    let cases = vectors();
    let mut seen = std::collections::HashMap::new();
    for case in &cases {
        let key = case["key"].as_str().unwrap();
        match case.get("same_key_as").and_then(Value::as_str) {
            Some(other) => assert_eq!(seen.get(key).copied(), Some(other), "{}", case["name"]),
            None => assert!(
                seen.insert(key, case["name"].as_str().unwrap()).is_none(),
                "{}",
                case["name"]
            ),
        }
    }
}

fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[test]
fn digest_is_blake3_of_the_framed_fields() {
    let options = framed(&[b"max_length", b"100"]);
    let fields = Fields {
        operation: b"summarize",
        text: "héllo\0|:".as_bytes(),
        options: &options,
        question: b"",
        model: b"local",
        prompt_version: b"1",
    };
    let message = framed(&[
        DOMAIN,
        b"summarize",
        "héllo\0|:".as_bytes(),
        &options,
        b"",
        b"local",
        b"1",
    ]);
    assert_eq!(digest(&fields), *blake3::hash(&message).as_bytes());
}

#[test]
fn multithreaded_hashing_changes_nothing() {
    for len in [
        MULTITHREAD_MIN_BYTES - 1,
        MULTITHREAD_MIN_BYTES,
        MULTITHREAD_MIN_BYTES + 1,
        3 * MULTITHREAD_MIN_BYTES + 7,
    ] {
        let text: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let fields = Fields {
            operation: b"qa",
            text: &text,
            options: b"",
            question: b"why",
            model: b"m",
            prompt_version: b"2",
        };
        let message = framed(&[DOMAIN, b"qa", &text, b"", b"why", b"m", b"2"]);
        assert_eq!(
            digest(&fields),
            *blake3::hash(&message).as_bytes(),
            "len {len}"
        );
        assert_eq!(
            raw_digest(&text),
            *blake3::hash(&text).as_bytes(),
            "len {len}"
        );
    }
}

#[test]
fn options_are_framed_in_name_byte_order() {
    let mut out = Vec::new();
    let mut items = [
        ("ü".as_bytes(), OptionValue::Text(b"x")),
        (b"b".as_slice(), OptionValue::Bool(false)),
        (b"a".as_slice(), OptionValue::Int(-7)),
        (b"B".as_slice(), OptionValue::Bool(true)),
    ];
    encode_options(&mut items, &mut out);
    let expected = framed(&[
        b"B",
        b"true",
        b"a",
        b"-7",
        b"b",
        b"false",
        "ü".as_bytes(),
        b"x",
    ]);
    assert_eq!(out, expected);
}

#[test]
fn integers_are_decimal() {
    for (n, text) in [
        (0i64, "0"),
        (7, "7"),
        (-1, "-1"),
        (100, "100"),
        (i64::MAX, "9223372036854775807"),
        (i64::MIN, "-9223372036854775808"),
    ] {
        let mut out = Vec::new();
        push_option(&mut out, b"n", OptionValue::Int(n));
        assert_eq!(out, framed(&[b"n", text.as_bytes()]), "{n}");
    }
}

#[test]
fn key_shape() {
    let key = format_key("ns", "key_points", &[0xab; 32]);
    assert_eq!(key, format!("ns:v1:key_points:{}", "ab".repeat(32)));
}

#[test]
fn fields_do_not_bleed_into_each_other() {
    let base = |text: &str, question: Option<&str>, model: &str| {
        make_key(DEFAULT_NAMESPACE, "qa", text, &mut [], question, model, "1")
    };
    assert_ne!(base("ab", None, "m"), base("a", Some("b"), "m"));
    assert_ne!(base("a", Some("bm"), ""), base("a", Some("b"), "m"));
    assert_eq!(base("a", None, "m"), base("a", Some(""), "m"));
}

#[test]
fn message_lengths_around_the_buffers_hash_alike() {
    // The framing overhead before the text: 7 length prefixes, the domain and the operation.
    let fixed = 7 * 8 + DOMAIN.len() + 2 + 1 + 1;
    let mut lengths = Vec::new();
    for edge in [
        SMALL_BYTES,
        GATHER_BYTES,
        2 * GATHER_BYTES,
        MULTITHREAD_MIN_BYTES,
        2 * MULTITHREAD_MIN_BYTES,
    ] {
        for delta in -2i64..=2 {
            lengths.push((edge as i64 - fixed as i64 + delta) as usize);
            lengths.push((edge as i64 + delta) as usize);
        }
    }
    for len in lengths {
        let text: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
        let fields = Fields {
            operation: b"qa",
            text: &text,
            options: b"",
            question: b"q",
            model: b"m",
            prompt_version: b"",
        };
        let message = framed(&[DOMAIN, b"qa", &text, b"", b"q", b"m", b""]);
        assert_eq!(
            digest(&fields),
            *blake3::hash(&message).as_bytes(),
            "len {len}"
        );
        assert_eq!(
            raw_digest(&text),
            *blake3::hash(&text).as_bytes(),
            "len {len}"
        );
    }
}

#[test]
fn large_fields_other_than_the_text_hash_alike() {
    let big: Vec<u8> = (0..3 * GATHER_BYTES + 5).map(|i| (i % 251) as u8).collect();
    let fields = Fields {
        operation: &big[..GATHER_BYTES + 3],
        text: &big[..GATHER_BYTES - 1],
        options: &big,
        question: &big[7..],
        model: &big[..SMALL_BYTES],
        prompt_version: b"",
    };
    let message = framed(&[
        DOMAIN,
        fields.operation,
        fields.text,
        fields.options,
        fields.question,
        fields.model,
        b"",
    ]);
    assert_eq!(digest(&fields), *blake3::hash(&message).as_bytes());
}

#[test]
fn any_mix_of_field_sizes_hashes_like_the_concatenation() {
    let bytes: Vec<u8> = (0..1_200_000).map(|i| (i * 13 % 241) as u8).collect();
    for text_len in [0, 1, 1000, 16_000, 70_000, 300_000, 1_100_000] {
        for question_len in [0, 5, 20_000, 300_000] {
            let fields = Fields {
                operation: b"qa",
                text: &bytes[..text_len],
                options: b"\x01\x00\x00\x00\x00\x00\x00\x00k\x01\x00\x00\x00\x00\x00\x00\x00v",
                question: &bytes[3..3 + question_len],
                model: b"m",
                prompt_version: b"7",
            };
            let message = framed(&[
                DOMAIN,
                fields.operation,
                fields.text,
                fields.options,
                fields.question,
                fields.model,
                fields.prompt_version,
            ]);
            let expected = *blake3::hash(&message).as_bytes();
            assert_eq!(
                digest(&fields),
                expected,
                "text {text_len}, question {question_len}"
            );
        }
    }
}
