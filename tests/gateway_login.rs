//! The gateway login's state machine over canned replies: success with and without second
//! factors, a wrong M2, `reached_max_login`, malformed and incomplete XML, a changed group (the
//! "again" round), steps out of order, and `Debug` without secrets.
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ibkr_auth::gateway_login::srp::DEFAULT_N_HEX;
use ibkr_auth::gateway_login::GatewayLogin;
use ibkr_auth::ErrorCode;

const USER: &str = "Trader.Joe";
const PASSWORD: &str = "s3cret-Passw0rd";
const A: &[u8] = &[0x5a; 32];

fn init_xml(n: &str, g: &str) -> String {
    format!(
        "<ib_auth_res><ini_params><g>{g}</g><N>{n}</N><proto>6</proto><hash>SHA1</hash>\
         <s>00ab12cd</s><B>3f9a0b</B><lp>false</lp><rsapub>{DEFAULT_N_HEX}</rsapub>\
         <paper>true</paper></ini_params></ib_auth_res>"
    )
}

fn m2_reply(m2: &str, extra: &str, locked: bool) -> String {
    format!(
        "<ib_auth_res><ini_params><M2>{m2}</M2></ini_params><auth_info>\
         <reached_max_login>{locked}</reached_max_login></auth_info>{extra}</ib_auth_res>"
    )
}

/// A login through COMPLETEAUTH's form; returns it and the M2 it expects.
fn proved() -> (GatewayLogin, String) {
    let mut login = GatewayLogin::with_secret(USER, PASSWORD, A).unwrap();
    let out = login.init_reply(&init_xml(DEFAULT_N_HEX, "2")).unwrap();
    assert!(!out.again);
    assert_eq!(out.paper, Some(true));
    let form = login.complete_auth_form().unwrap();
    let names: Vec<_> = form.fields().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        ["ACTION", "APP_NAME", "USER", "ACCT", "M1", "VERSION", "EKX"]
    );
    assert_eq!(form.get("USER"), Some("trader.joe"));
    assert_eq!(form.get("VERSION"), Some("1"));
    let ekx = form.get("EKX").unwrap();
    assert!(ekx.len().is_multiple_of(2) && !ekx.starts_with("00"));
    let m2 = login.srp_proof().unwrap().m2_hex().to_string();
    (login, m2)
}

#[test]
fn init_form_fields() {
    let login = GatewayLogin::with_secret(USER, PASSWORD, A).unwrap();
    let form = login.init_form();
    let fields: Vec<_> = form.fields().collect();
    assert_eq!(
        fields[..6],
        [
            ("ACTION", "INIT"),
            ("APP_NAME", ""),
            ("MODE", "NORMAL"),
            ("FORCE_LOGIN", ""),
            ("USER", USER),
            ("ACCT", ""),
        ]
    );
    assert_eq!(fields[6].0, "A");
    assert_eq!(fields[6].1, login.a_pub_hex());
    // Random logins differ in A.
    let a1 = GatewayLogin::new(USER, PASSWORD).unwrap().a_pub_hex();
    let a2 = GatewayLogin::new(USER, PASSWORD).unwrap().a_pub_hex();
    assert_ne!(a1, a2);
}

#[test]
fn success_without_second_factor() {
    let (mut login, m2) = proved();
    assert_eq!(login.login_cookie().unwrap().len(), 40);
    assert!(login
        .complete_auth_reply(&m2_reply(&m2, "", false))
        .unwrap()
        .is_empty());
    let form = login.dispatcher_form("").unwrap();
    let fields: Vec<_> = form.fields().collect();
    assert_eq!(fields[0], ("user_name", USER));
    assert_eq!(fields[1], ("password", "xxxxxxxxxxxxxxxxxxxxxxxx"));
    assert_eq!(fields[2], ("chlginput", ""));
    assert_eq!(fields[3], ("loginType", "0"));
    assert_eq!(fields[4], ("forwardTo", "22"));
    assert_eq!(fields[5].0, "M1");
    assert_eq!(fields[6], ("M2", m2.as_str()));
    login.dispatcher_reply("Client login succeeds").unwrap();
    login.dispatcher_reply("  Client login succeeds\n").unwrap();
    let e = login.dispatcher_reply("Client login fails").unwrap_err();
    assert_eq!(e.code(), ErrorCode::LoginFailed);
    assert_eq!(e.server_message(), Some("Client login fails"));
    let long = "x".repeat(500);
    let e = login.dispatcher_reply(&long).unwrap_err();
    assert_eq!(e.server_message().unwrap().chars().count(), 201); // 200 and an ellipsis
}

