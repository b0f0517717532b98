//! How fast and when mail goes: per-domain limits (mailbox providers such as the Japanese
//! carriers throttle or refuse a sender that sends too much at once) and an optional send window
//! in the organisation's business hours (business days: weekdays that are not Japanese
//! holidays). Stored as the setting [`SETTING_LIMITS`]; the sender reads it at every step.

use hatake_store::{Millis, StoreResult, SystemStore};
use serde::{Deserialize, Serialize};

/// The setting that holds the limits (JSON of [`SendLimits`]).
pub const SETTING_LIMITS: &str = "mail.limits";

/// A domain's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainLimit {
    /// The recipient domain (`docomo.ne.jp`); its subdomains count with it.
    pub domain: String,
    pub per_minute: u32,
}

/// When mail may go out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendWindow {
    /// Minutes after midnight, in the organisation's zone.
    pub start_minute: u32,
    pub end_minute: u32,
    /// Only on business days (weekdays that are not Japanese holidays).
    pub business_days: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendLimits {
    #[serde(default)]
    pub domains: Vec<DomainLimit>,
    #[serde(default)]
    pub window: Option<SendWindow>,
}

impl SendLimits {
    /// Reads the page's text: one `domain per-minute` a line (`docomo.ne.jp 60`). Returns the
    /// limits or the lines that are wrong (line number, the line).
    pub fn parse_domains(text: &str) -> Result<Vec<DomainLimit>, Vec<(usize, String)>> {
        let mut limits = Vec::new();
        let mut wrong = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let domain = parts.next().unwrap_or_default().trim_start_matches('@').to_lowercase();
            let rate = parts.next().and_then(|n| n.parse::<u32>().ok()).filter(|n| *n > 0);
            let domain_ok =
                domain.contains('.') && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            match (domain_ok, rate, parts.next()) {
                (true, Some(per_minute), None) => limits.push(DomainLimit { domain, per_minute }),
                _ => wrong.push((i + 1, line.to_owned())),
            }
        }
        if wrong.is_empty() {
            Ok(limits)
        } else {
            Err(wrong)
        }
    }

    /// The domains as the page's text.
    pub fn domains_text(&self) -> String {
        self.domains.iter().map(|d| format!("{} {}", d.domain, d.per_minute)).collect::<Vec<_>>().join("\n")
    }

    /// The limit that applies to `address`, with the domain it is counted under.
    pub fn limit_for(&self, address: &str) -> Option<&DomainLimit> {
        let domain = address.rsplit_once('@').map(|(_, d)| d.to_lowercase())?;
        self.domains.iter().find(|l| domain == l.domain || domain.ends_with(&format!(".{}", l.domain)))
    }

    /// `None` when mail may go at `now`; else when the window opens next.
    pub fn closed_until(&self, now: Millis, zone: &jiff::tz::TimeZone) -> Option<Millis> {
        let window = self.window.as_ref()?;
        let open = |at: &jiff::Zoned| {
            let minute = u32::from(at.hour().unsigned_abs()) * 60 + u32::from(at.minute().unsigned_abs());
            let day_ok = !window.business_days || hatake_domain::holidays::is_business_day(at.date());
            day_ok && minute >= window.start_minute && minute < window.end_minute
        };
        let here = jiff::Timestamp::from_millisecond(now).ok()?.to_zoned(zone.clone());
        if open(&here) {
            return None;
        }
        // The next opening: today's start if it is still ahead, else a following day's (at most
        // two weeks ahead: long holidays).
        for days in 0..15 {
            let date = here.date().checked_add(jiff::Span::new().days(days)).ok()?;
            let start = date
                .at(i8::try_from(window.start_minute / 60).ok()?, i8::try_from(window.start_minute % 60).ok()?, 0, 0)
                .to_zoned(zone.clone())
                .ok()?;
            if start > here && open(&start) {
                return Some(start.timestamp().as_millisecond());
            }
        }
        None
    }
}

/// The stored limits (none when not set or unreadable).
///
/// # Errors
/// When the store fails.
pub async fn stored(store: &(impl SystemStore + ?Sized)) -> StoreResult<SendLimits> {
    Ok(store.get_setting(SETTING_LIMITS).await?.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_windows_and_counts() {
        let limits = SendLimits::parse_domains("# carriers\ndocomo.ne.jp 60\n@ezweb.ne.jp 30\n").unwrap();
        assert_eq!(limits.len(), 2);
        assert_eq!(limits[1].domain, "ezweb.ne.jp");
        assert_eq!(SendLimits::parse_domains("docomo 60\nx.jp ten\nok.jp 5 extra").unwrap_err().len(), 3);
        let all = SendLimits {
            domains: limits,
            window: Some(SendWindow { start_minute: 9 * 60, end_minute: 18 * 60, business_days: true }),
        };
        assert_eq!(all.limit_for("Taro@DOCOMO.ne.jp").map(|l| l.per_minute), Some(60));
        assert_eq!(all.limit_for("a@mail.ezweb.ne.jp").map(|l| l.per_minute), Some(30));
        assert!(all.limit_for("a@example.jp").is_none());
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        let at = |text: &str| {
            text.parse::<jiff::civil::DateTime>().unwrap().to_zoned(tokyo.clone()).unwrap().timestamp().as_millisecond()
        };
        // Monday 2026-12-07 10:00: open. 20:00: closed until Tuesday 09:00.
        assert_eq!(all.closed_until(at("2026-12-07T10:00"), &tokyo), None);
        assert_eq!(all.closed_until(at("2026-12-07T20:00"), &tokyo), Some(at("2026-12-08T09:00")));
        // Friday 2026-12-11 18:30: the next business day is Monday.
        assert_eq!(all.closed_until(at("2026-12-11T18:30"), &tokyo), Some(at("2026-12-14T09:00")));
        // New Year's Day 2027 (a holiday, a Friday) at 10:00: Monday the 4th.
        assert_eq!(all.closed_until(at("2027-01-01T10:00"), &tokyo), Some(at("2027-01-04T09:00")));
    }
}
