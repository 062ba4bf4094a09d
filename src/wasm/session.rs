//! `IbkrSession` and `OAuth1ThirdParty` for JavaScript: the Rust session over [`JsHost`].

use std::cell::Cell;
use std::rc::Rc;

use crate::session::flight::LocalBoxFuture;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::args::Opts;
use super::host::{get, JsHost, MAX_RESPONSE_BYTES_LIMIT};
use super::{to_js, JsResult};
use crate::error::{Error, Result};
use crate::keys::PrivateKey;
use crate::oauth1::request;
use crate::session::pacing::{Limit, PathMatch};
use crate::session::third_party::ThirdParty;
use crate::session::websocket;
use crate::session::{
    Auth, Call, Host, Level, Oauth1Credentials, Oauth1Inputs, Oauth2Credentials, Options, Pacer,
    Session,
};

/// The Client Portal Gateway's default API base.
const GATEWAY_BASE_URL: &str = "https://localhost:5000/v1/api";

/// Runs `fut` as a Promise that rejects with an `IbkrAuthError`.
fn promise<F>(fut: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    boxed_promise(Box::pin(fut))
}

/// One instance of the executor glue for every method: each method's future is boxed, so
/// `future_to_promise` and its task plumbing are compiled once rather than per future type.
fn boxed_promise(fut: LocalBoxFuture<'static, Result<JsValue>>) -> Promise {
    js_promise(Box::pin(async move { fut.await.map_err(to_js) }))
}

fn js_promise(fut: LocalBoxFuture<'static, std::result::Result<JsValue, JsValue>>) -> Promise {
    future_to_promise(fut)
}

/// JSON text to a JS value: `null` for an empty body, the text itself if it is not JSON.
fn parse_json(text: &str) -> JsValue {
    parse_json_js(&JsValue::from_str(text))
}

/// A body as JSON (`null` when empty; the text itself when it is not JSON), parsed in JS: a body
/// read with [`super::host::JsResponse::text_js`] never crosses into the module.
fn parse_json_js(text: &JsValue) -> JsValue {
    let trimmed = js_sys::JsString::from(text.clone()).trim();
    if trimmed.length() == 0 {
        return JsValue::NULL;
    }
    // Text that is not JSON is returned as it is without JSON.parse throwing, where that is
    // cheap to tell (a caught exception costs a slot of the module's table of JS values: see
    // `host::get`): a value must start with one of `{["-0123456789`, or be a literal whole.
    let first = char::from_u32(trimmed.char_code_at(0) as u32).unwrap_or('\0');
    match first {
        '{' | '[' | '"' | '-' | '0'..='9' => {}
        't' | 'f' | 'n' => {
            return match String::from(trimmed).as_str() {
                "true" => JsValue::TRUE,
                "false" => JsValue::FALSE,
                "null" => JsValue::NULL,
                _ => text.clone(),
            }
        }
        _ => return text.clone(),
    }
    let parse = get(&get(&js_sys::global(), "JSON"), "parse");
    parse
        .dyn_into::<Function>()
        .ok()
        .and_then(|f| f.call1(&JsValue::UNDEFINED, text).ok())
        .unwrap_or_else(|| text.clone())
}

/// Headers given as a `Headers`, an array of pairs, or a plain object.
fn header_pairs(h: &JsValue) -> Vec<(String, String)> {
    if h.is_undefined() || h.is_null() {
        return Vec::new();
    }
    let entries: Array = if get(h, "forEach").is_function() && get(h, "entries").is_function() {
        get(h, "entries")
            .dyn_into::<Function>()
            .ok()
            .and_then(|f| f.call0(h).ok())
            .map(|it| Array::from(&it))
            .unwrap_or_default()
    } else if Array::is_array(h) {
        Array::from(h)
    } else {
        Object::entries(&Object::from(h.clone()))
    };
    entries
        .iter()
        .filter_map(|e| {
            let pair = Array::from(&e);
            Some((pair.get(0).as_string()?, pair.get(1).as_string()?))
        })
        .collect()
}

