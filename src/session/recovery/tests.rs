//! One test per row of README.md's "Recovery" table, and a test that reads the table itself
//! and checks each row against [`decide`], so the two cannot drift apart.

use super::*;

/// A first send of an idempotent call: no recovery used yet, `max_retries` 2.
fn seen(outcome: Outcome) -> Observed<'static> {
    Observed {
        outcome,
        message: None,
        retry_after: None,
        retries: Retries::default(),
        idempotent: true,
        is_gateway: false,
        token_adopted: false,
        max_retries: 2,
    }
}

fn status(s: u16) -> Observed<'static> {
    seen(Outcome::Status(s))
}

fn used_up(mut o: Observed<'static>) -> Observed<'static> {
    o.retries.attempts = o.max_retries;
    o
}

/// `decide` for the idempotent call and for the same call not idempotent.
fn both(o: Observed<'_>) -> (Action, Action) {
    (
        decide(&o),
        decide(&Observed {
            idempotent: false,
            ..o
        }),
    )
}

fn no_bridge() -> Observed<'static> {
    Observed {
        message: Some("Bad Request: no bridge"),
        ..status(400)
    }
}

// The rows, in the README's order. Each row's observations, with its label.
fn rows() -> Vec<(&'static str, Vec<Observed<'static>>)> {
    let mut second_401 = status(401);
    second_401.retries.new_token = true;
    let second_401_adopted = Observed {
        token_adopted: true,
        ..second_401
    };
    let mut third_401 = second_401_adopted;
    third_401.retries.stale_token = true;
    let gateway_401 = Observed {
        is_gateway: true,
        ..status(401)
    };
    let mut second_410 = status(410);
    second_410.retries.next_host = true;
    let mut second_bridge = no_bridge();
    second_bridge.retries.init_brokerage = true;
    let other_400 = Observed {
        message: Some("Bad Request: conid missing"),
        ..status(400)
    };
    let mut one_429_left = status(429);
    one_429_left.retries.attempts = 1;
    vec![
        ("401, the first time (not the gateway)", vec![status(401)]),
        (
            "401 again on a token adopted from the fleet's `store`, the first time",
            vec![second_401_adopted],
        ),
        (
            "401 again, or from the gateway",
            vec![second_401, third_401, gateway_401],
        ),
        ("410 Gone, the first time", vec![status(410)]),
        ("410 Gone again", vec![second_410]),
        ("400 \"no bridge\", the first time", vec![no_bridge()]),
        (
            "400 \"no bridge\" again, any other 400",
            vec![second_bridge, other_400],
        ),
        ("429 with retries left", vec![status(429), one_429_left]),
        ("429 with `maxRetries` used up", vec![used_up(status(429))]),
        ("5xx with retries left", vec![status(500), status(503)]),
        ("5xx with `maxRetries` used up", vec![used_up(status(502))]),
        (
            "network error or timeout with retries left",
            vec![
                seen(Outcome::Error(ErrorCode::Network)),
                seen(Outcome::Error(ErrorCode::Timeout)),
            ],
        ),
        (
            "network error or timeout with `maxRetries` used up",
            vec![
                used_up(seen(Outcome::Error(ErrorCode::Network))),
                used_up(seen(Outcome::Error(ErrorCode::Timeout))),
            ],
        ),
        (
            "aborted (your `signal`)",
            vec![seen(Outcome::Error(ErrorCode::Aborted))],
        ),
        (
            "anything else (2xx, 3xx, other 4xx)",
            vec![
                status(200),
                status(204),
                status(302),
                status(403),
                status(404),
            ],
        ),
    ]
}

#[test]
fn row_401_first_time_new_token_and_retry_even_for_orders() {
    assert_eq!(
        both(status(401)),
        (Action::NewTokenAndRetry, Action::NewTokenAndRetry)
    );
}

#[test]
fn row_401_again_or_from_the_gateway_returns() {
    let mut again = status(401);
    again.retries.new_token = true;
    assert_eq!(both(again), (Action::Return, Action::Return));
    let gateway = Observed {
        is_gateway: true,
        ..status(401)
    };
    assert_eq!(both(gateway), (Action::Return, Action::Return));
}

#[test]
fn row_410_first_time_next_host_retry_only_if_idempotent() {
    assert_eq!(
        both(status(410)),
        (Action::NextHostAndRetry, Action::NextHostAndReturn)
    );
}

#[test]
fn row_410_again_next_host_and_return() {
    let mut again = status(410);
    again.retries.next_host = true;
    assert_eq!(
        both(again),
        (Action::NextHostAndReturn, Action::NextHostAndReturn)
    );
}

