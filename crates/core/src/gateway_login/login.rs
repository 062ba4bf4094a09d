//! [`GatewayLogin`]: the gateway's headless login as a state machine with no I/O. It produces
//! the form fields of each request and judges each reply; the driver sends them (one cookie jar,
//! the `XYZAB_AM.LOGIN` cookie from [`GatewayLogin::login_cookie`] set after COMPLETEAUTH).
//!
//! ```text
//! init_form ─► POST /sso/Authenticator ─► init_reply ── again? ─► init_form (once more)
//! complete_auth_form ─► … ─► complete_auth_reply ─► second factors offered
//!   [second_factor_form(sf) ─► challenge_reply ─► two_factor_form(sf, answer) ─► two_factor_reply]
//! dispatcher_form(answer or "") ─► POST /sso/Dispatcher ─► dispatcher_reply
//! ```
//! The password, `a`, and everything derived from them are wiped on drop; `Debug` shows the step
//! only.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::ekx::{ekx, LoginKey};
use super::reply::{self, IniParams};
use super::srp::{self, Group, Proof, ServerValues};
use super::{clip, unexpected};
use crate::encoding::hex_number;
use crate::error::{Error, ErrorCode, Result};
use crate::keys::{getrandom_fill, hex_minimal};

/// The form fields of one request, in order. Values may be secret (M1, M2, EKX, a second
/// factor's answer): they are wiped on drop and `Debug` shows the names only.
pub struct Form(Vec<(&'static str, Zeroizing<String>)>);

impl Form {
    fn new(fields: &[(&'static str, &str)]) -> Self {
        Form(
            fields
                .iter()
                .map(|(k, v)| (*k, Zeroizing::new((*v).to_owned())))
                .collect(),
        )
    }

    /// The fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// One field's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

/// What the INIT reply means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitOutcome {
    /// The gateway uses another group than the one A was made with: A was made again with it;
    /// send INIT once more ([`GatewayLogin::init_form`]).
    pub again: bool,
    /// Whether the account is a paper-trading one, when the gateway says.
    pub paper: Option<bool>,
}

/// The second factor's challenge (COMPLETEAUTH_1's reply).
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `SWCR` (challenge–response: answer with OCRA), `SWTK` (a code: TOTP or SMS), or another.
    pub kind: String,
    /// The challenge, whitespace removed (for `SWCR`).
    pub challenge: Option<String>,
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Challenge")
            .field("kind", &self.kind)
            .field("challenge", &self.challenge.as_ref().map(|_| "[present]"))
            .finish()
    }
}

/// Where `a` comes from: the platform's random source, or (tests, vectors) a given value.
enum SecretSource {
    Random,
    Fixed(Zeroizing<Vec<u8>>),
}

/// What the INIT reply gave.
struct Server {
    salt: Vec<u8>,
    b: Vec<u8>,
    long_passwords: bool,
    key: LoginKey,
}

/// The gateway login's state. See the module docs for the order of calls.
pub struct GatewayLogin {
    username: String,
    password: Zeroizing<String>,
    source: SecretSource,
    group: Group,
    a: Zeroizing<Vec<u8>>,
    a_pub: Vec<u8>,
    regrouped: bool,
    server: Option<Server>,
    proof: Option<Proof>,
    verified: bool,
}

impl fmt::Debug for GatewayLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayLogin")
            .field("step", &self.step())
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The fixed `password` of the Dispatcher form: 24 `x`.
const DISPATCHER_PASSWORD: &str = "xxxxxxxxxxxxxxxxxxxxxxxx";
/// The body of a successful Dispatcher reply.
const DISPATCHER_OK: &str = "Client login succeeds";

fn out_of_order(call: &str, first: &str) -> Error {
    Error::invalid_argument(format!(
        "GatewayLogin: {call} was called too early; call {first} first (the login's steps go in \
         order: initForm, initReply, completeAuthForm, completeAuthReply, …)."
    ))
}

fn login_failed() -> Error {
    Error::new(
        ErrorCode::LoginFailed,
        "The gateway refused the login: wrong username or password. Check both (the username as \
         on IBKR's login page, the password exactly). Do not retry in a loop: IBKR locks an \
         account after repeated failed logins.",
    )
}

fn account_locked() -> Error {
    Error::new(
        ErrorCode::AccountLocked,
        "IBKR locked the account after too many failed logins. Stop retrying; unlock it through \
         IBKR (its login page or client services), then fix the username or password before \
         trying again.",
    )
}

impl GatewayLogin {
    /// A login for `username` (as typed) and `password`, with a fresh random `a`.
    pub fn new(username: &str, password: &str) -> Result<Self> {
        Self::with_source(username, password, SecretSource::Random)
    }

    /// A login with a given secret `a` (big-endian), for tests and vectors only: a real login
    /// must use [`GatewayLogin::new`].
    #[doc(hidden)]
    pub fn with_secret(username: &str, password: &str, a: &[u8]) -> Result<Self> {
        Self::with_source(
            username,
            password,
            SecretSource::Fixed(Zeroizing::new(a.to_vec())),
        )
    }

    fn with_source(username: &str, password: &str, source: SecretSource) -> Result<Self> {
        if username.trim().is_empty() {
            return Err(Error::invalid_argument(
                "GatewayLogin: `username` is empty.",
            ));
        }
        if password.is_empty() {
            return Err(Error::invalid_argument(
                "GatewayLogin: `password` is empty.",
            ));
        }
        let group = Group::default_group()?;
        let mut login = GatewayLogin {
            username: username.to_owned(),
            password: Zeroizing::new(password.to_owned()),
            source,
            group,
            a: Zeroizing::new(Vec::new()),
            a_pub: Vec::new(),
            regrouped: false,
            server: None,
            proof: None,
            verified: false,
        };
        login.make_secret()?;
        Ok(login)
    }

    /// Draws (or takes) `a` for the current group, clamps it and computes A.
    fn make_secret(&mut self) -> Result<()> {
        let raw = match &self.source {
            SecretSource::Random => {
                let mut bytes = Zeroizing::new(vec![0u8; srp::A_BYTES]);
                getrandom_fill(&mut bytes)?;
                bytes
            }
            SecretSource::Fixed(a) => a.clone(),
        };
        self.a = self.group.clamp_secret(&raw);
        self.a_pub = self.group.public_value(&self.a);
        Ok(())
    }

    fn step(&self) -> &'static str {
        match (&self.server, &self.proof, self.verified) {
            (None, _, _) => "init",
            (Some(_), None, _) => "completeAuth",
            (Some(_), Some(_), false) => "completeAuthReply",
            (Some(_), Some(_), true) => "verified",
        }
    }

    /// A, hex without leading zeros, as INIT sends it.
    pub fn a_pub_hex(&self) -> String {
        hex_minimal(&self.a_pub)
    }

    /// The INIT form: `ACTION=INIT, APP_NAME=, MODE=NORMAL, FORCE_LOGIN=, USER (as typed),
    /// ACCT=, A`.
    pub fn init_form(&self) -> Form {
        let a = self.a_pub_hex();
        Form::new(&[
            ("ACTION", "INIT"),
            ("APP_NAME", ""),
            ("MODE", "NORMAL"),
            ("FORCE_LOGIN", ""),
            ("USER", &self.username),
            ("ACCT", ""),
            ("A", &a),
        ])
    }

    /// Judges INIT's reply. `again` means: the gateway uses another group; A was made again
    /// with it, send [`GatewayLogin::init_form`] once more. A second change is an error.
    pub fn init_reply(&mut self, xml: &str) -> Result<InitOutcome> {
        let r = reply::parse("INIT", xml)?;
        let ini = r
            .ini
            .as_ref()
            .ok_or_else(|| unexpected("The gateway's reply to INIT has no <ini_params>."))?;
        let field = |v: &Option<String>, name: &str| -> Result<String> {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| unexpected(format!("The gateway's reply to INIT has no <{name}>.")))
        };
        let proto = field(&ini.proto, "proto")?;
        let hash = field(&ini.hash, "hash")?;
        if proto != "6" || hash != "SHA1" {
            return Err(unexpected(format!(
                "The gateway offers login protocol proto \"{}\" with hash \"{}\"; this login is \
                 unsupported (only SRP-6, proto \"6\" with SHA1, is).",
                clip(&proto, 16),
                clip(&hash, 16)
            )));
        }
        let paper = ini.paper.as_deref().map(|p| p == "true");
        let group = read_group(ini)?;
        if group != self.group {
            if self.regrouped {
                return Err(unexpected(
                    "The gateway changed its SRP group (N, g) twice during one login.",
                ));
            }
            self.group = group;
            self.regrouped = true;
            self.server = None;
            self.proof = None;
            self.verified = false;
            self.make_secret()?;
            return Ok(InitOutcome { again: true, paper });
        }
        let salt = hex_number(&field(&ini.s, "s")?)
            .map_err(|e| unexpected(format!("The gateway's salt is not hex: {}.", e.describe())))?;
        let b = hex_number(&field(&ini.b, "B")?)
            .map_err(|e| unexpected(format!("The gateway's B is not hex: {}.", e.describe())))?;
        self.group.check_server_value(&b)?;
        let key = LoginKey::from_hex(&field(&ini.rsapub, "rsapub")?)?;
        self.server = Some(Server {
            salt,
            b,
            long_passwords: ini.lp.as_deref() == Some("true"),
            key,
        });
        self.proof = None;
        self.verified = false;
        Ok(InitOutcome {
            again: false,
            paper,
        })
    }

    fn proof(&self, call: &str) -> Result<&Proof> {
        self.proof
            .as_ref()
            .ok_or_else(|| out_of_order(call, "completeAuthForm"))
    }

    fn verified_proof(&self, call: &str) -> Result<&Proof> {
        let proof = self.proof(call)?;
        if !self.verified {
            return Err(out_of_order(
                call,
                "completeAuthReply (with a successful reply)",
            ));
        }
        Ok(proof)
    }

    /// The COMPLETEAUTH form: `ACTION=COMPLETEAUTH, APP_NAME=, USER (lowercased), ACCT=, M1,
    /// VERSION=1, EKX`. Computes the SRP proof on first use; EKX is padded afresh each call.
    pub fn complete_auth_form(&mut self) -> Result<Form> {
        let server = self
            .server
            .as_ref()
            .ok_or_else(|| out_of_order("completeAuthForm", "initReply"))?;
        if self.proof.is_none() {
            let values = ServerValues {
                salt: &server.salt,
                b: &server.b,
                long_passwords: server.long_passwords,
            };
            self.proof = Some(srp::prove(
                &self.group,
                &self.username,
                &self.password,
                &self.a,
                &values,
            ));
        }
        let proof = self.proof("completeAuthForm")?;
        let ekx = Zeroizing::new(ekx(&server.key, proof.k_bytes())?);
        let user = self.username.to_lowercase();
        Ok(Form::new(&[
            ("ACTION", "COMPLETEAUTH"),
            ("APP_NAME", ""),
            ("USER", &user),
            ("ACCT", ""),
            ("M1", &proof.m1_hex()),
            ("VERSION", "1"),
            ("EKX", &ekx),
        ]))
    }

    /// The `XYZAB_AM.LOGIN` cookie's value (after [`GatewayLogin::complete_auth_form`]). Secret.
    pub fn login_cookie(&self) -> Result<Zeroizing<String>> {
        Ok(self.proof("loginCookie")?.cookie_hex())
    }

    /// The SRP values of this login (after [`GatewayLogin::complete_auth_form`]), for tests.
    #[doc(hidden)]
    pub fn srp_proof(&self) -> Option<&Proof> {
        self.proof.as_ref()
    }

    /// Judges COMPLETEAUTH's reply: the server's M2 must be ours (compared in constant time).
    /// On success, the second-factor types offered (empty: none needed). A mismatch is
    /// `LOGIN_FAILED`, or `ACCOUNT_LOCKED` when IBKR says the account reached its maximum of
    /// failed logins.
    pub fn complete_auth_reply(&mut self, xml: &str) -> Result<Vec<String>> {
        let expected = self.proof("completeAuthReply")?.m2_hex();
        let r = reply::parse("COMPLETEAUTH", xml)?;
        let server_m2 = r
            .ini
            .as_ref()
            .and_then(|i| i.m2.as_deref())
            .filter(|m| !m.is_empty());
        let Some(server_m2) = server_m2 else {
            if r.reached_max_login() {
                return Err(account_locked());
            }
            return Err(unexpected(
                "The gateway's reply to COMPLETEAUTH has no <ini_params><M2>.",
            ));
        };
        let server_m2 = Zeroizing::new(server_m2.to_ascii_lowercase());
        let same: bool = expected.as_bytes().ct_eq(server_m2.as_bytes()).into();
        if !same {
            self.verified = false;
            return Err(if r.reached_max_login() {
                account_locked()
            } else {
                login_failed()
            });
        }
        self.verified = true;
        Ok(r.second_factors())
    }

    /// The COMPLETEAUTH_1 form, asking for the challenge of second factor `sf`: `ACTION=
    /// COMPLETEAUTH_1, APP_NAME=, USER (as typed), ACCT=, M1, VERSION=1, SF`.
    pub fn second_factor_form(&self, sf: &str) -> Result<Form> {
        let proof = self.verified_proof("secondFactorForm")?;
        check_sf("secondFactorForm", sf)?;
        Ok(Form::new(&[
            ("ACTION", "COMPLETEAUTH_1"),
            ("APP_NAME", ""),
            ("USER", &self.username),
            ("ACCT", ""),
            ("M1", &proof.m1_hex()),
            ("VERSION", "1"),
            ("SF", sf),
        ]))
    }

    /// Judges COMPLETEAUTH_1's reply: the second factor's type and challenge.
    pub fn challenge_reply(&self, xml: &str) -> Result<Challenge> {
        let r = reply::parse("COMPLETEAUTH_1", xml)?;
        let Some(tf) = r.two_factor.as_ref() else {
            if let Some(e) = r.error.as_deref() {
                return Err(second_factor_failed(Some(e)));
            }
            return Err(unexpected(
                "The gateway's reply to COMPLETEAUTH_1 has no <two_factor>.",
            ));
        };
        let kind = tf
            .kind
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| unexpected("The gateway's <two_factor> has no <type>."))?;
        let challenge = tf.challenge.clone().filter(|c| !c.is_empty());
        if kind == "SWCR" && challenge.is_none() {
            return Err(unexpected(
                "The gateway asks for a challenge–response (SWCR) but sends no <challenge>.",
            ));
        }
        Ok(Challenge { kind, challenge })
    }

    /// The COMPLETETWOFACT form: `ACTION=COMPLETETWOFACT, APP_NAME=, USER (as typed), ACCT=,
    /// RESPONSE, VERSION=1, SF`.
    pub fn two_factor_form(&self, sf: &str, response: &str) -> Result<Form> {
        self.verified_proof("twoFactorForm")?;
        check_sf("twoFactorForm", sf)?;
        if response.trim().is_empty() {
            return Err(Error::invalid_argument(
                "GatewayLogin.twoFactorForm: `response` (the code or answer) is empty.",
            ));
        }
        Ok(Form::new(&[
            ("ACTION", "COMPLETETWOFACT"),
            ("APP_NAME", ""),
            ("USER", &self.username),
            ("ACCT", ""),
            ("RESPONSE", response),
            ("VERSION", "1"),
            ("SF", sf),
        ]))
    }

    /// Judges COMPLETETWOFACT's reply: success is `auth_res` = `true`; otherwise
    /// `SECOND_FACTOR_FAILED` with the gateway's `error` text.
    pub fn two_factor_reply(&self, xml: &str) -> Result<()> {
        let r = reply::parse("COMPLETETWOFACT", xml)?;
        if r.auth_res.as_deref() == Some("true") {
            return Ok(());
        }
        Err(second_factor_failed(r.error.as_deref()))
    }

    /// The `/sso/Dispatcher` form: `user_name (as typed), password = 24 x, chlginput (the second
    /// factor's answer, empty without one), loginType=0, forwardTo=22, M1, M2`.
    pub fn dispatcher_form(&self, response: &str) -> Result<Form> {
        let proof = self.verified_proof("dispatcherForm")?;
        Ok(Form::new(&[
            ("user_name", &self.username),
            ("password", DISPATCHER_PASSWORD),
            ("chlginput", response),
            ("loginType", "0"),
            ("forwardTo", "22"),
            ("M1", &proof.m1_hex()),
            ("M2", &proof.m2_hex()),
        ]))
    }

    /// Judges the Dispatcher's reply: success is a body of exactly `Client login succeeds`
    /// (surrounding whitespace aside).
    pub fn dispatcher_reply(&self, body: &str) -> Result<()> {
        if body.trim() == DISPATCHER_OK {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::LoginFailed,
            "The gateway's last login step (/sso/Dispatcher) did not answer \"Client login \
             succeeds\"; the login did not complete. Do not retry in a loop: IBKR locks an \
             account after repeated failed logins.",
        )
        .with_server_message(clip(body.trim(), 200)))
    }
}

