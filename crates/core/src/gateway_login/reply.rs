//! The XML replies of `/sso/Authenticator`, read with `roxmltree`:
//!
//! ```xml
//! <ib_auth_res>
//!   <ini_params><g>2</g><N>…</N><proto>6</proto><hash>SHA1</hash><s>…</s><B>…</B>
//!               <lp>true</lp><rsapub>…</rsapub><paper>false</paper><M2>…</M2></ini_params>
//!   <auth_info><reached_max_login>false</reached_max_login></auth_info>
//!   <sftypes>4,5.2a</sftypes>
//!   <two_factor><type>SWCR</type><challenge>123 456</challenge></two_factor>
//!   <auth_res>true</auth_res>
//!   <error>…</error>
//! </ib_auth_res>
//! ```
//! Each field is optional here; each step says which ones it needs. Input is bounded (64 KiB),
//! DTDs are refused, and anything that is not this shape is an `UNEXPECTED_RESPONSE`.

use roxmltree::{Document, Node, ParsingOptions};

use super::unexpected;
use crate::error::Result;

/// Largest reply read, in bytes.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// `ini_params`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IniParams {
    /// `g`, decimal.
    pub g: Option<String>,
    /// `N`, hex.
    pub n: Option<String>,
    /// `proto`.
    pub proto: Option<String>,
    /// `hash`.
    pub hash: Option<String>,
    /// `s`: the salt, hex.
    pub s: Option<String>,
    /// `B`, hex.
    pub b: Option<String>,
    /// `lp`: long passwords supported.
    pub lp: Option<String>,
    /// `rsapub`: the login key's modulus, hex.
    pub rsapub: Option<String>,
    /// `paper`: a paper-trading account.
    pub paper: Option<String>,
    /// `M2`: the server's proof.
    pub m2: Option<String>,
}

/// `two_factor`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TwoFactor {
    /// `type`: `SWCR`, `SWTK`, …
    pub kind: Option<String>,
    /// `challenge`, with all whitespace removed.
    pub challenge: Option<String>,
}

/// One `<ib_auth_res>` reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthReply {
    /// `ini_params`.
    pub ini: Option<IniParams>,
    /// `auth_info/reached_max_login`.
    pub reached_max_login: Option<String>,
    /// `sftypes`: the second-factor types offered.
    pub sftypes: Option<String>,
    /// `two_factor`.
    pub two_factor: Option<TwoFactor>,
    /// `auth_res`.
    pub auth_res: Option<String>,
    /// `error`.
    pub error: Option<String>,
}

impl AuthReply {
    /// Whether `reached_max_login` is `true`.
    pub fn reached_max_login(&self) -> bool {
        self.reached_max_login.as_deref() == Some("true")
    }

