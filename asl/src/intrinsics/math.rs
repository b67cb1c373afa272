//! Random numbers, hashes and base64: `States.MathRandom`, `States.Hash`
//! and `States.Base64Decode`.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;
use sha2::Digest as _;

use super::args::Args;
use crate::errors::Failure;

/// The algorithms `States.Hash` (and JSONata's `$hash`) know.
pub(crate) const ALGORITHMS: [&str; 5] = ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"];
/// Base64 with or without its `=` padding.
const BASE64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(super) fn base64_decode(args: &Args<'_>) -> Result<Value, Failure> {
    let text = args.short_text(0)?;
    // MIME base64 may be cut into lines.
    let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let bytes = BASE64_ANY_PADDING
        .decode(compact)
        .map_err(|e| args.fail(format_args!("{text:?} is not base64: {e}")))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| args.fail("the decoded data is not UTF-8 text"))
}

pub(super) fn hash(args: &Args<'_>) -> Result<Value, Failure> {
    let (data, algorithm) = (args.short_text(0)?.as_bytes(), args.text(1)?);
    hex_digest(algorithm, data).map(Value::String).ok_or_else(|| {
        args.fail(format_args!(
            "unknown algorithm {algorithm:?}: use one of {}",
            ALGORITHMS.join(", ")
        ))
    })
}

