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
    /// snapshots 10/s; orders, trades, `/portfolio/accounts`, `/portfolio/subaccounts` and
    /// partitioned P&L 1 per 5 s; scanner runs 1/s and its parameters 1 per 15 min; `/fyi/*`
    /// 1/s; `/pa/*` 1 per 15 min.
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
            (e("/iserver/account/pnl/partitioned"), 1, 5_000.0),
            (e("/portfolio/subaccounts"), 1, 5_000.0),
            (e("/iserver/scanner/params"), 1, 900_000.0),
            (PathMatch::Prefix("/fyi/".to_owned()), 1, 1_000.0),
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

    /// A time as the session's clock gives it (ms since the epoch), half-way through a whole
    /// second: a limiter counting fixed 1-second buckets would start a new one at T + 500.
    const T: f64 = 1_700_000_000_500.0;

    /// IBKR's table as the sessions spec and README publish it: path, requests, window.
    const IBKR_TABLE: [(&str, usize, f64); 12] = [
        ("/tickle", 1, 1_000.0),
        ("/sso/validate", 1, 60_000.0),
        ("/iserver/marketdata/snapshot", 10, 1_000.0),
        ("/iserver/account/orders", 1, 5_000.0),
        ("/iserver/trades", 1, 5_000.0),
        ("/portfolio/accounts", 1, 5_000.0),
        ("/iserver/scanner/run", 1, 1_000.0),
        ("/pa/performance", 1, 900_000.0),
        ("/iserver/account/pnl/partitioned", 1, 5_000.0),
        ("/portfolio/subaccounts", 1, 5_000.0),
        ("/iserver/scanner/params", 1, 900_000.0),
        ("/fyi/unreadnumber", 1, 1_000.0),
    ];

    /// Paths no per-endpoint limit covers (only the overall one).
    fn free_path(i: usize) -> String {
        format!("/portfolio/DU{i}/positions/0")
    }

    #[test]
    fn every_endpoint_limit_in_ibkrs_table_and_its_window_edge() {
        for (path, limit, window) in IBKR_TABLE {
            let mut p = Pacer::ibkr();
            for _ in 0..limit {
                assert_eq!(
                    p.acquire(path, T),
                    0.0,
                    "{path}: a burst up to the limit goes at once"
                );
            }
            let edge = T + window + MARGIN_MS;
            assert_eq!(
                p.acquire(path, T),
                window + MARGIN_MS,
                "{path}: one more waits a whole window"
            );
            assert_eq!(
                p.acquire(path, edge - 1.0),
                1.0,
                "{path}: 1 ms before the edge"
            );
            // The window is half-open, [t, t + window + margin): at its end the burst has left.
            for _ in 0..limit {
                assert_eq!(p.acquire(path, edge), 0.0, "{path}: at the edge");
            }
            assert_eq!(
                p.acquire(path, edge),
                window + MARGIN_MS,
                "{path}: the next burst is full"
            );
        }
    }

    #[test]
    fn a_wait_ends_exactly_when_the_call_may_go_and_not_before() {
        let mut p = Pacer::ibkr();
        assert_eq!(p.acquire("/tickle", T), 0.0);
        for asked_at in [T, T + 1.0, T + 333.0, T + 1049.0] {
            let wait = p.acquire("/tickle", asked_at);
            assert_eq!(asked_at + wait, T + 1_050.0);
        }
        // A timer that fires early (Node's setTimeout can, by up to a millisecond) is refused
        // again, with at least 1 ms to wait, rather than let through early.
        assert_eq!(p.acquire("/tickle", T + 1_049.5), 1.0);
        assert_eq!(p.acquire("/tickle", T + 1_050.0), 0.0);
    }

    #[test]
    fn a_burst_fills_the_overall_limit_and_the_next_call_waits_for_the_oldest() {
        let mut p = Pacer::ibkr();
        for i in 0..50 {
            assert_eq!(p.acquire(&free_path(i), T), 0.0);
        }
        assert_eq!(p.acquire(&free_path(50), T), 1_050.0);
        // The overall limit holds every path back, even one whose own limit is free.
        assert_eq!(p.acquire("/tickle", T + 50.0), 1_000.0);
        for i in 0..50 {
            assert_eq!(p.acquire(&free_path(i), T + 1_050.0), 0.0);
        }
        assert_eq!(p.acquire("/tickle", T + 1_050.0), 1_050.0);
    }

    #[test]
    fn the_window_slides_instead_of_resetting_each_second() {
        let mut p = Pacer::ibkr();
        for i in 0..25 {
            assert_eq!(p.acquire(&free_path(i), T), 0.0);
        }
        for i in 0..25 {
            assert_eq!(p.acquire(&free_path(i), T + 400.0), 0.0);
        }
        // T + 500 starts a new whole second: a fixed bucket would let 50 more go here.
        assert_eq!(p.acquire(&free_path(0), T + 500.0), 550.0);
        for i in 0..25 {
            assert_eq!(p.acquire(&free_path(i), T + 1_050.0), 0.0);
        }
        // The 25 from T + 400 are still in the window.
        assert_eq!(p.acquire(&free_path(0), T + 1_050.0), 400.0);
    }

    #[test]
    fn a_refused_call_takes_no_slot() {
        let mut p = Pacer::ibkr();
        assert_eq!(p.acquire("/tickle", T), 0.0);
        for ms in 1..=200 {
            assert!(p.acquire("/tickle", T + f64::from(ms)) > 0.0);
        }
        // 200 refused tickles later the overall limit still has 49 free.
        for i in 0..49 {
            assert_eq!(p.acquire(&free_path(i), T + 200.0), 0.0);
        }
        assert_eq!(p.acquire(&free_path(49), T + 200.0), 850.0);
    }

    #[test]
    fn limits_are_per_endpoint_and_a_call_waits_for_its_tightest_one() {
        let mut p = Pacer::ibkr();
        assert_eq!(p.acquire("/tickle", T), 0.0);
        // Other endpoints are not held back by the tickle's limit.
        assert_eq!(p.acquire("/sso/validate", T), 0.0);
        assert_eq!(p.acquire("/iserver/scanner/run", T), 0.0);
        // Exact paths: neighbours of a limited path are only under the overall limit.
        assert_eq!(p.acquire("/tickle/x", T), 0.0);
        assert_eq!(p.acquire("/tickles", T), 0.0);
        // Placing an order is another path than listing orders (GET /iserver/account/orders).
        assert_eq!(p.acquire("/iserver/account/orders", T), 0.0);
        assert_eq!(p.acquire("/iserver/account/DU1/orders", T), 0.0);
        assert_eq!(p.acquire("/iserver/account/orders", T), 5_050.0);
        // `/pa/*` is one budget for every path under it, and `/pa` itself is not under it.
        assert_eq!(p.acquire("/pa/performance", T), 0.0);
        assert_eq!(p.acquire("/pa/transactions", T + 1.0), 900_049.0);
        assert_eq!(p.acquire("/pa", T + 1.0), 0.0);

        // Two limits at once: the call waits for the later of the two.
        let mut p = Pacer::ibkr();
        for i in 0..40 {
            assert_eq!(p.acquire(&free_path(i), T), 0.0);
        }
        for _ in 0..10 {
            assert_eq!(p.acquire("/iserver/marketdata/snapshot", T + 600.0), 0.0);
        }
        // The overall limit frees up at T + 1050, the snapshots' own at T + 1650.
        assert_eq!(p.acquire(&free_path(40), T + 700.0), 350.0);
        assert_eq!(p.acquire("/iserver/marketdata/snapshot", T + 700.0), 950.0);
        assert_eq!(p.acquire(&free_path(40), T + 1_050.0), 0.0);
        assert_eq!(
            p.acquire("/iserver/marketdata/snapshot", T + 1_050.0),
            600.0
        );
        assert_eq!(p.acquire("/iserver/marketdata/snapshot", T + 1_650.0), 0.0);
    }

    #[test]
    fn a_custom_table_waits_for_the_longest_limit_whatever_their_order() {
        let slow = Limit {
            paths: PathMatch::Prefix("/a/".to_owned()),
            limit: 1,
            window_ms: 10_000.0,
        };
        let overall = Limit {
            paths: PathMatch::All,
            limit: 3,
            window_ms: 1_000.0,
        };
        for table in [vec![slow.clone(), overall.clone()], vec![overall, slow]] {
            let mut p = Pacer::new(table);
            assert_eq!(p.acquire("/a/x", T), 0.0);
            assert_eq!(p.acquire("/b", T), 0.0);
            assert_eq!(p.acquire("/c", T), 0.0);
            // Both limits are full: the overall one frees up at T + 1050, `/a/` at T + 10050.
            assert_eq!(p.acquire("/a/y", T + 100.0), 9_950.0);
            assert_eq!(p.acquire("/b", T + 100.0), 950.0);
            assert_eq!(p.acquire("/a/y", T + 1_050.0), 9_000.0);
            assert_eq!(p.acquire("/b", T + 1_050.0), 0.0);
            assert_eq!(p.acquire("/a/y", T + 10_050.0), 0.0);
        }
    }

    #[test]
    fn the_gateway_allows_ten_a_second_overall() {
        let mut p = Pacer::gateway();
        for i in 0..10 {
            assert_eq!(p.acquire(&free_path(i), T), 0.0);
        }
        assert_eq!(p.acquire(&free_path(10), T), 1_050.0);
        // Its per-endpoint limits are IBKR's.
        let mut p = Pacer::gateway();
        assert_eq!(p.acquire("/tickle", T), 0.0);
        assert_eq!(p.acquire("/tickle", T), 1_050.0);
    }

    /// Whether a send goes to one of a limit's paths, and the limit.
    type Rule = (Box<dyn Fn(&str) -> bool>, usize, f64);

    /// The largest number of `sends` (in time order) to a rule's paths in any half-open window
    /// `[t, t + window)`: what a server counting sliding windows of that length would see.
    fn most_in_a_window(
        sends: &[(f64, String)],
        matches: &dyn Fn(&str) -> bool,
        window: f64,
    ) -> usize {
        let times: Vec<f64> = sends
            .iter()
            .filter(|(_, p)| matches(p))
            .map(|(t, _)| *t)
            .collect();
        (0..times.len())
            .map(|i| times[i..].partition_point(|&t| t < times[i] + window))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn greedy_concurrent_callers_never_exceed_any_limit() {
        // Sixty callers, each asking again the moment the pacer says (sometimes a millisecond
        // early, as a timer may fire, or a few late), over limited and unlimited paths.
        let mut paths: Vec<String> = IBKR_TABLE.iter().map(|(p, _, _)| (*p).to_owned()).collect();
        paths.push("/pa/transactions".to_owned());
        paths.extend((0..10).map(free_path));
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut random = |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) % n as u64) as usize
        };
        let mut p = Pacer::ibkr();
        // (next attempt, path, the earliest time the pacer said it could go)
        let mut callers: Vec<(f64, String, f64)> = (0..60)
            .map(|_| (T, paths[random(paths.len())].clone(), T))
            .collect();
        let mut sends: Vec<(f64, String)> = Vec::new();
        while sends.len() < 5_000 {
            let i = (0..callers.len())
                .min_by(|&a, &b| callers[a].0.total_cmp(&callers[b].0))
                .unwrap_or(0);
            let (now, path, promised) = callers[i].clone();
            let wait = p.acquire(&path, now);
            if wait > 0.0 {
                assert!(wait >= 1.0);
                // What is in the window leaves no sooner than the pacer said before.
                assert!(
                    now + wait >= promised,
                    "{path} at {now}: {promised} then {}",
                    now + wait
                );
                let lateness = if random(4) == 0 {
                    -1.0
                } else {
                    random(3) as f64
                };
                callers[i] = (now + wait + lateness, path, now + wait);
            } else {
                assert!(now >= promised, "{path} went at {now}, before {promised}");
                sends.push((now, path));
                let at = now + random(20) as f64;
                callers[i] = (at, paths[random(paths.len())].clone(), at);
            }
        }
        let mut rules: Vec<Rule> = IBKR_TABLE
            .iter()
            .filter(|(p, _, _)| !p.starts_with("/pa/"))
            .map(|&(p, n, w)| {
                (
                    Box::new(move |q: &str| q == p) as Box<dyn Fn(&str) -> bool>,
                    n,
                    w,
                )
            })
            .collect();
        rules.push((Box::new(|q: &str| q.starts_with("/pa/")), 1, 900_000.0));
        rules.push((Box::new(|_: &str| true), 50, 1_000.0));
        for (matches, limit, window) in &rules {
            // Never more than the limit even in a window as long as the pacer's own (the
            // published one plus the margin), so arrivals up to the margin closer than the sends
            // still keep under the published limit.
            assert!(most_in_a_window(&sends, matches.as_ref(), window + MARGIN_MS) <= *limit);
        }
        // And the pacer did not hold calls back for nothing: the overall limit was reached.
        assert_eq!(most_in_a_window(&sends, &|_| true, 1_000.0 + MARGIN_MS), 50);
    }

    #[test]
    fn off_never_waits() {
        let mut p = Pacer::off();
        assert!(!p.is_on());
        assert!((0..1000).all(|i| p.acquire("/tickle", f64::from(i)) == 0.0));
    }
}
