//! SRP-6 as the gateway's login page speaks it: proto "6" (not 6a), SHA-1, k = 3, with the hex
//! quirk of [`super::quirk`] wherever the page applies it.
//!
//! ```text
//! A  = g^a mod N
//! x  = SHA1(salt ‖ SHA1(lowercase(user) ":" password))        password cut to 8 chars unless lp
//! u  = SHA1(A ‖ B)
//! S  = (B − k·g^x)^(a + u·x) mod N
//! K  = SHA1(S)
//! M1 = SHA1((H(N) xor H(g)) ‖ H(lowercase(user)) ‖ salt ‖ A ‖ B ‖ K)    sent with the quirk
//! M2 = SHA1(A ‖ M1 ‖ K)                                                  what the server answers
//! XYZAB_AM.LOGIN = SHA1(B ‖ K)                                           the login cookie
//! ```
//! Numbers are hashed as minimal big-endian bytes; K and M1 (hashes) lose one leading zero byte;
//! H(user) and the inner SHA1(user:password) are hashed as they are (20 bytes).
//!
//! The arithmetic is `crypto-bigint`'s (constant time in the secret exponents for their
//! precision); the hashes are `sha1`'s. Every intermediate that depends on the password or on `a`
//! is wiped.

use std::fmt;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Odd};
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use super::{quirk, unexpected};
use crate::encoding::hex_encode;
use crate::error::Result;
use crate::keys::{bit_len_be, hex_minimal as number_hex};

/// The gateway's usual group: a fixed 512-bit prime (hex).
pub const DEFAULT_N_HEX: &str = "d4c7f8a2b32c11b8fba9581ec4ba4f1b04215642ef7355e37c0fc0443ef756ea2c6b8eeb755a1c723027663caa265ef785b8ff6a9b35227a52d86633dbdfca43";
/// The gateway's usual generator.
pub const DEFAULT_G: u64 = 2;
/// SRP-6's multiplier.
const K: u32 = 3;
/// Smallest and largest modulus accepted from a server, in bits.
const MIN_N_BITS: usize = 512;
const MAX_N_BITS: usize = 8192;
/// Bytes of randomness in `a`.
pub const A_BYTES: usize = 32;

/// An SRP group (N, g), checked: N odd and 512 to 8192 bits, 1 < g < N.
#[derive(Clone)]
pub struct Group {
    n: Vec<u8>,
    g: u64,
    params: BoxedMontyParams,
}

impl PartialEq for Group {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n && self.g == other.g
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("n_bits", &bit_len_be(&self.n))
            .field("g", &self.g)
            .finish()
    }
}

/// `(len, bytes)` order of two minimal big-endian numbers.
fn cmp_numbers(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let (a, b) = (quirk::number(a), quirk::number(b));
    (a.len(), a).cmp(&(b.len(), b))
}

impl Group {
    /// Checks and prepares a group: `n` big-endian, `g` the generator.
    pub fn new(n: &[u8], g: u64) -> Result<Self> {
        let n = quirk::number(n);
        let bits = bit_len_be(n);
        if !(MIN_N_BITS..=MAX_N_BITS).contains(&bits) {
            return Err(unexpected(format!(
                "The gateway's SRP modulus N has {bits} bits; a login group has {MIN_N_BITS} to \
                 {MAX_N_BITS}."
            )));
        }
        if n.last().is_none_or(|&b| b & 1 == 0) {
            return Err(unexpected(
                "The gateway's SRP modulus N is even, so not a prime.",
            ));
        }
        // N has at least 512 bits, so any 64-bit g is below it.
        if g < 2 {
            return Err(unexpected(format!(
                "The gateway's SRP generator g is {g}; it must be above 1."
            )));
        }
        let odd = Option::<Odd<BoxedUint>>::from(Odd::new(BoxedUint::from_be_slice_vartime(n)))
            .ok_or_else(|| unexpected("The gateway's SRP modulus N is even, so not a prime."))?;
        // N is public: the variable-time set-up is fine.
        let params = BoxedMontyParams::new_vartime(odd);
        Ok(Group {
            n: n.to_vec(),
            g,
            params,
        })
    }