/// `pacing`: `true` (IBKR's published limits, the default), `false`, or your own limits:
/// `[{ path: "/tickle" | "/pa/*" | "*", limit: 1, windowMs: 1000 }, …]`.
fn pacing(v: &JsValue, default: fn() -> Pacer) -> Result<Pacer> {
    if v.is_undefined() || v.is_null() {
        return Ok(default());
    }
    if let Some(b) = v.as_bool() {
        return Ok(if b { default() } else { Pacer::off() });
    }
    let bad = || {
        Error::invalid_argument("`pacing` must be true, false, or an array of { path, limit, windowMs } (path \"/tickle\", \"/pa/*\" or \"*\").")
    };
    if !Array::is_array(v) {
        return Err(bad());
    }
    let mut limits = Vec::new();
    for item in Array::from(v).iter() {
        let o = Opts::new("pacing", &item).map_err(|_| bad())?;
        let path = o.string("path")?;
        let paths = match path.as_str() {
            "*" => PathMatch::All,
            p if p.as_bytes().last() == Some(&b'*') => {
                PathMatch::Prefix(p.trim_end_matches('*').to_owned())
            }
            p => PathMatch::Exact(p.to_owned()),
        };
        let limit = o
            .opt_uint("limit", 1_000_000)?
            .filter(|&n| n > 0)
            .ok_or_else(bad)? as usize;
        let window_ms = o
            .opt_uint("windowMs", 86_400_000)?
            .filter(|&n| n > 0)
            .ok_or_else(bad)? as f64;
        limits.push(Limit {
            paths,
            limit,
            window_ms,
        });
    }
    Ok(Pacer::new(limits))
}

/// The options every session kind shares (`Common` in api.md).
fn common_options(o: &Opts<'_>, obj: &JsValue) -> Result<(JsHost, Options)> {
    common_options_for(o, obj, Options::default(), Pacer::ibkr)
}

fn common_options_for(
    o: &Opts<'_>,
    obj: &JsValue,
    mut opts: Options,
    default_pacer: fn() -> Pacer,
) -> Result<(JsHost, Options)> {
    let host = JsHost::new(get(obj, "fetch"), get(obj, "clock"), get(obj, "logger"))?
        .with_native_crypto(o.opt_bool("nativeCrypto")?.unwrap_or(true))
        .with_store(get(obj, "store"))?
        .with_max_response_bytes(o.opt_uint("maxResponseBytes", MAX_RESPONSE_BYTES_LIMIT)?);
    if let Some(ms) = o.opt_uint("storeWaitMs", 3_600_000)? {
        opts.store.wait_ms = ms as f64;
    }
    if let Some(ms) = o.opt_uint("storeLeaseMs", 3_600_000)? {
        opts.store.lease_ms = ms.max(100);
    }
    if let Some(ms) = o.opt_uint("storeTimeoutMs", 600_000)? {
        opts.store.op_timeout_ms = ms.max(1);
    }
    if let Some(base) = o.opt_string("baseUrl")? {
        opts.base_urls = vec![base];
    }
    let hosts = get(obj, "hosts");
    if !hosts.is_undefined() && !hosts.is_null() {
        if !Array::is_array(&hosts) {
            return Err(Error::invalid_argument("`hosts` must be an array of API base URLs, e.g. [\"https://1.api.ibkr.com/v1/api\"]."));
        }
        for h in Array::from(&hosts).iter() {
            let h = h.as_string().ok_or_else(|| {
                Error::invalid_argument("`hosts` must hold strings (API base URLs).")
            })?;
            if !opts.base_urls.iter().any(|b| b.eq_ignore_ascii_case(&h)) {
                opts.base_urls.push(h);
            }
        }
    }
    if let Some(ua) = o.opt_string("userAgent")? {
        opts.user_agent = ua;
    }
    if let Some(t) = o.opt_uint("timeoutMs", 3_600_000)? {
        opts.timeout_ms = t.max(1);
    }
    if let Some(m) = o.opt_uint("refreshMarginMs", 23 * 3_600_000)? {
        opts.refresh_margin_ms = m as f64;
    }
    if let Some(sq) = o.opt_bool("signQuery")? {
        opts.sign_query = sq;
    }
    opts.pacer = pacing(&get(obj, "pacing"), default_pacer)?;
    if let Some(r) = o.opt_uint("maxRetries", 10)? {
        opts.max_retries = r as u32;
    }
    if let Some(c) = o.opt_bool("compete")? {
        opts.compete = c;
    }
    if let Some(n) = o.opt_uint("statusPolls", 100)? {
        opts.auth_polls = n as u32;
    }
    if let Some(ms) = o.opt_uint("statusPollMs", 60_000)? {
        opts.auth_poll_ms = ms;
    }
    Ok((host, opts))
}

