//! Mail templates: a subject, an HTML and a text part written in minijinja, which may extend a
//! layout and include partials by name; rendered for one lead ([`Compiled::render`]), their
//! links rewritten to tracked redirects and an open pixel added ([`Tracking`]), and checked
//! before a marketing template is saved for what 特定電子メール法 asks every such mail to carry
//! ([`law_problems`]).
//!
//! A template is compiled once ([`compile`]) and rendered for every recipient; HTML is escaped,
//! the subject and text are not. A mistake is a [`TemplateProblem`] naming the part (or the
//! layout or partial), the line and the column, in Japanese and English.

use super::config::SenderIdentity;
use super::subscriptions::{same_signature as same, sign as sig};
use hatake_store::TemplateContent;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The layouts and partials a template may use, by name: (HTML, text).
#[derive(Debug, Clone, Default)]
pub struct Library {
    parts: BTreeMap<String, (String, String)>,
}

impl Library {
    pub fn add(&mut self, name: &str, html: &str, text: &str) {
        self.parts.insert(name.to_owned(), (html.to_owned(), text.to_owned()));
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.keys().map(String::as_str)
    }
}

/// Which part of a template a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Subject,
    Html,
    Text,
}

impl Part {
    fn file(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Html => "body.html",
            Part::Text => "body.txt",
        }
    }

    pub fn label(self, locale: &str) -> &'static str {
        match (self, locale == "en") {
            (Part::Subject, false) => "件名",
            (Part::Html, false) => "HTML本文",
            (Part::Text, false) => "テキスト本文",
            (Part::Subject, true) => "Subject",
            (Part::Html, true) => "HTML body",
            (Part::Text, true) => "Text body",
        }
    }
}

/// A mistake in a template, where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateProblem {
    pub part: Part,
    /// The layout or partial the mistake is in, when not in the template itself.
    pub included: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message_ja: String,
    pub message_en: String,
}

impl TemplateProblem {
    /// 「HTML本文 3行目 14列: …」.
    pub fn describe(&self, locale: &str) -> String {
        let en = locale == "en";
        let mut place = self.part.label(locale).to_owned();
        if let Some(name) = &self.included {
            place.push_str(&if en { format!(" (in “{name}”)") } else { format!("（「{name}」の中）") });
        }
        match (self.line, self.column, en) {
            (Some(l), Some(c), false) => place.push_str(&format!(" {l}行目 {c}列")),
            (Some(l), None, false) => place.push_str(&format!(" {l}行目")),
            (Some(l), Some(c), true) => place.push_str(&format!(", line {l}, column {c}")),
            (Some(l), None, true) => place.push_str(&format!(", line {l}")),
            (None, _, _) => {}
        }
        let message = if en { &self.message_en } else { &self.message_ja };
        format!("{place}: {message}")
    }
}

/// A template ready to render, with its layouts and partials.
pub struct Compiled {
    env: Environment<'static>,
    has_html: bool,
    has_text: bool,
}

/// How much work one rendering may do (loops that would never end stop here).
const FUEL: u64 = 200_000;

/// Compiles a template with the library it may use; every syntax mistake of the template's parts
/// is returned (a layout's or partial's own mistakes were reported when it was saved, and come
/// up here only when used).
///
/// # Errors
/// The template's syntax mistakes, each with its part, line and column.
pub fn compile(content: &TemplateContent, library: &Library) -> Result<Compiled, Vec<TemplateProblem>> {
    let mut env = Environment::new();
    // A misspelt value is a mistake to name, not an empty line in every recipient's mail.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    // `{% extends "基本レイアウト" %}` in the HTML part means the layout's HTML, in the text part
    // its text.
    env.set_path_join_callback(|name, parent| {
        if name.ends_with(".html") || name.ends_with(".txt") {
            Cow::Borrowed(name)
        } else if parent.ends_with(".html") {
            Cow::Owned(format!("{name}.html"))
        } else {
            Cow::Owned(format!("{name}.txt"))
        }
    });
    let mut problems = Vec::new();
    for (name, (html, text)) in &library.parts {
        // A broken layout is reported where it is used.
        let _ = env.add_template_owned(format!("{name}.html"), html.clone());
        let _ = env.add_template_owned(format!("{name}.txt"), text.clone());
    }
    for (part, source) in [(Part::Subject, &content.subject), (Part::Html, &content.html), (Part::Text, &content.text)]
    {
        if let Err(error) = env.add_template_owned(part.file(), source.clone()) {
            problems.push(problem(&error, part, source, library));
        }
    }
    if problems.is_empty() {
        Ok(Compiled { env, has_html: !content.html.trim().is_empty(), has_text: !content.text.trim().is_empty() })
    } else {
        Err(problems)
    }
}

