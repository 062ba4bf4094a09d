//! The gateway login's JavaScript face: `totp`, `ocra` and the `GatewayLogin` state machine.
//! Secrets (the password, TOTP and OCRA keys, the PIN) are read into wiped buffers; form values
//! and the login cookie are copied straight from wiped buffers into JS strings.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use super::args::{self, Opts};
use super::{secret_out, to_js_value, JsResult};
use crate::encoding::hex_decode;
use crate::error::Error;
use crate::gateway_login::{self as gateway, OcraInput, OcraPin, OtpHash};

/// Largest time accepted, in milliseconds (JavaScript's largest safe integer).
const MAX_TIME_MS: u64 = 9_007_199_254_740_991;
/// Largest OCRA counter: 16 decimal digits (they are read as 8 bytes of hex).
const MAX_COUNTER: u64 = 9_999_999_999_999_999;

/// `totp({ secret, time, digits = 6, period = 30, algorithm = 'SHA1' })`: the RFC 6238 code.
/// `secret` is base32 as authenticator apps show it; `time` is milliseconds since the epoch.
#[wasm_bindgen]
pub fn totp(o: JsValue) -> JsResult<String> {
    const F: &str = "totp";
    let o = Opts::new(F, &o)?;
    let secret = gateway::decode_base32_secret(&o.secret("secret")?)?;
    let time = o.opt_uint("time", MAX_TIME_MS)?.ok_or_else(|| {
        Error::invalid_argument(
            "totp: `time` is required (milliseconds since the epoch, e.g. Date.now()).",
        )
    })?;
    let digits = o.opt_uint("digits", 10)?.unwrap_or(6);
    let period = o.opt_uint("period", 86_400)?.unwrap_or(30);
    let hash = match o.opt_string("algorithm")? {
        None => OtpHash::Sha1,
        Some(name) => OtpHash::parse(&name).ok_or_else(|| {
            Error::invalid_argument("totp: `algorithm` must be 'SHA1', 'SHA256' or 'SHA512'.")
        })?,
    };
    Ok(gateway::totp(
        secret.expose(),
        time / 1000,
        period,
        digits as u32,
        hash,
    )?)
}

/// `ocra({ suite, key, counter?, question, pin?, pinHash?, session?, time? })`: the RFC 6287
/// answer. `key` is hex; `pinHash` and `session` hex; `time` milliseconds since the epoch.
#[wasm_bindgen]
pub fn ocra(o: JsValue) -> JsResult<String> {
    const F: &str = "ocra";
    let o = Opts::new(F, &o)?;
    let suite = o.string("suite")?;
    let key_hex = o.secret("key")?;
    let key = zeroize::Zeroizing::new(hex_decode(&key_hex).map_err(|e| {
        Error::invalid_argument(format!("ocra: `key` must be hex: {}.", e.describe()))
    })?);
    let counter = o.opt_uint("counter", MAX_COUNTER)?;
    let question = o.string("question")?;
    let pin = o.opt_secret("pin")?;
    let pin_hash = match o.opt_secret("pinHash")? {
        Some(h) => Some(zeroize::Zeroizing::new(hex_decode(&h).map_err(|e| {
            Error::invalid_argument(format!("ocra: `pinHash` must be hex: {}.", e.describe()))
        })?)),
        None => None,
    };
    if pin.is_some() && pin_hash.is_some() {
        return Err(Error::invalid_argument("ocra: pass `pin` or `pinHash`, not both.").into());
    }
    let session = o.opt_string("session")?;
    let time = o.opt_uint("time", MAX_TIME_MS)?;
    let pin = match (&pin, &pin_hash) {
        (Some(p), _) => Some(OcraPin::Text(p.as_str())),
        (None, Some(h)) => Some(OcraPin::Hash(h.as_slice())),
        (None, None) => None,
    };
    let input = OcraInput {
        counter,
        question: &question,
        pin,
        session_hex: session.as_deref(),
        unix_seconds: time.map(|t| t / 1000),
    };
    Ok(gateway::ocra(&suite, &key, &input)?)
}