thread_local! {
    /// JS copies of the few constant strings in signed headers (names, User-Agent, Accept).
    static INTERNED: std::cell::RefCell<Vec<(String, JsValue)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The JS string for `s`, made once for up to 16 distinct strings (then made each time).
fn interned(s: &str) -> JsValue {
    INTERNED.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some((_, v)) = cache.iter().find(|(k, _)| k == s) {
            return v.clone();
        }
        let v = JsValue::from_str(s);
        if cache.len() < 16 {
            cache.push((s.to_owned(), v.clone()));
        }
        v
    })
}

/// `intervalMs` of `keepAlive` and `keepAliveOnce`: 60 s by default, at least 1 s.
fn keep_alive_interval(o: &JsValue) -> Result<u64> {
    if o.is_undefined() || o.is_null() {
        return Ok(60_000);
    }
    Ok(Opts::new("keepAlive", o)?
        .opt_uint("intervalMs", 3_600_000)?
        .unwrap_or(60_000)
        .max(1000))
}

/// A session with IBKR: tokens, signing, recovery and keep-alive, over the `fetch` you pass.
#[wasm_bindgen]
pub struct IbkrSession {
    session: Session<JsHost>,
}

#[wasm_bindgen]
impl IbkrSession {
    /// `IbkrSession.oauth1({ consumerKey, accessToken, accessTokenSecret, signatureKey,
    /// encryptionKey, dhParams, realm?, ...Common })`. Parses the keys and decrypts the secret
    /// now, so mistakes surface at once.
    #[wasm_bindgen(js_name = "oauth1")]
    pub fn oauth1(o: JsValue) -> JsResult<IbkrSession> {
        let opts = Opts::new("IbkrSession.oauth1", &o)?;
        let realm = opts.opt_string("realm")?;
        let native = opts.opt_bool("nativeCrypto")?.unwrap_or(true);
        let raw: &crate::keys::RawRsaDecrypt<'_> = &super::host::node_raw_rsa_decrypt;
        let creds = Oauth1Credentials::new_with_raw_rsa(
            Oauth1Inputs {
                consumer_key: &opts.string("consumerKey")?,
                access_token: &opts.string("accessToken")?,
                access_token_secret: &opts.secret("accessTokenSecret")?,
                signature_key: &opts.secret("signatureKey")?,
                encryption_key: &opts.secret("encryptionKey")?,
                dh_params: &opts.string("dhParams")?,
                realm: realm.as_deref(),
            },
            native.then_some(raw),
        )?;
        let (host, options) = common_options(&opts, &o)?;
        Ok(IbkrSession {
            session: Session::new(host, creds, options)?,
        })
    }

    /// `IbkrSession.oauth2({ clientId, clientKeyId, credential, privateKey, ip?, ipLookup?,
    /// alternativeIps?, ...Common })`: access token → SSO session → validate → ssodh/init.
    #[wasm_bindgen(js_name = "oauth2")]
    pub fn oauth2(o: JsValue) -> JsResult<IbkrSession> {
        let opts = Opts::new("IbkrSession.oauth2", &o)?;
        let ip = opts.opt_string("ip")?;
        let creds = Oauth2Credentials::new(
            &opts.string("clientId")?,
            &opts.string("clientKeyId")?,
            &opts.secret("credential")?,
            &opts.secret("privateKey")?,
            ip.as_deref(),
            opts.opt_string_list("alternativeIps")?,
        )?;
        let (host, options) = common_options(&opts, &o)?;
        let lookup = get(&o, "ipLookup");
        let url = (ip.is_none() && (lookup.is_undefined() || lookup.is_null()))
            .then(|| "https://api.ipify.org".to_owned());
        let host = host.with_ip_lookup(lookup, url)?;
        Ok(IbkrSession {
            session: Session::new(host, creds, options)?,
        })
    }

    /// `IbkrSession.gateway({ baseUrl = "https://localhost:5000/v1/api", ...Common })`: the Client
    /// Portal Gateway the user runs. No signing; `compete` defaults to false; pacing to 10 req/s.
    #[wasm_bindgen(js_name = "gateway")]
    pub fn gateway(o: JsValue) -> JsResult<IbkrSession> {
        let o = if o.is_undefined() || o.is_null() {
            Object::new().into()
        } else {
            o
        };
        let opts = Opts::new("IbkrSession.gateway", &o)?;
        let defaults = Options {
            base_urls: vec![GATEWAY_BASE_URL.to_owned()],
            compete: false,
            ..Options::default()
        };
        let (host, options) = common_options_for(&opts, &o, defaults, Pacer::gateway)?;
        Ok(IbkrSession {
            session: Session::new(host, Auth::Gateway, options)?,
        })
    }

