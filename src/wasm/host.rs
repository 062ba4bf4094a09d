//! The session's [`Host`] over JavaScript: the injected (or global) `fetch`, `AbortController`
//! for timeouts and the caller's signal, `setTimeout` for sleeping, the injected clock and logger.

use std::cell::RefCell;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::error::{Error, ErrorCode, Result};
use crate::keys::PrivateKey;
use crate::session::url::{origin, without_query};
use crate::session::{Host, HttpRequest, HttpResponse, Level};
use zeroize::Zeroizing;

fn global_fn(name: &str) -> Option<Function> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()?
        .dyn_into::<Function>()
        .ok()
}

/// `target[key]`, or `undefined` when `target` is not an object (`Reflect.get` would throw).
///
/// Not throwing matters beyond speed: when an imported JS function throws, the binding's glue
/// still claims an externref table slot for the return value that never came, and nothing frees
/// it, so every caught exception leaks one slot (`tests/soak/growth.mjs` shows the table). Paths
/// taken on every call must not rely on a caught exception.
pub(crate) fn get(target: &JsValue, key: &str) -> JsValue {
    if !(target.is_object() || target.is_function()) {
        return JsValue::UNDEFINED;
    }
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn call_method(
    target: &JsValue,
    name: &str,
    args: &Array,
) -> std::result::Result<JsValue, JsValue> {
    let f = get(target, name)
        .dyn_into::<Function>()
        .map_err(|_| JsValue::from_str(name))?;
    f.apply(target, args)
}

fn error_text(e: &JsValue) -> String {
    let msg = get(e, "message")
        .as_string()
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into());
    let cause = get(&get(e, "cause"), "message")
        .as_string()
        .or_else(|| get(&get(e, "cause"), "code").as_string());
    match cause {
        Some(c) => format!("{msg} ({c})"),
        None => msg,
    }
}

/// What reading a body may take: the request's deadline and the size limit.
#[derive(Clone)]
struct BodyLimits {
    /// `Date.now()` at which the request's `timeoutMs` runs out (it covers the body too).
    deadline: f64,
    timeout_ms: u64,
    max_bytes: u64,
    /// The caller's signal, if any.
    caller: Option<JsValue>,
    set_timeout: Function,
    clear_timeout: Function,
    /// `METHOD url-without-query`, for messages.
    what: String,
}

/// A response from `fetch`. The body is read through `clone()`, so the original stays unread for
/// the caller; it is read in chunks, at most `maxResponseBytes` of it, within what is left of the
/// request's `timeoutMs`, and decoded as strict UTF-8. A response with no body stream is read
/// whole by `arrayBuffer()` within the same time, then refused if it is over `maxResponseBytes`
/// (an object with only `text()`: by it, its length checked, decoded as the object does).
/// The text is kept: a second read is free.
pub struct JsResponse {
    /// The `Response` object itself.
    pub raw: JsValue,
    status: u16,
    limits: BodyLimits,
    text: RefCell<Option<JsValue>>,
}

impl JsResponse {
    /// The body as a JS string, read in JS (it does not cross into the module).
    pub async fn text_js(&self) -> Result<JsValue> {
        if let Some(t) = self.text.borrow().as_ref() {
            return Ok(t.clone());
        }
        let t = read_body(&self.raw, &self.limits).await?;
        *self.text.borrow_mut() = Some(t.clone());
        Ok(t)
    }
}