fn problem(error: &minijinja::Error, part: Part, source: &str, library: &Library) -> TemplateProblem {
    // The innermost template the error names: the part itself, or a layout or partial in it.
    let file = error.name().unwrap_or(part.file());
    let (included, text) = if file == part.file() {
        (None, source)
    } else {
        let name = file.trim_end_matches(".html").trim_end_matches(".txt");
        let text = library.parts.get(name).map_or("", |(h, t)| if file.ends_with(".html") { h } else { t });
        (Some(name.to_owned()), text)
    };
    let column = error.range().and_then(|range| {
        let start = range.start.min(text.len());
        let before = text.get(..start)?;
        Some(before.rsplit('\n').next().unwrap_or("").chars().count() + 1)
    });
    let detail = error.detail().map(str::to_owned).unwrap_or_else(|| error.kind().to_string());
    // What the mistake is written as: `lead.compnay`, a stray `}`.
    let snippet = error
        .range()
        .and_then(|r| text.get(r.start.min(text.len())..r.end.min(text.len())))
        .map(|s| s.trim().chars().take(40).collect::<String>())
        .filter(|s| !s.is_empty());
    let (ja, en) = match error.kind() {
        ErrorKind::SyntaxError => (syntax_ja(&detail, snippet.as_deref()), format!("syntax error ({detail})")),
        ErrorKind::TemplateNotFound => {
            let name = detail.split('"').nth(1).unwrap_or_default().trim_end_matches(".html").trim_end_matches(".txt");
            (
                format!("「{name}」という名前のレイアウトまたは部品はありません"),
                format!("no layout or partial named “{name}”"),
            )
        }
        ErrorKind::UndefinedError => match &snippet {
            Some(s) => (
                format!("{s} は使えない値です（つづりを確かめてください。使える値は「使える値」にあります）"),
                format!("{s} is not a value you can use (check the spelling)"),
            ),
            None => ("使えない値があります（つづりを確かめてください）".to_owned(), "an unknown value".to_owned()),
        },
        ErrorKind::UnknownFilter => (
            format!("不明なフィルターです{}", snippet.map(|s| format!("（{s}）")).unwrap_or_default()),
            format!("unknown filter ({detail})"),
        ),
        ErrorKind::UnknownFunction | ErrorKind::UnknownTest => {
            ("不明な関数またはテストです".to_owned(), format!("unknown function or test ({detail})"))
        }
        ErrorKind::OutOfFuel => {
            ("処理が多すぎます（ループを見直してください）".to_owned(), "too much work (check the loops)".to_owned())
        }
        _ => ("この部分を表示できません".to_owned(), format!("cannot be rendered ({detail})")),
    };
    TemplateProblem { part, included, line: error.line(), column, message_ja: ja, message_en: en }
}