    /// `ensureAuthenticated({ compete })`: status; if not authenticated, ssodh/init (or
    /// reauthenticate), validate, and poll until it is. Resolves to the status.
    #[wasm_bindgen(js_name = "ensureAuthenticated")]
    pub fn ensure_authenticated(&self, o: JsValue) -> Promise {
        let s = self.session.clone();
        promise(async move {
            let compete = if o.is_undefined() || o.is_null() {
                None
            } else {
                Opts::new("ensureAuthenticated", &o)?.opt_bool("compete")?
            };
            Ok(parse_json(
                &s.ensure_authenticated(compete.unwrap_or(s.compete_default()))
                    .await?,
            ))
        })
    }

    /// `POST /iserver/reauthenticate`.
    pub fn reauthenticate(&self) -> Promise {
        let s = self.session.clone();
        promise(async move { Ok(parse_json(&s.reauthenticate().await?)) })
    }

    /// Switches the API host at run time, e.g. `setBaseUrl("https://1.api.ibkr.com/v1/api")`.
    #[wasm_bindgen(js_name = "setBaseUrl")]
    pub fn set_base_url(&self, url: JsValue) -> JsResult<()> {
        Ok(self
            .session
            .set_base_url(&super::args::string("setBaseUrl", "url", &url)?)?)
    }

    /// The API base URL in use.
    #[wasm_bindgen(getter, js_name = "baseUrl")]
    pub fn base_url(&self) -> String {
        self.session.base_url()
    }

