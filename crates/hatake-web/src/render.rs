//! Templates (minijinja, compiled into the binary) and the filters and functions they use.

use minijinja::value::Value;
use minijinja::{Environment, State};

pub struct Templates {
    env: Environment<'static>,
}

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("dashboard.html", include_str!("../templates/dashboard.html")),
    ("leads/list.html", include_str!("../templates/leads/list.html")),
    ("leads/detail.html", include_str!("../templates/leads/detail.html")),
    ("timeline.html", include_str!("../templates/timeline.html")),
    ("leads/form.html", include_str!("../templates/leads/form.html")),
    ("accounts/list.html", include_str!("../templates/accounts/list.html")),
    ("accounts/detail.html", include_str!("../templates/accounts/detail.html")),
    ("accounts/form.html", include_str!("../templates/accounts/form.html")),
    ("products.html", include_str!("../templates/products.html")),
    ("settings.html", include_str!("../templates/settings.html")),
    ("settings/tabs.html", include_str!("../templates/settings/tabs.html")),
    ("settings/departments.html", include_str!("../templates/settings/departments.html")),
    ("settings/tracking.html", include_str!("../templates/settings/tracking.html")),
    ("settings/mail.html", include_str!("../templates/settings/mail.html")),
    ("mail/outbox.html", include_str!("../templates/mail/outbox.html")),
    ("mail/tabs.html", include_str!("../templates/mail/tabs.html")),
    ("mail/newsletters.html", include_str!("../templates/mail/newsletters.html")),
    ("mail/newsletter.html", include_str!("../templates/mail/newsletter.html")),
    ("mail/newsletter_form.html", include_str!("../templates/mail/newsletter_form.html")),
    ("mail/suppressions.html", include_str!("../templates/mail/suppressions.html")),
    ("mail/segments.html", include_str!("../templates/mail/segments.html")),
    ("mail/segment.html", include_str!("../templates/mail/segment.html")),
    ("mail/segment_members.html", include_str!("../templates/mail/segment_members.html")),
    ("mail/templates.html", include_str!("../templates/mail/templates.html")),
    ("mail/template.html", include_str!("../templates/mail/template.html")),
    ("mail/template_version.html", include_str!("../templates/mail/template_version.html")),
    ("mail/outbox_row.html", include_str!("../templates/mail/outbox_row.html")),
    ("subscriptions/preferences.html", include_str!("../templates/subscriptions/preferences.html")),
    ("meetings/list.html", include_str!("../templates/meetings/list.html")),
    ("settings/booking.html", include_str!("../templates/settings/booking.html")),
    ("forms/list.html", include_str!("../templates/forms/list.html")),
    ("forms/builder.html", include_str!("../templates/forms/builder.html")),
    ("forms/fields.html", include_str!("../templates/forms/fields.html")),
    ("forms/public.html", include_str!("../templates/forms/public.html")),
    ("forms/thanks.html", include_str!("../templates/forms/thanks.html")),
    ("forms/booking.html", include_str!("../templates/forms/booking.html")),
    ("imports/steps.html", include_str!("../templates/imports/steps.html")),
    ("imports/list.html", include_str!("../templates/imports/list.html")),
    ("imports/mapping.html", include_str!("../templates/imports/mapping.html")),
    ("imports/preview.html", include_str!("../templates/imports/preview.html")),
    ("imports/detail.html", include_str!("../templates/imports/detail.html")),
    ("reviews/queue.html", include_str!("../templates/reviews/queue.html")),
    ("me.html", include_str!("../templates/me.html")),
    ("scoring/list.html", include_str!("../templates/scoring/list.html")),
    ("scoring/edit.html", include_str!("../templates/scoring/edit.html")),
    ("scoring/ranking.html", include_str!("../templates/scoring/ranking.html")),
    ("scoring/accounts.html", include_str!("../templates/scoring/accounts.html")),
    ("scoring/rules.html", include_str!("../templates/scoring/rules.html")),
    ("scoring/rule_fields.html", include_str!("../templates/scoring/rule_fields.html")),
    ("process/overview.html", include_str!("../templates/process/overview.html")),
    ("process/queue.html", include_str!("../templates/process/queue.html")),
    ("process/board.html", include_str!("../templates/process/board.html")),
    ("process/policy.html", include_str!("../templates/process/policy.html")),
    ("process/policy_form.html", include_str!("../templates/process/policy_form.html")),
    ("process/settings.html", include_str!("../templates/process/settings.html")),
    ("calls/tabs.html", include_str!("../templates/calls/tabs.html")),
    ("calls/queue.html", include_str!("../templates/calls/queue.html")),
    ("calls/tasks.html", include_str!("../templates/calls/tasks.html")),
    ("calls/kpi.html", include_str!("../templates/calls/kpi.html")),
    ("settings/calls.html", include_str!("../templates/settings/calls.html")),
    ("settings/hearing.html", include_str!("../templates/settings/hearing.html")),
    ("hearing/inputs.html", include_str!("../templates/hearing/inputs.html")),
    ("hearing/import.html", include_str!("../templates/hearing/import.html")),
    ("settings/routing.html", include_str!("../templates/settings/routing.html")),
    ("tossups/decide.html", include_str!("../templates/tossups/decide.html")),
    ("tossups/list.html", include_str!("../templates/tossups/list.html")),
    ("tossups/absences.html", include_str!("../templates/tossups/absences.html")),
    ("tossups/log.html", include_str!("../templates/tossups/log.html")),
    ("alerts/list.html", include_str!("../templates/alerts/list.html")),
    ("settings/alerts.html", include_str!("../templates/settings/alerts.html")),
    ("admin/users.html", include_str!("../templates/admin/users.html")),
    ("admin/tokens.html", include_str!("../templates/admin/tokens.html")),
];

