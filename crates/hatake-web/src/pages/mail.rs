//! Mail pages: where mail goes (settings → mail, admins: an SMTP server, files for development,
//! or off; the server's configuration wins when it names one), a test send, and the outbox —
//! every mail recorded, by status, paged, each with its attempts and the server's answers.

use super::{field_errors, render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::{FieldError, FieldErrors};
use hatake_engine::mail::config::{MailConfig, SETTING_MAIL};
use hatake_engine::mail::dkim::{DkimAlgorithm, DkimSettings, SETTING_DKIM};
use hatake_engine::mail::sender::OUTBOX;
use hatake_engine::mail::transport::{SmtpSettings, TlsMode};
use hatake_engine::mail::OutgoingMail;
use hatake_store::{OutboxRow, OUTBOX_STATUSES};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/settings/mail", Access::Admin, get(settings)),
        route("POST", "/settings/mail", Access::Admin, post(save_settings)),
        route("POST", "/settings/mail/test", Access::Admin, post(test_send)),
        route("POST", "/settings/mail/dkim", Access::Admin, post(save_dkim)),
        route("POST", "/settings/mail/sender", Access::Admin, post(save_sender)),
        route("POST", "/settings/mail/limits", Access::Admin, post(save_limits)),
        route("GET", "/mail/outbox", Access::Configure, get(outbox)),
        route("GET", "/mail/outbox/{id}", Access::Configure, get(outbox_row)),
        route("POST", "/leads/{id}/subscriptions", Access::SignedIn, post(change_subscription)),
        route("GET", "/mail/consents.csv", Access::Configure, get(consents_csv)),
    ]
}

/// The settings form as typed.
#[derive(Deserialize, Default, serde::Serialize, Clone)]
pub struct MailForm {
    #[serde(default)]
    transport: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    tls: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    dir: String,
    /// Certificate authorities (PEM) trusted besides the usual ones.
    #[serde(default)]
    tls_roots: String,
}

impl MailForm {
    fn from_config(config: &MailConfig) -> Self {
        match config {
            MailConfig::None => Self { transport: "none".into(), ..Self::default() },
            MailConfig::Smtp(s) => Self {
                transport: "smtp".into(),
                host: s.host.clone(),
                port: s.port.to_string(),
                tls: tls_key(s.tls).into(),
                username: s.username.clone().unwrap_or_default(),
                tls_roots: s.tls_roots.clone().unwrap_or_default(),
                ..Self::default()
            },
            MailConfig::File { dir } => {
                Self { transport: "file".into(), dir: dir.display().to_string(), ..Self::default() }
            }
        }
    }