/// A form as a plain object of strings, each copied straight from its wiped buffer.
fn form_out(form: &gateway::Form) -> JsValue {
    let obj = Object::new();
    for (k, v) in form.fields() {
        let _ = Reflect::set(&obj, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    obj.into()
}

/// The gateway's headless login, step by step (no I/O: the caller sends each form to the
/// gateway and passes each reply back).
#[wasm_bindgen(js_name = "GatewayLogin")]
pub struct GatewayLogin(gateway::GatewayLogin);

#[derive(serde::Serialize)]
struct InitOut {
    again: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    paper: Option<bool>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct CompleteAuthOut {
    second_factors: Vec<String>,
}

#[derive(serde::Serialize)]
struct ChallengeOut<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge: Option<&'a str>,
}

#[wasm_bindgen(js_class = "GatewayLogin")]
impl GatewayLogin {
    /// `new GatewayLogin({ username, password })`.
    #[wasm_bindgen(constructor)]
    pub fn new(o: JsValue) -> JsResult<GatewayLogin> {
        let o = Opts::new("GatewayLogin", &o)?;
        let username = o.string("username")?;
        let password = o.secret("password")?;
        Ok(GatewayLogin(gateway::GatewayLogin::new(
            &username, &password,
        )?))
    }

    /// The INIT form.
    #[wasm_bindgen(js_name = "initForm")]
    pub fn init_form(&self) -> JsValue {
        form_out(&self.0.init_form())
    }

    /// Judges INIT's reply: `{ again, paper? }`.
    #[wasm_bindgen(js_name = "initReply")]
    pub fn init_reply(&mut self, xml: JsValue) -> JsResult<JsValue> {
        let xml = args::string("GatewayLogin.initReply", "xml", &xml)?;
        let out = self.0.init_reply(&xml)?;
        Ok(to_js_value(&InitOut {
            again: out.again,
            paper: out.paper,
        }))
    }

    /// The COMPLETEAUTH form (M1, EKX).
    #[wasm_bindgen(js_name = "completeAuthForm")]
    pub fn complete_auth_form(&mut self) -> JsResult<JsValue> {
        Ok(form_out(&self.0.complete_auth_form()?))
    }

    /// The `XYZAB_AM.LOGIN` cookie's value, after `completeAuthForm()`.
    #[wasm_bindgen(getter = loginCookie)]
    pub fn login_cookie(&self) -> JsResult<JsValue> {
        Ok(secret_out(&self.0.login_cookie()?))
    }

    /// Judges COMPLETEAUTH's reply: `{ secondFactors }`.
    #[wasm_bindgen(js_name = "completeAuthReply")]
    pub fn complete_auth_reply(&mut self, xml: JsValue) -> JsResult<JsValue> {
        let xml = args::string("GatewayLogin.completeAuthReply", "xml", &xml)?;
        let second_factors = self.0.complete_auth_reply(&xml)?;
        Ok(to_js_value(&CompleteAuthOut { second_factors }))
    }

    /// The COMPLETEAUTH_1 form for second factor `sf`.
    #[wasm_bindgen(js_name = "secondFactorForm")]
    pub fn second_factor_form(&self, sf: JsValue) -> JsResult<JsValue> {
        let sf = args::string("GatewayLogin.secondFactorForm", "sf", &sf)?;
        Ok(form_out(&self.0.second_factor_form(&sf)?))
    }

    /// Judges COMPLETEAUTH_1's reply: `{ type, challenge? }`.
    #[wasm_bindgen(js_name = "challengeReply")]
    pub fn challenge_reply(&self, xml: JsValue) -> JsResult<JsValue> {
        let xml = args::string("GatewayLogin.challengeReply", "xml", &xml)?;
        let c = self.0.challenge_reply(&xml)?;
        Ok(to_js_value(&ChallengeOut {
            kind: &c.kind,
            challenge: c.challenge.as_deref(),
        }))
    }

    /// The COMPLETETWOFACT form.
    #[wasm_bindgen(js_name = "twoFactorForm")]
    pub fn two_factor_form(&self, sf: JsValue, response: JsValue) -> JsResult<JsValue> {
        const F: &str = "GatewayLogin.twoFactorForm";
        let sf = args::string(F, "sf", &sf)?;
        let response = args::secret(F, "response", &response)?;
        Ok(form_out(&self.0.two_factor_form(&sf, &response)?))
    }

    /// Judges COMPLETETWOFACT's reply; throws `SECOND_FACTOR_FAILED` on refusal.
    #[wasm_bindgen(js_name = "twoFactorReply")]
    pub fn two_factor_reply(&self, xml: JsValue) -> JsResult<()> {
        let xml = args::string("GatewayLogin.twoFactorReply", "xml", &xml)?;
        Ok(self.0.two_factor_reply(&xml)?)
    }

    /// The `/sso/Dispatcher` form; `response` is the second factor's answer ('' without one).
    #[wasm_bindgen(js_name = "dispatcherForm")]
    pub fn dispatcher_form(&self, response: JsValue) -> JsResult<JsValue> {
        let response = if response.is_undefined() || response.is_null() {
            zeroize::Zeroizing::new(String::new())
        } else {
            args::secret("GatewayLogin.dispatcherForm", "response", &response)?
        };
        Ok(form_out(&self.0.dispatcher_form(&response)?))
    }

    /// Judges the Dispatcher's reply; throws `LOGIN_FAILED` unless it is `Client login succeeds`.
    #[wasm_bindgen(js_name = "dispatcherReply")]
    pub fn dispatcher_reply(&self, body: JsValue) -> JsResult<()> {
        let body = args::string("GatewayLogin.dispatcherReply", "body", &body)?;
        Ok(self.0.dispatcher_reply(&body)?)
    }
}