/// A syntax error's reason in Japanese, from the parser's (English) one.
fn syntax_ja(detail: &str, snippet: Option<&str>) -> String {
    let at = snippet.map(|s| format!("「{s}」の所で")).unwrap_or_default();
    let reason = if detail.contains("expected end of variable block") {
        "差し込み {{ … }} が閉じていません（}} で閉じてください）"
    } else if detail.contains("expected end of block") || detail.contains("unexpected end of block") {
        "命令 {% … %} の書き方が正しくありません（%} で閉じ、必要な条件や名前を書いてください）"
    } else if detail.contains("unexpected end of input") || detail.contains("unexpected end of template") {
        "途中で終わっています（{% endif %} や {% endfor %}、{% endblock %} が足りないかもしれません）"
    } else if detail.contains("unknown statement") {
        "不明な命令です"
    } else if detail.contains("unclosed") || detail.contains("unterminated") {
        "閉じていない文字列やコメントがあります"
    } else if detail.contains("unexpected") {
        "ここに書けない記号や語があります"
    } else {
        "書き方が正しくありません"
    };
    format!("構文エラー: {at}{reason}")
}

/// A mail as rendered for one lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub html: Option<String>,
    pub text: String,
}

impl Compiled {
    /// Renders the template for the values in `context` (see [`context`]). A template without a
    /// text part gets one made from its HTML.
    ///
    /// # Errors
    /// A mistake that shows only when rendering (an unknown layout, a filter on the wrong value,
    /// a loop that does not end).
    pub fn render(
        &self,
        context: &Value,
        content: &TemplateContent,
        library: &Library,
    ) -> Result<Rendered, TemplateProblem> {
        let render = |part: Part, source: &str| -> Result<String, TemplateProblem> {
            let template = self.env.get_template(part.file()).map_err(|e| problem(&e, part, source, library))?;
            template.render(context).map_err(|e| problem(&e, part, source, library))
        };
        let subject = render(Part::Subject, &content.subject)?;
        // A subject is one line.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let html = if self.has_html { Some(render(Part::Html, &content.html)?) } else { None };
        let text = if self.has_text {
            render(Part::Text, &content.text)?
        } else {
            html.as_deref().map(html_to_text).unwrap_or_default()
        };
        Ok(Rendered { subject, html, text })
    }
}

/// What a template can use about the lead it is rendered for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LeadValues {
    pub id: i64,
    pub family_name: String,
    pub given_name: String,
    pub full_name: String,
    pub email: String,
    pub company: String,
    pub department: String,
    /// The department class in words (情報システム部門).
    pub department_class: String,
    pub title: String,
    pub prefecture: String,
}

impl LeadValues {
    /// A person to preview and check templates with when no lead is chosen.
    pub fn sample() -> Self {
        Self {
            id: 0,
            family_name: "山田".into(),
            given_name: "太郎".into(),
            full_name: "山田 太郎".into(),
            email: "taro.yamada@example.jp".into(),
            company: "株式会社サンプル".into(),
            department: "情報システム部".into(),
            department_class: "情報システム部門".into(),
            title: "課長".into(),
            prefecture: "東京都".into(),
        }
    }
}

/// The values of a rendering: `lead`, `product` (its name, when the mail is about one),
/// `sender` (name, address, contact, from_address), `unsubscribe_url` and `preferences_url`
/// (the same signed page), and `today`.
pub fn context(
    lead: &LeadValues,
    product: Option<&str>,
    sender: &SenderIdentity,
    unsubscribe_url: &str,
    today: &str,
) -> Value {
    minijinja::context! {
        lead => Value::from_serialize(lead),
        company => lead.company.clone(),
        product => minijinja::context! { name => product.unwrap_or_default() },
        sender => Value::from_serialize(sender),
        unsubscribe_url => unsubscribe_url,
        preferences_url => unsubscribe_url,
        today => today,
    }
}