/// The lowercase hex digest of `data` under `algorithm`, one of
/// [`ALGORITHMS`] (case-sensitive), or `None` for any other name. JSONata's
/// `$hash` shares it, so both query languages hash alike.
pub(crate) fn hex_digest(algorithm: &str, data: &[u8]) -> Option<String> {
    let digest = match algorithm {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(hex::encode(digest))
}

/// `States.MathRandom`: from the start (inclusive) to the end (exclusive);
/// the same seed gives the same number.
pub(super) fn math_random(args: &Args<'_>) -> Result<Value, Failure> {
    let (start, end) = (args.integer(0)?, args.integer(1)?);
    if start >= end {
        return Err(args.fail(format_args!(
            "the start ({start}) must be less than the end ({end})"
        )));
    }
    let seed = match args.values.get(2) {
        Some(_) => args.integer(2)? as u64,
        None => rand::random(),
    };
    let span = (i128::from(end) - i128::from(start)) as u128;
    let offset = (u128::from(splitmix64(seed)) % span) as i128;
    // start + offset < end, an i64.
    Ok(Value::from((i128::from(start) + offset) as i64))
}

/// One step of SplitMix64: a well-mixed number from `seed`, the same on
/// every platform and in every version (JSONata's seeded `$random` uses it
/// too).
pub(crate) fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::json;

    use crate::intrinsics::args::MAX_CHARS;
    use crate::intrinsics::tests::{failure, ok, parse_error, run};

    #[test]
    fn base64_round_trips_within_its_limits() {
        let input = json!({"input": "Data to encode", "base64": "RGF0YSB0byBlbmNvZGU=", "unpadded": "RGF0YSB0byBlbmNvZGU", "lines": "RGF0YSB0\r\nbyBlbmNvZGU=", "utf8": "héllo ✓"});
        assert_eq!(
            ok("States.Base64Encode($.input)", input.clone()),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            ok("States.Base64Decode($.base64)", input.clone()),
            json!("Data to encode")
        );
        assert_eq!(
            ok("States.Base64Decode($.unpadded)", input.clone()),
            json!("Data to encode")
        );
        assert_eq!(
            ok("States.Base64Decode($.lines)", input.clone()),
            json!("Data to encode")
        );
        assert_eq!(
            ok("States.Base64Decode(States.Base64Encode($.utf8))", input.clone()),
            json!("héllo ✓")
        );
        assert!(failure("States.Base64Decode('not base64!')", input.clone()).contains("is not base64"));
        assert!(failure("States.Base64Decode('/w==')", input.clone()).contains("not UTF-8"));
        assert!(failure("States.Base64Encode($.bytes)", json!({"bytes": [1]})).contains("must be a string"));
        let limit = json!({"ok": "é".repeat(MAX_CHARS), "long": "a".repeat(MAX_CHARS + 1)});
        assert!(
            run("States.Base64Encode($.ok)", limit.clone()).is_ok(),
            "10,000 characters are allowed"
        );
        assert!(failure("States.Base64Encode($.long)", limit.clone()).contains("10001 characters"));
        assert!(failure("States.Base64Decode($.long)", limit).contains("at most 10000"));
        assert!(parse_error("States.Base64Encode(5)").contains("must be a string, not a number"));
    }

    #[test]
    fn hash_supports_the_five_algorithms() {
        let input = json!({"Data": "input data", "Algorithm": "SHA-1"});
        assert_eq!(
            ok("States.Hash($.Data, $.Algorithm)", input.clone()),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        let expected = [
            ("MD5", "812f45842bc6d66ee14572ce20db8e86"),
            (
                "SHA-256",
                "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
            ),
            (
                "SHA-384",
                "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562",
            ),
            (
                "SHA-512",
                "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4",
            ),
        ];
        for (algorithm, hex) in expected {
            assert_eq!(
                ok(&format!("States.Hash($.Data, '{algorithm}')"), input.clone()),
                json!(hex),
                "{algorithm}"
            );
        }
        assert!(parse_error("States.Hash($.Data, 'SHA-2')").contains("unknown algorithm 'SHA-2'"));
        let lower = json!({"Data": "x", "Algorithm": "sha-1"});
        assert!(failure("States.Hash($.Data, $.Algorithm)", lower).contains("unknown algorithm \"sha-1\""));
        assert!(failure("States.Hash($, 'MD5')", input).contains("must be a string"));
        let long = json!({"long": "x".repeat(MAX_CHARS + 1)});
        assert!(failure("States.Hash($.long, 'MD5')", long).contains("at most 10000"));
    }

    #[test]
    fn every_hash_algorithm_gives_lowercase_hex() {
        let input = json!({"s": "abc"});
        let cases = [
            ("MD5", "900150983cd24fb0d6963f7d28e17f72"),
            ("SHA-1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                "SHA-256",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (algorithm, expected) in cases {
            let call = format!("States.Hash($.s, '{algorithm}')");
            assert_eq!(ok(&call, input.clone()), json!(expected), "{algorithm}");
        }
    }

    #[test]
    fn math_add_keeps_integers() {
        let sum = ok("States.MathAdd(1, 2)", json!({}));
        assert_eq!(sum, json!(3));
        assert!(sum.is_i64(), "{sum} is not an integer");
        assert_eq!(
            ok(
                "States.MathAdd($.value1, $.step)",
                json!({"value1": 111, "step": -1})
            ),
            json!(110)
        );
        assert_eq!(ok("States.MathAdd(1.2, -2.5)", json!({})), json!(-1));
        assert_eq!(
            ok("States.MathAdd(2147483647, 2147483647)", json!({})),
            json!(4294967294_i64)
        );
        assert!(
            failure("States.MathAdd(2147483648, 0)", json!({}))
                .contains("between -2147483648 and 2147483647")
        );
        assert!(failure("States.MathAdd($.x, 1)", json!({"x": "1"})).contains("must be an integer"));
        assert!(parse_error("States.MathAdd('1', 1)").contains("must be a number, not a string"));
    }

    #[test]
    fn math_random_stays_in_range_and_repeats_with_a_seed() {
        for _ in 0..200 {
            let n = ok("States.MathRandom(1, 4)", json!({})).as_i64().unwrap_or(-1);
            assert!((1..4).contains(&n), "{n}");
        }
        assert_eq!(ok("States.MathRandom(5, 6)", json!({})), json!(5));
        let seeded = ok(
            "States.MathRandom($.start, $.end, 42)",
            json!({"start": 1, "end": 999}),
        );
        for _ in 0..5 {
            assert_eq!(ok("States.MathRandom(1, 999, 42)", json!({})), seeded);
        }
        let values: HashSet<_> = (0..20)
            .map(|seed| ok(&format!("States.MathRandom(0, 1000000, {seed})"), json!({})).to_string())
            .collect();
        assert!(values.len() > 15, "seeds give different numbers: {values:?}");
        assert!(failure("States.MathRandom(3, 3)", json!({})).contains("less than the end"));
        assert!(parse_error("States.MathRandom(1)").contains("takes 2 or 3 arguments, not 1"));
    }

    #[test]
    fn uuid_is_a_fresh_v4() {
        let first = ok("States.UUID()", json!({}));
        let parsed = uuid::Uuid::parse_str(first.as_str().unwrap_or_default()).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(ok("States.UUID()", json!({})), first);
        assert!(parse_error("States.UUID(1)").contains("takes no arguments, not 1"));
    }
}
