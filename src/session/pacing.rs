//! Client-side pacing: stay under IBKR's published rate limits instead of collecting 429s (and,
//! for repeat offenders, a block of several minutes).

use std::collections::VecDeque;

/// Which paths a limit applies to (paths relative to the API base, e.g. `/tickle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// Exactly this path.
    Exact(String),
    /// Every path starting with this.
    Prefix(String),
    /// Every path.
    All,
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::All => true,
        }
    }
}

/// At most `limit` requests per `window_ms` to the matching paths.
#[derive(Debug, Clone)]
pub struct Limit {
    /// The paths.
    pub paths: PathMatch,
    /// Requests per window.
    pub limit: usize,
    /// The window.
    pub window_ms: f64,
}

/// Added to every window: the server counts arrivals, which network jitter can bring closer
/// together than our sends were.
pub const MARGIN_MS: f64 = 50.0;

/// Sliding-window limiter over a set of [`Limit`]s.
#[derive(Debug, Clone, Default)]
pub struct Pacer {
    limits: Vec<(Limit, VecDeque<f64>)>,
}

impl Pacer {
    /// No pacing.
    pub fn off() -> Self {
        Pacer::default()
    }

    /// IBKR's published limits: 50 req/s overall; `/tickle` 1/s; `/sso/validate` 1/min;
    /// snapshots 10/s; orders, trades and `/portfolio/accounts` 1 per 5 s; scanner 1/s;
    /// `/pa/*` 1 per 15 min.
    pub fn ibkr() -> Self {
        let e = |p: &str| PathMatch::Exact(p.to_owned());
        let table = [
            (PathMatch::All, 50, 1_000.0),
            (e("/tickle"), 1, 1_000.0),
            (e("/sso/validate"), 1, 60_000.0),
            (e("/iserver/marketdata/snapshot"), 10, 1_000.0),
            (e("/iserver/account/orders"), 1, 5_000.0),
            (e("/iserver/trades"), 1, 5_000.0),
            (e("/portfolio/accounts"), 1, 5_000.0),
            (e("/iserver/scanner/run"), 1, 1_000.0),
            (PathMatch::Prefix("/pa/".to_owned()), 1, 900_000.0),
        ];
        Pacer::new(
            table
                .into_iter()
                .map(|(paths, limit, window_ms)| Limit {
                    paths,
                    limit,
                    window_ms,
                })
                .collect(),
        )
    }

    /// The Client Portal Gateway's limits: IBKR's table with 10 req/s overall.
    pub fn gateway() -> Self {
        let mut p = Pacer::ibkr();
        if let Some((first, _)) = p.limits.first_mut() {
            first.limit = 10;
        }
        p
    }

    /// A pacer over these limits.
    pub fn new(limits: Vec<Limit>) -> Self {
        Pacer {
            limits: limits.into_iter().map(|l| (l, VecDeque::new())).collect(),
        }
    }

    /// Whether any limit is set.
    pub fn is_on(&self) -> bool {
        !self.limits.is_empty()
    }

    /// Either records a send of `path` at `now` and returns 0, or returns how many milliseconds
    /// to wait before asking again.
    pub fn acquire(&mut self, path: &str, now: f64) -> f64 {
        let mut wait: f64 = 0.0;
        for (limit, sent) in self
            .limits
            .iter_mut()
            .filter(|(l, _)| l.paths.matches(path))
        {
            let window = limit.window_ms + MARGIN_MS;
            while sent.front().is_some_and(|&t| now - t >= window) {
                sent.pop_front();
            }
            if sent.len() >= limit.limit {
                if let Some(&oldest) = sent.front() {
                    wait = wait.max(oldest + window - now);
                }
            }
        }
        if wait > 0.0 {
            return wait.max(1.0);
        }
        for (_, sent) in self
            .limits
            .iter_mut()
            .filter(|(l, _)| l.paths.matches(path))
        {
            sent.push_back(now);
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickle_once_a_second_and_global_fifty() {
        let mut p = Pacer::ibkr();
        // Windows are one second (etc.) plus MARGIN_MS.
        assert_eq!(p.acquire("/tickle", 0.0), 0.0);
        assert_eq!(p.acquire("/tickle", 10.0), 1040.0);
        assert_eq!(p.acquire("/tickle", 1049.0), 1.0);
        assert_eq!(p.acquire("/tickle", 1050.0), 0.0);
        for i in 0..48 {
            assert_eq!(p.acquire("/iserver/accounts", 1050.0 + f64::from(i)), 0.0);
        }
        // At 1100 the first tickle has left the global window: the tickle at 1050 and 48 others
        // are in it, so one more fits, and the next waits for the tickle at 1050 to leave.
        assert_eq!(p.acquire("/iserver/accounts", 1100.0), 0.0);
        assert_eq!(p.acquire("/iserver/accounts", 1101.0), 999.0);
        assert_eq!(p.acquire("/pa/performance", 3000.0), 0.0);
        assert_eq!(p.acquire("/pa/transactions", 3001.0), 900_049.0);
    }

    #[test]
    fn off_never_waits() {
        let mut p = Pacer::off();
        assert!(!p.is_on());
        assert!((0..1000).all(|i| p.acquire("/tickle", f64::from(i)) == 0.0));
    }
}