/// A plain-text version of an HTML part: tags dropped, blocks on their own lines, links written
/// out after their text, the usual entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    let mut pending_href: Vec<Option<String>> = Vec::new();
    while let Some(open) = rest.find('<') {
        if skip_until.is_none() {
            out.push_str(&decode_entities(&rest[..open]));
        }
        let Some(close) = rest[open..].find('>') else { break };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let lower = tag.to_ascii_lowercase();
        let name = lower.trim_start_matches('/').split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        if let Some(end) = skip_until {
            if lower.starts_with('/') && name == end {
                skip_until = None;
            }
            continue;
        }
        match name {
            "style" | "script" | "head" | "title" if !lower.starts_with('/') => {
                skip_until = Some(match name {
                    "style" => "style",
                    "script" => "script",
                    "head" => "head",
                    _ => "title",
                });
            }
            "br" => out.push('\n'),
            "p" | "div" | "tr" | "h1" | "h2" | "h3" | "h4" | "li" | "table" | "hr" => {
                if !out.ends_with('\n') && !out.is_empty() {
                    out.push('\n');
                }
                if name == "li" && !lower.starts_with('/') {
                    out.push('・');
                }
            }
            "a" if !lower.starts_with('/') => pending_href.push(attribute(tag, "href")),
            "a" => {
                if let Some(Some(href)) = pending_href.pop() {
                    if href.starts_with("http") && !out.ends_with(&href) {
                        out.push_str(&format!("（{href}）"));
                    }
                }
            }
            _ => {}
        }
    }
    if skip_until.is_none() {
        out.push_str(&decode_entities(rest));
    }
    // Lines trimmed, runs of blank lines made one.
    let mut text = String::new();
    let mut blank = 0;
    for line in out.lines() {
        // ASCII spaces run together as HTML shows them; a full-width space is a character.
        let line =
            line.split(|c: char| c.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank += 1;
            if blank > 1 || text.is_empty() {
                continue;
            }
        } else {
            blank = 0;
        }
        text.push_str(&line);
        text.push('\n');
    }
    text.trim_end().to_owned() + "\n"
}

fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.replace("&nbsp;", " ")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

/// The value of an attribute in a tag's text (`a href="…"`), entities decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(name) {
        let start = from + at;
        from = start + name.len();
        let before_ok = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - after.len() + 1;
        let value = tag[value_start..].trim_start();
        let (quote, body) = match value.chars().next()? {
            q @ ('"' | '\'') => (Some(q), &value[1..]),
            _ => (None, value),
        };
        let end = match quote {
            Some(q) => body.find(q)?,
            None => body.find(|c: char| c.is_whitespace()).unwrap_or(body.len()),
        };
        return Some(decode_entities(&body[..end]).into_owned());
    }
    None
}

/// The links of a rendered mail made trackable: every `http(s)` link (in the HTML's `href`s and
/// the text) goes through `/m/c/…`, which records a `mail_click` for the lead and redirects; an
/// open pixel (`/m/o/…`) is added to the HTML. Links to the preference page stay as they are.
#[derive(Debug, Clone)]
pub struct Tracking<'k> {
    pub base_url: String,
    pub key: &'k [u8],
    pub lead_id: i64,
    /// What sent the mail (`t12`: a template's test, `n5`: a newsletter); letters, digits and
    /// `-` only.
    pub mail: String,
}

