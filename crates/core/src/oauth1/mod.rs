//! OAuth 1.0a "Extended", IBKR's flavour: the base string and header ([`base`]), the live
//! session token maths ([`lst`]), and request builders for every step ([`request`]).

pub mod base;
pub mod lst;
pub mod request;

pub use base::{authorization_header, base_string};
pub use lst::{
    check_lst, compute_lst, decrypt_access_token_secret, dh_challenge, lst_base64, shared_secret,
    verify_lst, DhSecret,
};
pub use request::{
    access_token_request, api_request, api_request_keyed, authorize_url, default_realm,
    generate_nonce, live_session_token_base_string, live_session_token_request,
    live_session_token_request_with, request_token_request, Context, HmacSha256Key, SignedRequest,
    Signer,
};
