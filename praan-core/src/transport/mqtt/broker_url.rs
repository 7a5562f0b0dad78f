//! [`BrokerUrl`]: the broker URL, parsed and checked, and redacted for messages.

use super::config_error;
use crate::transport::TransportError;

/// A parsed broker URL.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BrokerUrl {
    pub(super) tls: bool,
    /// A host name, an IPv4 address, or a bracketed IPv6 address (`[::1]`).
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) credentials: Option<(String, String)>,
}

impl BrokerUrl {
    pub(super) fn parse(url: &str) -> Result<Self, TransportError> {
        let bad = |why: &str| {
            Err(config_error(format!(
                "broker URL {:?}: {why}",
                redact_url(url)
            )))
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return bad("expected mqtt://host[:port] or mqtts://host[:port]");
        };
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => (false, 1883),
            "mqtts" | "ssl" => (true, 8883),
            _ => return bad("the scheme must be mqtt or mqtts"),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return bad("a broker URL has no path, query or fragment");
        }
        let (credentials, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let (Some(user), Some(password)) = (percent_decode(user), percent_decode(password))
                else {
                    return bad("bad percent-encoding in the user or password");
                };
                if user.is_empty() {
                    return bad("empty user name");
                }
                (Some((user, password)), hostport)
            }
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let Some((addr, after)) = v6.split_once(']') else {
                return bad("unclosed '[' in the host");
            };
            let port = match after {
                "" => None,
                p => match p.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return bad("junk after the IPv6 address"),
                },
            };
            (format!("[{addr}]"), port)
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return bad("no host");
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("whitespace in the host");
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return bad("the port must be 1 to 65535"),
            },
        };
        Ok(Self {
            tls,
            host,
            port,
            credentials,
        })
    }
}

/// `url` without its password, for error messages.
pub(super) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Decodes `%XX` escapes (RFC 3986); `None` on a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn parse(url: &str) -> Result<BrokerUrl, TransportError> {
        BrokerUrl::parse(url)
    }

    #[test]
    fn parses_broker_urls() {
        assert_eq!(
            parse("mqtt://127.0.0.1:1884").unwrap(),
            BrokerUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1884,
                credentials: None
            }
        );
        let u = parse("mqtts://praan:s%40cret%3A1@broker.example.com/").unwrap();
        assert!(u.tls);
        assert_eq!((u.host.as_str(), u.port), ("broker.example.com", 8883));
        assert_eq!(
            u.credentials,
            Some(("praan".to_owned(), "s@cret:1".to_owned()))
        );
        let u = parse("mqtt://user@[::1]:1999").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 1999));
        assert_eq!(u.credentials, Some(("user".to_owned(), String::new())));
        assert_eq!(parse("MQTT://h").unwrap().port, 1883);
        for bad in [
            "127.0.0.1:1883",
            "http://h",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:70000",
            "mqtt://h:x",
            "mqtt://h/topic",
            "mqtt://h?x=1",
            "mqtt://:pw@h",
            "mqtt://u:%zz@h",
            "mqtt://[::1",
            "mqtt://[::1]x",
            "mqtt://a b",
        ] {
            assert!(
                matches!(parse(bad), Err(TransportError::Config { .. })),
                "{bad}"
            );
        }
    }
}
