//! Mail templates (admins and marketers): the list by kind, paged; the editor with a preview
//! for the sample person or a chosen lead, the checks of every save (syntax with line and column,
//! and for marketing mail what 特定電子メール法 asks), a test send through the outbox, every saved
//! version with a way back, and archiving with undo.

use super::{origin, render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::text::SearchQuery;
use hatake_engine::mail::compose::{self, Problem, TestSend};
use hatake_engine::mail::jis;
use hatake_engine::mail::sender::OUTBOX;
use hatake_store::{
    LeadQuery, MailTemplateRow, StoreError, TemplateContent, TemplateDraft, TemplateQuery, TEMPLATE_KINDS,
};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/mail/templates", Access::Configure, get(list)),
        route("GET", "/mail/templates/new", Access::Configure, get(new)),
        route("POST", "/mail/templates", Access::Configure, post(create)),
        route("GET", "/mail/templates/{id}", Access::Configure, get(edit)),
        route("POST", "/mail/templates/{id}", Access::Configure, post(save)),
        route("POST", "/mail/templates/{id}/test", Access::Configure, post(test_send)),
        route("POST", "/mail/templates/{id}/archive", Access::Configure, post(archive)),
        route("GET", "/mail/templates/{id}/versions/{version}", Access::Configure, get(version)),
        route("POST", "/mail/templates/{id}/versions/{version}/restore", Access::Configure, post(restore)),
    ]
}

/// Templates per list page.
const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct ListParams {
    kind: Option<String>,
    archived: Option<String>,
    page: Option<String>,
    archived_id: Option<i64>,
}

fn kind_label(kind: &str, locale: &str) -> String {
    crate::i18n::t(locale, &format!("template.kind.{kind}")).to_owned()
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let kind = params.kind.as_deref().filter(|k| TEMPLATE_KINDS.contains(k)).map(str::to_owned);
    let page = params.page.as_deref().and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).max(1);
    let query = TemplateQuery {
        kind: kind.clone(),
        archived: params.archived.is_some(),
        offset: (page - 1) * PAGE,
        limit: PAGE,
    };
    let (rows, total) = store.mail_templates(&query).await.map_err(|e| PageError::from_store(e, locale))?;
    let products = store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let rows: Vec<minijinja::Value> = rows
        .iter()
        .map(|row| {
            let product = row.product_id.and_then(|id| products.iter().find(|p| p.id == id)).map(|p| p.name.clone());
            context! { row => row, kind => kind_label(&row.kind, locale), product => product }
        })
        .collect();
    let kinds: Vec<minijinja::Value> =
        TEMPLATE_KINDS.iter().map(|k| context! { key => k, label => kind_label(k, locale) }).collect();
    let archived_name = match params.archived_id {
        Some(id) => store.mail_template(id).await.ok().flatten().map(|t| context! { id => id, name => t.name }),
        None => None,
    };
    render(
        &state,
        &user,
        "mail/templates.html",
        "mail",
        context! {
            rows => rows, total => total, kinds => kinds, kind => kind, archived => params.archived.is_some(),
            page => page, pages => (total + PAGE - 1) / PAGE, just_archived => archived_name,
        },
    )
    .await
}

/// What the editor's form sends.
#[derive(Deserialize, serde::Serialize, Default, Clone)]
pub struct TemplateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    charset: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    text: String,
    /// Who to preview with: a lead's id or e-mail address (blank: the sample person).
    #[serde(default)]
    lead: String,
    /// `preview` to show the form's content without saving it.
    #[serde(default)]
    action: String,
}

impl TemplateForm {
    fn draft(&self) -> TemplateDraft {
        TemplateDraft {
            name: self.name.trim().to_owned(),
            kind: if TEMPLATE_KINDS.contains(&self.kind.as_str()) { self.kind.clone() } else { "marketing".into() },
            product_id: self.product_id.trim().parse().ok(),
            charset: if self.charset == "iso-2022-jp" { "iso-2022-jp".into() } else { "utf-8".into() },
            content: TemplateContent {
                // Browsers send CRLF; templates keep LF.
                subject: self.subject.replace("\r\n", "\n").trim().to_owned(),
                html: self.html.replace("\r\n", "\n"),
                text: self.text.replace("\r\n", "\n"),
            },
        }
    }

    fn of(row: &MailTemplateRow) -> Self {
        Self {
            name: row.name.clone(),
            kind: row.kind.clone(),
            product_id: row.product_id.map(|id| id.to_string()).unwrap_or_default(),
            charset: row.charset.clone(),
            subject: row.subject.clone(),
            html: row.html.clone(),
            text: row.text.clone(),
            lead: String::new(),
            action: String::new(),
        }
    }
}

