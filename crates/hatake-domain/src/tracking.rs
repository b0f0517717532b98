//! Web tracking rules: which hits are not counted — known bots by their user agent, and the
//! organisation's own network by IP range.

use crate::{FieldError, FieldErrors};
use std::net::IpAddr;

/// Fragments of user agents that belong to crawlers, link previews, monitors and headless
/// browsers (compared in lower case).
const BOT_MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "crawl",
    "headlesschrome",
    "phantomjs",
    "lighthouse",
    "pingdom",
    "uptime",
    "monitor",
    "preview",
    "facebookexternalhit",
    "embedly",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "httpclient",
    "scrapy",
    "feedfetcher",
    "mediapartners",
];

/// Whether a hit with this user agent is a machine's, not a person's (a missing user agent is
/// a machine's too).
pub fn is_bot(user_agent: Option<&str>) -> bool {
    let Some(agent) = user_agent.map(str::trim).filter(|a| !a.is_empty()) else { return true };
    let agent = agent.to_ascii_lowercase();
    BOT_MARKERS.iter().any(|marker| agent.contains(marker))
}

/// One range: an address and a prefix length (`192.168.0.0/16`, `2001:db8::/32`, or one
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub network: IpAddr,
    pub prefix: u8,
}

impl IpRange {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            // An IPv4 address reached over IPv6 (::ffff:a.b.c.d) is the IPv4 address.
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.trim().parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { network, prefix })
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The ranges whose hits are not counted (the organisation's own offices and VPN).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRanges(pub Vec<IpRange>);

impl IpRanges {
    /// One range per line; blank lines and `#` comments are skipped.
    ///
    /// # Errors
    /// Each line that is not a range, by its number.
    pub fn parse(text: &str) -> Result<Self, FieldErrors> {
        let mut ranges = Vec::new();
        let mut errors = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            match IpRange::parse(line) {
                Some(range) => ranges.push(range),
                None => errors.push(FieldError::new(
                    "internal_ranges",
                    "invalid_ip_range",
                    format!("{}行目「{line}」はIPアドレスの範囲ではありません（例 192.168.0.0/16）。", number + 1),
                    format!("Line {}: \"{line}\" is not an IP range (e.g. 192.168.0.0/16).", number + 1),
                )),
            }
        }
        if errors.is_empty() {
            Ok(Self(ranges))
        } else {
            Err(FieldErrors(errors))
        }
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(address))
    }
}

/// Longest target URL of a tracked link.
pub const MAX_URL_CHARS: usize = 2_000;

/// A tracked link as a person enters it.
#[derive(Debug, Clone, Default)]
pub struct TrackedLinkInput {
    pub name: String,
    pub target_url: String,
}

impl TrackedLinkInput {
    /// The trimmed name and URL.
    ///
    /// # Errors
    /// A missing or too long name; a target that is not an absolute http(s) URL.
    pub fn validate(&self) -> Result<(String, String), FieldErrors> {
        let mut errors = Vec::new();
        let name = self.name.trim();
        if name.is_empty() {
            errors.push(FieldError::new("name", "required", "名前を入力してください。", "Give the link a name."));
        } else if name.chars().count() > 100 {
            errors.push(FieldError::new(
                "name",
                "too_long",
                "100文字以内で入力してください。",
                "At most 100 characters.",
            ));
        }
        let url = self.target_url.trim();
        let lower = url.to_ascii_lowercase();
        let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
        let host = url.split("://").nth(1).unwrap_or_default().split(['/', '?', '#']).next().unwrap_or_default();
        let bad_char = url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !scheme_ok || host.is_empty() || bad_char || url.chars().count() > MAX_URL_CHARS {
            errors.push(FieldError::new(
                "target_url",
                "invalid_url",
                "リンク先は http:// か https:// で始まるURLにしてください（空白なし、2000文字以内）。",
                "The target must be an http:// or https:// URL (no spaces, at most 2,000 characters).",
            ));
        }
        if errors.is_empty() {
            Ok((name.to_owned(), url.to_owned()))
        } else {
            Err(FieldErrors(errors))
        }
    }
}