/// Reads a clone of `raw`'s body as [`JsResponse`] describes.
async fn read_body(raw: &JsValue, l: &BodyLimits) -> Result<JsValue> {
    let network = |e: &JsValue| {
        Error::new(
            ErrorCode::Network,
            format!(
                "{}: reading the response body failed: {}",
                l.what,
                error_text(e)
            ),
        )
    };
    let stopped = |stop: &Stop, e: &JsValue| {
        match stop.why(e) {
        Some(Stopped::Aborted) => Error::new(
            ErrorCode::Aborted,
            "the request was aborted by the caller's signal.",
        ),
        Some(Stopped::Timeout) => Error::new(
            ErrorCode::Timeout,
            format!(
                "{}: the response body did not arrive within {} ms (timeoutMs covers the whole response).",
                l.what, l.timeout_ms
            ),
        ),
        None => network(e),
    }
    };
    let clone = call_method(raw, "clone", &Array::new()).map_err(|e| network(&e))?;
    let body = get(&clone, "body");
    let stop = Stop::new(
        &l.set_timeout,
        &l.clear_timeout,
        l.deadline - js_sys::Date::now(),
        l.caller.as_ref(),
    );
    if body.is_null() || body.is_undefined() {
        // No stream (a 204, or a fetch that gives none): the runtime reads the whole body at
        // once, so the size is checked after the read; the deadline and the strict decoding
        // are the same as for a stream.
        // A response-like object with only `text()` is read by it, checked by its length (at
        // most its size in UTF-8 bytes).
        let bytes = get(&clone, "arrayBuffer").is_function();
        let method = if bytes { "arrayBuffer" } else { "text" };
        let p = call_method(&clone, method, &Array::new()).map_err(|e| network(&e))?;
        let read = stop.race(&p).await.map_err(|e| stopped(&stop, &e))?;
        drop(stop);
        let size = if bytes { "byteLength" } else { "length" };
        let total = get(&read, size).as_f64().unwrap_or(0.0) as u64;
        if total > l.max_bytes {
            return Err(too_large(&l.what, l.max_bytes));
        }
        return if bytes {
            decode_utf8(&Array::of1(&read), total, &l.what)
        } else {
            Ok(read)
        };
    }
    let reader = call_method(&body, "getReader", &Array::new()).map_err(|e| network(&e))?;
    let chunks = Array::new();
    let mut total: u64 = 0;
    let outcome: Result<()> = loop {
        let read = match call_method(&reader, "read", &Array::new()) {
            Ok(p) => p,
            Err(e) => break Err(network(&e)),
        };
        let chunk = match stop.race(&read).await {
            Ok(c) => c,
            Err(e) => break Err(stopped(&stop, &e)),
        };
        if get(&chunk, "done").is_truthy() {
            break Ok(());
        }
        let value = get(&chunk, "value");
        total = total.saturating_add(get(&value, "byteLength").as_f64().unwrap_or(0.0) as u64);
        if total > l.max_bytes {
            break Err(too_large(&l.what, l.max_bytes));
        }
        chunks.push(&value);
    };
    drop(stop);
    if let Err(e) = outcome {
        // Stop the transfer: cancelling both branches of the clone cancels the body itself, and
        // the runtime drops the connection (aborting the request instead would leave the
        // unread branch to reject with nobody listening).
        if let Ok(p) = call_method(&reader, "cancel", &Array::new()) {
            quiet(&p);
        }
        discard(raw);
        return Err(e);
    }
    decode_utf8(&chunks, total, &l.what)
}

/// Why a [`Stop`] ended a wait.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stopped {
    Timeout,
    Aborted,
}

/// A promise that rejects when the time is up or the caller's signal aborts, whichever comes
/// first, raced against a promise that the runtime or an injected function might never settle
/// (a `fetch` that ignores its signal, a body that stalls). No closure: the timer and the abort
/// listener are the promise's own `reject`, bound to a reason compared by identity.
///
/// Dropped, it clears its timer, removes its listener and rejects the promise itself: a
/// `JsFuture` frees its callbacks only when its promise settles, so every race run against it
/// settles at the latest then.
struct Stop<'a> {
    promise: Promise,
    /// What the timer and the caller's abort reject with.
    reason: JsValue,
    /// `reject` bound to `reason`.
    reject: JsValue,
    timer: JsValue,
    caller: Option<JsValue>,
    clear_timeout: &'a Function,
}

