//! The Client Portal Gateway the user runs: the gateway holds the brokerage session, so there is
//! no token to acquire and nothing to sign. Its redirects and 401s mean "not logged in".

use super::AuthKind;
use crate::error::Result;
use crate::fleet::FleetAccount;
use crate::keys::SecretBytes;
use crate::session::token::Token;
use crate::session::{Host, Session};

/// The gateway kind: no credentials.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gateway;

impl AuthKind for Gateway {
    /// The one trivial acquisition: an empty token that never expires.
    async fn acquire<H: Host>(&self, _session: &Session<H>) -> Result<(SecretBytes, f64)> {
        Ok((SecretBytes::new(Vec::new()), f64::INFINITY))
    }

    /// None: the gateway adds its own session to what it forwards.
    fn authorization<H: Host>(
        &self,
        _session: &Session<H>,
        _token: &Token,
        _method: &str,
        _url: &str,
        _now: f64,
    ) -> Result<Option<String>> {
        Ok(None)
    }

    fn is_gateway(&self) -> bool {
        true
    }

    /// Never shown: a gateway's 401 gets its own error ("not logged in").
    fn hint_on_401(&self) -> &'static str {
        "live session token. Check the consumer key, the access token and the realm."
    }

    /// None: the gateway holds its own session.
    fn handshake_requests(&self) -> u64 {
        1
    }

    /// Named by its API base; no token is stored for it, only the brokerage and keep-alive
    /// leases are shared.
    fn fleet_account(&self, base_url: &str) -> Result<FleetAccount> {
        Ok(FleetAccount::gateway(base_url))
    }
}
