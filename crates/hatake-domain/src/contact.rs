//! E-mail addresses and phone numbers.
//!
//! A phone number is stored in one canonical display form and compared through [`Phone::key`],
//! its domestic digits. The display form is domestic (+81 becomes a leading 0) and hyphenated:
//! - mobile, IP and M2M numbers (020, 050, 060, 070, 080, 090; 11 digits): 3-4-4;
//! - 0120, 0570, 0990 and 0180 (10 digits): 4-3-3; 0800 (11 digits): 4-3-4;
//! - fixed lines in Tokyo and Osaka (03, 06; 10 digits): 2-4-4;
//! - other fixed lines (10 digits): the grouping as typed when it had three groups of a
//!   plausible shape, else a best guess from a small table of 3-digit area codes (3-3-4) and
//!   4-2-4 otherwise. The guess only shapes the display; the key is the same either way;
//! - anything else starting with 0, or not starting with 0 and typed without `+` (no country
//!   code is assumed, so "81-3-…" stays as typed): the groups as typed, joined by hyphens;
//! - numbers with a country code other than 81: `+CC digits` ("+1 4155550100").
//!
//! An extension (「内線123」, "ext. 12", "x12", "#12") is kept after the number as " 内線123" and
//! left out of the key.

use crate::text::nfkc_trim;
use crate::FieldError;
use serde::{Deserialize, Serialize};

/// An e-mail address, normalised to lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// # Errors
    /// A field error when the address is not `local@domain.tld` or is longer than 254 characters.
    pub fn parse_field(input: &str, field: &str) -> Result<Self, FieldError> {
        let value = nfkc_trim(input).to_lowercase();
        let invalid = || {
            FieldError::new(
                field,
                "invalid_email",
                format!("メールアドレスの形式が正しくありません: {input}"),
                format!("Not a valid e-mail address: {input}"),
            )
        };
        if value.len() > 254 {
            return Err(FieldError::too_long(field, 254));
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Self(value))
        } else {
            Err(invalid())
        }
    }

    /// # Errors
    /// See [`Email::parse_field`].
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        Self::parse_field(input, "email")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }

    /// The key two addresses are compared by: the whole address in lower case. Since the
    /// stored form is already lower case this equals [`Email::as_str`]; matching should call
    /// this all the same, so that the rule lives in one place.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The domain when it is a company's own, `None` for free mail and consumer carrier or ISP
    /// addresses (see [`is_free_mail_domain`]).
    pub fn company_domain(&self) -> Option<&str> {
        Some(self.domain()).filter(|d| !is_free_mail_domain(d))
    }
}

/// Free-mail, mobile-carrier and consumer-ISP domains common in Japan and worldwide, sorted so
/// that a duplicate shows. A listed domain counts with all its subdomains, since carriers
/// and ISPs hand out addresses under them (「…@t.vodafone.ne.jp」, 「…@abc.ocn.ne.jp」).
const FREE_MAIL_DOMAINS: &str = "126.com 163.com aim.com aol.com aol.jp asahi-net.or.jp att.net au.com auone.jp \
    bbexcite.jp biglobe.ne.jp btinternet.com comcast.net commufa.jp daum.net dion.ne.jp disney.ne.jp \
    docomo.ne.jp emobile.ne.jp eonet.ne.jp excite.co.jp excite.com ezweb.ne.jp fastmail.com free.fr \
    gmail.com gmx.com gmx.de gmx.net goo.jp goo.ne.jp googlemail.com hanmail.net hey.com hi-ho.ne.jp \
    hotmail.co.jp hotmail.co.uk hotmail.com hotmail.fr i.softbank.jp icloud.com infoseek.jp infoweb.ne.jp \
    jcom.home.ne.jp jcom.zaq.ne.jp libero.it live.co.uk live.com live.jp livedoor.com mac.com mail.com \
    mail.ru me.com mopera.net msn.com naver.com nifty.com nifty.ne.jp ocn.ne.jp odn.ne.jp orange.fr \
    outlook.com outlook.jp pdx.ne.jp plala.or.jp pm.me proton.me protonmail.ch protonmail.com qq.com \
    rakumail.jp rediffmail.com rocketmail.com sbcglobal.net sina.com so-net.ne.jp softbank.ne.jp \
    t-online.de tiki.ne.jp tuta.io tutanota.com uqmobile.jp verizon.net vodafone.ne.jp web.de willcom.com \
    windowslive.com yahoo.co.jp yahoo.co.uk yahoo.com yahoo.ne.jp yandex.com yandex.ru ybb.ne.jp \
    ymail.com ymail.ne.jp ymobile.ne.jp ymobile1.ne.jp zaq.ne.jp zoho.com zohomail.com";