    /// The gateway's usual group ([`DEFAULT_N_HEX`], [`DEFAULT_G`]).
    pub fn default_group() -> Result<Self> {
        let n = crate::encoding::hex_number(DEFAULT_N_HEX)
            .map_err(|_| unexpected("The built-in SRP modulus is not hex."))?;
        Group::new(&n, DEFAULT_G)
    }

    /// N, big-endian without leading zeros.
    pub fn n(&self) -> &[u8] {
        &self.n
    }

    /// g.
    pub fn g(&self) -> u64 {
        self.g
    }

    fn precision(&self) -> u32 {
        self.params.bits_precision()
    }

    /// A number below N at the group's precision (the caller guarantees `x < N`).
    fn uint(&self, x: &[u8]) -> Zeroizing<BoxedUint> {
        let precision = self.precision();
        Zeroizing::new(
            BoxedUint::from_be_slice(quirk::number(x), precision)
                .unwrap_or_else(|_| BoxedUint::zero_with_precision(precision)),
        )
    }

    /// `x mod m` for public `x` of any length, big-endian without leading zeros.
    fn reduce_public(x: &[u8], m: &[u8]) -> Vec<u8> {
        let m = BoxedUint::from_be_slice_vartime(quirk::number(m));
        let Some(m) = Option::<NonZero<BoxedUint>>::from(NonZero::new(m)) else {
            return Vec::new();
        };
        let r = BoxedUint::from_be_slice_vartime(quirk::number(x)).rem_vartime(&m);
        quirk::number(&r.to_be_bytes()).to_vec()
    }

    /// `base^exp mod N` in Montgomery form; `exp` at a fixed precision so its time does not
    /// depend on its value.
    fn pow(&self, base: &BoxedUint, exp: &BoxedUint) -> Zeroizing<BoxedMontyForm> {
        Zeroizing::new(BoxedMontyForm::new(base.clone(), &self.params).pow(exp))
    }

    fn retrieve(m: &BoxedMontyForm) -> Zeroizing<Vec<u8>> {
        let plain = Zeroizing::new(m.retrieve());
        let bytes = Zeroizing::new(plain.to_be_bytes());
        Zeroizing::new(quirk::number(&bytes).to_vec())
    }

    /// Clamps a secret exponent as the gateway's page does: `a ≥ N` becomes `a mod (N − 1)`, and
    /// `a < 2` becomes 2. (With 256 random bits and N of 512 bits or more, neither happens.)
    pub fn clamp_secret(&self, a: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut a = Zeroizing::new(quirk::number(a).to_vec());
        if cmp_numbers(&a, &self.n).is_ge() {
            let mut nm1 = self.n.clone();
            if let Some(last) = nm1.last_mut() {
                *last -= 1; // N is odd
            }
            a = Zeroizing::new(Self::reduce_public(&a, &nm1));
        }
        if cmp_numbers(&a, &[2]).is_lt() {
            a = Zeroizing::new(vec![2]);
        }
        a
    }

    /// `A = g^a mod N` for a clamped `a`, big-endian without leading zeros.
    pub fn public_value(&self, a: &[u8]) -> Vec<u8> {
        let g = self.uint(&self.g.to_be_bytes());
        let a = self.uint(a);
        Self::retrieve(&self.pow(&g, &a)).to_vec()
    }

    /// Checks the server's `B`: `B mod N ≠ 0`.
    pub fn check_server_value(&self, b: &[u8]) -> Result<()> {
        if Self::reduce_public(b, &self.n).is_empty() {
            return Err(unexpected(
                "The gateway's SRP value B is a multiple of N (B mod N = 0), which would make the \
                 shared key predictable.",
            ));
        }
        Ok(())
    }
}

/// The password as the page hashes it: cut to 8 UTF-16 code units unless the account supports
/// long passwords (`lp`). A surrogate pair cut in half becomes U+FFFD, as UTF-8 encoding of the
/// page's string does.
pub fn effective_password(password: &str, long_passwords: bool) -> Zeroizing<String> {
    if long_passwords {
        return Zeroizing::new(password.to_owned());
    }
    let units: Zeroizing<Vec<u16>> = Zeroizing::new(password.encode_utf16().take(8).collect());
    Zeroizing::new(String::from_utf16_lossy(&units))
}