impl<'a> Stop<'a> {
    fn new(
        set_timeout: &Function,
        clear_timeout: &'a Function,
        ms: f64,
        caller: Option<&JsValue>,
    ) -> Stop<'a> {
        let mut stop = Stop::on_drop(clear_timeout);
        stop.timer = set_timeout
            .call2(
                &JsValue::UNDEFINED,
                &stop.reject,
                &JsValue::from_f64(ms.max(0.0)),
            )
            .unwrap_or(JsValue::UNDEFINED);
        stop.caller = caller.cloned();
        if let Some(sig) = &stop.caller {
            if get(sig, "aborted").is_truthy() {
                let _ = stop
                    .reject
                    .unchecked_ref::<Function>()
                    .call0(&JsValue::UNDEFINED);
            } else {
                let _ = call_method(
                    sig,
                    "addEventListener",
                    &Array::of2(&"abort".into(), &stop.reject),
                );
            }
        }
        stop
    }

    /// A stop with no timer and no signal: it ends a wait only when dropped (a wait whose time
    /// limit is kept by the caller, who drops the future when it passes).
    fn on_drop(clear_timeout: &'a Function) -> Stop<'a> {
        let reason: JsValue = Object::new().into();
        let mut reject = JsValue::UNDEFINED;
        let promise = Promise::new(&mut |_, r| {
            reject = r.bind1(&JsValue::UNDEFINED, &reason).into();
        });
        // Rejected on drop even when no race was run against it: never an unhandled rejection.
        quiet(&promise);
        Stop {
            promise,
            reason,
            reject,
            timer: JsValue::UNDEFINED,
            caller: None,
            clear_timeout,
        }
    }

    /// Waits for `p` or for the stop, whichever settles first.
    fn race(&self, p: &JsValue) -> JsFuture {
        JsFuture::from(Promise::race(&Array::of2(p, &self.promise)))
    }

    /// Whether the rejection `e` of a race means the caller aborted or the time ran out (`None`:
    /// `p` itself rejected).
    fn why(&self, e: &JsValue) -> Option<Stopped> {
        if self
            .caller
            .as_ref()
            .is_some_and(|s| get(s, "aborted").is_truthy())
        {
            Some(Stopped::Aborted)
        } else if *e == self.reason {
            Some(Stopped::Timeout)
        } else {
            None
        }
    }
}

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        let _ = self.clear_timeout.call1(&JsValue::UNDEFINED, &self.timer);
        if let Some(sig) = &self.caller {
            let _ = call_method(
                sig,
                "removeEventListener",
                &Array::of2(&"abort".into(), &self.reject),
            );
        }
        let _ = self
            .reject
            .unchecked_ref::<Function>()
            .call0(&JsValue::UNDEFINED);
    }
}

/// The chunks joined and decoded as UTF-8 by the runtime's `TextDecoder` (fatal on bad bytes).
fn decode_utf8(chunks: &Array, total: u64, what: &str) -> Result<JsValue> {
    // `maxResponseBytes` is at most 2^30, so `total` fits; the checks keep a chunk list that
    // disagrees with it from ever writing past the end.
    let too_long = || {
        Error::new(
            ErrorCode::UnexpectedResponse,
            format!("{what}: the response body changed size while it was read; it was not used."),
        )
    };
    let all = js_sys::Uint8Array::new_with_length(u32::try_from(total).map_err(|_| too_long())?);
    let mut at = 0u32;
    for c in chunks.iter() {
        let c = js_sys::Uint8Array::new(&c);
        let end = at.checked_add(c.length()).ok_or_else(too_long)?;
        if end > all.length() {
            return Err(too_long());
        }
        all.set(&c, at);
        at = end;
    }
    let decoder_class = get(&js_sys::global(), "TextDecoder")
        .dyn_into::<Function>()
        .map_err(|_| {
            Error::new(
                ErrorCode::Internal,
                "this JavaScript runtime has no TextDecoder",
            )
        })?;
    let opts = Object::new();
    set(&opts, "fatal", &JsValue::TRUE);
    let decoder = Reflect::construct(&decoder_class, &Array::of2(&"utf-8".into(), &opts))
        .map_err(|_| Error::new(ErrorCode::Internal, "new TextDecoder() failed"))?;
    call_method(&decoder, "decode", &Array::of1(&all)).map_err(|_| {
        Error::new(
            ErrorCode::UnexpectedResponse,
            format!(
                "{what}: the response body is not valid UTF-8 (JSON must be); it was not used."
            ),
        )
    })
}