#[test]
fn success_with_second_factors() {
    let (mut login, m2) = proved();
    let sfs = login
        .complete_auth_reply(&m2_reply(&m2, "<sftypes>4,5.2a</sftypes>", false))
        .unwrap();
    assert_eq!(sfs, ["4", "5.2a"]);
    let form = login.second_factor_form("5.2a").unwrap();
    let names: Vec<_> = form.fields().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        ["ACTION", "APP_NAME", "USER", "ACCT", "M1", "VERSION", "SF"]
    );
    assert_eq!(form.get("ACTION"), Some("COMPLETEAUTH_1"));
    assert_eq!(form.get("USER"), Some(USER));
    assert_eq!(form.get("SF"), Some("5.2a"));
    let c = login
        .challenge_reply(
            "<ib_auth_res><two_factor><type>SWCR</type><challenge> 12 34\n56 </challenge></two_factor></ib_auth_res>",
        )
        .unwrap();
    assert_eq!(
        (c.kind.as_str(), c.challenge.as_deref()),
        ("SWCR", Some("123456"))
    );
    let c = login
        .challenge_reply("<ib_auth_res><two_factor><type>SWTK</type></two_factor></ib_auth_res>")
        .unwrap();
    assert_eq!((c.kind.as_str(), c.challenge), ("SWTK", None));
    let form = login.two_factor_form("4", "123456").unwrap();
    let names: Vec<_> = form.fields().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        ["ACTION", "APP_NAME", "USER", "ACCT", "RESPONSE", "VERSION", "SF"]
    );
    assert_eq!(form.get("ACTION"), Some("COMPLETETWOFACT"));
    assert_eq!(form.get("RESPONSE"), Some("123456"));
    login
        .two_factor_reply("<ib_auth_res><auth_res>true</auth_res></ib_auth_res>")
        .unwrap();
    let e = login
        .two_factor_reply(
            "<ib_auth_res><auth_res>false</auth_res><error>Invalid code</error></ib_auth_res>",
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SecondFactorFailed);
    assert_eq!(e.server_message(), Some("Invalid code"));
    assert_eq!(
        login.two_factor_reply("<ib_auth_res/>").unwrap_err().code(),
        ErrorCode::SecondFactorFailed
    );
    assert_eq!(
        login.dispatcher_form("123456").unwrap().get("chlginput"),
        Some("123456")
    );
    // SWCR without a challenge, and no two_factor at all.
    for bad in [
        "<ib_auth_res><two_factor><type>SWCR</type></two_factor></ib_auth_res>",
        "<ib_auth_res/>",
        "<ib_auth_res><two_factor><challenge>1</challenge></two_factor></ib_auth_res>",
    ] {
        assert_eq!(
            login.challenge_reply(bad).unwrap_err().code(),
            ErrorCode::UnexpectedResponse
        );
    }
    assert_eq!(
        login
            .challenge_reply("<ib_auth_res><error>SF not allowed</error></ib_auth_res>")
            .unwrap_err()
            .code(),
        ErrorCode::SecondFactorFailed
    );
    assert!(login.two_factor_form("", "1").is_err());
    assert!(login.two_factor_form("4", " ").is_err());
    assert!(login.second_factor_form("").is_err());
}

#[test]
fn wrong_m2_is_login_failed_or_account_locked() {
    let (mut login, m2) = proved();
    let wrong = format!("{}0", &m2[..39]);
    let wrong = if wrong == m2 {
        format!("{}1", &m2[..39])
    } else {
        wrong
    };
    let e = login
        .complete_auth_reply(&m2_reply(&wrong, "", false))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::LoginFailed);
    assert!(e.message().contains("wrong username or password"));
    let e = login
        .complete_auth_reply(&m2_reply(&wrong, "", true))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccountLocked);
    assert!(e.message().contains("Stop retrying"));
    // Not verified: the later steps refuse.
    assert_eq!(
        login.dispatcher_form("").unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        login.second_factor_form("4").unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    // A missing M2 with the lock flag is the lock; without it, an unexpected reply.
    let e = login
        .complete_auth_reply("<ib_auth_res><auth_info><reached_max_login>true</reached_max_login></auth_info></ib_auth_res>")
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AccountLocked);
    let e = login
        .complete_auth_reply("<ib_auth_res><ini_params/></ib_auth_res>")
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnexpectedResponse);
    // The right M2, in upper case, still succeeds afterwards.
    login
        .complete_auth_reply(&m2_reply(&m2.to_uppercase(), "", false))
        .unwrap();
}