#[test]
fn row_no_bridge_first_time_init_brokerage_retry_only_if_idempotent() {
    assert_eq!(
        both(no_bridge()),
        (
            Action::InitBrokerageAndRetry,
            Action::InitBrokerageAndReturn
        )
    );
    let shouting = Observed {
        message: Some("NO BRIDGE"),
        ..status(400)
    };
    assert_eq!(decide(&shouting), Action::InitBrokerageAndRetry);
}

#[test]
fn row_no_bridge_again_or_other_400_returns() {
    let mut again = no_bridge();
    again.retries.init_brokerage = true;
    assert_eq!(both(again), (Action::Return, Action::Return));
    assert_eq!(both(status(400)), (Action::Return, Action::Return));
}

#[test]
fn row_429_with_retries_left_waits_retry_after_if_idempotent() {
    assert_eq!(
        both(status(429)),
        (Action::WaitAndRetry { secs: 1 }, Action::Return)
    );
    for (header, secs) in [
        ("7", 7),
        (" 3 ", 3),
        ("600", 120),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1),
        ("", 1),
    ] {
        let o = Observed {
            retry_after: Some(header),
            ..status(429)
        };
        assert_eq!(decide(&o), Action::WaitAndRetry { secs }, "{header}");
    }
}

#[test]
fn row_429_with_retries_used_up_returns() {
    assert_eq!(both(used_up(status(429))), (Action::Return, Action::Return));
}

#[test]
fn row_5xx_with_retries_left_backs_off_if_idempotent() {
    for s in [500, 502, 503, 599] {
        assert_eq!(
            both(status(s)),
            (Action::BackoffAndRetry, Action::Return),
            "{s}"
        );
    }
}

#[test]
fn row_5xx_with_retries_used_up_returns() {
    assert_eq!(both(used_up(status(500))), (Action::Return, Action::Return));
}

#[test]
fn row_network_error_or_timeout_with_retries_left_backs_off_if_idempotent() {
    for code in [ErrorCode::Network, ErrorCode::Timeout] {
        assert_eq!(
            both(seen(Outcome::Error(code))),
            (Action::BackoffAndRetry, Action::Fail)
        );
    }
}

#[test]
fn row_network_error_or_timeout_with_retries_used_up_fails() {
    for code in [ErrorCode::Network, ErrorCode::Timeout] {
        assert_eq!(
            both(used_up(seen(Outcome::Error(code)))),
            (Action::Fail, Action::Fail)
        );
    }
}

#[test]
fn row_aborted_fails() {
    assert_eq!(
        both(seen(Outcome::Error(ErrorCode::Aborted))),
        (Action::Fail, Action::Fail)
    );
}

#[test]
fn row_anything_else_returns() {
    for s in [200, 201, 204, 301, 302, 403, 404, 409] {
        assert_eq!(both(status(s)), (Action::Return, Action::Return), "{s}");
    }
}

#[test]
fn retries_count_what_was_used() {
    let r = Retries::default()
        .after(Action::NewTokenAndRetry)
        .after(Action::NextHostAndRetry)
        .after(Action::InitBrokerageAndReturn)
        .after(Action::WaitAndRetry { secs: 1 })
        .after(Action::BackoffAndRetry)
        .after(Action::Return)
        .after(Action::NextHostAndReturn);
    assert_eq!(
        r,
        Retries {
            new_token: true,
            stale_token: false,
            init_brokerage: true,
            next_host: true,
            attempts: 2
        }
    );
    // A second new token (after a 401 on an adopted one) is recorded apart.
    let r = r.after(Action::NewTokenAndRetry);
    assert!(r.new_token && r.stale_token);
}

#[test]
fn a_refused_adopted_token_is_replaced_once_more_and_never_twice() {
    let mut o = status(401);
    o.retries.new_token = true;
    o.token_adopted = true;
    assert_eq!(
        both(o),
        (Action::NewTokenAndRetry, Action::NewTokenAndRetry)
    );
    assert!(needs_message(&o));
    o.retries.stale_token = true;
    assert_eq!(both(o), (Action::Return, Action::Return));
    // A token this process made itself, refused again: returned.
    o.retries.stale_token = false;
    o.token_adopted = false;
    assert_eq!(both(o), (Action::Return, Action::Return));
}