    /// `sftypes` as a list (empty when absent).
    pub fn second_factors(&self) -> Vec<String> {
        self.sftypes
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// The text of an element, trimmed.
fn text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Sets `slot` to the first occurrence only.
fn first(slot: &mut Option<String>, value: String) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// Parses one reply of `/sso/Authenticator` (`step` names the request, for messages).
pub fn parse(step: &str, xml: &str) -> Result<AuthReply> {
    if xml.len() > MAX_REPLY_BYTES {
        return Err(unexpected(format!(
            "The gateway's reply to {step} is {} bytes; a login reply is under {} KiB.",
            xml.len(),
            MAX_REPLY_BYTES / 1024
        )));
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: 10_000,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options).map_err(|e| {
        unexpected(format!(
            "The gateway's reply to {step} is not XML ({e}); it may be an error page (is the \
             base URL the gateway's?)."
        ))
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "ib_auth_res" {
        return Err(unexpected(format!(
            "The gateway's reply to {step} is XML, but its root is <{}>, not <ib_auth_res>.",
            super::clip(root.tag_name().name(), 40)
        )));
    }
    let mut reply = AuthReply::default();
    for child in root.children().filter(Node::is_element) {
        match child.tag_name().name() {
            "ini_params" if reply.ini.is_none() => {
                let mut ini = IniParams::default();
                for p in child.children().filter(Node::is_element) {
                    let slot = match p.tag_name().name() {
                        "g" => &mut ini.g,
                        "N" => &mut ini.n,
                        "proto" => &mut ini.proto,
                        "hash" => &mut ini.hash,
                        "s" => &mut ini.s,
                        "B" => &mut ini.b,
                        "lp" => &mut ini.lp,
                        "rsapub" => &mut ini.rsapub,
                        "paper" => &mut ini.paper,
                        "M2" => &mut ini.m2,
                        _ => continue,
                    };
                    first(slot, text(p));
                }
                reply.ini = Some(ini);
            }
            "auth_info" => {
                for p in child.children().filter(Node::is_element) {
                    if p.tag_name().name() == "reached_max_login" {
                        first(&mut reply.reached_max_login, text(p));
                    }
                }
            }
            "two_factor" if reply.two_factor.is_none() => {
                let mut tf = TwoFactor::default();
                for p in child.children().filter(Node::is_element) {
                    match p.tag_name().name() {
                        "type" => first(&mut tf.kind, text(p)),
                        "challenge" => first(
                            &mut tf.challenge,
                            text(p).chars().filter(|c| !c.is_whitespace()).collect(),
                        ),
                        _ => {}
                    }
                }
                reply.two_factor = Some(tf);
            }
            "sftypes" => first(&mut reply.sftypes, text(child)),
            "auth_res" => first(&mut reply.auth_res, text(child)),
            "error" => first(&mut reply.error, text(child)),
            _ => {}
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn reads_every_field() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ib_auth_res>
  <ini_params><g>2</g><N>d4c7</N><proto>6</proto><hash>SHA1</hash><s>00ab</s><B>1f</B>
    <lp>true</lp><rsapub>c3</rsapub><paper>false</paper><M2> abc </M2><other>x</other></ini_params>
  <auth_info><reached_max_login>true</reached_max_login></auth_info>
  <sftypes>4, 5.2a,</sftypes>
  <two_factor><type>SWCR</type><challenge> 123
   456 </challenge></two_factor>
  <auth_res>false</auth_res>
  <error>Invalid &amp; rejected</error>
</ib_auth_res>"#;
        let r = parse("INIT", xml).unwrap();
        let ini = r.ini.as_ref().unwrap();
        assert_eq!(ini.g.as_deref(), Some("2"));
        assert_eq!(ini.n.as_deref(), Some("d4c7"));
        assert_eq!(ini.s.as_deref(), Some("00ab"));
        assert_eq!(ini.b.as_deref(), Some("1f"));
        assert_eq!(ini.lp.as_deref(), Some("true"));
        assert_eq!(ini.rsapub.as_deref(), Some("c3"));
        assert_eq!(ini.paper.as_deref(), Some("false"));
        assert_eq!(ini.m2.as_deref(), Some("abc"));
        assert!(r.reached_max_login());
        assert_eq!(r.second_factors(), vec!["4", "5.2a"]);
        let tf = r.two_factor.as_ref().unwrap();
        assert_eq!(tf.kind.as_deref(), Some("SWCR"));
        assert_eq!(tf.challenge.as_deref(), Some("123456"));
        assert_eq!(r.auth_res.as_deref(), Some("false"));
        assert_eq!(r.error.as_deref(), Some("Invalid & rejected"));
    }

    #[test]
    fn refuses_what_is_not_a_reply() {
        for bad in [
            "",
            "<html><body>502</body></html>",
            "<ib_auth_res>",
            "not xml",
            "<!DOCTYPE x [<!ENTITY a \"b\">]><ib_auth_res>&a;</ib_auth_res>",
        ] {
            assert_eq!(
                parse("INIT", bad).unwrap_err().code(),
                ErrorCode::UnexpectedResponse,
                "{bad}"
            );
        }
        let big = format!("<ib_auth_res>{}</ib_auth_res>", " ".repeat(MAX_REPLY_BYTES));
        assert!(parse("INIT", &big).is_err());
        // An empty reply element is a reply without fields.
        let r = parse("INIT", "<ib_auth_res/>").unwrap();
        assert_eq!(r, AuthReply::default());
        assert!(r.second_factors().is_empty());
        assert!(!r.reached_max_login());
    }
}
