//! From a stored template to a mail for one lead: the library of layouts and partials, the
//! lead's values, the checks a template passes before it is saved, the preview, and the test
//! send through the outbox.

use super::config::{sender, SenderIdentity};
use super::subscriptions::{link_key, unsubscribe_url};
use super::template::{self, Compiled, LawProblem, LeadValues, Library, Rendered, TemplateProblem, Tracking};
use super::OutgoingMail;
use hatake_store::{
    product_topic, CatalogStore, LeadStore, MailTemplateRow, MailTemplateStore, Millis, OutboxStore, StoreError,
    StoreResult, SystemStore, TemplateContent, TemplateDraft, TemplateQuery, TOPIC_GENERAL,
};

/// Why a template cannot be saved or sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Problem {
    Template(TemplateProblem),
    Law(LawProblem),
}

impl Problem {
    pub fn describe(&self, locale: &str) -> String {
        match self {
            Problem::Template(p) => p.describe(locale),
            Problem::Law(p) => {
                let prefix = if locale == "en" {
                    "Required by the Act on Specified Electronic Mail: "
                } else {
                    "特定電子メール法の表示: "
                };
                format!("{prefix}{}", p.describe(locale))
            }
        }
    }
}

/// The layouts and partials in use (not archived).
///
/// # Errors
/// When the store fails.
pub async fn library(store: &(impl MailTemplateStore + ?Sized)) -> StoreResult<Library> {
    let mut library = Library::default();
    for kind in ["layout", "partial"] {
        let query = TemplateQuery { kind: Some(kind.into()), archived: false, offset: 0, limit: 10_000 };
        for row in store.mail_templates(&query).await?.0 {
            library.add(&row.name, &row.html, &row.text);
        }
    }
    Ok(library)
}

/// What a template can use about a lead.
///
/// # Errors
/// [`StoreError::NotFound`] for a lead that does not exist.
pub async fn lead_values(store: &(impl LeadStore + SystemStore + ?Sized), lead_id: i64) -> StoreResult<LeadValues> {
    let lead = store.get_lead(lead_id).await?;
    let dictionary = crate::settings::departments(store).await?;
    Ok(values_of(&lead, &dictionary))
}

/// What a template can use about a lead read already.
pub fn values_of(lead: &hatake_store::LeadRow, dictionary: &hatake_domain::DepartmentDictionary) -> LeadValues {
    let class = lead.department_class.as_deref().and_then(|k| dictionary.class(k)).map(|c| c.label_ja.clone());
    LeadValues {
        id: lead.id,
        family_name: lead.family_name.clone().unwrap_or_default(),
        given_name: lead.given_name.clone().unwrap_or_default(),
        full_name: lead.full_name(),
        email: lead.email.clone().unwrap_or_default(),
        company: lead.company().unwrap_or_default().to_owned(),
        department: lead.department.clone().unwrap_or_default(),
        department_class: class.unwrap_or_default(),
        title: lead.title.clone().unwrap_or_default(),
        prefecture: lead.prefecture.clone().unwrap_or_default(),
    }
}

/// The subscription topic of a template's mail (`None` for transactional mail).
pub fn topic(kind: &str, product_id: Option<i64>) -> Option<String> {
    (kind == "marketing").then(|| product_id.map_or_else(|| TOPIC_GENERAL.to_owned(), product_topic))
}

/// Everything rendering needs besides the lead.
pub struct Setting {
    pub sender: Option<SenderIdentity>,
    pub key: Vec<u8>,
    /// The base of links in mail: the sender's public URL, else the address the person at the
    /// screen reached hatake at.
    pub base_url: String,
    pub library: Library,
}

/// Reads the sender, link key and library.
///
/// # Errors
/// When the store fails.
pub async fn setting(
    store: &(impl MailTemplateStore + SystemStore + ?Sized),
    fallback_base: &str,
    now: Millis,
) -> StoreResult<Setting> {
    let sender = sender(store).await?;
    let base_url = sender
        .as_ref()
        .map(|s| s.public_url.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| fallback_base.trim_end_matches('/').to_owned());
    Ok(Setting { sender, key: link_key(store, now).await?, base_url, library: library(store).await? })
}