#[test]
fn the_message_is_read_only_when_it_matters() {
    assert!(needs_message(&status(401)));
    assert!(needs_message(&status(400)));
    assert!(!needs_message(&Observed {
        is_gateway: true,
        ..status(401)
    }));
    let mut again = no_bridge();
    again.retries.init_brokerage = true;
    assert!(!needs_message(&again));
    for s in [200, 410, 429, 500] {
        assert!(!needs_message(&status(s)), "{s}");
    }
}

/// A cell of the table, as an action: its words, not its decoration.
fn action_named(cell: &str) -> Option<&'static str> {
    let c = cell.trim();
    let again = c.contains("sent again");
    Some(if c.starts_with("a new token and the next base URL") {
        if again {
            "next host, retry"
        } else {
            "next host, return"
        }
    } else if c.starts_with("a new token") {
        if again {
            "new token, retry"
        } else {
            return None;
        }
    } else if c.starts_with("`ssodh/init`") {
        if again {
            "init brokerage, retry"
        } else {
            "init brokerage, return"
        }
    } else if c.starts_with("waits") {
        if again {
            "wait, retry"
        } else {
            return None;
        }
    } else if c.starts_with("a jittered backoff") {
        if again {
            "backoff, retry"
        } else {
            return None;
        }
    } else if c.starts_with("returned") {
        "return"
    } else if c.starts_with("fails") {
        "fail"
    } else {
        return None;
    })
}

fn name(a: Action) -> &'static str {
    match a {
        Action::Return => "return",
        Action::Fail => "fail",
        Action::NewTokenAndRetry => "new token, retry",
        Action::NextHostAndRetry => "next host, retry",
        Action::NextHostAndReturn => "next host, return",
        Action::InitBrokerageAndRetry => "init brokerage, retry",
        Action::InitBrokerageAndReturn => "init brokerage, return",
        Action::WaitAndRetry { .. } => "wait, retry",
        Action::BackoffAndRetry => "backoff, retry",
    }
}

#[test]
fn the_readme_table_is_what_decide_does() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("\n### Recovery\n")
        .nth(1)
        .expect("README.md has a \"### Recovery\" section");
    let section = section.split("\n#").next().unwrap_or(section);
    let table: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2) // the header and the |---| line
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect()
        })
        .collect();
    let expected = rows();
    let labels: Vec<&str> = table.iter().map(|r| r[0]).collect();
    let wanted: Vec<&str> = expected.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        labels, wanted,
        "the table's rows are exactly the cases decide() knows, in order"
    );
    for (row, (label, observed)) in table.iter().zip(&expected) {
        assert_eq!(row.len(), 3, "{label}: three columns");
        let cells = (action_named(row[1]), action_named(row[2]));
        assert!(
            cells.0.is_some() && cells.1.is_some(),
            "{label}: unreadable cells {row:?}"
        );
        for o in observed {
            let (idem, not) = both(*o);
            assert_eq!(cells, (Some(name(idem)), Some(name(not))), "{label}: {o:?}");
        }
    }
}

fn cx(is_gateway: bool) -> ErrorContext<'static> {
    ErrorContext {
        is_gateway,
        hint_401: "live session token. Check it.",
        clock_offset_ms: 42_000.0,
    }
}

#[test]
fn status_errors_name_the_code() {
    let e = |s: u16, m: Option<&str>, g: bool| {
        status_error(s, m.map(str::to_owned), "GET", "/x", &cx(g))
    };
    assert_eq!(e(401, None, false).code(), ErrorCode::Unauthorized);
    assert!(e(401, None, false)
        .message()
        .ends_with("fresh live session token. Check it."));
    let skew = e(401, Some("invalid timestamp"), false);
    assert_eq!(skew.code(), ErrorCode::ClockSkew);
    assert!(skew.message().contains("42 s"));
    assert_eq!(skew.status(), Some(401));
    assert_eq!(e(410, None, false).code(), ErrorCode::Gone);
    assert_eq!(e(400, Some("no bridge"), false).code(), ErrorCode::NoBridge);
    assert_eq!(e(400, Some("bad"), false).code(), ErrorCode::HttpError);
    assert_eq!(e(429, None, false).code(), ErrorCode::RateLimited);
    assert_eq!(e(503, None, false).code(), ErrorCode::HttpError);
    for s in [0, 302, 401] {
        let g = e(s, None, true);
        assert_eq!(g.code(), ErrorCode::Unauthorized);
        assert!(g.message().contains("not logged in"), "{s}");
        assert_eq!(g.status(), Some(s));
    }
    assert_eq!(e(404, Some("nope"), true).server_message(), Some("nope"));
}