/// A new template's starting content: for marketing mail, one that already carries what the law
/// asks (the sender and the opt-out link).
fn starter(kind: &str) -> TemplateForm {
    let (subject, html, text) = match kind {
        "layout" => (
            "",
            "<!doctype html>\n<html><body style=\"font-family:sans-serif;line-height:1.7\">\n{% block content %}{% endblock %}\n<hr>\n<p style=\"font-size:12px;color:#666\">{{ sender.name }}<br>{{ sender.address }}<br>お問い合わせ: {{ sender.contact }}<br>配信停止・設定変更: <a href=\"{{ unsubscribe_url }}\">{{ unsubscribe_url }}</a></p>\n</body></html>\n",
            "{% block content %}{% endblock %}\n\n----\n{{ sender.name }}\n{{ sender.address }}\nお問い合わせ: {{ sender.contact }}\n配信停止・設定変更: {{ unsubscribe_url }}\n",
        ),
        "partial" => ("", "<p>{{ sender.name }}</p>\n", "{{ sender.name }}\n"),
        "transactional" => (
            "{{ lead.family_name }}様 お問い合わせありがとうございます",
            "<p>{{ company }}<br>{{ lead.full_name }} 様</p>\n<p>お問い合わせありがとうございます。</p>\n<p>{{ sender.name }}</p>\n",
            "",
        ),
        _ => (
            "{{ lead.family_name }}様へ {{ product.name }}のご案内",
            "<p>{{ company }}<br>{{ lead.full_name }} 様</p>\n<p>いつもお世話になっております。</p>\n<p><a href=\"https://example.jp/\">詳しくはこちら</a></p>\n<hr>\n<p style=\"font-size:12px;color:#666\">{{ sender.name }}<br>{{ sender.address }}<br>お問い合わせ: {{ sender.contact }}<br>配信停止・設定変更: <a href=\"{{ unsubscribe_url }}\">こちら</a></p>\n",
            "",
        ),
    };
    TemplateForm {
        kind: kind.to_owned(),
        charset: "utf-8".into(),
        subject: subject.into(),
        html: html.into(),
        text: text.into(),
        ..TemplateForm::default()
    }
}

/// What the editor shows besides the form.
#[derive(Default)]
struct Shown {
    problems: Vec<Problem>,
    saved: Option<i64>,
    unchanged: bool,
    /// Show the form's content in the preview (not the stored one).
    preview_form: bool,
    lead_error: bool,
    sent_to: Option<String>,
    test_error: Option<&'static str>,
    restored: bool,
    restored_from: Option<i64>,
}