impl Templates {
    /// # Errors
    /// When a template does not parse.
    pub fn load(time_zone: &str) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_function("t", translate);
        let zone = jiff::tz::TimeZone::get(time_zone)
            .unwrap_or_else(|_| jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC));
        env.add_filter("datetime", move |millis: i64| format_time(millis, &zone));
        env.add_filter("number", format_number);
        // A share as a percentage with one decimal (「12.3%」), or 「—」 when there is none.
        env.add_filter("percent", |value: Option<f64>| {
            value.map_or_else(|| "—".to_owned(), |v| format!("{:.1}%", v * 100.0))
        });
        env.add_filter("yen", yen);
        env.add_filter("truncate", truncate);
        Ok(Self { env })
    }

    /// # Errors
    /// When rendering fails (a bug in a template).
    pub fn render(&self, name: &str, context: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }
}

/// `t("key")` in a template: the string in the page's `locale`.
fn translate(state: &State, key: &str) -> String {
    let locale = state.lookup("locale").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    crate::i18n::t(&locale, key).to_owned()
}

/// Milliseconds since the epoch as "2026-03-15 12:00" in `zone`.
pub(crate) fn format_time(millis: i64, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(millis)
        .map(|ts| ts.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// An amount in yen as the page's language writes it: 5,000,000円 in Japanese, ¥5,000,000 in
/// English.
fn yen(state: &State, value: i64) -> String {
    let locale = state.lookup("locale").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    if locale == "en" {
        format!("¥{}", format_number(value))
    } else {
        format!("{}円", format_number(value))
    }
}

/// 1234567 → "1,234,567".
pub fn format_number(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `text|truncate(n)`: at most `n` characters, with "…" when cut (the whole text goes in a
/// `title` beside it where it matters).
fn truncate(text: String, length: usize) -> String {
    if text.chars().count() <= length {
        return text;
    }
    let mut cut: String = text.chars().take(length.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    /// Every literal `t("key")` in a template names a key with both languages (a missing key
    /// would show itself on the page).
    #[test]
    fn template_keys_exist() {
        for (name, source) in super::TEMPLATES {
            for quote in ['"', '\''] {
                let opening = format!("t({quote}");
                for (at, _) in source.match_indices(&opening) {
                    let rest = &source[at + opening.len()..];
                    let key = &rest[..rest.find(quote).expect("closing quote")];
                    let closed = rest[key.len() + 1..].starts_with(')');
                    if closed && !key.is_empty() {
                        assert_ne!(crate::i18n::t("en", key), key, "{name}: no message for {key}");
                    }
                }
            }
        }
    }

    #[test]
    fn numbers_and_times() {
        assert_eq!(super::format_number(1_234_567), "1,234,567");
        assert_eq!(super::format_number(-1000), "-1,000");
        assert_eq!(super::format_number(12), "12");
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(super::format_time(0, &tokyo), "1970-01-01 09:00");
    }
}
