//! Reading JavaScript arguments into Rust values, with an `INVALID_ARGUMENT` error that names
//! the function and the field for anything missing or mistyped. Values are never echoed back.
//! Strings arrive as copies in the module's memory; those that may hold a key, a token or a
//! secret are read with `secret`/[`Opts::secret`], as `Zeroizing<String>` wiped when dropped.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else if Array::is_array(v) {
        "an array".into()
    } else {
        v.js_typeof()
            .as_string()
            .unwrap_or_else(|| "unknown".into())
    }
}

/// A required positional string argument.
pub fn string(func: &str, name: &str, v: &JsValue) -> Result<String> {
    match v.as_string() {
        Some(s) => Ok(s),
        None if v.is_undefined() => Err(Error::invalid_argument(format!(
            "{func}: {name} is required (a string)."
        ))),
        None => Err(Error::invalid_argument(format!(
            "{func}: {name} must be a string, not {}.",
            type_name(v)
        ))),
    }
}

/// A required positional string argument that may hold a secret (wiped when dropped).
pub fn secret(func: &str, name: &str, v: &JsValue) -> Result<Zeroizing<String>> {
    string(func, name, v).map(Zeroizing::new)
}

/// An options object argument.
pub struct Opts<'a> {
    func: &'static str,
    obj: &'a JsValue,
}

impl<'a> Opts<'a> {
    /// Checks that `v` is a plain object.
    pub fn new(func: &'static str, v: &'a JsValue) -> Result<Self> {
        if !v.is_object() || v.is_null() || Array::is_array(v) || v.is_function() {
            return Err(Error::invalid_argument(format!(
                "{func} takes an options object, e.g. {func}({{ ... }}); got {}.",
                type_name(v)
            )));
        }
        Ok(Opts { func, obj: v })
    }

    fn get(&self, key: &str) -> JsValue {
        Reflect::get(self.obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    }

    /// A required string field.
    pub fn string(&self, key: &str) -> Result<String> {
        let v = self.get(key);
        match v.as_string() {
            Some(s) => Ok(s),
            None if v.is_undefined() || v.is_null() => Err(Error::invalid_argument(format!(
                "{}: `{key}` is required (a string).",
                self.func
            ))),
            None => Err(Error::invalid_argument(format!(
                "{}: `{key}` must be a string, not {}.",
                self.func,
                type_name(&v)
            ))),
        }
    }

    /// A required string field that may hold a secret (wiped when dropped).
    pub fn secret(&self, key: &str) -> Result<Zeroizing<String>> {
        self.string(key).map(Zeroizing::new)
    }

    /// An optional string field that may hold a secret (wiped when dropped).
    pub fn opt_secret(&self, key: &str) -> Result<Option<Zeroizing<String>>> {
        self.opt_string(key).map(|s| s.map(Zeroizing::new))
    }

    /// An optional string field (`undefined` or `null` mean absent).
    pub fn opt_string(&self, key: &str) -> Result<Option<String>> {
        let v = self.get(key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        self.string(key).map(Some)
    }

    /// An optional boolean field.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        let v = self.get(key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.as_bool().map(Some).ok_or_else(|| {
            Error::invalid_argument(format!(
                "{}: `{key}` must be true or false, not {}.",
                self.func,
                type_name(&v)
            ))
        })
    }

    /// An optional non-negative whole number (a number, or a string of digits).
    pub fn opt_uint(&self, key: &str, max: u64) -> Result<Option<u64>> {
        let v = self.get(key);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        let n = match (v.as_f64(), v.as_string()) {
            (Some(n), _) => Some(n),
            // A string of digits only (no sign, no decimal point), as a whole number.
            (None, Some(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                Some(s.parse::<u64>().map_or(f64::INFINITY, |n| n as f64))
            }
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= max as f64 => {
                Ok(Some(n as u64))
            }
            _ => Err(Error::invalid_argument(format!(
                "{}: `{key}` must be a whole number from 0 to {max}.",
                self.func
            ))),
        }
    }

    /// An optional array of strings (`undefined` or `null` mean empty).
    pub fn opt_string_list(&self, key: &str) -> Result<Vec<String>> {
        let v = self.get(key);
        if v.is_undefined() || v.is_null() {
            return Ok(Vec::new());
        }
        if !Array::is_array(&v) {
            return Err(Error::invalid_argument(format!(
                "{}: `{key}` must be an array of strings, not {}.",
                self.func,
                type_name(&v)
            )));
        }
        Array::from(&v)
            .iter()
            .map(|x| {
                x.as_string().ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "{}: `{key}` must hold only strings.",
                        self.func
                    ))
                })
            })
            .collect()
    }

    /// A required record of string values. Numbers and booleans are accepted and turned into
    /// their string form (`{ conid: 265598 }` works); anything else is refused.
    pub fn record(&self, key: &str) -> Result<Vec<(String, String)>> {
        let v = self.get(key);
        if v.is_undefined() || v.is_null() {
            return Err(Error::invalid_argument(format!(
                "{}: `{key}` is required (an object of string values).",
                self.func
            )));
        }
        if !v.is_object() || Array::is_array(&v) {
            return Err(Error::invalid_argument(format!(
                "{}: `{key}` must be an object of string values, not {}.",
                self.func,
                type_name(&v)
            )));
        }
        let entries = Object::entries(&Object::from(v));
        let mut out = Vec::with_capacity(entries.length() as usize);
        for entry in entries.iter() {
            let pair = Array::from(&entry);
            let k = pair.get(0).as_string().unwrap_or_default();
            let val = pair.get(1);
            let s = if let Some(s) = val.as_string() {
                s
            } else if let Some(b) = val.as_bool() {
                b.to_string()
            } else if let Some(n) = val.as_f64().filter(|n| n.is_finite()) {
                js_sys::JsString::from(JsValue::from_f64(n)).into()
            } else {
                return Err(Error::invalid_argument(format!(
                    "{}: `{key}.{k}` must be a string, not {}.",
                    self.func,
                    type_name(&val)
                )));
            };
            out.push((k, s));
        }
        Ok(out)
    }
}