thread_local! {
    /// One do-nothing rejection handler, made once.
    static NOOP: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
}

/// Marks a promise's rejection as handled (a cancelled body's promises reject by design).
fn quiet(promise: &JsValue) {
    NOOP.with(|f| {
        let _ = Promise::resolve(promise).catch(f);
    });
}

/// Cancels a response's body unread: the runtime stops the transfer.
fn discard(raw: &JsValue) {
    let body = get(raw, "body");
    if body.is_object() && !get(&body, "locked").is_truthy() {
        if let Ok(p) = call_method(&body, "cancel", &Array::new()) {
            quiet(&p);
        }
    }
}

fn too_large(what: &str, max: u64) -> Error {
    Error::new(
        ErrorCode::UnexpectedResponse,
        format!(
            "{what}: the response body is larger than maxResponseBytes ({max} bytes); it was not read further. \
             Raise maxResponseBytes if such answers are expected."
        ),
    )
}

impl HttpResponse for JsResponse {
    fn status(&self) -> u16 {
        self.status
    }

    fn header(&self, name: &str) -> Option<String> {
        let headers = get(&self.raw, "headers");
        call_method(&headers, "get", &Array::of1(&JsValue::from_str(name)))
            .ok()?
            .as_string()
    }

    async fn text(&self) -> Result<String> {
        Ok(self.text_js().await?.as_string().unwrap_or_default())
    }
}

/// The default of `maxResponseBytes`: 16 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

/// The most `maxResponseBytes` may be: 1 GiB (a body is assembled in one `Uint8Array`, whose
/// length the module counts in 32 bits).
pub const MAX_RESPONSE_BYTES_LIMIT: u64 = 1 << 30;

/// The JS host of a session.
pub struct JsHost {
    fetch: Function,
    // The runtime's timer and abort machinery, looked up once.
    set_timeout: Function,
    clear_timeout: Function,
    abort_controller: Function,
    clock: Option<Function>,
    logger: JsValue,
    ip_lookup: Option<Function>,
    ip_url: Option<String>,
    /// Sign RSA with the runtime's WebCrypto when it has it (the `nativeCrypto` option).
    web_crypto: bool,
    /// The signing key imported into WebCrypto (non-extractable), with its modulus.
    crypto_key: RefCell<Option<(Vec<u8>, JsValue)>>,
    /// The shared token store, when the user gave one.
    store: Option<JsValue>,
    /// The most of a response body that is read (`maxResponseBytes`).
    max_response_bytes: u64,
}