/// Whether `mail` is a usable mail reference.
pub fn valid_mail_ref(mail: &str) -> bool {
    !mail.is_empty() && mail.len() <= 40 && mail.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Tracking<'_> {
    /// The tracked form of `url`.
    pub fn click_url(&self, url: &str) -> String {
        let token = format!("{}.{}", self.lead_id, self.mail);
        let signature = sig(self.key, &format!("click:{token}:{url}"));
        let query = serde_urlencoded::to_string([("u", url)]).unwrap_or_default();
        format!("{}/m/c/{token}.{signature}?{query}", self.base_url.trim_end_matches('/'))
    }

    /// The open pixel's address.
    pub fn open_url(&self) -> String {
        let token = format!("{}.{}", self.lead_id, self.mail);
        let signature = sig(self.key, &format!("open:{token}"));
        format!("{}/m/o/{token}.{signature}.gif", self.base_url.trim_end_matches('/'))
    }

    fn tracks(&self, url: &str) -> bool {
        let base = self.base_url.trim_end_matches('/');
        (url.starts_with("https://") || url.starts_with("http://"))
            && !url.starts_with(&format!("{base}/u/"))
            && !url.starts_with(&format!("{base}/m/"))
    }

    /// The mail with its links tracked and the open pixel in its HTML.
    pub fn apply(&self, rendered: &Rendered) -> Rendered {
        let html = rendered.html.as_deref().map(|html| {
            let mut out = self.rewrite_hrefs(html);
            let pixel = format!(
                "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0\">",
                self.open_url()
            );
            match out.to_ascii_lowercase().rfind("</body>") {
                Some(at) => out.insert_str(at, &pixel),
                None => out.push_str(&pixel),
            }
            out
        });
        Rendered { subject: rendered.subject.clone(), html, text: self.rewrite_text(&rendered.text) }
    }

    fn rewrite_hrefs(&self, html: &str) -> String {
        let mut out = String::with_capacity(html.len() + 256);
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('>') else {
                out.push_str(&rest[open..]);
                return out;
            };
            let tag = &rest[open..=open + close];
            rest = &rest[open + close + 1..];
            let is_anchor = tag.len() > 2 && tag[1..].to_ascii_lowercase().starts_with('a') && {
                let next = tag.as_bytes()[2];
                next.is_ascii_whitespace()
            };
            match (is_anchor, attribute(&tag[1..tag.len() - 1], "href")) {
                (true, Some(href)) if self.tracks(&href) => {
                    out.push_str(&replace_href(tag, &self.click_url(&href)));
                }
                _ => out.push_str(tag),
            }
        }
        out.push_str(rest);
        out
    }

    fn rewrite_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 256);
        let mut rest = text;
        loop {
            let next = [rest.find("https://"), rest.find("http://")].into_iter().flatten().min();
            let Some(start) = next else { break };
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| c.is_whitespace() || "<>\"'）」』】、。".contains(c) || !c.is_ascii())
                .unwrap_or(tail.len());
            // A sentence's full stop or closing bracket is not part of the link.
            let url = tail[..end].trim_end_matches(['.', ',', ')', ']', '!', '?']);
            if self.tracks(url) && url.len() > "https://".len() {
                out.push_str(&self.click_url(url));
            } else {
                out.push_str(url);
            }
            rest = &tail[url.len()..];
        }
        out.push_str(rest);
        out
    }
}

fn replace_href(tag: &str, url: &str) -> String {
    let lower = tag.to_ascii_lowercase();
    let Some(at) = lower.find("href") else { return tag.to_owned() };
    let after = &tag[at + 4..];
    let Some(eq) = after.find('=') else { return tag.to_owned() };
    let value = after[eq + 1..].trim_start();
    let value_start = tag.len() - value.len();
    let (quote, body) = match value.chars().next() {
        Some(q @ ('"' | '\'')) => (Some(q), &value[1..]),
        _ => (None, value),
    };
    let end = match quote {
        Some(q) => body.find(q).map_or(body.len(), |e| e + 2),
        None => body.find(|c: char| c.is_whitespace() || c == '>').unwrap_or(body.len()),
    };
    let escaped = url.replace('&', "&amp;").replace('"', "&quot;");
    format!("{}\"{escaped}\"{}", &tag[..value_start], &tag[value_start + end..])
}

/// The lead and mail of a tracked link or pixel whose signature holds.
pub fn verify_click(key: &[u8], token: &str, url: &str) -> Option<(i64, String)> {
    let (rest, given) = token.rsplit_once('.')?;
    let (lead, mail) = rest.split_once('.')?;
    let lead_id: i64 = lead.parse().ok()?;
    (valid_mail_ref(mail) && same(&sig(key, &format!("click:{rest}:{url}")), given)).then(|| (lead_id, mail.to_owned()))
}

/// The same for the open pixel (`{lead}.{mail}.{signature}.gif`).
pub fn verify_open(key: &[u8], token: &str) -> Option<(i64, String)> {
    let token = token.strip_suffix(".gif").unwrap_or(token);
    let (rest, given) = token.rsplit_once('.')?;
    let (lead, mail) = rest.split_once('.')?;
    let lead_id: i64 = lead.parse().ok()?;
    (valid_mail_ref(mail) && same(&sig(key, &format!("open:{rest}")), given)).then(|| (lead_id, mail.to_owned()))
}