    /// `{ token, expiresAt }`: the live session token (a secret) and its expiry in ms.
    #[wasm_bindgen(js_name = "liveSessionToken")]
    pub fn live_session_token(&self) -> Promise {
        let s = self.session.clone();
        promise(async move {
            let (token, expires_at) = s.live_session_token().await?;
            #[derive(serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Lst<'a> {
                token: &'a str,
                expires_at: f64,
            }
            Ok(super::to_js_value(&Lst {
                token: &token,
                expires_at,
            }))
        })
    }

    /// `request(method, path, { query, body, headers, signal })`: the parsed JSON response.
    pub fn request(&self, method: JsValue, path: JsValue, o: JsValue) -> Promise {
        let s = self.session.clone();
        let call = (|| {
            const F: &str = "request";
            let method = super::args::string(F, "method", &method)?;
            crate::oauth1::base::normalise_method(&method)?;
            let path = super::args::string(F, "path", &path)?;
            let mut call = Call::new(&method, &path);
            if !(o.is_undefined() || o.is_null()) {
                let opts = Opts::new(F, &o)?;
                if !get(&o, "query").is_undefined() {
                    call.query = opts.record("query")?;
                }
                call.headers = header_pairs(&get(&o, "headers"));
                let body = get(&o, "body");
                if !body.is_undefined() {
                    let text = js_sys::JSON::stringify(&body)
                        .ok()
                        .and_then(|t| t.as_string())
                        .ok_or_else(|| {
                            Error::invalid_argument("request: `body` must be JSON-serialisable.")
                        })?;
                    call.body = Some(JsValue::from_str(&text));
                    call.headers
                        .push(("Content-Type".into(), "application/json".into()));
                }
                let signal = get(&o, "signal");
                call.signal = (!signal.is_undefined() && !signal.is_null()).then_some(signal);
            }
            Ok(call)
        })();
        promise(async move {
            let resp = s.request_response(call?).await?;
            Ok(parse_json_js(&resp.text_js().await?))
        })
    }

    /// A drop-in `fetch`: requests to the session's hosts are signed (and recovered); any other
    /// URL goes to the underlying fetch untouched, so a signature never leaks elsewhere.
    pub fn fetch(&self, input: JsValue, init: JsValue) -> Promise {
        let s = self.session.clone();
        js_promise(Box::pin(async move {
            let is_request = input.is_object()
                && get(&input, "method").is_string()
                && get(&input, "url").is_string();
            // A Request's `url`, a URL's `href`, or the string itself — what fetch would use.
            let url = if is_request {
                get(&input, "url")
            } else if input.is_object() {
                get(&input, "href")
            } else {
                input.clone()
            }
            .as_string()
            .unwrap_or_default();
            if !s.is_own_url(&url) {
                let raw = s
                    .host()
                    .raw_fetch()
                    .call2(&JsValue::UNDEFINED, &input, &init)?;
                return JsFuture::from(Promise::resolve(&raw)).await;
            }
            let init_get = |k: &str| {
                if init.is_object() {
                    get(&init, k)
                } else {
                    JsValue::UNDEFINED
                }
            };
            let method = init_get("method")
                .as_string()
                .or_else(|| {
                    is_request
                        .then(|| get(&input, "method").as_string())
                        .flatten()
                })
                .unwrap_or_else(|| "GET".into());
            let mut call = Call::new(&method, &url);
            if is_request {
                call.headers = header_pairs(&get(&input, "headers"));
            }
            for (k, v) in header_pairs(&init_get("headers")) {
                call.headers.retain(|(ck, _)| !ck.eq_ignore_ascii_case(&k));
                call.headers.push((k, v));
            }
            let body = init_get("body");
            call.body = if !body.is_undefined() && !body.is_null() {
                Some(body)
            } else if is_request && !matches!(call.method.as_str(), "GET" | "HEAD") {
                // The body of a Request can be read once: keep the bytes to resend after a 401.
                let clone = get(&input, "clone").dyn_into::<Function>()?.call0(&input)?;
                let buf = get(&clone, "arrayBuffer")
                    .dyn_into::<Function>()?
                    .call0(&clone)?;
                let bytes = JsFuture::from(Promise::resolve(&buf)).await?;
                (js_sys::ArrayBuffer::from(bytes.clone()).byte_length() > 0)
                    .then(|| js_sys::Uint8Array::new(&bytes).into())
            } else {
                None
            };
            let signal = init_get("signal");
            let signal = if signal.is_object() {
                signal
            } else if is_request {
                get(&input, "signal")
            } else {
                JsValue::UNDEFINED
            };
            call.signal = signal.is_object().then_some(signal);
            let resp = s.send(call).await.map_err(to_js)?;
            Ok(resp.raw)
        }))
    }

    /// `authorize(method, url)`: the signed headers, for any other HTTP client. With a fresh
    /// token this signs at once (no task is scheduled); otherwise it waits for the handshake.
    pub fn authorize(&self, method: JsValue, url: JsValue) -> Promise {
        let args = (|| {
            let method = super::args::string("authorize", "method", &method)?;
            let url = super::args::string("authorize", "url", &url)?;
            if !self.session.is_own_url(&url) {
                return Err(Error::invalid_argument("authorize: the URL is not on this session's API base; only the session's own hosts get a signature."));
            }
            Ok((method, url))
        })();
        let (method, url) = match args {
            Ok(a) => a,
            Err(e) => return Promise::reject(&to_js(e)),
        };
        let headers_object = |headers: Vec<(String, String)>| {
            let out = Object::new();
            for (k, mut v) in headers {
                // Header names and the constant values cross into JS once, not per signature.
                let value = if k == "Authorization" {
                    let js = JsValue::from_str(&v);
                    zeroize::Zeroize::zeroize(&mut v); // may be a bearer token
                    js
                } else {
                    interned(&v)
                };
                let _ = js_sys::Reflect::set(&out, &interned(&k), &value);
            }
            JsValue::from(out)
        };
        if let Some(now) = self.session.authorize_now(&method, &url) {
            return match now {
                Ok(h) => Promise::resolve(&headers_object(h)),
                Err(e) => Promise::reject(&to_js(e)),
            };
        }
        let s = self.session.clone();
        promise(async move { Ok(headers_object(s.authorize(&method, &url).await?)) })
    }

    /// `initBrokerage({ compete = true, publish = true })`: `POST /iserver/auth/ssodh/init`.
    #[wasm_bindgen(js_name = "initBrokerage")]
    pub fn init_brokerage(&self, o: JsValue) -> Promise {
        let s = self.session.clone();
        promise(async move {
            let (mut compete, mut publish) = (true, true);
            if !(o.is_undefined() || o.is_null()) {
                let opts = Opts::new("initBrokerage", &o)?;
                compete = opts.opt_bool("compete")?.unwrap_or(true);
                publish = opts.opt_bool("publish")?.unwrap_or(true);
            }
            Ok(parse_json(&s.init_brokerage(compete, publish).await?))
        })
    }

    /// `POST /iserver/auth/status`.
    pub fn status(&self) -> Promise {
        let s = self.session.clone();
        promise(async move { Ok(parse_json(&s.status().await?)) })
    }

    /// `POST /tickle`.
    pub fn tickle(&self) -> Promise {
        let s = self.session.clone();
        promise(async move { Ok(parse_json(&s.tickle().await?)) })
    }

    /// `GET /sso/validate`.
    pub fn validate(&self) -> Promise {
        let s = self.session.clone();
        promise(async move { Ok(parse_json(&s.validate().await?)) })
    }

    /// `POST /logout`; the live session token is forgotten.
    pub fn logout(&self) -> Promise {
        let s = self.session.clone();
        promise(async move {
            s.logout().await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// `keepAliveOnce({ intervalMs = 60000 }?)`: one keep-alive round now →
    /// `{ authenticated, reinitialised, skipped }`. With a shared store, one process of the
    /// fleet tickles per `intervalMs`; the others' rounds are `skipped`.
    #[wasm_bindgen(js_name = "keepAliveOnce")]
    pub fn keep_alive_once(&self, o: JsValue) -> Promise {
        let s = self.session.clone();
        promise(async move {
            let interval = keep_alive_interval(&o)?;
            let r = s.keep_alive_round(interval).await?;
            #[derive(serde::Serialize)]
            struct Tick {
                authenticated: bool,
                reinitialised: bool,
                skipped: bool,
            }
            Ok(super::to_js_value(&Tick {
                authenticated: r.authenticated,
                reinitialised: r.reinitialised,
                skipped: r.skipped,
            }))
        })
    }

    /// `refresh({ withinMs = 3600000 }?)`: for a scheduled refresher — makes sure a token good
    /// for more than `withinMs` exists (the one in hand, the stored one, or a new one, stored
    /// for the fleet) → `{ refreshed, expiresAt, generation }`.
    pub fn refresh(&self, o: JsValue) -> Promise {
        let s = self.session.clone();
        promise(async move {
            let within = if o.is_undefined() || o.is_null() {
                None
            } else {
                Opts::new("refresh", &o)?.opt_uint("withinMs", 30 * 24 * 3_600_000)?
            };
            let r = s.refresh(within.unwrap_or(3_600_000) as f64).await?;
            #[derive(serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Refresh {
                refreshed: bool,
                expires_at: f64,
                generation: f64,
            }
            Ok(super::to_js_value(&Refresh {
                refreshed: r.refreshed,
                expires_at: r.expires_at,
                generation: r.generation as f64,
            }))
        })
    }

    /// `websocketInfo({ fresh = false, repair = false }?)`: what to open IBKR's streaming
    /// WebSocket with → `{ url, headers, cookie, session, firstMessage, generation, ticMs,
    /// keepAliveMs }` (the session value, the cookie and for OAuth 2.0 the headers are secrets).
    /// `fresh`: ask `/tickle` for the session value even if the token's is known; `repair`: make
    /// sure the brokerage session is authenticated first.
    #[wasm_bindgen(js_name = "websocketInfo")]
    pub fn websocket_info(&self, o: JsValue) -> Promise {
        let s = self.session.clone();
        promise(async move {
            let (mut fresh, mut repair) = (false, false);
            if !(o.is_undefined() || o.is_null()) {
                let opts = Opts::new("websocketInfo", &o)?;
                fresh = opts.opt_bool("fresh")?.unwrap_or(false);
                repair = opts.opt_bool("repair")?.unwrap_or(false);
            }
            let info = s.websocket_info(fresh, repair).await?;
            let out = Object::new();
            let set = |k: &str, v: &JsValue| {
                let _ = Reflect::set(&out, &JsValue::from_str(k), v);
            };
            let headers = Object::new();
            for (k, v) in &info.headers {
                let _ = Reflect::set(&headers, &JsValue::from_str(k), &JsValue::from_str(v));
            }
            set("url", &JsValue::from_str(&info.url));
            set("headers", &headers.into());
            set("cookie", &JsValue::from_str(&info.cookie));
            set("session", &JsValue::from_str(&info.session));
            set("firstMessage", &JsValue::from_str(&info.first_message));
            set("generation", &JsValue::from_f64(info.generation as f64));
            set("ticMs", &JsValue::from_f64(websocket::TIC_MS as f64));
            set(
                "keepAliveMs",
                &JsValue::from_f64(websocket::KEEP_ALIVE_MS as f64),
            );
            Ok(out.into())
        })
    }

    /// `websocketCurrent(generation)`: whether the token of that generation is still the one in
    /// use (`IbkrStream` reopens the socket with the new session value when it is not).
    #[wasm_bindgen(js_name = "websocketCurrent")]
    pub fn websocket_current(&self, generation: JsValue) -> JsResult<bool> {
        match generation.as_f64() {
            Some(g) if g.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&g) => {
                Ok(self.session.websocket_current(g as u64))
            }
            _ => Err(Error::invalid_argument(
                "websocketCurrent: generation must be a whole number: pass the generation websocketInfo() returned.",
            )
            .into()),
        }
    }

    /// `websocketClosed({ code, reason, opened, authenticated, httpStatus, attempt,
    /// authRefusals, prepareError, streamed, brokerageLost })`: what `IbkrStream` does after a close →
    /// `{ action: "reconnect", delayMs, fresh, repair, refused }` or `{ action: "fail", error }`.
    #[wasm_bindgen(js_name = "websocketClosed")]
    pub fn websocket_closed(&self, o: JsValue) -> JsResult<JsValue> {
        let opts = Opts::new("websocketClosed", &o)?;
        let prepare_error = match opts.opt_string("prepareError")? {
            None => None,
            Some(c) => Some(
                crate::error::ErrorCode::parse(&c).ok_or_else(|| {
                        let c: String = c.chars().take(40).collect();
                        Error::invalid_argument(format!(
                            "websocketClosed: `prepareError` {c:?} is not an error code; pass the `code` of the IbkrAuthError that preparing the socket threw."
                        ))
                    })?,
            ),
        };
        let c = websocket::Closed {
            code: opts.opt_uint("code", 4999)?.unwrap_or(1006) as u16,
            reason: opts.opt_string("reason")?.unwrap_or_default(),
            opened: opts.opt_bool("opened")?.unwrap_or(false),
            authenticated: opts.opt_bool("authenticated")?.unwrap_or(false),
            http_status: opts.opt_uint("httpStatus", 999)?.map(|s| s as u16),
            attempt: opts.opt_uint("attempt", 1_000_000)?.unwrap_or(0) as u32,
            auth_refusals: opts.opt_uint("authRefusals", 1_000_000)?.unwrap_or(0) as u32,
            prepare_error,
            streamed: opts.opt_bool("streamed")?.unwrap_or(false),
            brokerage_lost: opts.opt_bool("brokerageLost")?.unwrap_or(false),
        };
        let out = Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = Reflect::set(&out, &JsValue::from_str(k), &v);
        };
        match self.session.websocket_closed(&c) {
            websocket::CloseAction::Reconnect {
                delay_ms,
                fresh,
                repair,
                refused,
            } => {
                set("action", "reconnect".into());
                set("delayMs", JsValue::from_f64(delay_ms as f64));
                set("fresh", fresh.into());
                set("repair", repair.into());
                set("refused", refused.into());
            }
            websocket::CloseAction::Fail(e) => {
                set("action", "fail".into());
                set("error", to_js(e));
            }
        }
        Ok(out.into())
    }

    /// `keepAlive({ intervalMs = 60000 })`: tickles on a timer and repairs the brokerage
    /// session; returns `{ stop() }`.
    #[wasm_bindgen(js_name = "keepAlive")]
    pub fn keep_alive(&self, o: JsValue) -> JsResult<KeepAlive> {
        let interval = keep_alive_interval(&o)?;
        let s = self.session.clone();
        let busy = Rc::new(Cell::new(false));
        let tick = Closure::<dyn FnMut()>::new(move || {
            if busy.replace(true) {
                return;
            }
            let (s, busy) = (s.clone(), busy.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = s.keep_alive_round(interval).await {
                    s.host().log(
                        Level::Error,
                        &format!("keep-alive: {}: {}", e.code(), e.message()),
                    );
                }
                busy.set(false);
            });
        });
        let set_interval = Reflect::get(&js_sys::global(), &"setInterval".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| {
                Error::invalid_argument("keepAlive needs setInterval, which this runtime lacks.")
            })?;
        // The timer owns the callback: a handle that is thrown away and collected must neither
        // stop the keep-alive nor leave the timer calling a freed closure. The closure is freed
        // once the interval is cleared and the JS function collected.
        let tick = tick.into_js_value();
        let id = set_interval
            .call2(
                &JsValue::UNDEFINED,
                &tick,
                &JsValue::from_f64(interval as f64),
            )
            .map_err(|_| Error::invalid_argument("keepAlive: setInterval failed."))?;
        self.session.host().log(
            Level::Info,
            &format!("keep-alive: tickling every {} s", interval / 1000),
        );
        Ok(KeepAlive { id: Some(id) })
    }
}