/// Everything one SRP-6 exchange derives, as the gateway's page computes it. Hex getters give
/// lowercase hex; numbers without leading zeros. Wiped on drop; `Debug` shows nothing.
pub struct Proof {
    a_pub: Vec<u8>,
    x: Zeroizing<Vec<u8>>,
    u: Vec<u8>,
    s: Zeroizing<Vec<u8>>,
    k: Zeroizing<Vec<u8>>,
    m1: Zeroizing<Vec<u8>>,
    m2: Zeroizing<Vec<u8>>,
    cookie: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Proof([redacted])")
    }
}

impl Proof {
    /// A, hex without leading zeros (as the INIT form sends it).
    pub fn a_pub_hex(&self) -> String {
        number_hex(&self.a_pub)
    }
    /// x, hex without leading zeros. Secret.
    pub fn x_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(number_hex(&self.x))
    }
    /// u, hex without leading zeros.
    pub fn u_hex(&self) -> String {
        number_hex(&self.u)
    }
    /// S, hex without leading zeros. Secret.
    pub fn s_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(number_hex(&self.s))
    }
    /// K = SHA1(S), 20 bytes. Secret.
    pub(crate) fn k_bytes(&self) -> &[u8] {
        &self.k
    }
    /// K = SHA1(S): 40 hex digits. Secret.
    pub fn k_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex_encode(&self.k))
    }
    /// M1 as sent: the hash with one leading `00` byte dropped (38 or 40 hex digits).
    pub fn m1_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex_encode(&self.m1))
    }
    /// The M2 the server must answer: 40 hex digits.
    pub fn m2_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex_encode(&self.m2))
    }
    /// The `XYZAB_AM.LOGIN` cookie: 40 hex digits. Secret.
    pub fn cookie_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex_encode(&self.cookie))
    }
}

fn sha1(parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    Zeroizing::new(h.finalize().to_vec())
}

/// The server's values one proof needs.
pub struct ServerValues<'a> {
    /// The salt, as a number (big-endian).
    pub salt: &'a [u8],
    /// B, big-endian.
    pub b: &'a [u8],
    /// Whether the account supports long passwords (`lp`); otherwise the password is cut to 8.
    pub long_passwords: bool,
}