/// Whether a domain (any case, with or without a trailing dot) is free mail or a consumer
/// carrier or ISP address, itself or as a subdomain of one (`mail.goo.ne.jp`, `t.vodafone.ne.jp`).
pub fn is_free_mail_domain(domain: &str) -> bool {
    // The list is sorted (a test checks), so a binary search finds a domain; it is split once.
    static LISTED: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let listed = LISTED.get_or_init(|| FREE_MAIL_DOMAINS.split_whitespace().collect());
    let lower = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let mut candidate = lower.as_str();
    loop {
        if listed.binary_search(&candidate).is_ok() {
            return true;
        }
        match candidate.split_once('.') {
            Some((_, parent)) if parent.contains('.') => candidate = parent,
            _ => return false,
        }
    }
}

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters people type for a hyphen in phone numbers and postal codes: the ASCII and
/// full-width hyphen-minus, Unicode hyphens and dashes, the minus sign, and the katakana
/// prolonged sound mark (ー, ｰ) that Japanese input methods often give instead.
pub(crate) fn is_dash(c: char) -> bool {
    matches!(c, '-' | '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' | 'ー' | 'ｰ' | '－' | '﹣' | '⁃')
}

/// A phone number in its canonical display form (see the module documentation), with an
/// optional extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone {
    /// The display form, extension included.
    text: String,
    /// Where the number ends and " 内線…" begins (the text's length without an extension).
    number_len: usize,
}

/// Words people put before or after a number ("TEL:", 「電話」, 「(代)」), lower case, space-separated
/// and longest first. ℡ arrives as "tel" after NFKC.
const LABELS: &str =
    "電話番号 携帯電話 携帯番号 tel/fax tel・fax telephone mobile phone tel mob 携帯 電話 代表 直通 会社 自宅 直 代 ☎ ☏";

/// What introduces an extension, longest first at any one position.
const EXTENSION_MARKERS: &[&str] = &["内線", "extension", "ext", "内", "x", "#"];

/// The separator written before an extension in the display form.
const EXTENSION_SEPARATOR: &str = " 内線";

/// 3-digit area codes, each with (after `/`) the fourth digits that instead begin a 4-digit area
/// code sharing the prefix: 022 is 仙台, but 0225 is 石巻. Used only to shape a 10-digit
/// fixed-line number typed without grouping; anything not listed is read as a 4-digit code.
const THREE_DIGIT_AREAS: &str =
    "011 022/0345689 025/0456789 027/046789 028/02345789 029/1345679 042/28 043/689 044 045 047/056789 \
    048/0 049/345 052 053/1236789 054/4578 058/14567 059/456789 072/15 073/56789 075 076/135678 \
    077/01234689 078 079/01456789 082/034679 083/345678 084/5678 086/356789 087/579 088/034579 \
    089/2345678 092/0 093/0 095/05679 096/456789 097/234789 098/0234567 099/34567";

/// Two-digit ITU country codes; 1 and 7 are one digit and every other code is three.
const TWO_DIGIT_COUNTRY_CODES: &str = "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 \
    60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98";