/// The handle `keepAlive()` returns. Dropping or discarding it does not stop the timer: only
/// `stop()` does.
#[wasm_bindgen]
pub struct KeepAlive {
    id: Option<JsValue>,
}

#[wasm_bindgen]
impl KeepAlive {
    /// Stops the timer. A tickle already under way finishes on its own.
    pub fn stop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        if let Some(clear) = Reflect::get(&js_sys::global(), &"clearInterval".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
        {
            let _ = clear.call1(&JsValue::UNDEFINED, &id);
        }
    }
}

/// The third-party flow, for apps that act for other IBKR users.
#[wasm_bindgen(js_name = "OAuth1ThirdParty")]
pub struct OAuth1ThirdParty {
    flow: Rc<ThirdParty<JsHost>>,
    callback: String,
}

#[wasm_bindgen(js_class = "OAuth1ThirdParty")]
impl OAuth1ThirdParty {
    /// `new OAuth1ThirdParty({ consumerKey, signatureKey, callback = "oob", realm?, baseUrl?, fetch?, ... })`.
    #[wasm_bindgen(constructor)]
    pub fn new(o: JsValue) -> JsResult<OAuth1ThirdParty> {
        let opts = Opts::new("OAuth1ThirdParty", &o)?;
        let key = PrivateKey::from_pem(&opts.secret("signatureKey")?, "signatureKey")?;
        let (host, options) = common_options(&opts, &o)?;
        let realm = opts.opt_string("realm")?;
        let base = options
            .base_urls
            .first()
            .cloned()
            .unwrap_or_else(|| request::DEFAULT_BASE_URL.into());
        let flow = ThirdParty::new(
            host,
            &opts.string("consumerKey")?,
            key,
            realm.as_deref(),
            &base,
            options.timeout_ms,
            &options.user_agent,
        )?;
        let callback = opts.opt_string("callback")?.unwrap_or_else(|| "oob".into());
        Ok(OAuth1ThirdParty {
            flow: Rc::new(flow),
            callback,
        })
    }