/// A template rendered for a lead.
pub struct Composed {
    pub rendered: Rendered,
    pub unsubscribe_url: Option<String>,
    pub topic: Option<String>,
}

/// Renders `content` of a template of `kind` about `product` for `lead`.
///
/// # Errors
/// The template's mistakes.
pub fn compose(
    setting: &Setting,
    compiled: &Compiled,
    content: &TemplateContent,
    kind: &str,
    product: (Option<i64>, Option<&str>),
    lead: &LeadValues,
    today: &str,
) -> Result<Composed, TemplateProblem> {
    let topic = topic(kind, product.0);
    let unsubscribe =
        unsubscribe_url(&setting.base_url, &setting.key, lead.id, topic.as_deref().unwrap_or(TOPIC_GENERAL));
    let sender = setting.sender.clone().unwrap_or_default();
    let values = template::context(lead, product.1, &sender, &unsubscribe, today);
    let rendered = compiled.render(&values, content, &setting.library)?;
    Ok(Composed { rendered, unsubscribe_url: topic.is_some().then_some(unsubscribe), topic })
}

/// Everything wrong with a template as it would be saved: its syntax, a rendering for a sample
/// lead, and for marketing mail what the law asks it to carry. Layouts and partials are checked
/// for syntax only (they are checked in full inside the mail that uses them).
///
/// # Errors
/// When the store fails.
pub async fn check(
    store: &(impl MailTemplateStore + SystemStore + CatalogStore + ?Sized),
    draft: &TemplateDraft,
    fallback_base: &str,
    now: Millis,
) -> StoreResult<Vec<Problem>> {
    let mut setting = setting(store, fallback_base, now).await?;
    if matches!(draft.kind.as_str(), "layout" | "partial") {
        // The part as the library would hold it after the save.
        setting.library.add(&draft.name, &draft.content.html, &draft.content.text);
        let probe = TemplateContent {
            subject: String::new(),
            html: draft.content.html.clone(),
            text: draft.content.text.clone(),
        };
        return Ok(match template::compile(&probe, &setting.library) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.into_iter().map(Problem::Template).collect(),
        });
    }
    let compiled = match template::compile(&draft.content, &setting.library) {
        Ok(compiled) => compiled,
        Err(problems) => return Ok(problems.into_iter().map(Problem::Template).collect()),
    };
    let product = product_name(store, draft.product_id).await?;
    let lead = LeadValues::sample();
    let composed = match compose(
        &setting,
        &compiled,
        &draft.content,
        &draft.kind,
        (draft.product_id, product.as_deref()),
        &lead,
        "",
    ) {
        Ok(composed) => composed,
        Err(problem) => return Ok(vec![Problem::Template(problem)]),
    };
    let mut problems = Vec::new();
    if composed.rendered.subject.trim().is_empty() {
        problems.push(Problem::Template(TemplateProblem {
            part: template::Part::Subject,
            included: None,
            line: None,
            column: None,
            message_ja: "件名が空です".into(),
            message_en: "the subject is empty".into(),
        }));
    }
    if composed.rendered.text.trim().is_empty() {
        problems.push(Problem::Template(TemplateProblem {
            part: template::Part::Text,
            included: None,
            line: None,
            column: None,
            message_ja: "本文が空です（HTMLかテキストのどちらかを書いてください）".into(),
            message_en: "the body is empty (write the HTML or the text part)".into(),
        }));
    }
    if let Some(url) = &composed.unsubscribe_url {
        problems.extend(
            template::law_problems(&composed.rendered, setting.sender.as_ref(), url).into_iter().map(Problem::Law),
        );
    }
    Ok(problems)
}

async fn product_name(store: &(impl CatalogStore + ?Sized), product_id: Option<i64>) -> StoreResult<Option<String>> {
    match product_id {
        Some(id) => match store.get_product(id).await {
            Ok(product) => Ok(Some(product.name)),
            Err(StoreError::NotFound) => Ok(None),
            Err(error) => Err(error),
        },
        None => Ok(None),
    }
}

/// A stored template rendered for a lead (or the sample person), as the preview shows it and a
/// test send sends it.
pub struct Preview {
    pub composed: Composed,
    pub lead: LeadValues,
    /// The mail as the outbox would hold it, links tracked (`None` without a sender address).
    pub mail: OutgoingMail,
}