async fn editor(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    row: Option<&MailTemplateRow>,
    form: &TemplateForm,
    shown: Shown,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let now = now_millis();
    let products = store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let base = origin(headers);
    let mut lead_error = shown.lead_error;
    let lead_id = if form.lead.trim().is_empty() {
        None
    } else {
        let found = find_lead(state, form.lead.trim()).await.map_err(|e| PageError::from_store(e, locale))?;
        lead_error |= found.is_none();
        found
    };
    // The preview: the stored version, or what the form holds when asked for it.
    let draft = form.draft();
    let preview_row = row.cloned().map(|mut r| {
        if shown.preview_form {
            r.kind.clone_from(&draft.kind);
            r.product_id = draft.product_id;
        }
        r
    });
    let mut preview = None;
    let mut preview_problems = Vec::new();
    // What ISO-2022-JP cannot carry: in the template as written and in the preview's lead.
    let mut jis_text = format!("{}\n{}\n{}", draft.content.subject, draft.content.html, draft.content.text);
    let layout_like = matches!(draft.kind.as_str(), "layout" | "partial");
    if let (Some(r), false) = (&preview_row, layout_like) {
        let content = if shown.preview_form { draft.content.clone() } else { r.content() };
        let unsaved = shown.preview_form && content != r.content();
        match compose::preview(store, r, &content, lead_id, &base, now)
            .await
            .map_err(|e| PageError::from_store(e, locale))?
        {
            Ok(p) => {
                jis_text.push_str(&p.composed.rendered.subject);
                jis_text.push_str(&p.composed.rendered.text);
                preview = Some(context! {
                    subject => p.composed.rendered.subject, html => p.composed.rendered.html,
                    text => p.composed.rendered.text, lead => p.lead.full_name, email => p.lead.email,
                    sample => lead_id.is_none(), from => p.mail.from_address, unsubscribe => p.composed.unsubscribe_url,
                    unsaved => unsaved,
                });
            }
            Err(problems) => preview_problems = problems,
        }
    }
    let jis_warnings: Vec<String> = if draft.charset == jis::CHARSET {
        jis::unsupported(&jis_text).into_iter().map(|c| format!("{c} → {}", jis::stand_in(c))).collect()
    } else {
        Vec::new()
    };
    let sender = hatake_engine::mail::config::sender(store).await.map_err(|e| PageError::from_store(e, locale))?;
    // Links in mail fall back to the address this page is open at: say so when none is set.
    let local_url = !layout_like && sender.as_ref().is_none_or(|s| s.public_url.trim().is_empty());
    let versions = match row {
        Some(r) => store.mail_template_versions(r.id).await.map_err(|e| PageError::from_store(e, locale))?,
        None => Vec::new(),
    };
    let problems: Vec<String> = shown.problems.iter().map(|p| p.describe(locale)).collect();
    let preview_problems: Vec<String> = preview_problems.iter().map(|p| p.describe(locale)).collect();
    let kinds: Vec<minijinja::Value> =
        TEMPLATE_KINDS.iter().map(|k| context! { key => k, label => kind_label(k, locale) }).collect();
    render(
        state,
        user,
        "mail/template.html",
        "mail",
        context! {
            row => row, form => form, kinds => kinds, products => products, problems => problems,
            preview => preview, preview_problems => preview_problems, saved => shown.saved,
            unchanged => shown.unchanged, lead_error => lead_error, sent_to => shown.sent_to,
            test_error => shown.test_error, versions => versions.iter().take(10).collect::<Vec<_>>(),
            version_count => versions.len(), preview_form => shown.preview_form,
            sender_missing => sender.as_ref().is_none_or(|s| !s.missing().is_empty()),
            no_from => sender.as_ref().is_none_or(|s| s.from_address.trim().is_empty()),
            layouts => layout_names(state).await, layout_like => layout_like, restored => shown.restored,
            jis_warnings => jis_warnings, restored_from => shown.restored_from,
            local_url => local_url.then_some(base.clone()),
        },
    )
    .await
    .map(with_preview_policy)
}

/// The editor's policy: as every page's, except that the preview frame (sandboxed: no scripts,
/// no forms) shows the mail as it will look, with its inline styles and its images.
fn with_preview_policy(html: Html<String>) -> Response {
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert("x-frame-options", axum::http::HeaderValue::from_static("DENY"));
    headers.insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: https: http:; style-src 'self' 'unsafe-inline'; \
             frame-ancestors 'none'; form-action 'self'",
        ),
    );
    response
}