/// The standard campaign parameters a page's address carries.
pub const UTM_KEYS: [&str; 5] = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space; a malformed
/// escape stays as it is; bytes that are not UTF-8 become U+FFFD).
fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(text.get(i + 1..i + 3).unwrap_or(""), 16) {
                Ok(byte) => {
                    out.push(byte);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `utm_*` parameters of a URL's query (the first of each), decoded.
pub fn utm_parameters(url: &str) -> Vec<(String, String)> {
    let Some(query) = url.split('#').next().and_then(|u| u.split_once('?')).map(|(_, q)| q) else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_component(key);
        if UTM_KEYS.contains(&key.as_str()) && !found.iter().any(|(k, _)| *k == key) {
            found.push((key, decode_component(value)));
        }
    }
    found
}

/// The target of a tracked link with the parameters the link was called with added (they
/// survive the redirect: `?utm_source=pdf` reaches the page), before any `#fragment`.
pub fn redirect_target(target: &str, query: Option<&str>) -> String {
    let Some(query) = query.map(|q| q.trim_start_matches('?')).filter(|q| !q.is_empty()) else {
        return target.to_owned();
    };
    let (base, fragment) = match target.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (target, None),
    };
    let joiner = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    let mut url = format!("{base}{joiner}{query}");
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utm_parameters_are_read_from_a_url() {
        let url = "https://example.jp/erp?x=1&utm_source=mail&utm_campaign=%E7%A7%8B+%E3%82%BB&utm_source=again&utm_term=50%#top?utm_medium=no";
        assert_eq!(
            utm_parameters(url),
            [
                ("utm_source".to_owned(), "mail".to_owned()),
                ("utm_campaign".to_owned(), "秋 セ".to_owned()),
                ("utm_term".to_owned(), "50%".to_owned()),
            ]
        );
        assert!(utm_parameters("https://example.jp/").is_empty());
        assert_eq!(utm_parameters("/?utm_content=%ZZ")[0].1, "%ZZ", "a malformed escape stays");
    }

    #[test]
    fn tracked_links() {
        let ok =
            TrackedLinkInput { name: " 製品カタログPDF ".into(), target_url: " https://example.jp/erp ".into() };
        assert_eq!(ok.validate().unwrap(), ("製品カタログPDF".to_owned(), "https://example.jp/erp".to_owned()));
        for (name, url, fields) in [
            ("", "https://example.jp/", vec!["name"]),
            ("x", "javascript:alert(1)", vec!["target_url"]),
            ("x", "example.jp/erp", vec!["target_url"]),
            ("x", "https://", vec!["target_url"]),
            ("x", "https://example.jp/a b", vec!["target_url"]),
            ("x", "https://example.jp/a\u{1}b", vec!["target_url"]),
            ("", "", vec!["name", "target_url"]),
        ] {
            let errors = TrackedLinkInput { name: name.into(), target_url: url.into() }.validate().unwrap_err().0;
            let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, fields, "{name:?} {url:?}");
        }
        for (target, query, expected) in [
            ("https://example.jp/erp", Some("utm_source=pdf"), "https://example.jp/erp?utm_source=pdf"),
            ("https://example.jp/erp?lang=ja", Some("utm_source=pdf"), "https://example.jp/erp?lang=ja&utm_source=pdf"),
            ("https://example.jp/erp#price", Some("utm_source=pdf"), "https://example.jp/erp?utm_source=pdf#price"),
            ("https://example.jp/erp", None, "https://example.jp/erp"),
            ("https://example.jp/erp", Some(""), "https://example.jp/erp"),
        ] {
            assert_eq!(redirect_target(target, query), expected);
        }
    }

    #[test]
    fn bots_are_told_from_browsers() {
        let cases = [
            (Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"), false),
            (Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"), false),
            (Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"), true),
            (Some("Mozilla/5.0 (compatible; bingbot/2.0)"), true),
            (Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/131.0 Safari/537.36"), true),
            (Some("facebookexternalhit/1.1"), true),
            (Some("Slackbot-LinkExpanding 1.0"), true),
            (Some("curl/8.5.0"), true),
            (Some("python-requests/2.32"), true),
            (Some("  "), true),
            (None, true),
        ];
        for (agent, bot) in cases {
            assert_eq!(is_bot(agent), bot, "{agent:?}");
        }
    }

    #[test]
    fn ip_ranges() {
        let ranges = IpRanges::parse("# 本社\n192.168.0.0/16\n\n10.1.2.3  # VPN\n2001:db8::/32\n").expect("valid");
        assert_eq!(ranges.0.len(), 3);
        assert_eq!(ranges.0[1].to_string(), "10.1.2.3/32");
        for (address, inside) in [
            ("192.168.10.20", true),
            ("192.169.0.1", false),
            ("10.1.2.3", true),
            ("10.1.2.4", false),
            ("2001:db8::1", true),
            ("2001:db9::1", false),
            ("::ffff:192.168.1.1", true),
        ] {
            assert_eq!(ranges.contains(address.parse().unwrap()), inside, "{address}");
        }
        let all = IpRanges::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let errors = IpRanges::parse("192.168.0.0/16\n192.168.0.0/33\nhonsha\n10.0.0.0/8").unwrap_err().0;
        let lines: Vec<&str> = errors.iter().map(|e| e.message_en.as_str()).collect();
        assert_eq!(errors.len(), 2);
        assert!(lines[0].starts_with("Line 2:") && lines[1].starts_with("Line 3:"), "{lines:?}");
        assert!(errors.iter().all(|e| e.field == "internal_ranges" && e.message_ja.contains("行目")));
        assert_eq!(IpRanges::parse("").unwrap(), IpRanges::default());
    }
}