impl Phone {
    /// # Errors
    /// A field error when, once labels ("TEL:", 「電話」) and an extension are set aside, the text
    /// has characters other than digits, a leading `+`, dashes, parentheses, dots and spaces, or
    /// fewer than 6 or more than 15 digits.
    pub fn parse_field(input: &str, field: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                field,
                "invalid_phone",
                format!("電話番号の形式が正しくありません: {input}"),
                format!("Not a valid phone number: {input}"),
            )
        };
        let text: String = nfkc_trim(input).to_lowercase().chars().map(|c| if is_dash(c) { '-' } else { c }).collect();
        let (main, extension) = split_extension(strip_labels(&text)).ok_or_else(invalid)?;
        let main = strip_labels(main);
        let plus = main.starts_with('+');
        let body = main.strip_prefix('+').unwrap_or(main);
        if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit() || "-(). ".contains(c)) {
            return Err(invalid());
        }
        let groups: Vec<String> =
            body.split(|c: char| !c.is_ascii_digit()).filter(|g| !g.is_empty()).map(str::to_owned).collect();
        let digits = groups.concat();
        let mut number = if plus && digits.starts_with("81") {
            format_domestic(&national_groups(groups))
        } else if plus {
            let cc = country_code_len(&digits).ok_or_else(invalid)?;
            format!("+{} {}", &digits[..cc], &digits[cc..])
        } else {
            format_domestic(&groups)
        };
        let count = number.chars().filter(char::is_ascii_digit).count();
        if !(6..=15).contains(&count) {
            return Err(invalid());
        }
        let number_len = number.len();
        if let Some(extension) = extension {
            number.push_str(EXTENSION_SEPARATOR);
            number.push_str(extension);
        }
        Ok(Self { text: number, number_len })
    }

    /// The canonical display form, extension included ("03-1234-5678 内線123").
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number without its extension ("03-1234-5678", "+1 4155550100").
    pub fn number(&self) -> &str {
        &self.text[..self.number_len]
    }

    /// The extension's digits, if one was given.
    pub fn extension(&self) -> Option<&str> {
        self.text[self.number_len..].strip_prefix(EXTENSION_SEPARATOR)
    }

    /// The key two numbers are compared by: the domestic digits ("0312345678"), or `+` and all
    /// digits for a number abroad ("+14155550100"). The extension is not part of it.
    pub fn key(&self) -> String {
        let number = self.number();
        let digits = number.chars().filter(char::is_ascii_digit);
        if number.starts_with('+') {
            std::iter::once('+').chain(digits).collect()
        } else {
            digits.collect()
        }
    }
}

/// The text without labels before or after the number ("tel:", 「(代表)」, 「直通」) and without
/// the separators around them.
fn strip_labels(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start_matches([' ', ':', '.', ',']).trim_end_matches([' ', ':', '.', ',', '(', '-']);
        let stripped = LABELS.split(' ').find_map(|label| {
            trimmed
                .strip_prefix(label)
                .or_else(|| trimmed.strip_suffix(label))
                .or_else(|| trimmed.strip_prefix('(')?.strip_prefix(label)?.strip_prefix(')'))
                .or_else(|| trimmed.strip_suffix(')')?.strip_suffix(label)?.strip_suffix('('))
        });
        match stripped {
            Some(rest) => text = rest,
            None => return trimmed,
        }
    }
}

/// The number and its extension's digits, split at the first extension marker; `None` when a
/// marker is followed by anything but 1 to 6 digits.
fn split_extension(text: &str) -> Option<(&str, Option<&str>)> {
    let marker = text
        .char_indices()
        .find_map(|(i, _)| EXTENSION_MARKERS.iter().find(|m| text[i..].starts_with(*m)).map(|m| (i, m.len())));
    let Some((at, len)) = marker else {
        return Some((text, None));
    };
    let extension = text[at + len..].trim_matches([' ', '.', ':', '(', ')', '-']);
    let ok = (1..=6).contains(&extension.len()) && extension.chars().all(|c| c.is_ascii_digit());
    ok.then_some((&text[..at], Some(extension)))
}

/// The domestic groups of a number given with +81: the country code dropped, a trunk 0 written
/// as "(0)" dropped, and a leading 0 added.
fn national_groups(mut groups: Vec<String>) -> Vec<String> {
    let mut country_code = 2;
    while country_code > 0 && !groups.is_empty() {
        let taken = country_code.min(groups[0].len());
        groups[0].replace_range(..taken, "");
        country_code -= taken;
        if groups[0].is_empty() {
            groups.remove(0);
        }
    }
    if groups.len() > 1 && groups[0] == "0" {
        groups.remove(0);
    }
    match groups.first_mut() {
        Some(first) if !first.starts_with('0') => first.insert(0, '0'),
        Some(_) => {}
        None => groups.push(String::new()),
    }
    groups
}

