//! Content hashes and the canonical JSON they are computed over, shared by
//! the plan file, the runner protocol and the state store.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(data.as_ref()))
}

fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// JSON with object keys sorted at every level and no whitespace, so equal
/// values always give the same bytes (independent of serde_json features
/// and field order).
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut |s| out.push_str(s));
    out
}

/// The SHA-256 of canonical JSON fed in parts, so a big document (a plan
/// of many hosts) is hashed without holding all of it at once.
pub struct CanonicalHasher(Sha256);

impl CanonicalHasher {
    pub fn new() -> CanonicalHasher {
        CanonicalHasher(Sha256::new())
    }

    /// Literal JSON text (punctuation, a key) as it is.
    pub fn raw(&mut self, text: &str) {
        self.0.update(text.as_bytes());
    }

    /// An object key and its colon.
    pub fn key(&mut self, key: &str) {
        self.raw(&serde_json::Value::String(key.to_string()).to_string());
        self.raw(":");
    }

    /// A value, in canonical form.
    pub fn value(&mut self, value: &serde_json::Value) {
        write_canonical(value, &mut |s| self.0.update(s.as_bytes()));
    }

    /// Lowercase hex of the hash.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

impl Default for CanonicalHasher {
    fn default() -> Self {
        CanonicalHasher::new()
    }
}

fn write_canonical(value: &serde_json::Value, out: &mut dyn FnMut(&str)) {
    use serde_json::Value as J;
    match value {
        J::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out("{");
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out(",");
                }
                out(&J::String(k.clone()).to_string());
                out(":");
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out("}");
        }
        J::Array(items) => {
            out("[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out(",");
                }
                write_canonical(v, out);
            }
            out("]");
        }
        other => out(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": {"z": 1, "a": [true, null]}, "a": "x"});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":"x","b":{"a":[true,null],"z":1}}"#
        );
    }
}