    /// The configuration it asks for, keeping the stored password when none was typed.
    fn parse(&self, stored: Option<&MailConfig>) -> Result<MailConfig, FieldErrors> {
        let mut errors = Vec::new();
        let config = match self.transport.as_str() {
            "none" => MailConfig::None,
            "file" => {
                if self.dir.trim().is_empty() {
                    errors.push(FieldError::new(
                        "dir",
                        "required",
                        "保存先のフォルダを入力してください。",
                        "Enter the directory to write mail to.",
                    ));
                }
                MailConfig::File { dir: self.dir.trim().into() }
            }
            "smtp" => {
                let host = self.host.trim();
                if !host.is_empty() && (host.contains(char::is_whitespace) || host.contains(['/', ':', '@'])) {
                    errors.push(FieldError::new(
                        "host",
                        "invalid_host",
                        format!("ホスト名に空白や記号は使えません（入力: {host}）。"),
                        format!("A host name has no spaces or / : @ (got {host})."),
                    ));
                }
                if host.is_empty() {
                    errors.push(FieldError::new(
                        "host",
                        "required",
                        "SMTPサーバーのホスト名を入力してください。",
                        "Enter the SMTP server's host name.",
                    ));
                }
                let tls = match self.tls.as_str() {
                    "tls" => TlsMode::Tls,
                    "none" => TlsMode::None,
                    _ => TlsMode::Starttls,
                };
                let port = match self.port.trim() {
                    "" => tls.default_port(),
                    text => match text.parse::<u16>() {
                        Ok(port) if port > 0 => port,
                        _ => {
                            errors.push(FieldError::new(
                                "port",
                                "invalid_port",
                                format!("ポート番号は1〜65535の数字で入力してください（入力: {text}）。"),
                                format!("The port must be a number from 1 to 65535 (got {text})."),
                            ));
                            0
                        }
                    },
                };
                let username = Some(self.username.trim().to_owned()).filter(|u| !u.is_empty());
                let kept = match stored {
                    Some(MailConfig::Smtp(s)) if s.username == username => s.password.clone(),
                    _ => None,
                };
                let password = Some(self.password.clone()).filter(|p| !p.is_empty()).or(kept);
                if username.is_some() && password.is_none() {
                    errors.push(FieldError::new(
                        "password",
                        "required",
                        "ユーザー名を使う場合はパスワードも入力してください。",
                        "Enter the password that goes with the user name.",
                    ));
                }
                let tls_roots = Some(self.tls_roots.trim().to_owned()).filter(|p| !p.is_empty());
                if let Some(pem) = &tls_roots {
                    if let Err(error) = hatake_engine::mail::smtp::tls_config(Some(pem)) {
                        errors.push(FieldError::new(
                            "tls_roots",
                            "invalid_certificate",
                            format!("証明書を読み取れません。PEM形式（-----BEGIN CERTIFICATE----- で始まる）で貼り付けてください（{error}）。"),
                            format!("The certificate cannot be read; paste it as PEM (starting with -----BEGIN CERTIFICATE-----): {error}."),
                        ));
                    }
                }
                MailConfig::Smtp(SmtpSettings {
                    host: host.to_owned(),
                    port,
                    tls,
                    username,
                    password,
                    hello_name: None,
                    timeout_secs: 30,
                    tls_roots,
                })
            }
            other => {
                errors.push(FieldError::new(
                    "transport",
                    "invalid_choice",
                    format!("送信方法を選んでください（入力: {other}）。"),
                    format!("Choose how mail is sent (got {other})."),
                ));
                MailConfig::None
            }
        };
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(FieldErrors(errors))
        }
    }
}

fn tls_key(tls: TlsMode) -> &'static str {
    match tls {
        TlsMode::None => "none",
        TlsMode::Starttls => "starttls",
        TlsMode::Tls => "tls",
    }
}

/// Where mail goes, in words.
fn describe(config: &MailConfig, locale: &str) -> String {
    let en = locale == "en";
    match config {
        MailConfig::None if en => "Off: mail waits in the outbox".into(),
        MailConfig::None => "送信しない（メールは送信待ちのまま保持されます）".into(),
        MailConfig::Smtp(s) => {
            let tls = match (s.tls, en) {
                (TlsMode::Starttls, _) => "STARTTLS",
                (TlsMode::Tls, _) => "TLS",
                (TlsMode::None, true) => "no encryption",
                (TlsMode::None, false) => "暗号化なし",
            };
            let login = match (&s.username, en) {
                (Some(user), true) => format!(", signed in as {user}"),
                (Some(user), false) => format!("、ユーザー {user}"),
                (None, _) => String::new(),
            };
            if en {
                format!("SMTP server {}:{} ({tls}{login})", s.host, s.port)
            } else {
                format!("SMTPサーバー {}:{}（{tls}{login}）", s.host, s.port)
            }
        }
        MailConfig::File { dir } if en => format!("Files in {} (nothing is sent)", dir.display()),
        MailConfig::File { dir } => format!("{} にファイルとして保存（送信はしません）", dir.display()),
    }
}

#[derive(Deserialize, Default)]
pub struct SettingsParams {
    saved: Option<String>,
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    form: Option<(&MailForm, &FieldErrors)>,
    saved: bool,
) -> Result<Html<String>, PageError> {
    dkim_page(state, user, form, saved, None).await
}