/// The length of the country code at the start of international digits (`None` if they start
/// with 0 or are too short to hold one).
fn country_code_len(digits: &str) -> Option<usize> {
    match digits.as_bytes() {
        [b'0', ..] | [] | [_] => None,
        [b'1' | b'7', ..] => Some(1),
        _ if TWO_DIGIT_COUNTRY_CODES.split(' ').any(|cc| digits.starts_with(cc)) => Some(2),
        _ => Some(3).filter(|_| digits.len() > 3),
    }
}

/// The hyphenated display form of domestic groups, by the rules in the module documentation.
fn format_domestic(groups: &[String]) -> String {
    let digits = groups.concat();
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| digits.starts_with(p));
    let sizes: Option<[usize; 3]> = match digits.len() {
        11 if starts(&["0800"]) => Some([4, 3, 4]),
        11 if starts(&["020", "050", "060", "070", "080", "090"]) => Some([3, 4, 4]),
        10 if starts(&["0120", "0570", "0990", "0180"]) => Some([4, 3, 3]),
        10 if starts(&["03", "06"]) => Some([2, 4, 4]),
        10 if typed_grouping_is_plausible(groups) => None,
        10 => Some(guess_fixed_line(&digits)),
        _ => None,
    };
    match sizes {
        Some([a, b, _]) => format!("{}-{}-{}", &digits[..a], &digits[a..a + b], &digits[a + b..]),
        None => groups.join("-"),
    }
}

/// Whether a 10-digit fixed-line number was typed as area code, exchange and a 4-digit line.
fn typed_grouping_is_plausible(groups: &[String]) -> bool {
    match groups {
        [area, exchange, line] => {
            area.starts_with('0')
                && (2..=5).contains(&area.len())
                && (1..=4).contains(&exchange.len())
                && line.len() == 4
        }
        _ => false,
    }
}

/// Group sizes for a 10-digit fixed-line number typed without grouping.
fn guess_fixed_line(digits: &str) -> [usize; 3] {
    let three = THREE_DIGIT_AREAS.split_whitespace().any(|entry| {
        let (code, fourth) = entry.split_once('/').unwrap_or((entry, ""));
        digits.starts_with(code) && !fourth.contains(&digits[3..4])
    });
    if three {
        [3, 3, 4]
    } else {
        [4, 2, 4]
    }
}