/// Something 特定電子メール法 asks a marketing mail to carry that a rendering lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LawProblem {
    /// The sender's name (送信者の氏名又は名称).
    SenderName,
    /// The sender's postal address (住所).
    SenderAddress,
    /// A contact for enquiries (苦情・問合せ先).
    Contact,
    /// The opt-out link (受信拒否の通知先).
    OptOut,
    /// The sender is not set up on the mail settings page.
    NoSender,
}

impl LawProblem {
    pub fn describe(self, locale: &str) -> &'static str {
        match (self, locale == "en") {
            (LawProblem::SenderName, false) => {
                "送信者の氏名または名称がありません（{{ sender.name }} を入れてください）"
            }
            (LawProblem::SenderAddress, false) => "送信者の住所がありません（{{ sender.address }} を入れてください）",
            (LawProblem::Contact, false) => "苦情・問い合わせ先がありません（{{ sender.contact }} を入れてください）",
            (LawProblem::OptOut, false) => "配信停止のリンクがありません（{{ unsubscribe_url }} を入れてください）",
            (LawProblem::NoSender, false) => {
                "送信者情報（氏名または名称・住所・問い合わせ先）がメール設定にありません。管理者が設定してください"
            }
            (LawProblem::SenderName, true) => "the sender's name is missing (add {{ sender.name }})",
            (LawProblem::SenderAddress, true) => "the sender's postal address is missing (add {{ sender.address }})",
            (LawProblem::Contact, true) => "a contact for enquiries is missing (add {{ sender.contact }})",
            (LawProblem::OptOut, true) => "the opt-out link is missing (add {{ unsubscribe_url }})",
            (LawProblem::NoSender, true) => {
                "the sender (name, postal address, contact) is not set in the mail settings; an administrator sets it"
            }
        }
    }
}

fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// What a marketing mail rendered with `sender`'s identity and `unsubscribe_url` lacks: the
/// sender's name, postal address and contact, and the opt-out link, in the text part and (when
/// there is one) the HTML part.
pub fn law_problems(rendered: &Rendered, sender: Option<&SenderIdentity>, unsubscribe_url: &str) -> Vec<LawProblem> {
    let Some(sender) = sender.filter(|s| s.missing().is_empty()) else {
        return vec![LawProblem::NoSender];
    };
    let mut parts = vec![(squeezed(&rendered.text), rendered.text.contains(unsubscribe_url))];
    if let Some(html) = &rendered.html {
        let visible = squeezed(&html_to_text(html));
        // Escaped as HTML escapes it (`/` as `&#x2f;`).
        let link = decode_entities(html).contains(unsubscribe_url);
        parts.push((visible, link));
    }
    let mut problems = Vec::new();
    for (problem, value) in [
        (LawProblem::SenderName, &sender.name),
        (LawProblem::SenderAddress, &sender.address),
        (LawProblem::Contact, &sender.contact),
    ] {
        let needle = squeezed(value);
        if parts.iter().any(|(text, _)| !text.contains(&needle)) {
            problems.push(problem);
        }
    }
    if parts.iter().any(|(_, link)| !link) {
        problems.push(LawProblem::OptOut);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(subject: &str, html: &str, text: &str) -> TemplateContent {
        TemplateContent { subject: subject.into(), html: html.into(), text: text.into() }
    }

    fn sender() -> SenderIdentity {
        SenderIdentity {
            name: "畑ソフト株式会社".into(),
            address: "東京都千代田区丸の内1-1-1".into(),
            contact: "info@hatake.example".into(),
            ..SenderIdentity::default()
        }
    }

    const UNSUB: &str = "https://m.example/u/1.abc?topic=general";

    fn values() -> Value {
        context(&LeadValues::sample(), Some("ERP"), &sender(), UNSUB, "2026年12月7日")
    }

    #[test]
    fn renders_personalised_and_escaped_parts_with_a_layout_and_a_partial() {
        let mut library = Library::default();
        library.add(
            "基本",
            "<html><body>{% block content %}{% endblock %}{% include \"署名\" %}</body></html>",
            "{% block content %}{% endblock %}\n{% include \"署名\" %}",
        );
        library.add("署名", "<p>{{ sender.name }} {{ sender.address }}</p>", "{{ sender.name }}\n{{ sender.address }}");
        let c = content(
            "{{ lead.family_name }}様へ {{ product.name }}のご案内",
            "{% extends \"基本\" %}{% block content %}<p>{{ lead.family_name }} 様 <b>{{ company }}</b> {{ lead.department_class }}</p>{% endblock %}",
            "{% extends \"基本\" %}{% block content %}{{ lead.family_name }} 様{% endblock %}",
        );
        let compiled = compile(&c, &library).unwrap();
        let mut lead = LeadValues::sample();
        lead.company = "<株式会社 & 子>".into();
        let values = context(&lead, Some("ERP"), &sender(), UNSUB, "");
        let r = compiled.render(&values, &c, &library).unwrap();
        assert_eq!(r.subject, "山田様へ ERPのご案内");
        let html = r.html.unwrap();
        assert!(html.contains("<b>&lt;株式会社 &amp; 子&gt;</b>"), "{html}");
        assert!(html.contains("情報システム部門"));
        assert!(html.contains("<p>畑ソフト株式会社 東京都千代田区丸の内1-1-1</p></body>"));
        assert_eq!(r.text, "山田 様\n畑ソフト株式会社\n東京都千代田区丸の内1-1-1");
    }

    #[test]
    fn a_syntax_error_names_part_line_and_column() {
        let c = content("ok", "<p>\n  {{ lead.family_name }\n</p>", "fine {{ x }}\n{% if %}");
        let problems = compile(&c, &Library::default()).err().unwrap();
        assert_eq!(problems.len(), 2);
        assert_eq!((problems[0].part, problems[0].line), (Part::Html, Some(2)));
        assert!(problems[0].column.is_some());
        assert!(problems[0].describe("ja").starts_with("HTML本文 2行目"), "{}", problems[0].describe("ja"));
        assert!(problems[0].message_ja.contains("差し込み {{ … }} が閉じていません"), "{}", problems[0].message_ja);
        assert!(problems[0].describe("en").starts_with("HTML body, line 2, column"));
        assert_eq!((problems[1].part, problems[1].line), (Part::Text, Some(2)));
        assert_eq!(problems[1].column, Some(7), "{problems:?}");
        // An unknown layout shows when rendering.
        let c = content("s", "{% extends \"ない\" %}", "");
        let compiled = compile(&c, &Library::default()).unwrap();
        let p = compiled.render(&values(), &c, &Library::default()).unwrap_err();
        assert_eq!(p.part, Part::Html);
        assert_eq!(p.message_ja, "「ない」という名前のレイアウトまたは部品はありません");
        // A misspelt value is named, not left blank.
        let c = content("s", "<p>{{ company }}\n{{ lead.compnay }} 様</p>", "");
        let compiled = compile(&c, &Library::default()).unwrap();
        let p = compiled.render(&values(), &c, &Library::default()).unwrap_err();
        assert_eq!((p.line, p.column), (Some(2), Some(4)));
        assert!(p.message_ja.starts_with("lead.compnay は使えない値です"), "{}", p.message_ja);
        // An empty value is fine: a condition on it reads false.
        let c = content("s", "{% if lead.department %}{{ lead.department }}{% else %}ご担当{% endif %}", "");
        let compiled = compile(&c, &Library::default()).unwrap();
        let mut lead = LeadValues::sample();
        lead.department = String::new();
        let blank = context(&lead, None, &sender(), UNSUB, "");
        assert_eq!(compiled.render(&blank, &c, &Library::default()).unwrap().html.unwrap(), "ご担当");
        // A loop that never ends stops.
        let c = content("s", "", "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}");
        let compiled = compile(&c, &Library::default()).unwrap();
        assert!(compiled.render(&values(), &c, &Library::default()).is_err());
    }

    #[test]
    fn text_is_made_from_html_when_missing() {
        let text = html_to_text(
            "<html><head><style>p{}</style></head><body><h1>ご案内</h1><p>A&amp;B <a href=\"https://x.example/a?b=1&amp;c=2\">詳しく</a></p><ul><li>一</li><li>二</li></ul>改行<br>後</body></html>",
        );
        assert_eq!(text, "ご案内\nA&B 詳しく（https://x.example/a?b=1&c=2）\n・一\n・二\n改行\n後\n");
    }

    #[test]
    fn links_are_tracked_and_signed() {
        let key = b"k";
        let t = Tracking { base_url: "https://m.example/".into(), key, lead_id: 7, mail: "n5".into() };
        let r = Rendered {
            subject: "s".into(),
            html: Some(
                "<p><a class=\"x\" href=\"https://shop.example/p?a=1&amp;b=2\">p</a> <a href='/rel'>r</a> <a href=\"https://m.example/u/7.x?topic=general\">停止</a> <abbr href=\"https://no\">n</abbr></p></body>".into(),
            ),
            text: "詳しくは https://shop.example/p?a=1&b=2。停止 https://m.example/u/7.x?topic=general\n(http://x.example/q)".into(),
        };
        let tracked = t.apply(&r);
        let html = tracked.html.unwrap();
        let click = t.click_url("https://shop.example/p?a=1&b=2");
        assert!(html.contains(&format!("<a class=\"x\" href=\"{}\">p</a>", click.replace('&', "&amp;"))), "{html}");
        assert!(html.contains("<a href='/rel'>r</a>"));
        assert!(html.contains("href=\"https://m.example/u/7.x?topic=general\""));
        assert!(html.contains("<abbr href=\"https://no\">"));
        assert!(html.ends_with(&format!(
            "<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0\"></body>",
            t.open_url()
        )));
        assert_eq!(
            tracked.text,
            format!(
                "詳しくは {click}。停止 https://m.example/u/7.x?topic=general\n({})",
                t.click_url("http://x.example/q")
            )
        );
        // The click's token holds for its URL only.
        let token = click.split("/m/c/").nth(1).unwrap().split('?').next().unwrap();
        assert_eq!(verify_click(key, token, "https://shop.example/p?a=1&b=2"), Some((7, "n5".into())));
        assert_eq!(verify_click(key, token, "https://evil.example/"), None);
        assert_eq!(verify_click(b"other", token, "https://shop.example/p?a=1&b=2"), None);
        let open = t.open_url();
        let token = open.split("/m/o/").nth(1).unwrap();
        assert_eq!(verify_open(key, token), Some((7, "n5".into())));
        assert_eq!(verify_open(key, &token.replacen("7.", "8.", 1)), None);
    }

    #[test]
    fn the_law_check_names_what_is_missing() {
        let r = Rendered {
            subject: "s".into(),
            html: Some(format!("<p>畑ソフト株式会社<br>東京都千代田区<br>丸の内1-1-1</p><a href=\"{UNSUB}\">停止</a>")),
            text: "畑ソフト株式会社 東京都千代田区丸の内1-1-1 info@hatake.example".into(),
        };
        assert_eq!(law_problems(&r, Some(&sender()), UNSUB), vec![LawProblem::Contact, LawProblem::OptOut]);
        let full = Rendered {
            html: Some(format!(
                "<p>畑ソフト株式会社 東京都千代田区丸の内1-1-1 info@hatake.example <a href=\"{UNSUB}\">停止</a></p>"
            )),
            text: format!("畑ソフト株式会社\n東京都千代田区丸の内1-1-1\ninfo@hatake.example\n停止: {UNSUB}"),
            ..r
        };
        assert!(law_problems(&full, Some(&sender()), UNSUB).is_empty());
        assert_eq!(law_problems(&full, None, UNSUB), vec![LawProblem::NoSender]);
    }
}
