//! The server's clock: IBKR's `Date` header measures how far this machine's clock is off; a
//! skew beyond [`SKEW_TOLERANCE_MS`] corrects the OAuth timestamps (and is reported once). The
//! bookkeeping is pure ([`Clock`]); the session feeds it every response.

use super::{http_date, whole, Host, HttpResponse, Level, Session};
use crate::error::{Error, ErrorCode};

/// Clock skew beyond this is corrected and reported.
pub(crate) const SKEW_TOLERANCE_MS: f64 = 30_000.0;

/// The measured offset to the server's clock.
#[derive(Debug, Default, Clone)]
pub(crate) struct Clock {
    /// Server time minus local time, when beyond the tolerance; else 0.
    offset_ms: f64,
    /// The skew has been logged (once per session).
    skew_reported: bool,
}

impl Clock {
    /// The offset applied to timestamps (ms).
    pub(crate) fn offset_ms(&self) -> f64 {
        self.offset_ms
    }

    /// The OAuth timestamp (corrected for the server's clock) at local time `now`.
    pub(crate) fn timestamp_at(&self, now: f64) -> u64 {
        ((now + self.offset_ms) / 1000.0).floor().max(0.0) as u64
    }

    /// Takes in the server's time `server` seen at local time `local`; returns the skew when it
    /// is to be reported now (the first time it exceeds the tolerance).
    pub(crate) fn observe(&mut self, server: f64, local: f64) -> Option<f64> {
        let skew = server - local;
        if skew.abs() > SKEW_TOLERANCE_MS {
            self.offset_ms = skew;
            if !self.skew_reported {
                self.skew_reported = true;
                return Some(skew);
            }
        } else if self.offset_ms != 0.0 {
            self.offset_ms = 0.0;
        }
        None
    }
}

/// The warning logged once when the clock is off by `skew` ms.
pub(crate) fn skew_warning(skew: f64) -> String {
    format!(
        "this machine's clock is {} s {} IBKR's: timestamps are corrected by the server's Date header. Fix the clock (NTP).",
        whole((skew / 1000.0).abs()),
        if skew > 0.0 { "behind" } else { "ahead of" }
    )
}

/// The error for a request whose timestamp IBKR rejected, with the measured offset.
pub(crate) fn clock_skew_error(offset_ms: f64) -> Error {
    Error::new(
        ErrorCode::ClockSkew,
        format!(
            "IBKR rejected the request's timestamp: this machine's clock is off (measured offset to the server: {} s). \
             Synchronise the clock (NTP) and retry.",
            whole(offset_ms / 1000.0)
        ),
    )
}

impl<H: Host> Session<H> {
    /// The OAuth timestamp now.
    pub(crate) fn timestamp(&self) -> u64 {
        self.timestamp_at(self.now())
    }

    /// The OAuth timestamp (corrected for the server's clock) at local time `now`.
    pub(crate) fn timestamp_at(&self, now: f64) -> u64 {
        self.inner.state.borrow().clock.timestamp_at(now)
    }

    /// The offset to the server's clock (ms).
    pub(crate) fn clock_offset_ms(&self) -> f64 {
        self.inner.state.borrow().clock.offset_ms()
    }

    /// Reads the server's `Date` header, if any, into the clock.
    pub(crate) fn learn_clock(&self, resp: &H::Response) {
        let Some(server) = resp
            .header("date")
            .and_then(|d| http_date::parse_http_date(&d))
        else {
            return;
        };
        let local = self.now();
        let report = self.inner.state.borrow_mut().clock.observe(server, local);
        if let Some(skew) = report {
            self.log(Level::Warn, &skew_warning(skew));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_skew_is_ignored_a_large_one_corrects_and_is_reported_once() {
        let mut c = Clock::default();
        assert_eq!(c.observe(1_000_000.0 + 5_000.0, 1_000_000.0), None);
        assert_eq!(c.offset_ms(), 0.0);
        assert_eq!(
            c.observe(1_000_000.0 + 60_000.0, 1_000_000.0),
            Some(60_000.0)
        );
        assert_eq!(c.offset_ms(), 60_000.0);
        assert_eq!(c.timestamp_at(1_000_000.0), 1_060);
        assert_eq!(c.observe(1_000_000.0 - 90_000.0, 1_000_000.0), None);
        assert_eq!(c.offset_ms(), -90_000.0);
        assert_eq!(c.observe(1_000_000.0, 1_000_000.0), None);
        assert_eq!(c.offset_ms(), 0.0);
    }

    #[test]
    fn timestamps_never_go_below_zero() {
        let mut c = Clock::default();
        c.observe(0.0, 100_000.0);
        assert_eq!(c.timestamp_at(50_000.0), 0);
    }

    #[test]
    fn the_warning_says_which_way() {
        assert!(skew_warning(60_000.0).contains("60 s behind"));
        assert!(skew_warning(-45_400.0).contains("45 s ahead of"));
    }
}