#[test]
fn malformed_and_incomplete_init_replies() {
    let full = init_xml(DEFAULT_N_HEX, "2");
    let cases = [
        "".to_owned(),
        "<html>Bad gateway</html>".to_owned(),
        "<ib_auth_res>".to_owned(),
        "<ib_auth_res/>".to_owned(),
        full.replace("<proto>6</proto>", "<proto>6a</proto>"),
        full.replace("<hash>SHA1</hash>", "<hash>SHA256</hash>"),
        full.replace("<proto>6</proto>", ""),
        full.replace("<s>00ab12cd</s>", ""),
        full.replace("<s>00ab12cd</s>", "<s>xyz</s>"),
        full.replace("<B>3f9a0b</B>", ""),
        full.replace("<B>3f9a0b</B>", &format!("<B>{DEFAULT_N_HEX}</B>")),
        full.replace("<B>3f9a0b</B>", "<B>0</B>"),
        full.replace(&format!("<rsapub>{DEFAULT_N_HEX}</rsapub>"), ""),
        full.replace(
            &format!("<rsapub>{DEFAULT_N_HEX}</rsapub>"),
            "<rsapub>ff</rsapub>",
        ),
        full.replace("<g>2</g>", ""),
        full.replace("<g>2</g>", "<g>0x2</g>"),
        full.replace("<g>2</g>", "<g>1</g>"),
        init_xml("d4c7", "2"),                             // a 16-bit N
        init_xml(&DEFAULT_N_HEX.replace("43", "42"), "2"), // an even N
        format!("<ib_auth_res>{}</ib_auth_res>", " ".repeat(70_000)),
    ];
    for xml in &cases {
        let mut login = GatewayLogin::with_secret(USER, PASSWORD, A).unwrap();
        let e = login.init_reply(xml).unwrap_err();
        assert_eq!(e.code(), ErrorCode::UnexpectedResponse, "{xml}");
        // Unsupported protocols say so.
        if xml.contains("<proto>6a") || xml.contains("<hash>SHA256") {
            assert!(e.message().contains("unsupported"), "{}", e.message());
        }
        // Nothing was accepted: the next step refuses.
        assert_eq!(
            login.complete_auth_form().unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
    }
}

#[test]
fn changed_group_means_again_once() {
    // Another 512-bit odd N and g = 5.
    let other_n = format!("{}01", &"e3".repeat(63));
    let mut login = GatewayLogin::with_secret(USER, PASSWORD, A).unwrap();
    let a_before = login.a_pub_hex();
    let out = login.init_reply(&init_xml(&other_n, "5")).unwrap();
    assert!(out.again);
    assert_ne!(
        login.a_pub_hex(),
        a_before,
        "A was made again with the new group"
    );
    assert_eq!(login.init_form().get("A"), Some(login.a_pub_hex().as_str()));
    // Not ready yet: the INIT must be sent again first.
    assert!(login.complete_auth_form().is_err());
    // The second INIT's reply has the same group: ready.
    assert!(!login.init_reply(&init_xml(&other_n, "5")).unwrap().again);
    login.complete_auth_form().unwrap();

    // A second change is an error.
    let mut login = GatewayLogin::with_secret(USER, PASSWORD, A).unwrap();
    assert!(login.init_reply(&init_xml(&other_n, "2")).unwrap().again);
    let e = login.init_reply(&init_xml(DEFAULT_N_HEX, "2")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnexpectedResponse);

    // g alone differing is a change too.
    let mut login = GatewayLogin::new(USER, PASSWORD).unwrap();
    assert!(
        login
            .init_reply(&init_xml(DEFAULT_N_HEX, "5"))
            .unwrap()
            .again
    );
}

#[test]
fn steps_out_of_order_are_refused() {
    let mut login = GatewayLogin::with_secret(USER, PASSWORD, A).unwrap();
    assert_eq!(
        login.complete_auth_form().unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert!(login.login_cookie().is_err());
    assert!(login
        .complete_auth_reply(&m2_reply("00", "", false))
        .is_err());
    assert!(login.second_factor_form("4").is_err());
    assert!(login.two_factor_form("4", "1").is_err());
    assert!(login.dispatcher_form("").is_err());
    assert_eq!(
        GatewayLogin::new("", "p").unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        GatewayLogin::new("u", "").unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn debug_shows_no_secret() {
    let (mut login, m2) = proved();
    let cookie = login.login_cookie().unwrap().to_string();
    let form = login.complete_auth_form().unwrap();
    let m1 = form.get("M1").unwrap().to_owned();
    let ekx = form.get("EKX").unwrap().to_owned();
    login
        .complete_auth_reply(&m2_reply(&m2, "", false))
        .unwrap();
    let shown = format!(
        "{login:?} {form:?} {:?} {:?} {:?}",
        login.srp_proof().unwrap(),
        login.dispatcher_form("654321").unwrap(),
        login.challenge_reply("<ib_auth_res><two_factor><type>SWCR</type><challenge>987654</challenge></two_factor></ib_auth_res>").unwrap()
    );
    for secret in [PASSWORD, &m2, &m1, &ekx, &cookie, "654321", "987654"] {
        assert!(!shown.contains(secret), "Debug shows a secret: {shown}");
    }
    assert!(
        shown.contains("EKX") && shown.contains("[redacted]"),
        "{shown}"
    );
    // Nor do the errors.
    let e = login.dispatcher_reply("nope").unwrap_err();
    assert!(!format!("{e:?}").contains(PASSWORD));
}