    /// Step 1: a request token (string).
    #[wasm_bindgen(js_name = "requestToken")]
    pub fn request_token(&self) -> Promise {
        let (flow, callback) = (self.flow.clone(), self.callback.clone());
        promise(async move { Ok(JsValue::from_str(&flow.request_token(&callback).await?)) })
    }

    /// Step 2: the URL to send the user's browser to.
    #[wasm_bindgen(js_name = "authorizeUrl")]
    pub fn authorize_url(&self, request_token: JsValue, base: JsValue) -> JsResult<String> {
        let token = super::args::string("authorizeUrl", "requestToken", &request_token)?;
        Ok(self
            .flow
            .authorize_url(&token, base.as_string().as_deref())?)
    }

    /// Step 3: `accessToken({ token, verifier })` → `{ accessToken, accessTokenSecret, isPaper }`.
    #[wasm_bindgen(js_name = "accessToken")]
    pub fn access_token(&self, o: JsValue) -> Promise {
        let flow = self.flow.clone();
        promise(async move {
            let opts = Opts::new("accessToken", &o)?;
            let (token, verifier) = (opts.secret("token")?, opts.string("verifier")?);
            let at = flow.access_token(&token, &verifier).await?;
            #[derive(serde::Serialize)]
            #[serde(rename_all = "camelCase")]
            struct AccessToken<'a> {
                access_token: &'a str,
                access_token_secret: &'a str,
                is_paper: bool,
            }
            Ok(super::to_js_value(&AccessToken {
                access_token: &at.access_token,
                access_token_secret: &at.access_token_secret,
                is_paper: at.is_paper,
            }))
        })
    }
}