/// Runs the client side of SRP-6 for `username` (as typed; lowercased here), `password`, the
/// clamped secret `a` and the server's values. B must have passed
/// [`Group::check_server_value`].
pub fn prove(
    group: &Group,
    username: &str,
    password: &str,
    a: &[u8],
    server: &ServerValues<'_>,
) -> Proof {
    let user = username.to_lowercase();
    let salt = quirk::number(server.salt);
    let b_pub = quirk::number(server.b);
    let a_pub = group.public_value(a);

    // x = SHA1(salt ‖ SHA1(user ":" password)), the inner hash used as is.
    let inner = {
        let pw = effective_password(password, server.long_passwords);
        let mut text = Zeroizing::new(String::with_capacity(user.len() + 1 + pw.len()));
        text.push_str(&user);
        text.push(':');
        text.push_str(&pw);
        sha1(&[text.as_bytes()])
    };
    let x = sha1(&[salt, &inner]);
    // u = SHA1(A ‖ B), both padded to whole bytes only: the same as their minimal bytes.
    let u = sha1(&[&a_pub, b_pub]).to_vec();

    // S = (B − k·g^x)^(a + u·x) mod N. x and u have 160 bits, so both are below N (≥ 512 bits)
    // and need no reduction; B may be any size and is reduced.
    let params = &group.params;
    let g = group.uint(&group.g.to_be_bytes());
    let gx = group.pow(&g, &group.uint(&x));
    let b_red = group.uint(&Group::reduce_public(b_pub, &group.n));
    let k = BoxedMontyForm::new((*group.uint(&[K as u8])).clone(), params);
    let base = Zeroizing::new(BoxedMontyForm::new((*b_red).clone(), params) - &k * &*gx);
    // The exponent at a fixed width above N's (a < N) and u·x's (320 bits).
    let e_bits = group.precision() + 384;
    let wide = |v: &[u8]| {
        Zeroizing::new(
            BoxedUint::from_be_slice(quirk::number(v), e_bits)
                .unwrap_or_else(|_| BoxedUint::zero_with_precision(e_bits)),
        )
    };
    let ux = Zeroizing::new(wide(&u).wrapping_mul(&*wide(&x)));
    let e = Zeroizing::new(ux.wrapping_add(&*wide(a)));
    let s = Group::retrieve(&Zeroizing::new(base.pow(&e)));

    let k_hash = sha1(&[quirk::number(&s)]);
    let h_n = sha1(&[&group.n]);
    let h_g = sha1(&[quirk::number(&group.g.to_be_bytes())]);
    let h_xor: Vec<u8> = h_n.iter().zip(h_g.iter()).map(|(a, b)| a ^ b).collect();
    let h_user = sha1(&[user.as_bytes()]);
    let m1_hash = sha1(&[
        quirk::number(&h_xor),
        &h_user,
        salt,
        &a_pub,
        b_pub,
        quirk::digest(&k_hash),
    ]);
    let m1 = Zeroizing::new(quirk::digest(&m1_hash).to_vec());
    // M1 as sent goes through the quirk once more here, as the page does.
    let m2 = sha1(&[&a_pub, quirk::digest(&m1), quirk::digest(&k_hash)]);
    let cookie = sha1(&[b_pub, quirk::digest(&k_hash)]);
    Proof {
        a_pub,
        x,
        u,
        s,
        k: k_hash,
        m1,
        m2,
        cookie,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_group_is_the_512_bit_prime() {
        let g = Group::default_group().unwrap();
        assert_eq!(bit_len_be(g.n()), 512);
        assert_eq!(g.g(), 2);
        assert_eq!(number_hex(g.n()), DEFAULT_N_HEX);
    }

    #[test]
    fn groups_are_checked() {
        let n = Group::default_group().unwrap().n().to_vec();
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert!(Group::new(&even, 2).is_err());
        assert!(Group::new(&n[1..], 2).is_err()); // 504 bits
        assert!(Group::new(&n, 1).is_err());
        assert!(Group::new(&n, 0).is_err());
        let big = vec![0xffu8; MAX_N_BITS / 8 + 1];
        assert!(Group::new(&big, 2).is_err());
        assert_eq!(
            Group::new(&n, 1).unwrap_err().code(),
            crate::ErrorCode::UnexpectedResponse
        );
    }

    #[test]
    fn b_multiple_of_n_is_refused() {
        let g = Group::default_group().unwrap();
        assert!(g.check_server_value(&[]).is_err());
        assert!(g.check_server_value(g.n()).is_err());
        let mut two_n = vec![0u8];
        two_n.extend_from_slice(g.n());
        // 2N: shift left by one bit.
        let mut carry = 0u8;
        for b in two_n.iter_mut().rev() {
            let next = *b >> 7;
            *b = (*b << 1) | carry;
            carry = next;
        }
        assert!(g.check_server_value(&two_n).is_err());
        assert!(g.check_server_value(&[5]).is_ok());
    }

    #[test]
    fn secret_is_clamped() {
        let g = Group::default_group().unwrap();
        assert_eq!(&**g.clamp_secret(&[0, 0]), &[2]);
        assert_eq!(&**g.clamp_secret(&[1]), &[2]);
        assert_eq!(&**g.clamp_secret(&[0, 7]), &[7]);
        // N itself becomes N mod (N − 1) = 1, then 2.
        assert_eq!(&**g.clamp_secret(g.n()), &[2]);
        // N + 1 → 2 mod (N − 1) = 2.
        let mut n_plus = g.n().to_vec();
        *n_plus.last_mut().unwrap() += 1;
        assert_eq!(&**g.clamp_secret(&n_plus), &[2]);
    }

    #[test]
    fn public_value_is_g_to_the_a() {
        let g = Group::default_group().unwrap();
        assert_eq!(g.public_value(&[10]), vec![4, 0]); // 2^10
    }

    #[test]
    fn password_cut() {
        assert_eq!(&*effective_password("123456789", false), "12345678");
        assert_eq!(&*effective_password("123456789", true), "123456789");
        assert_eq!(&*effective_password("short", false), "short");
        // Eight UTF-16 units, not bytes: "é" is one unit.
        assert_eq!(&*effective_password("éééééééééé", false), "éééééééé");
        // A pair cut in half becomes U+FFFD.
        assert_eq!(&*effective_password("1234567😀x", false), "1234567\u{fffd}");
    }
}