fn unprocessable(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

async fn layout_names(state: &AppState) -> Vec<String> {
    compose::library(state.store.as_ref()).await.map(|l| l.names().map(str::to_owned).collect()).unwrap_or_default()
}

/// A lead by id or e-mail address.
async fn find_lead(state: &AppState, text: &str) -> Result<Option<i64>, StoreError> {
    let store = state.store.as_ref();
    if let Ok(id) = text.trim_start_matches('#').parse::<i64>() {
        return match store.get_lead(id).await {
            Ok(lead) => Ok(Some(lead.id)),
            Err(StoreError::NotFound) => Ok(None),
            Err(error) => Err(error),
        };
    }
    let query = LeadQuery { search: SearchQuery::parse(text), limit: 1, ..LeadQuery::default() };
    Ok(store.list_leads(&query).await?.items.first().map(|l| l.id))
}

#[derive(Deserialize, Default)]
pub struct NewParams {
    kind: Option<String>,
}

async fn new(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(params): Query<NewParams>,
) -> Result<Response, PageError> {
    let kind = params.kind.as_deref().filter(|k| TEMPLATE_KINDS.contains(k)).unwrap_or("marketing");
    let mut form = starter(kind);
    // A marketing mail starts on the organisation's first layout, when it has one.
    if kind == "marketing" {
        let query = TemplateQuery { kind: Some("layout".into()), archived: false, offset: 0, limit: 1 };
        if let Some(layout) =
            state.store.mail_templates(&query).await.ok().and_then(|(rows, _)| rows.into_iter().next())
        {
            form.html = format!(
                "{{% extends \"{}\" %}}{{% block content %}}\n<p>{{{{ company }}}}<br>{{{{ lead.full_name }}}} 様</p>\n<p>いつもお世話になっております。</p>\n{{% endblock %}}\n",
                layout.name
            );
            form.text = format!(
                "{{% extends \"{}\" %}}{{% block content %}}{{{{ company }}}}\n{{{{ lead.full_name }}}} 様\n\nいつもお世話になっております。\n{{% endblock %}}\n",
                layout.name
            );
        }
    }
    editor(&state, &user, &headers, None, &form, Shown::default()).await
}

fn name_problem(draft: &TemplateDraft) -> Option<Problem> {
    let message = |ja: &str, en: &str| {
        Problem::Template(hatake_engine::mail::template::TemplateProblem {
            part: hatake_engine::mail::template::Part::Subject,
            included: None,
            line: None,
            column: None,
            message_ja: ja.to_owned(),
            message_en: en.to_owned(),
        })
    };
    if draft.name.is_empty() {
        Some(message("テンプレート名を入力してください", "enter the template's name"))
    } else if draft.name.chars().count() > 100 || draft.name.contains(['"', '\\', '/']) {
        Some(message(
            "テンプレート名は100文字以内で、\" \\ / を含めないでください",
            "the name takes at most 100 characters, without \" \\ /",
        ))
    } else {
        None
    }
}

/// The checks of a save; the name's problem first.
async fn problems(state: &AppState, draft: &TemplateDraft, headers: &HeaderMap) -> Result<Vec<Problem>, StoreError> {
    let mut problems: Vec<Problem> = name_problem(draft).into_iter().collect();
    problems.extend(compose::check(state.store.as_ref(), draft, &origin(headers), now_millis()).await?);
    Ok(problems)
}

fn describe_name_taken(locale: &str) -> Problem {
    let _ = locale;
    Problem::Template(hatake_engine::mail::template::TemplateProblem {
        part: hatake_engine::mail::template::Part::Subject,
        included: None,
        line: None,
        column: None,
        message_ja: "この名前のテンプレートはすでにあります".into(),
        message_en: "a template of this name exists".into(),
    })
}

async fn failed(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    row: Option<&MailTemplateRow>,
    form: &TemplateForm,
    problems: Vec<Problem>,
) -> Response {
    match editor(state, user, headers, row, form, Shown { problems, ..Shown::default() }).await {
        Ok(response) => unprocessable(response),
        Err(error) => error.into_response(),
    }
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm { user, data }: PageForm<TemplateForm>,
) -> Response {
    let locale = user.locale();
    let draft = data.draft();
    let found = match problems(&state, &draft, &headers).await {
        Ok(found) => found,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    if !found.is_empty() {
        return failed(&state, &user, &headers, None, &data, found).await;
    }
    match state.store.create_mail_template(&draft, Some(user.user.id), now_millis()).await {
        Ok(id) => Redirect::to(&format!("/mail/templates/{id}?saved=1")).into_response(),
        Err(StoreError::Conflict { .. }) => {
            failed(&state, &user, &headers, None, &data, vec![describe_name_taken(locale)]).await
        }
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct EditParams {
    saved: Option<i64>,
    unchanged: Option<String>,
    lead: Option<String>,
    sent: Option<String>,
    restored: Option<String>,
    from: Option<i64>,
}

async fn template_row(state: &AppState, id: i64, locale: &'static str) -> Result<MailTemplateRow, PageError> {
    state
        .store
        .mail_template(id)
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .ok_or_else(|| PageError::not_found(locale))
}

async fn edit(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(params): Query<EditParams>,
) -> Result<Response, PageError> {
    let row = template_row(&state, id, user.locale()).await?;
    let mut form = TemplateForm::of(&row);
    form.lead = params.lead.unwrap_or_default();
    let shown = Shown {
        saved: params.saved,
        unchanged: params.unchanged.is_some(),
        sent_to: params.sent,
        restored: params.restored.is_some(),
        restored_from: params.from,
        ..Shown::default()
    };
    editor(&state, &user, &headers, Some(&row), &form, shown).await
}

async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<TemplateForm>,
) -> Response {
    let locale = user.locale();
    let row = match template_row(&state, id, locale).await {
        Ok(row) => row,
        Err(error) => return error.into_response(),
    };
    let draft = data.draft();
    if data.action == "preview" {
        let shown = Shown { preview_form: true, ..Shown::default() };
        return match editor(&state, &user, &headers, Some(&row), &data, shown).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        };
    }
    let found = match problems(&state, &draft, &headers).await {
        Ok(found) => found,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    if !found.is_empty() {
        return failed(&state, &user, &headers, Some(&row), &data, found).await;
    }
    match state.store.save_mail_template(id, &draft, Some(user.user.id), now_millis()).await {
        Ok(version) if version == row.version => {
            Redirect::to(&format!("/mail/templates/{id}?unchanged=1")).into_response()
        }
        Ok(version) => Redirect::to(&format!("/mail/templates/{id}?saved={version}")).into_response(),
        Err(StoreError::Conflict { .. }) => {
            failed(&state, &user, &headers, Some(&row), &data, vec![describe_name_taken(locale)]).await
        }
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct TestForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    lead: String,
}

async fn test_send(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<TestForm>,
) -> Response {
    let locale = user.locale();
    let row = match template_row(&state, id, locale).await {
        Ok(row) => row,
        Err(error) => return error.into_response(),
    };
    let mut form = TemplateForm::of(&row);
    form.lead = data.lead.clone();
    let to = data.to.trim();
    let show = |shown: Shown| {
        let (state, user, headers, row, form) = (&state, &user, &headers, &row, &form);
        async move {
            match editor(state, user, headers, Some(row), form, shown).await {
                Ok(response) => unprocessable(response),
                Err(error) => error.into_response(),
            }
        }
    };
    if row.archived_at.is_some() {
        return show(Shown { test_error: Some("archived"), ..Shown::default() }).await;
    }
    if hatake_domain::Email::parse_field(to, "to").is_err() {
        return show(Shown { test_error: Some("bad_address"), ..Shown::default() }).await;
    }
    let lead_id = if data.lead.trim().is_empty() {
        None
    } else {
        match find_lead(&state, data.lead.trim()).await {
            Ok(Some(id)) => Some(id),
            Ok(None) => return show(Shown { lead_error: true, ..Shown::default() }).await,
            Err(error) => return PageError::from_store(error, locale).into_response(),
        }
    };
    let store = state.store.as_ref();
    match compose::test_send(store, &row, lead_id, to, &origin(&headers), now_millis()).await {
        Ok(TestSend::Queued(key)) => {
            state.runtime.wake(OUTBOX);
            match store.outbox_by_key(&key).await {
                Ok(Some(outbox)) => Redirect::to(&format!("/mail/outbox/{}?test=1", outbox.id)).into_response(),
                Ok(None) => Redirect::to(&format!("/mail/templates/{id}?sent={to}")).into_response(),
                Err(error) => PageError::from_store(error, locale).into_response(),
            }
        }
        Ok(TestSend::Problems(problems)) => show(Shown { problems, ..Shown::default() }).await,
        Ok(TestSend::NoFromAddress) => show(Shown { test_error: Some("no_from"), ..Shown::default() }).await,
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct ArchiveForm {
    #[serde(default)]
    undo: Option<String>,
}

async fn archive(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<ArchiveForm>,
) -> Response {
    let locale = user.locale();
    let archived = data.undo.is_none();
    match state.store.archive_mail_template(id, archived, now_millis()).await {
        Ok(()) if archived => Redirect::to(&format!("/mail/templates?archived_id={id}")).into_response(),
        Ok(()) => Redirect::to(&format!("/mail/templates/{id}?restored=1")).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

async fn version(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, version)): Path<(i64, i64)>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let row = template_row(&state, id, locale).await?;
    let stored = state
        .store
        .mail_template_version(id, version)
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .ok_or_else(|| PageError::not_found(locale))?;
    let versions = state.store.mail_template_versions(id).await.map_err(|e| PageError::from_store(e, locale))?;
    render(
        &state,
        &user,
        "mail/template_version.html",
        "mail",
        context! { row => row, v => stored, versions => versions, kind => kind_label(&row.kind, locale) },
    )
    .await
}

/// Makes an earlier version's content the next version (checked like any save).
async fn restore(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, version)): Path<(i64, i64)>,
    PageForm { user, data: _ }: PageForm<ArchiveForm>,
) -> Response {
    let locale = user.locale();
    let row = match template_row(&state, id, locale).await {
        Ok(row) => row,
        Err(error) => return error.into_response(),
    };
    let stored = match state.store.mail_template_version(id, version).await {
        Ok(Some(v)) => v,
        Ok(None) => return PageError::not_found(locale).into_response(),
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let mut form = TemplateForm::of(&row);
    form.subject = stored.subject;
    form.html = stored.html;
    form.text = stored.text;
    let draft = form.draft();
    let found = match problems(&state, &draft, &headers).await {
        Ok(found) => found,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    if !found.is_empty() {
        return failed(&state, &user, &headers, Some(&row), &form, found).await;
    }
    match state.store.save_mail_template(id, &draft, Some(user.user.id), now_millis()).await {
        Ok(saved) => Redirect::to(&format!("/mail/templates/{id}?saved={saved}&from={version}")).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}
