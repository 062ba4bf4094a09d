//! Shared by the native and the wasm test suites: the vectors, the fixtures (embedded, so the
//! wasm tests need no file system) and the bad-input table of `tests/bad_inputs.json`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

pub const VECTORS: &str = include_str!("../vectors/oauth1a/vectors.json");
pub const TABLE: &str = include_str!("../bad_inputs.json");

/// A fixture or vector file by its path relative to `tests/`.
pub fn file(path: &str) -> &'static str {
    match path {
        "fixtures/cert.pem" => include_str!("../fixtures/cert.pem"),
        "fixtures/ec.pk8.pem" => include_str!("../fixtures/ec.pk8.pem"),
        "fixtures/encrypted.pk8.pem" => include_str!("../fixtures/encrypted.pk8.pem"),
        "fixtures/legacy-encrypted.pem" => include_str!("../fixtures/legacy-encrypted.pem"),
        "fixtures/rsa1024.pem" => include_str!("../fixtures/rsa1024.pem"),
        "fixtures/secret-for-rsa4096.b64" => include_str!("../fixtures/secret-for-rsa4096.b64"),
        "fixtures/secret-for-signature-key.b64" => {
            include_str!("../fixtures/secret-for-signature-key.b64")
        }
        "vectors/oauth1a/dhparam.pem" => include_str!("../vectors/oauth1a/dhparam.pem"),
        "vectors/oauth1a/private_encryption.pem" => {
            include_str!("../vectors/oauth1a/private_encryption.pem")
        }
        "vectors/oauth1a/private_signature.pem" => {
            include_str!("../vectors/oauth1a/private_signature.pem")
        }
        "vectors/oauth1a/public_signature.pem" => {
            include_str!("../vectors/oauth1a/public_signature.pem")
        }
        "vectors/oauth1a/private_signature.pk8.pem" => {
            include_str!("../vectors/oauth1a/private_signature.pk8.pem")
        }
        "vectors/oauth2/private_key.pem" => include_str!("../vectors/oauth2/private_key.pem"),
        "fixtures/rsa3072.pk8.pem" => include_str!("../fixtures/rsa3072.pk8.pem"),
        "fixtures/rsa4096.pem" => include_str!("../fixtures/rsa4096.pem"),
        other => panic!("bad_inputs.json names a file the tests do not embed: {other}"),
    }
}

/// The bad-input table with its inputs resolved.
pub struct Table {
    doc: Value,
    vectors: Value,
}

fn lookup<'a>(v: &'a Value, path: &str) -> &'a Value {
    // Keys may contain spaces and parentheses, but not dots.
    path.split('.').fold(v, |cur, k| &cur[k])
}

impl Table {
    pub fn load() -> Self {
        Table {
            doc: serde_json::from_str(TABLE).unwrap(),
            vectors: serde_json::from_str(VECTORS).unwrap(),
        }
    }

    /// `inputs[name]`, with its transforms applied.
    pub fn input(&self, name: &str) -> String {
        let spec = &self.doc["inputs"][name];
        assert!(spec.is_object(), "no input {name}");
        let mut s: String = if let Some(f) = spec["file"].as_str() {
            file(f).to_owned()
        } else {
            lookup(&self.vectors, spec["vector"].as_str().unwrap())
                .as_str()
                .unwrap()
                .to_owned()
        };
        if let Some(r) = spec["slice"].as_array() {
            let chars: Vec<char> = s.chars().collect();
            let n = chars.len() as i64;
            let idx = |v: &Value| {
                let i = v.as_i64().unwrap();
                (if i < 0 { n + i } else { i }).clamp(0, n) as usize
            };
            s = chars[idx(&r[0])..idx(&r[1])].iter().collect();
        }
        if let Some(r) = spec["keep_lines"].as_array() {
            let (a, b) = (
                r[0].as_u64().unwrap() as usize,
                r[1].as_u64().unwrap() as usize,
            );
            s = s
                .lines()
                .skip(a)
                .take(b - a)
                .map(|l| format!("{l}\n"))
                .collect();
        }
        if let Some(r) = spec["replace_at"].as_array() {
            let (i, t) = (r[0].as_u64().unwrap() as usize, r[1].as_str().unwrap());
            s.replace_range(i..i + t.len(), t);
        }
        if let Some(i) = spec["flip"].as_u64() {
            let i = i as usize;
            let c = if &s[i..=i] == "A" { "B" } else { "A" };
            s.replace_range(i..=i, c);
        }
        if let Some(t) = spec["append"].as_str() {
            s.push_str(t);
        }
        s
    }

    /// Replaces every `"$NAME"` string inside `v` by the input.
    pub fn resolve(&self, v: &Value) -> Value {
        match v {
            Value::String(s) if s.starts_with('$') && self.doc["inputs"].get(&s[1..]).is_some() => {
                Value::String(self.input(&s[1..]))
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.resolve(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.resolve(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn cases(&self) -> &Vec<Value> {
        self.doc["cases"].as_array().unwrap()
    }

    /// Texts that must never appear in a message: the secrets, and a line from the body of
    /// every private key.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.doc["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| self.input(n.as_str().unwrap()))
            .collect();
        for (name, spec) in self.doc["inputs"].as_object().unwrap() {
            if spec.get("file").is_some() {
                let text = self.input(name);
                if text.contains("PRIVATE KEY-----") {
                    out.extend(
                        text.lines()
                            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                            .nth(2)
                            .map(str::to_owned),
                    );
                }
            }
        }
        out
    }

    /// Checks one outcome: the code, the words the message must mention, and no secret in it.
    pub fn check(&self, case: &Value, args: &Value, code: &str, message: &str) {
        let name = case["name"].as_str().unwrap();
        assert_eq!(
            code,
            case["code"].as_str().unwrap(),
            "{name}: wrong code; message: {message}"
        );
        assert!(message.len() > 20, "{name}: message too thin: {message}");
        if let Some(words) = case["mention"].as_array() {
            for w in words {
                let w = w.as_str().unwrap();
                assert!(
                    message.contains(w),
                    "{name}: message should mention {w:?}: {message}"
                );
            }
        }
        let mut leaks = self.secrets();
        collect_long_strings(args, &mut leaks);
        for s in leaks {
            assert!(
                !message.contains(&s),
                "{name}: message leaks an input: {message}"
            );
        }
    }
}

fn collect_long_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.len() >= 16 => out.extend(
            s.lines()
                .filter(|l| l.len() >= 16 && !l.starts_with("-----") && !l.contains(": "))
                .map(str::to_owned),
        ),
        Value::Array(a) => a.iter().for_each(|x| collect_long_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_long_strings(x, out)),
        _ => {}
    }
}