/// Renders a stored template for `lead_id` (the sample person when `None`); the mail's links are
/// tracked as `mail` (a reference such as `t12`).
///
/// # Errors
/// The template's mistakes as [`Problem`]s; a store failure as `Err(Err(…))`.
pub async fn preview(
    store: &(impl MailTemplateStore + SystemStore + CatalogStore + LeadStore + ?Sized),
    row: &MailTemplateRow,
    content: &TemplateContent,
    lead_id: Option<i64>,
    fallback_base: &str,
    now: Millis,
) -> StoreResult<Result<Preview, Vec<Problem>>> {
    let setting = setting(store, fallback_base, now).await?;
    let compiled = match template::compile(content, &setting.library) {
        Ok(compiled) => compiled,
        Err(problems) => return Ok(Err(problems.into_iter().map(Problem::Template).collect())),
    };
    let lead = match lead_id {
        Some(id) => lead_values(store, id).await?,
        None => LeadValues::sample(),
    };
    let product = product_name(store, row.product_id).await?;
    let today = today(now);
    let composed =
        match compose(&setting, &compiled, content, &row.kind, (row.product_id, product.as_deref()), &lead, &today) {
            Ok(composed) => composed,
            Err(problem) => return Ok(Err(vec![Problem::Template(problem)])),
        };
    let tracking = Tracking {
        base_url: setting.base_url.clone(),
        key: &setting.key,
        lead_id: lead.id,
        mail: format!("t{}", row.id),
    };
    let tracked = tracking.apply(&composed.rendered);
    let sender = setting.sender.clone().unwrap_or_default();
    let mail = OutgoingMail {
        from_name: Some(sender.name.clone()).filter(|n| !n.is_empty()),
        from_address: sender.from_address.clone(),
        to_name: Some(lead.full_name.clone()).filter(|n| !n.trim().is_empty()),
        to_address: lead.email.clone(),
        reply_to: None,
        subject: tracked.subject,
        text: tracked.text,
        html: tracked.html,
        unsubscribe_url: composed.unsubscribe_url.clone(),
        topic: None,
        charset: (row.charset == super::jis::CHARSET).then(|| row.charset.clone()),
    };
    Ok(Ok(Preview { composed, lead, mail }))
}

/// Today in Japanese (「2026年12月7日」) in Japan's time, for `{{ today }}`.
pub fn today(now: Millis) -> String {
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(now)
        .map(|t| t.to_zoned(zone).strftime("%Y年%-m月%-d日").to_string())
        .unwrap_or_default()
}

/// What a test send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestSend {
    /// Recorded in the outbox under this key.
    Queued(String),
    /// The template cannot be rendered.
    Problems(Vec<Problem>),
    /// No address to send from (the sender's `From` address is not set).
    NoFromAddress,
}

/// Sends a stored template's current version, rendered for `lead_id` (or the sample person), to
/// `to` through the outbox: one test per template, address and second (a double click sends once).
/// A test is sent whatever the lead's subscriptions (a person asked for it, to themselves).
///
/// # Errors
/// When the store fails.
pub async fn test_send(
    store: &(impl MailTemplateStore + SystemStore + CatalogStore + LeadStore + OutboxStore + ?Sized),
    row: &MailTemplateRow,
    lead_id: Option<i64>,
    to: &str,
    fallback_base: &str,
    now: Millis,
) -> StoreResult<TestSend> {
    let preview = match preview(store, row, &row.content(), lead_id, fallback_base, now).await? {
        Ok(preview) => preview,
        Err(problems) => return Ok(TestSend::Problems(problems)),
    };
    if preview.mail.from_address.trim().is_empty() {
        return Ok(TestSend::NoFromAddress);
    }
    let mut mail = preview.mail;
    mail.to_address = to.to_owned();
    mail.to_name = None;
    mail.subject = format!("[テスト] {}", mail.subject);
    let key = format!("template-test:{}:{}:{to}:{}", row.id, row.version, now / 1_000);
    super::enqueue(store, &key, None, &mail, now, now).await?;
    Ok(TestSend::Queued(key))
}