impl TryFrom<String> for Phone {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_field(&value, "phone")
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.text
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let good = [
            ("Taro.Yamada@Example.CO.JP", "taro.yamada@example.co.jp"),
            ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"),
            (" a+tag@sub.example.com ", "a+tag@sub.example.com"),
        ];
        for (input, expected) in good {
            assert_eq!(Email::parse(input).map(String::from), Ok(expected.to_owned()), "{input}");
            assert_eq!(Email::parse(input).unwrap().key(), expected, "{input}");
        }
        let bad = [
            "",
            "taro",
            "taro@",
            "@example.com",
            "taro@example",
            "ta ro@example.com",
            "taro@@example.com",
            "taro@example.c",
            "taro@-example.com",
            ".taro@example.com",
            "taro..y@example.com",
            "山田@example.jp",
        ];
        for input in bad {
            assert_eq!(Email::parse(input).unwrap_err().code, "invalid_email", "{input}");
        }
        assert_eq!(Email::parse("a@b.jp").unwrap().domain(), "b.jp");
        assert_eq!(
            Email::parse("Taro@Himawari.CO.JP").unwrap().key(),
            Email::parse("taro@himawari.co.jp").unwrap().key()
        );
    }

    /// (address, the company domain it gives: "" for free mail).
    const COMPANY_DOMAINS: &[(&str, &str)] = &[
        ("taro@himawari.co.jp", "himawari.co.jp"),
        ("taro@mail.himawari.co.jp", "mail.himawari.co.jp"),
        ("taro@gmail.com", ""),
        ("TARO@GoogleMail.com", ""),
        ("taro@yahoo.co.jp", ""),
        ("taro@ymail.ne.jp", ""),
        ("taro@hotmail.co.jp", ""),
        ("taro@outlook.jp", ""),
        ("taro@live.jp", ""),
        ("taro@icloud.com", ""),
        ("taro@me.com", ""),
        ("taro@docomo.ne.jp", ""),
        ("taro@ezweb.ne.jp", ""),
        ("taro@au.com", ""),
        ("taro@i.softbank.jp", ""),
        ("taro@t.vodafone.ne.jp", ""),
        ("taro@ymobile.ne.jp", ""),
        ("taro@nifty.com", ""),
        ("taro@abc.biglobe.ne.jp", ""),
        ("taro@xyz.ocn.ne.jp", ""),
        ("taro@mail.goo.ne.jp", ""),
        ("taro@proton.me", ""),
        ("taro@gmx.de", ""),
        ("taro@au.example.com", "au.example.com"),
        ("taro@notgmail.com", "notgmail.com"),
        ("taro@gmail.com.example.jp", "gmail.com.example.jp"),
        ("taro@softbank.jp", "softbank.jp"),
    ];

    #[test]
    fn company_domains_leave_out_free_mail() {
        for (address, domain) in COMPANY_DOMAINS {
            let email = Email::parse(address).unwrap();
            assert_eq!(email.company_domain().unwrap_or(""), *domain, "{address}");
        }
        assert!(is_free_mail_domain("GMAIL.COM."));
        assert!(!is_free_mail_domain(""));
    }

    #[test]
    fn free_mail_list_is_sorted_and_lower_case() {
        let listed: Vec<&str> = FREE_MAIL_DOMAINS.split_whitespace().collect();
        assert!(listed.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert!(listed.iter().all(|d| d.contains('.') && *d == d.to_ascii_lowercase()));
    }

    /// (as entered, canonical display form, key).
    const PHONES: &[(&str, &str, &str)] = &[
        ("03-1234-5678", "03-1234-5678", "0312345678"),
        ("0312345678", "03-1234-5678", "0312345678"),
        ("０３（１２３４）５６７８", "03-1234-5678", "0312345678"),
        ("03(1234)5678", "03-1234-5678", "0312345678"),
        ("(03)1234-5678", "03-1234-5678", "0312345678"),
        ("03.1234.5678", "03-1234-5678", "0312345678"),
        ("03 1234 5678", "03-1234-5678", "0312345678"),
        ("03‐1234‐5678", "03-1234-5678", "0312345678"),
        ("03–1234—5678", "03-1234-5678", "0312345678"),
        ("03―1234−5678", "03-1234-5678", "0312345678"),
        ("03ー1234ー5678", "03-1234-5678", "0312345678"),
        ("03ｰ1234ｰ5678", "03-1234-5678", "0312345678"),
        ("０３－１２３４－５６７８", "03-1234-5678", "0312345678"),
        ("0312-34-5678", "03-1234-5678", "0312345678"),
        ("+81 3-1234-5678", "03-1234-5678", "0312345678"),
        ("+81-3-1234-5678", "03-1234-5678", "0312345678"),
        ("+81(0)3-1234-5678", "03-1234-5678", "0312345678"),
        ("+81 (0) 3 1234 5678", "03-1234-5678", "0312345678"),
        ("+81 03 1234 5678", "03-1234-5678", "0312345678"),
        ("+81312345678", "03-1234-5678", "0312345678"),
        ("+8 1 3 1234 5678", "03-1234-5678", "0312345678"),
        ("＋８１　９０　１２３４　５６７８", "090-1234-5678", "09012345678"),
        ("TEL:03-1234-5678", "03-1234-5678", "0312345678"),
        ("Tel. 03-1234-5678", "03-1234-5678", "0312345678"),
        ("ＴＥＬ：０３－１２３４－５６７８", "03-1234-5678", "0312345678"),
        ("℡03-1234-5678", "03-1234-5678", "0312345678"),
        ("電話：03-1234-5678", "03-1234-5678", "0312345678"),
        ("電話番号 03-1234-5678", "03-1234-5678", "0312345678"),
        ("TEL/FAX 03-1234-5678", "03-1234-5678", "0312345678"),
        ("03-1234-5678(代)", "03-1234-5678", "0312345678"),
        ("03-1234-5678（代表）", "03-1234-5678", "0312345678"),
        ("03-1234-5678 内線123", "03-1234-5678 内線123", "0312345678"),
        ("03-1234-5678（内線：123）", "03-1234-5678 内線123", "0312345678"),
        ("03-1234-5678 ext. 12", "03-1234-5678 内線12", "0312345678"),
        ("03-1234-5678 x12", "03-1234-5678 内線12", "0312345678"),
        ("03-1234-5678#12", "03-1234-5678 内線12", "0312345678"),
        ("06-6123-4567", "06-6123-4567", "0661234567"),
        ("090-1234-5678", "090-1234-5678", "09012345678"),
        ("09012345678", "090-1234-5678", "09012345678"),
        ("0901-234-5678", "090-1234-5678", "09012345678"),
        ("携帯 080 1234 5678", "080-1234-5678", "08012345678"),
        ("070-1234-5678", "070-1234-5678", "07012345678"),
        ("050-1234-5678", "050-1234-5678", "05012345678"),
        ("0120ー123ー456", "0120-123-456", "0120123456"),
        ("0120123456", "0120-123-456", "0120123456"),
        ("0570-012-345", "0570-012-345", "0570012345"),
        ("0800-123-4567", "0800-123-4567", "08001234567"),
        ("045-123-4567", "045-123-4567", "0451234567"),
        ("0451234567", "045-123-4567", "0451234567"),
        ("0521234567", "052-123-4567", "0521234567"),
        ("0112345678", "011-234-5678", "0112345678"),
        ("0225123456", "0225-12-3456", "0225123456"),
        ("0466-12-3456", "0466-12-3456", "0466123456"),
        ("0466123456", "0466-12-3456", "0466123456"),
        ("04992-2-1234", "04992-2-1234", "0499221234"),
        ("+81 466 12 3456", "0466-12-3456", "0466123456"),
        ("+1 (415) 555-0100", "+1 4155550100", "+14155550100"),
        ("+44 20 7946 0958", "+44 2079460958", "+442079460958"),
        ("+852 2345 6789", "+852 23456789", "+85223456789"),
        ("81-3-1234-5678", "81-3-1234-5678", "81312345678"),
    ];

    #[test]
    fn phones_take_one_canonical_form() {
        for (input, display, key) in PHONES {
            let phone = Phone::parse_field(input, "phone").unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(phone.as_str(), *display, "{input}");
            assert_eq!(phone.key(), *key, "{input}");
            let again = Phone::parse_field(phone.as_str(), "phone").unwrap();
            assert_eq!(again, phone, "the display form parses to itself: {input}");
        }
    }

    #[test]
    fn extensions_are_kept_apart() {
        let phone = Phone::parse_field("TEL 03-1234-5678 内線 1234", "phone").unwrap();
        assert_eq!((phone.number(), phone.extension()), ("03-1234-5678", Some("1234")));
        let plain = Phone::parse_field("03-1234-5678", "phone").unwrap();
        assert_eq!((plain.number(), plain.extension()), ("03-1234-5678", None));
    }

    const BAD_PHONES: &[&str] = &[
        "",
        "123",
        "03-1234-567X",
        "1234567890123456",
        "内線12",
        "TEL 03-1234-5678 FAX 03-1234-5679",
        "03-1234-5678 / 03-1234-5679",
        "03-1234-5678 内線",
        "03-1234-5678 内線1234567",
        "3+81-1234-5678",
        "+0312345678",
        "電話",
    ];

    #[test]
    fn junk_is_not_a_phone() {
        for bad in BAD_PHONES {
            assert_eq!(Phone::parse_field(bad, "phone").unwrap_err().code, "invalid_phone", "{bad}");
        }
    }
}