async fn dkim_page(
    state: &AppState,
    user: &CurrentUser,
    form: Option<(&MailForm, &FieldErrors)>,
    saved: bool,
    dkim_error: Option<String>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let stored = hatake_engine::mail::config::stored(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let fixed = state.config.mail.clone();
    let effective = fixed.clone().or_else(|| stored.clone()).unwrap_or_default();
    let shown = match form {
        Some((form, _)) => form.clone(),
        None => MailForm::from_config(&stored.clone().unwrap_or_default()),
    };
    let has_password = matches!(&stored, Some(MailConfig::Smtp(s)) if s.password.is_some());
    let counts = store.outbox_counts().await.map_err(|e| PageError::from_store(e, locale))?;
    let dkim = hatake_engine::mail::dkim::stored(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let sender = hatake_engine::mail::config::sender(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let limits = hatake_engine::mail::limits::stored(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let hhmm = |minute: u32| format!("{:02}:{:02}", minute / 60, minute % 60);
    let hook_token = crate::mail_hooks::hook_token(state).await.map_err(|e| PageError::from_store(e, locale))?;
    let hook_base = sender.as_ref().map(|s| s.public_url.trim_end_matches('/').to_owned()).filter(|u| !u.is_empty());
    let hook_url = format!("{}/hooks/mail/{hook_token}", hook_base.unwrap_or_default());
    let relay = match &effective {
        MailConfig::Smtp(s) => Some(s.host.clone()),
        _ => None,
    };
    let default_domain = user.user.email.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
    let dkim_view = dkim.as_ref().map(|d| {
        context! {
            domain => d.domain, selector => d.selector,
            algorithm => match d.algorithm { DkimAlgorithm::Rsa => "RSA-2048", DkimAlgorithm::Ed25519 => "Ed25519" },
            record_name => d.record_name(), record => d.record().ok(), problem => d.check().err().map(|e| e.0),
            spf => hatake_engine::mail::dkim::spf_record(relay.as_deref()),
            dmarc_name => format!("_dmarc.{}", d.domain), dmarc => hatake_engine::mail::dkim::dmarc_record(&d.domain),
        }
    });
    render(
        state,
        user,
        "settings/mail.html",
        "settings",
        context! {
            form => shown, errors => form.map(|(_, e)| field_errors(e, locale)).unwrap_or_default(),
            fixed => fixed.as_ref().map(|c| describe(c, locale)), effective => describe(&effective, locale),
            off => effective == MailConfig::None, has_password => has_password, saved => saved,
            counts => counts, test_to => user.user.email.clone(),
            dkim => dkim_view, dkim_domain => dkim.as_ref().map_or(default_domain, |d| d.domain.clone()),
            dkim_error => dkim_error,
            sender => sender.clone().unwrap_or_default(), sender_missing => sender.is_none_or(|s| !s.missing().is_empty()),
            limits_text => limits.domains_text(), window => limits.window.is_some(),
            window_start => limits.window.as_ref().map_or_else(|| "09:00".to_owned(), |w| hhmm(w.start_minute)),
            window_end => limits.window.as_ref().map_or_else(|| "18:00".to_owned(), |w| hhmm(w.end_minute)),
            window_business => limits.window.as_ref().is_none_or(|w| w.business_days),
            hook_url => hook_url,
        },
    )
    .await
}

async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<SettingsParams>,
) -> Result<Html<String>, PageError> {
    settings_page(&state, &user, None, params.saved.is_some()).await
}

async fn save_settings(State(state): State<AppState>, PageForm { user, data }: PageForm<MailForm>) -> Response {
    let locale = user.locale();
    let store = state.store.as_ref();
    let stored = match hatake_engine::mail::config::stored(store).await {
        Ok(stored) => stored,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    match data.parse(stored.as_ref()) {
        Ok(config) => {
            let text = serde_json::to_string(&config).unwrap_or_default();
            match store.put_setting(SETTING_MAIL, &text, now_millis()).await {
                Ok(()) => {
                    state.runtime.wake(OUTBOX);
                    Redirect::to("/settings/mail?saved=1").into_response()
                }
                Err(error) => PageError::from_store(error, locale).into_response(),
            }
        }
        // Nothing is stored; the form comes back as typed (without the password) with the reasons.
        Err(errors) => {
            let typed = MailForm { password: String::new(), ..data };
            match settings_page(&state, &user, Some((&typed, &errors)), false).await {
                Ok(html) => (axum::http::StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
    }
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    to: String,
}

async fn test_send(State(state): State<AppState>, PageForm { user, data }: PageForm<TestForm>) -> Response {
    let locale = user.locale();
    let to = data.to.trim();
    if let Err(error) = hatake_domain::Email::parse_field(to, "to") {
        let errors = FieldErrors(vec![error]);
        return match settings_page(&state, &user, Some((&MailForm::default(), &errors)), false).await {
            Ok(html) => (axum::http::StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        };
    }
    let now = now_millis();
    let from = user.user.email.clone();
    let mail = OutgoingMail {
        from_name: Some("hatake".into()),
        from_address: from,
        to_address: to.to_owned(),
        subject: "hatake テスト送信 / test mail".into(),
        text: format!(
            "hatake からのテスト送信です。\nThis is a test mail from hatake.\n\n送信者 / sent by: {}\n",
            user.user.display_name
        ),
        ..OutgoingMail::default()
    };
    // One test per person, address and second: a double click sends once.
    let key = format!("test:{}:{to}:{}", user.user.id, now / 1_000);
    let store = state.store.as_ref();
    if let Err(error) = hatake_engine::mail::enqueue(store, &key, None, &mail, now, now).await {
        return PageError::from_store(error, locale).into_response();
    }
    state.runtime.wake(OUTBOX);
    match store.outbox_by_key(&key).await {
        Ok(Some(row)) => Redirect::to(&format!("/mail/outbox/{}?test=1", row.id)).into_response(),
        Ok(None) => Redirect::to("/mail/outbox").into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

/// Whether no configuration sends mail (it waits in the outbox).
pub(crate) async fn mail_off(state: &AppState) -> bool {
    state.config.mail.is_none()
        && hatake_engine::mail::config::stored(state.store.as_ref()).await.ok().flatten().unwrap_or_default()
            == MailConfig::None
}

#[derive(Deserialize, Default)]
pub struct OutboxParams {
    status: Option<String>,
    before: Option<String>,
    test: Option<String>,
}

/// Rows per outbox page.
const PAGE: i64 = 50;

/// A row as a list shows it: the mail's subject, the status in words.
fn row_view(row: &OutboxRow, locale: &str) -> minijinja::Value {
    let mail: Option<OutgoingMail> = serde_json::from_str(&row.payload).ok();
    // A webhook shows its title (an alert's), marked as such.
    let webhook = (row.kind == "webhook")
        .then(|| serde_json::from_str::<serde_json::Value>(&row.payload).ok())
        .flatten()
        .map(|body| format!("Webhook：{}", body["title"].as_str().unwrap_or_default()));
    context! {
        row => row,
        subject => mail.as_ref().map(|m| m.subject.clone()).or(webhook),
        to_name => mail.as_ref().and_then(|m| m.to_name.clone()),
        status => crate::i18n::t(locale, &format!("outbox.status.{}", row.status)),
        code => row.last_code.map(|code| code_label(code, locale)),
    }
}

/// An SMTP reply code with what it means: 「250（受付）」.
fn code_label(code: i64, locale: &str) -> String {
    let meaning = crate::i18n::t(locale, &format!("outbox.code.{}", code / 100)).to_owned();
    if meaning.starts_with("outbox.") {
        return code.to_string();
    }
    if locale == "en" {
        format!("{code} ({meaning})")
    } else {
        format!("{code}（{meaning}）")
    }
}

async fn outbox(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<OutboxParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let status = params.status.as_deref().filter(|s| OUTBOX_STATUSES.contains(s));
    let before = params.before.as_deref().and_then(|b| b.parse::<i64>().ok());
    let mut rows = store.list_outbox(status, before, PAGE + 1).await.map_err(|e| PageError::from_store(e, locale))?;
    let more = rows.len() > usize::try_from(PAGE).unwrap_or(50);
    rows.truncate(usize::try_from(PAGE).unwrap_or(50));
    let next = if more { rows.last().map(|r| r.id) } else { None };
    let counts = store.outbox_counts().await.map_err(|e| PageError::from_store(e, locale))?;
    let tabs: Vec<minijinja::Value> = OUTBOX_STATUSES
        .iter()
        .map(|s| {
            let count = match *s {
                "pending" => counts.pending,
                "claimed" => counts.claimed,
                "handed" => counts.handed,
                "sent" => counts.sent,
                "failed" => counts.failed,
                _ => counts.cancelled,
            };
            context! { key => s, label => crate::i18n::t(locale, &format!("outbox.status.{s}")), count => count }
        })
        .collect();
    let total = counts.pending + counts.claimed + counts.handed + counts.sent + counts.failed + counts.cancelled;
    render(
        &state,
        &user,
        "mail/outbox.html",
        "mail",
        context! {
            rows => rows.iter().map(|r| row_view(r, locale)).collect::<Vec<_>>(), status_tabs => tabs, status => status,
            total => total, next => next, first_page => before.is_some(),
            off => mail_off(&state).await,
        },
    )
    .await
}

async fn outbox_row(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(params): Query<OutboxParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let row = store.get_outbox(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let attempts = store.outbox_attempts(id).await.map_err(|e| PageError::from_store(e, locale))?;
    let mail: Option<OutgoingMail> = serde_json::from_str(&row.payload).ok();
    let off = mail_off(&state).await;
    let lead = match row.lead_id {
        Some(lead) => store.get_lead(lead).await.ok(),
        None => None,
    };
    let attempts: Vec<minijinja::Value> = attempts
        .iter()
        .map(|a| context! { a => a, outcome => crate::i18n::t(locale, &format!("outbox.outcome.{}", a.outcome)) })
        .collect();
    render(
        &state,
        &user,
        "mail/outbox_row.html",
        "mail",
        context! {
            view => row_view(&row, locale), mail => mail, attempts => attempts, lead => lead,
            test => params.test.is_some() && row.status != "sent", off => off,
            template_id => row.idempotency_key.strip_prefix("template-test:").and_then(|k| k.split(':').next()),
        },
    )
    .await
}

/// A lead's mail subscriptions for its page: each topic's state (subscribed, unsubscribed,
/// never asked) with how and when, and the latest changes.
pub(crate) async fn lead_subscriptions(
    state: &AppState,
    lead_id: i64,
    locale: &'static str,
) -> Result<minijinja::Value, PageError> {
    let store = state.store.as_ref();
    let topics =
        hatake_engine::mail::subscriptions::topics(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let current = store.lead_subscriptions(lead_id).await.map_err(|e| PageError::from_store(e, locale))?;
    let history = store.subscription_history(lead_id, 20).await.map_err(|e| PageError::from_store(e, locale))?;
    let label = |topic: &str| {
        topics.iter().find(|t| t.key == topic).map_or_else(|| topic.to_owned(), |t| t.label(locale).to_owned())
    };
    let how = |source: &str| crate::i18n::t(locale, &format!("subs.source.{source}")).to_owned();
    let rows: Vec<minijinja::Value> = topics
        .iter()
        .map(|topic| {
            let now = current.iter().find(|s| s.topic == topic.key);
            context! {
                key => topic.key, label => topic.label(locale),
                state => now.map_or("never", |s| s.status.as_str()),
                state_label => crate::i18n::t(locale, &format!("subs.{}", now.map_or("never", |s| s.status.as_str()))),
                how => now.map(|s| how(&s.source)), at => now.map(|s| s.at),
                detail => now.and_then(|s| s.detail.clone()), by => now.and_then(|s| s.by_name.clone()),
            }
        })
        .collect();
    let history: Vec<minijinja::Value> = history
        .iter()
        .map(|h| {
            context! {
                topic => label(&h.topic), state => h.status,
                state_label => crate::i18n::t(locale, &format!("subs.{}", h.status)),
                how => how(&h.source), at => h.at, detail => h.detail, by => h.by_name,
            }
        })
        .collect();
    Ok(context! { topics => rows, history => history })
}

#[derive(Deserialize)]
pub struct SubscriptionForm {
    #[serde(default)]
    topic: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    note: String,
}

/// A person records a change (a request by phone, a consent given at a meeting).
async fn change_subscription(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<SubscriptionForm>,
) -> Response {
    let locale = user.locale();
    let store = state.store.as_ref();
    let topics = match hatake_engine::mail::subscriptions::topics(store).await {
        Ok(topics) => topics,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    if !hatake_engine::mail::subscriptions::known(&topics, &data.topic)
        || !matches!(data.status.as_str(), "subscribed" | "unsubscribed")
    {
        return Redirect::to(&format!("/leads/{id}?subs=invalid#subscriptions")).into_response();
    }
    let note = Some(data.note.trim().to_owned()).filter(|n| !n.is_empty());
    let current = match store.lead_subscriptions(id).await {
        Ok(rows) => rows.into_iter().find(|s| s.topic == data.topic),
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    // Mail again to someone who opted out needs their consent, and a record of how it was given.
    if data.status == "subscribed" && current.as_ref().is_some_and(|s| s.status == "unsubscribed") && note.is_none() {
        return Redirect::to(&format!("/leads/{id}?subs=note#subscriptions")).into_response();
    }
    let change = hatake_store::SubscriptionChange {
        lead_id: id,
        topic: data.topic,
        status: data.status,
        source: "user".into(),
        detail: note,
        by_user: Some(user.user.id),
        at: now_millis(),
    };
    match store.change_subscriptions(&[change]).await {
        Ok(0) => Redirect::to(&format!("/leads/{id}?subs=same#subscriptions")).into_response(),
        Ok(_) => Redirect::to(&format!("/leads/{id}?subs=1#subscriptions")).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct CsvParams {
    encoding: Option<String>,
}

/// Every consent and unsubscribe ever recorded (特定電子メール法 asks that they be kept), as CSV
/// for Excel (UTF-8 with BOM, or CP932), oldest first.
async fn consents_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<CsvParams>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let encoding = super::imports::export_encoding(params.encoding.as_deref(), locale)?;
    let store = state.store.as_ref();
    let topics =
        hatake_engine::mail::subscriptions::topics(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let zone = jiff::tz::TimeZone::get(&state.config.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let headers: Vec<String> =
        ["記録ID", "リードID", "メールアドレス", "配信の種類", "状態", "経緯", "詳細", "担当者", "日時"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
    let mut writer = hatake_csv::CsvWriter::new(&headers, encoding);
    let mut after = 0;
    let mut emails: std::collections::HashMap<i64, Option<String>> = std::collections::HashMap::new();
    loop {
        let page = store.consent_records(after, 1_000).await.map_err(|e| PageError::from_store(e, locale))?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (id, row) in &page {
            if let std::collections::hash_map::Entry::Vacant(slot) = emails.entry(row.lead_id) {
                slot.insert(store.get_lead(row.lead_id).await.ok().and_then(|l| l.email));
            }
            let topic = topics.iter().find(|t| t.key == row.topic).map_or(row.topic.clone(), |t| t.label_ja.clone());
            let at = jiff::Timestamp::from_millisecond(row.at)
                .map(|ts| ts.to_zoned(zone.clone()).strftime("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            writer.write_row(vec![
                id.to_string(),
                row.lead_id.to_string(),
                emails.get(&row.lead_id).cloned().flatten().unwrap_or_default(),
                topic,
                crate::i18n::t("ja", &format!("subs.{}", row.status)).to_owned(),
                crate::i18n::t("ja", &format!("subs.source.{}", row.source)).to_owned(),
                row.detail.clone().unwrap_or_default(),
                row.by_name.clone().unwrap_or_default(),
                at,
            ]);
        }
    }
    let export = writer.finish();
    let suffix = if encoding == hatake_csv::ExportEncoding::Cp932 { "-sjis" } else { "" };
    Ok(super::imports::csv_response(
        export.bytes,
        encoding,
        &format!("consents{suffix}.csv"),
        &format!("配信同意記録{suffix}.csv"),
    ))
}

#[derive(Deserialize)]
pub struct DkimForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    selector: String,
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    private_key: String,
}

/// Makes a new DKIM key, takes an uploaded one, or stops signing.
async fn save_dkim(State(state): State<AppState>, PageForm { user, data }: PageForm<DkimForm>) -> Response {
    let locale = user.locale();
    let store = state.store.as_ref();
    let now = now_millis();
    let en = locale == "en";
    let algorithm = if data.algorithm == "ed25519" { DkimAlgorithm::Ed25519 } else { DkimAlgorithm::Rsa };
    let selector = if data.selector.trim().is_empty() { "hatake".to_owned() } else { data.selector.trim().to_owned() };
    let result = match data.action.as_str() {
        "remove" => match store.put_setting(SETTING_DKIM, "", now).await {
            Ok(()) => return Redirect::to("/settings/mail?saved=1#dkim").into_response(),
            Err(error) => return PageError::from_store(error, locale).into_response(),
        },
        "upload" => {
            let settings = DkimSettings {
                domain: data.domain.trim().to_owned(),
                selector,
                algorithm,
                private_key: data.private_key.trim().to_owned(),
            };
            settings.check().map(|()| settings)
        }
        _ => DkimSettings::generate(&data.domain, &selector, algorithm),
    };
    match result {
        Ok(settings) => {
            match store.put_setting(SETTING_DKIM, &serde_json::to_string(&settings).unwrap_or_default(), now).await {
                Ok(()) => Redirect::to("/settings/mail?saved=1#dkim").into_response(),
                Err(error) => PageError::from_store(error, locale).into_response(),
            }
        }
        Err(error) => {
            let message = if en {
                format!("The DKIM key was not saved: {error}")
            } else {
                format!("DKIMの鍵を保存できませんでした: {}", dkim_problem_ja(&error.0))
            };
            match dkim_page(&state, &user, None, false, Some(message)).await {
                Ok(html) => (axum::http::StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
    }
}

/// A DKIM problem in Japanese.
fn dkim_problem_ja(problem: &str) -> String {
    if problem.ends_with("not a domain name") {
        format!("ドメイン名が正しくありません（{}）。", problem.trim_end_matches(": not a domain name"))
    } else if problem.contains("selector") {
        "セレクタは半角英数字とハイフンで入力してください。".to_owned()
    } else if problem.contains("PKCS#1") {
        "RSAの秘密鍵（-----BEGIN RSA PRIVATE KEY----- で始まるPEM形式）を貼り付けてください。".to_owned()
    } else if problem.contains("Ed25519") {
        "Ed25519の秘密鍵は32バイトのシードをBase64にしたものを貼り付けてください。".to_owned()
    } else {
        problem.to_owned()
    }
}

#[derive(Deserialize)]
pub struct SenderForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    from_address: String,
    #[serde(default)]
    public_url: String,
}

/// Who sends the organisation's mail (特定電子メール法): every field is needed.
async fn save_sender(State(state): State<AppState>, PageForm { user, data }: PageForm<SenderForm>) -> Response {
    let locale = user.locale();
    let sender = hatake_engine::mail::config::SenderIdentity {
        name: data.name.trim().to_owned(),
        address: data.address.trim().to_owned(),
        contact: data.contact.trim().to_owned(),
        from_address: data.from_address.trim().to_owned(),
        public_url: data.public_url.trim().trim_end_matches('/').to_owned(),
    };
    let missing = sender.missing();
    let mut wrong = Vec::new();
    if !sender.from_address.is_empty()
        && hatake_domain::Email::parse_field(&sender.from_address, "sender_from").is_err()
    {
        wrong.push(FieldError::new(
            "sender_from",
            "invalid",
            "送信元メールアドレスの形式が正しくありません。",
            "The from address is not a valid e-mail address.",
        ));
    }
    let url = &sender.public_url;
    if !url.is_empty()
        && (!(url.starts_with("https://") || url.starts_with("http://")) || url.contains(char::is_whitespace))
    {
        wrong.push(FieldError::new(
            "sender_public_url",
            "invalid",
            "公開URLは https:// で始まるアドレスで入力してください。",
            "The public URL is an address starting with https://.",
        ));
    }
    if !missing.is_empty() || !wrong.is_empty() {
        let errors = FieldErrors(
            missing
                .iter()
                .map(|field| {
                    let (ja, en) = match *field {
                        "name" => ("送信者の氏名または名称を入力してください。", "Enter the sender's name."),
                        "address" => ("送信者の住所を入力してください。", "Enter the sender's postal address."),
                        _ => (
                            "問い合わせ先（メールアドレス・電話番号・URL）を入力してください。",
                            "Enter a contact for enquiries.",
                        ),
                    };
                    FieldError::new(format!("sender_{field}"), "required", ja, en)
                })
                .chain(wrong)
                .collect(),
        );
        return match settings_page(&state, &user, Some((&MailForm::default(), &errors)), false).await {
            Ok(html) => (axum::http::StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        };
    }
    let text = serde_json::to_string(&sender).unwrap_or_default();
    match state.store.put_setting(hatake_engine::mail::config::SETTING_SENDER, &text, now_millis()).await {
        Ok(()) => Redirect::to("/settings/mail?saved=1#sender").into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize)]
pub struct LimitsForm {
    #[serde(default)]
    domains: String,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    business_days: Option<String>,
}

/// `HH:MM` as minutes after midnight.
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// Per-domain limits and the send window; each wrong line or time is named, nothing stored.
async fn save_limits(State(state): State<AppState>, PageForm { user, data }: PageForm<LimitsForm>) -> Response {
    use hatake_engine::mail::limits::{SendLimits, SendWindow, SETTING_LIMITS};
    let locale = user.locale();
    let mut errors = Vec::new();
    let domains = match SendLimits::parse_domains(&data.domains.replace("\r\n", "\n")) {
        Ok(domains) => domains,
        Err(lines) => {
            for (line, text) in lines {
                errors.push(FieldError::new(
                    "domains",
                    "invalid_line",
                    format!("{line}行目「{text}」: 「ドメイン 1分あたりの通数」の形で入力してください（例：docomo.ne.jp 60）。"),
                    format!("Line {line} \"{text}\": write \"domain mails-per-minute\" (e.g. docomo.ne.jp 60)."),
                ));
            }
            Vec::new()
        }
    };
    let window = if data.window.is_some() {
        match (minutes(&data.start), minutes(&data.end)) {
            (Some(start), Some(end)) if start < end => {
                Some(SendWindow { start_minute: start, end_minute: end, business_days: data.business_days.is_some() })
            }
            _ => {
                errors.push(FieldError::new(
                    "window",
                    "invalid_window",
                    format!("送信時間帯は「09:00」〜「18:00」のように、開始を終了より前にして入力してください（入力: {}〜{}）。", data.start, data.end),
                    format!("Give the window as 09:00 to 18:00, the start before the end (got {} to {}).", data.start, data.end),
                ));
                None
            }
        }
    } else {
        None
    };
    if !errors.is_empty() {
        return match settings_page(&state, &user, Some((&MailForm::default(), &FieldErrors(errors))), false).await {
            Ok(html) => (axum::http::StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        };
    }
    let limits = SendLimits { domains, window };
    match state
        .store
        .put_setting(SETTING_LIMITS, &serde_json::to_string(&limits).unwrap_or_default(), now_millis())
        .await
    {
        Ok(()) => {
            state.runtime.wake(OUTBOX);
            Redirect::to("/settings/mail?saved=1#limits").into_response()
        }
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}
