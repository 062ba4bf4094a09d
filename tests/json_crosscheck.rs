//! The session's small JSON reader against serde_json: the same values for any document
//! serde_json writes, and the same verdict (JSON or not) and values on arbitrary text.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ibkr_auth::json::Value;
use proptest::prelude::*;
use serde_json::Value as Sj;

/// Structural equality; numbers compared as f64 (ours is exact for whole numbers ≤ 2^53 and
/// within a few ulps otherwise).
fn same(ours: &Value, theirs: &Sj) -> bool {
    match (ours, theirs) {
        (Value::Null, Sj::Null) => true,
        (Value::Bool(a), Sj::Bool(b)) => a == b,
        (Value::String(a), Sj::String(b)) => a == b,
        (Value::Number(_), Sj::Number(n)) => {
            let (a, b) = (ours.as_f64().unwrap(), n.as_f64().unwrap());
            if b.fract() == 0.0 && b.abs() <= 9_007_199_254_740_992.0 {
                a == b
            } else {
                (a - b).abs() <= b.abs() * 1e-14
            }
        }
        (Value::Array(a), Sj::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Sj::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}

fn arb_json() -> impl Strategy<Value = Sj> {
    let leaf = prop_oneof![
        Just(Sj::Null),
        any::<bool>().prop_map(Sj::Bool),
        any::<i64>().prop_map(Sj::from),
        any::<u64>().prop_map(Sj::from),
        (-1e300f64..1e300).prop_map(Sj::from),
        (-1e6f64..1e6).prop_map(Sj::from),
        any::<String>().prop_map(Sj::String),
        "[a-z\"\\\\/\u{0}-\u{1f}\u{80}-\u{10ffff}]{0,12}".prop_map(Sj::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Sj::Array),
            prop::collection::btree_map("[a-zA-Z_/~\"\\\\é]{0,8}", inner, 0..6)
                .prop_map(|m| Sj::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reads_what_serde_json_writes(v in arb_json()) {
        for text in [serde_json::to_string(&v).unwrap(), serde_json::to_string_pretty(&v).unwrap()] {
            let ours = Value::parse(&text);
            prop_assert!(ours.is_some(), "refused {text}");
            prop_assert!(same(ours.as_ref().unwrap(), &v), "differs on {text}");
        }
    }

    #[test]
    fn same_verdict_on_arbitrary_text(text in "[\\[\\]{}:,\"\\\\ 0-9.eE+\\-tfnrulsa\u{0}-\u{1f}é/u]{0,24}") {
        let theirs = serde_json::from_str::<Sj>(&text).ok();
        let ours = Value::parse(&text);
        prop_assert_eq!(ours.is_some(), theirs.is_some(), "{:?}", text);
        if let (Some(o), Some(t)) = (&ours, &theirs) {
            prop_assert!(same(o, t), "differs on {:?}", text);
        }
    }
}

#[test]
fn same_verdict_on_escapes() {
    for text in [
        r#""\ud83d\ude00""#,
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\ud83dx""#,
        r#""\ud83d\u0041""#,
        r#""\u00""#,
        r#""\uZZZZ""#,
        r#""\/""#,
        "\"\u{7f}\"",
        "\"\t\"",
        "[1e400]",
        "[-1e-400]",
        "[1E+2]",
        "[0.0e-0]",
        "[-0.0]",
        "[00]",
        "[-01]",
        "[1.e2]",
    ] {
        let theirs = serde_json::from_str::<Sj>(text).ok();
        let ours = Value::parse(text);
        assert_eq!(ours.is_some(), theirs.is_some(), "{text}");
        if let (Some(o), Some(t)) = (&ours, &theirs) {
            assert!(same(o, t), "differs on {text}");
        }
    }
}