impl JsHost {
    /// `fetch` defaults to `globalThis.fetch`; `clock` to `Date.now`; `logger` to none.
    pub fn new(fetch: JsValue, clock: JsValue, logger: JsValue) -> Result<Self> {
        let fetch = if fetch.is_undefined() || fetch.is_null() {
            global_fn("fetch").ok_or_else(|| {
                Error::invalid_argument("no global fetch here: pass `fetch` in the options.")
            })?
        } else {
            fetch.dyn_into::<Function>().map_err(|_| {
                Error::invalid_argument("`fetch` must be a function like globalThis.fetch.")
            })?
        };
        let clock = if clock.is_undefined() || clock.is_null() {
            None
        } else {
            Some(clock.dyn_into::<Function>().map_err(|_| {
                Error::invalid_argument(
                    "`clock` must be a function returning milliseconds since the epoch.",
                )
            })?)
        };
        if !(logger.is_undefined() || logger.is_null() || logger.is_object()) {
            return Err(Error::invalid_argument(
                "`logger` must be an object with debug/info/warn/error methods (console works).",
            ));
        }
        let runtime = |name: &str| {
            global_fn(name).ok_or_else(|| {
                Error::new(
                    ErrorCode::Internal,
                    format!("this JavaScript runtime has no {name}, which sessions need"),
                )
            })
        };
        Ok(JsHost {
            fetch,
            set_timeout: runtime("setTimeout")?,
            clear_timeout: runtime("clearTimeout")?,
            abort_controller: runtime("AbortController")?,
            clock,
            logger,
            ip_lookup: None,
            ip_url: None,
            web_crypto: true,
            crypto_key: RefCell::new(None),
            store: None,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// How to find this machine's public IP (OAuth 2.0): a function returning it (or a Promise
    /// of it), else a URL that answers it as text.
    pub fn with_ip_lookup(mut self, lookup: JsValue, url: Option<String>) -> Result<Self> {
        if !(lookup.is_undefined() || lookup.is_null()) {
            self.ip_lookup = Some(lookup.dyn_into::<Function>().map_err(|_| {
                Error::invalid_argument(
                    "`ipLookup` must be a function returning the public IP (or a Promise of it).",
                )
            })?);
        }
        self.ip_url = url;
        Ok(self)
    }

    /// The most of a response body that is read (`maxResponseBytes`, default 16 MiB); past it
    /// the read stops with `UNEXPECTED_RESPONSE`.
    pub fn with_max_response_bytes(mut self, max: Option<u64>) -> Self {
        if let Some(m) = max {
            self.max_response_bytes = m.clamp(1, MAX_RESPONSE_BYTES_LIMIT);
        }
        self
    }

    /// Whether RSA signatures may use the runtime's WebCrypto (default true).
    pub fn with_native_crypto(mut self, on: bool) -> Self {
        self.web_crypto = on;
        self
    }

    /// The signing key as a non-extractable WebCrypto key, imported once from its PKCS#8 DER
    /// (the copy handed to JS is zero-filled once `importKey` has read it, as it does at once).
    async fn web_crypto_key(&self, subtle: &JsValue, key: &PrivateKey) -> Option<JsValue> {
        let modulus = key.modulus();
        if let Some((m, k)) = self.crypto_key.borrow().as_ref() {
            if *m == modulus {
                return Some(k.clone());
            }
        }
        let der = key.to_pkcs8_der().ok()?;
        let bytes = js_sys::Uint8Array::from(&der[..]);
        let promise = call_method(
            subtle,
            "importKey",
            &Array::of5(
                &"pkcs8".into(),
                &bytes,
                &rsa_sha256_algorithm(),
                &JsValue::FALSE,
                &Array::of1(&"sign".into()),
            ),
        );
        bytes.fill(0, 0, bytes.length());
        let imported = JsFuture::from(Promise::resolve(&promise.ok()?))
            .await
            .ok()?;
        *self.crypto_key.borrow_mut() = Some((modulus, imported.clone()));
        Some(imported)
    }

    /// The shared token store (`store`): an object with `get`, `set`, `setIfAbsent` and
    /// `delete` returning Promises (api.md's `TokenStore`).
    pub fn with_store(mut self, store: JsValue) -> Result<Self> {
        if store.is_undefined() || store.is_null() {
            return Ok(self);
        }
        for m in ["get", "set", "setIfAbsent", "delete"] {
            if !get(&store, m).is_function() {
                return Err(Error::invalid_argument(format!(
                    "`store` must be a TokenStore (get, set, setIfAbsent, delete), e.g. redisStore(client), fileStore(path) or memoryStore(); it has no {m}()."
                )));
            }
        }
        self.store = Some(store);
        Ok(self)
    }

    /// Calls the store's method `name`; a throw or rejection is a `NETWORK` error. The time limit
    /// is the fleet's, which drops this future when it passes: the wait is raced against a
    /// [`Stop`] that settles on that drop, so a store promise that never settles (a client
    /// queueing commands while offline) holds nothing of this module once given up.
    async fn store_call(&self, name: &str, args: &Array) -> Result<JsValue> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| Error::new(ErrorCode::Internal, "a store call without a store"))?;
        let failed = |e: JsValue| Error::new(ErrorCode::Network, error_text(&e));
        let v = call_method(store, name, args).map_err(failed)?;
        let stop = Stop::on_drop(&self.clear_timeout);
        stop.race(&v).await.map_err(failed)
    }

    /// The fetch function, for requests that are not the session's (passed through untouched).
    pub fn raw_fetch(&self) -> &Function {
        &self.fetch
    }
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// The raw RSA decryption (`c^d mod n`) by `node:crypto` where the runtime has it (Node, Deno and
/// Bun: `privateDecrypt` with `RSA_NO_PADDING`, reached through `process.getBuiltinModule`), for
/// [`crate::keys::PrivateKey::decrypt_pkcs1v15_with`], which checks the result and the padding.
/// The key's DER and the result are zero-filled in JS once used. `None` elsewhere.
pub fn node_raw_rsa_decrypt(key: &PrivateKey, ciphertext: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let process = get(&js_sys::global(), "process");
    let builtin = get(&process, "getBuiltinModule")
        .dyn_into::<Function>()
        .ok()?;
    let crypto = builtin
        .call1(&process, &JsValue::from_str("node:crypto"))
        .ok()?;
    if !crypto.is_object() {
        return None;
    }
    let der = js_sys::Uint8Array::from(key.pkcs1_der());
    let spec = Object::new();
    set(&spec, "key", &der);
    set(&spec, "format", &JsValue::from_str("der"));
    set(&spec, "type", &JsValue::from_str("pkcs1"));
    let key_object = call_method(&crypto, "createPrivateKey", &Array::of1(&spec));
    der.fill(0, 0, der.length());
    let options = Object::new();
    set(&options, "key", &key_object.ok()?);
    set(
        &options,
        "padding",
        &get(&get(&crypto, "constants"), "RSA_NO_PADDING"),
    );
    let input = js_sys::Uint8Array::from(ciphertext);
    let out = call_method(&crypto, "privateDecrypt", &Array::of2(&options, &input))
        .ok()?
        .dyn_into::<js_sys::Uint8Array>()
        .ok()?;
    let em = Zeroizing::new(out.to_vec());
    out.fill(0, 0, out.length());
    Some(em)
}

/// `{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }`.
fn rsa_sha256_algorithm() -> JsValue {
    let algo = Object::new();
    set(&algo, "name", &JsValue::from_str("RSASSA-PKCS1-v1_5"));
    set(&algo, "hash", &JsValue::from_str("SHA-256"));
    algo.into()
}

impl Host for JsHost {
    type Value = JsValue;
    type Response = JsResponse;

    async fn sign_rsa_sha256(&self, key: &PrivateKey, message: &[u8]) -> Option<Vec<u8>> {
        if !self.web_crypto {
            return None;
        }
        let subtle = get(&get(&js_sys::global(), "crypto"), "subtle");
        if !subtle.is_object() {
            return None;
        }
        let crypto_key = self.web_crypto_key(&subtle, key).await?;
        // The message may hold a secret (the LST request's starts with the prepend): the copy
        // handed to JS is zero-filled once `sign` has read it, which it does before returning.
        let data = js_sys::Uint8Array::from(message);
        let promise = call_method(
            &subtle,
            "sign",
            &Array::of3(&rsa_sha256_algorithm(), &crypto_key, &data),
        );
        data.fill(0, 0, data.length());
        let signature = JsFuture::from(Promise::resolve(&promise.ok()?))
            .await
            .ok()?;
        Some(js_sys::Uint8Array::new(&signature).to_vec())
    }

    async fn fetch(&self, req: &HttpRequest<JsValue>) -> Result<JsResponse> {
        let init = Object::new();
        set(&init, "method", &JsValue::from_str(&req.method));
        let headers = Object::new();
        for (k, v) in &req.headers {
            set(&headers, k, &JsValue::from_str(v));
        }
        set(&init, "headers", &headers);
        if let Some(body) = &req.body {
            set(&init, "body", body);
        }
        // Never follow a redirect: it would carry the signed headers to wherever it points.
        set(&init, "redirect", &JsValue::from_str("manual"));
        let started = js_sys::Date::now();
        // The fetch gets a signal of its own, aborted when the time is up or the caller aborts;
        // the race against `Stop` ends the wait even for a fetch that ignores its signal.
        let controller = Reflect::construct(&self.abort_controller, &Array::new())
            .map_err(|_| Error::new(ErrorCode::Internal, "new AbortController() failed"))?;
        set(&init, "signal", &get(&controller, "signal"));
        let caller = req.signal.clone().filter(|s| s.is_object());
        if let Some(sig) = &caller {
            if get(sig, "aborted").is_truthy() {
                return Err(Error::new(
                    ErrorCode::Aborted,
                    "the request was aborted by the caller's signal before it was sent.",
                ));
            }
        }
        let stop = Stop::new(
            &self.set_timeout,
            &self.clear_timeout,
            req.timeout_ms as f64,
            caller.as_ref(),
        );
        let result =
            match self
                .fetch
                .call2(&JsValue::UNDEFINED, &JsValue::from_str(&req.url), &init)
            {
                Ok(p) => stop.race(&p).await,
                Err(e) => Err(e),
            };
        let stopped = match &result {
            Err(e) => stop.why(e),
            Ok(_) => None,
        };
        drop(stop);
        if stopped.is_some() {
            // Tell a fetch that honours its signal to give up too.
            let _ = call_method(&controller, "abort", &Array::new());
        }
        match result {
            Ok(raw) => {
                let status = get(&raw, "status").as_f64().unwrap_or(0.0) as u16;
                let what = format!("{} {}", req.method, without_query(&req.url));
                let refuse = |e: Error| {
                    discard(&raw);
                    Err(e)
                };
                // 300 and 304 (Not Modified) are answers, not redirects.
                let redirect = matches!(status, 301 | 302 | 303 | 307 | 308)
                    || get(&raw, "type").as_string().as_deref() == Some("opaqueredirect");
                if redirect && !req.manual_redirect {
                    let to = call_method(
                        &get(&raw, "headers"),
                        "get",
                        &Array::of1(&"location".into()),
                    )
                    .ok()
                    .and_then(|v| v.as_string())
                    .map(|l| format!(" to {}", location_origin(&l)))
                    .unwrap_or_default();
                    return refuse(
                        Error::new(
                            ErrorCode::HttpError,
                            format!(
                                "{what}: the server answered with a redirect{to} (HTTP {status}). ibkr-auth never \
                                 follows a redirect, so signed headers never reach another place; check the base URL."
                            ),
                        )
                        .with_http(status, None),
                    );
                }
                let length = call_method(
                    &get(&raw, "headers"),
                    "get",
                    &Array::of1(&"content-length".into()),
                )
                .ok()
                .and_then(|v| v.as_string())
                .and_then(|v| v.trim().parse::<u64>().ok());
                if length.is_some_and(|n| n > self.max_response_bytes) {
                    return refuse(too_large(&what, self.max_response_bytes));
                }
                let limits = BodyLimits {
                    deadline: started + req.timeout_ms as f64,
                    timeout_ms: req.timeout_ms,
                    max_bytes: self.max_response_bytes,
                    caller,
                    set_timeout: self.set_timeout.clone(),
                    clear_timeout: self.clear_timeout.clone(),
                    what,
                };
                Ok(JsResponse {
                    raw,
                    status,
                    limits,
                    text: RefCell::new(None),
                })
            }
            Err(_) if stopped == Some(Stopped::Timeout) => Err(Error::new(
                ErrorCode::Timeout,
                format!(
                    "{} {}: no answer within {} ms (timeoutMs).",
                    req.method,
                    without_query(&req.url),
                    req.timeout_ms
                ),
            )),
            Err(_) if stopped == Some(Stopped::Aborted) => Err(Error::new(
                ErrorCode::Aborted,
                "the request was aborted by the caller's signal.",
            )),
            Err(e) => Err(Error::new(
                ErrorCode::Network,
                format!(
                    "{} {}: {}",
                    req.method,
                    without_query(&req.url),
                    error_text(&e)
                ),
            )),
        }
    }

    fn text_body(&self, text: &str) -> JsValue {
        JsValue::from_str(text)
    }

    fn now_ms(&self) -> f64 {
        self.clock
            .as_ref()
            .and_then(|c| c.call0(&JsValue::UNDEFINED).ok())
            .and_then(|v| v.as_f64())
            .unwrap_or_else(js_sys::Date::now)
    }

    async fn sleep(&self, ms: u64) {
        // A [`Stop`] with only its timer: its promise settles when the time is up, and a sleep
        // dropped unfinished (a store call's time limit that was not needed) clears the timer
        // and settles the promise itself, so nothing outlives it.
        let stop = Stop::new(&self.set_timeout, &self.clear_timeout, ms as f64, None);
        let _ = JsFuture::from(stop.promise.clone()).await;
    }

    fn has_store(&self) -> bool {
        self.store.is_some()
    }

    async fn store_get(&self, key: &str) -> Result<Option<String>> {
        let v = self.store_call("get", &Array::of1(&key.into())).await?;
        if v.is_null() || v.is_undefined() {
            return Ok(None);
        }
        v.as_string().map(Some).ok_or_else(|| {
            Error::new(
                ErrorCode::Network,
                "the token store's get() resolved to neither a string nor null",
            )
        })
    }

    async fn store_set(&self, key: &str, value: &str, ttl_ms: u64) -> Result<()> {
        let args = Array::of3(&key.into(), &value.into(), &ttl_option(ttl_ms));
        self.store_call("set", &args).await.map(drop)
    }

    async fn store_set_if_absent(&self, key: &str, value: &str, ttl_ms: u64) -> Result<bool> {
        let args = Array::of3(&key.into(), &value.into(), &ttl_option(ttl_ms));
        Ok(self.store_call("setIfAbsent", &args).await?.is_truthy())
    }

    async fn store_delete(&self, key: &str) -> Result<()> {
        self.store_call("delete", &Array::of1(&key.into()))
            .await
            .map(drop)
    }

    async fn public_ip(&self) -> Result<Option<String>> {
        let failed = |e: JsValue| {
            Error::new(
                ErrorCode::Network,
                format!("looking up the public IP failed: {}", error_text(&e)),
            )
        };
        let value = if let Some(f) = &self.ip_lookup {
            let v = f.call0(&JsValue::UNDEFINED).map_err(failed)?;
            JsFuture::from(Promise::resolve(&v)).await.map_err(failed)?
        } else if let Some(url) = &self.ip_url {
            // Through `fetch` above: its time limit, its size limit, no redirects.
            let req = HttpRequest {
                method: "GET".into(),
                url: url.clone(),
                headers: Vec::new(),
                body: None,
                signal: None,
                timeout_ms: IP_LOOKUP_TIMEOUT_MS,
                manual_redirect: false,
            };
            let resp = self.fetch(&req).await?;
            if resp.status() != 200 {
                return Err(Error::new(
                    ErrorCode::HttpError,
                    format!("looking up the public IP failed: HTTP {}.", resp.status()),
                )
                .with_http(resp.status(), None));
            }
            resp.text_js().await?
        } else {
            return Ok(None);
        };
        Ok(value
            .as_string()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()))
    }

    fn log(&self, level: Level, message: &str) {
        let name = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        if let Ok(f) = get(&self.logger, name).dyn_into::<Function>() {
            let _ = f.call1(
                &self.logger,
                &JsValue::from_str(&format!("[ibkr-auth] {message}")),
            );
        }
    }
}

/// The time limit of the public IP lookup by URL.
const IP_LOOKUP_TIMEOUT_MS: u64 = 10_000;

/// `{ ttlMs }`, the store calls' options.
fn ttl_option(ttl_ms: u64) -> JsValue {
    let o = Object::new();
    set(&o, "ttlMs", &JsValue::from_f64(ttl_ms as f64));
    o.into()
}

/// Where a `Location` points, without its path or query (they may hold tokens).
fn location_origin(location: &str) -> String {
    origin(location.trim()).unwrap_or_else(|| "a path on the same host".to_owned())
}