fn check_sf(call: &str, sf: &str) -> Result<()> {
    if sf.trim().is_empty() {
        return Err(Error::invalid_argument(format!(
            "GatewayLogin.{call}: `sf` (one of the second-factor types completeAuthReply listed) \
             is empty."
        )));
    }
    Ok(())
}

fn second_factor_failed(server: Option<&str>) -> Error {
    let e = Error::new(
        ErrorCode::SecondFactorFailed,
        "The gateway refused the second factor (TOTP code, SMS code or IB Key answer). Check the \
         secret, the clock, or the IB Key counter; do not retry in a loop: IBKR locks an account \
         after repeated failures.",
    );
    match server.filter(|s| !s.is_empty()) {
        Some(s) => e.with_server_message(clip(s, 200)),
        None => e,
    }
}

/// N (hex) and g (decimal) of an INIT reply, checked.
fn read_group(ini: &IniParams) -> Result<Group> {
    let n = ini
        .n
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unexpected("The gateway's reply to INIT has no <N>."))?;
    let g = ini
        .g
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unexpected("The gateway's reply to INIT has no <g>."))?;
    let n = hex_number(n)
        .map_err(|e| unexpected(format!("The gateway's N is not hex: {}.", e.describe())))?;
    let g: u64 = g
        .parse()
        .ok()
        .filter(|_| g.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            unexpected(format!(
                "The gateway's g \"{}\" is not a decimal number below 2^64.",
                clip(g, 24)
            ))
        })?;
    Group::new(&n, g)
}
