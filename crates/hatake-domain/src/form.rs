//! Web forms (問い合わせ・資料請求フォーム): what a form asks, how its answers become a lead, and
//! how a submission is checked before it is taken.
//!
//! A form is configuration as data: a [`FormDefinition`] is stored as JSON, versioned, and edited
//! in the builder. Each of its fields fills a *target*: a lead field (`email`), a custom field
//! (`custom.budget`) or an answer that stays with the submission only (`extra.message`). Consent
//! checkboxes ask, per product, whether the person agrees to receive its mail.

use crate::custom_field::{CustomFieldDef, FieldKind};
use crate::fields::text_as_typed;
use crate::prefecture::PREFECTURES;
use crate::text::nfkc_trim;
use crate::{FieldError, FieldErrors, LeadInput};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Lead fields a form can fill, with their default labels (Japanese, English).
pub const LEAD_TARGETS: [(&str, &str, &str); 11] = [
    ("company_name", "会社名", "Company"),
    ("family_name", "姓", "Family name"),
    ("given_name", "名", "Given name"),
    ("family_name_kana", "セイ", "Family name (kana)"),
    ("given_name_kana", "メイ", "Given name (kana)"),
    ("email", "メールアドレス", "E-mail"),
    ("phone", "電話番号", "Phone"),
    ("department", "部署", "Department"),
    ("title", "役職", "Title"),
    ("prefecture", "都道府県", "Prefecture"),
    ("address", "住所", "Address"),
];

/// Name of the hidden field a person never fills but a spam robot does.
pub const HONEYPOT_FIELD: &str = "hk_website";
/// Prefix of the consent checkboxes' names: `consent.{product id}`.
pub const CONSENT_PREFIX: &str = "consent.";
/// The longest answer kept for a field that is not a lead field.
pub const MAX_EXTRA_CHARS: usize = 2_000;
/// Fields, consents and allowed origins a form may have.
pub const MAX_FIELDS: usize = 40;
pub const MAX_ORIGINS: usize = 20;

/// What a form field fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A lead field (one of [`LEAD_TARGETS`]).
    Lead(&'static str),
    /// A custom field, by key.
    Custom(String),
    /// An answer kept with the submission and its event only (an inquiry's message).
    Extra(String),
}

fn is_key(key: &str) -> bool {
    key.len() <= 40
        && key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Target {
    /// `email`, `custom.budget`, `extra.message`.
    pub fn parse(text: &str) -> Option<Self> {
        if let Some(key) = text.strip_prefix("custom.") {
            return is_key(key).then(|| Self::Custom(key.to_owned()));
        }
        if let Some(key) = text.strip_prefix("extra.") {
            return is_key(key).then(|| Self::Extra(key.to_owned()));
        }
        LEAD_TARGETS.iter().find(|(k, _, _)| *k == text).map(|(k, _, _)| Self::Lead(k))
    }

    pub fn key(&self) -> String {
        match self {
            Self::Lead(k) => (*k).to_owned(),
            Self::Custom(k) => format!("custom.{k}"),
            Self::Extra(k) => format!("extra.{k}"),
        }
    }
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// [`Target::key`]: also the input's name in the page.
    pub target: String,
    pub label_ja: String,
    pub label_en: String,
    pub required: bool,
    /// For an `extra.` field: the answers to choose from (none: free text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

/// A checkbox asking for consent to a product's mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentItem {
    pub product_id: i64,
    pub label_ja: String,
    pub label_en: String,
}

/// The booking step at the end of a form: the prospect picks a free slot of the field-sales
/// reps responsible for the form's product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingStep {
    pub slot_minutes: u32,
    pub business_days: u32,
    pub min_notice_minutes: u32,
}

/// A checked form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormDefinition {
    pub name: String,
    /// The product the form is about: its submissions' events and new leads carry it, and the
    /// booking step offers its reps.
    #[serde(default)]
    pub product_id: Option<i64>,
    pub fields: Vec<FormField>,
    #[serde(default)]
    pub consents: Vec<ConsentItem>,
    pub thank_you_ja: String,
    pub thank_you_en: String,
    /// Where the person goes after a submission, instead of the thank-you message.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Sites (`https://www.example.co.jp`) allowed to embed the form.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub booking: Option<BookingStep>,
    /// Whether a submission is a hand-raise (an inquiry: the sender asks to be contacted) that
    /// goes straight to inside sales' MQL queue for the form's product, whatever the score
    /// ([`FormDefinition::is_fast_track`] for forms saved before the setting existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_track: Option<bool>,
    /// A required checkbox agreeing to the handling of personal information (個人情報の取扱い),
    /// with the policy's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<PrivacyConsent>,
}

/// The checkbox agreeing to the handling of personal information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyConsent {
    /// The privacy policy's page, linked from the label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The field of the privacy checkbox in a submission.
pub const PRIVACY_FIELD: &str = "privacy_consent";

/// A field of the builder as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldDraft {
    pub target: String,
    pub label_ja: String,
    pub label_en: String,
    pub required: bool,
    /// One choice per line.
    pub choices: String,
}

/// A consent checkbox of the builder as typed (only the products ticked are given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentDraft {
    pub product_id: i64,
    pub label_ja: String,
    pub label_en: String,
}

/// The builder's whole input, nothing checked yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormDraft {
    pub name: String,
    pub slug: String,
    pub product_id: Option<i64>,
    pub fields: Vec<FieldDraft>,
    pub consents: Vec<ConsentDraft>,
    pub thank_you_ja: String,
    pub thank_you_en: String,
    pub redirect_url: String,
    /// One origin per line.
    pub allowed_origins: String,
    pub booking: bool,
    pub slot_minutes: String,
    pub business_days: String,
    pub min_notice_minutes: String,
    /// A submission goes straight to the MQL queue (a hand-raise).
    pub fast_track: bool,
    /// Ask for consent to the handling of personal information, with the policy's address.
    pub privacy: bool,
    pub privacy_url: String,
}

/// Checks a slug: what the form's public address ends with (`/f/{slug}`).
///
/// # Errors
/// When it is empty, too long or has other characters than `a-z 0-9 -`.
pub fn parse_slug(text: &str) -> Result<String, FieldError> {
    let slug = nfkc_trim(text).to_lowercase();
    let ok = (1..=60).contains(&slug.len())
        && slug.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(slug)
    } else {
        Err(FieldError::new(
            "slug",
            "invalid_slug",
            "URL名は英小文字・数字・- の60文字以内で、英数字で始めてください。",
            "The URL name has at most 60 characters a-z, 0-9 and -, starting with a letter or digit.",
        ))
    }
}

/// Checks an origin as a browser sends it: `https://host[:port]`, lower-cased, without a path.
///
/// # Errors
/// A field error naming the line.
pub fn parse_origin(text: &str, line: usize) -> Result<String, FieldError> {
    let origin = text.trim().trim_end_matches('/').to_lowercase();
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    let ok = rest.is_some_and(|host| {
        !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
            && !host.starts_with(':')
    });
    if ok {
        Ok(origin)
    } else {
        Err(FieldError::new(
            "allowed_origins",
            "invalid_origin",
            format!("{line}行目: 「https://www.example.co.jp」の形で入力してください（パスは不要）: {text}"),
            format!("Line {line}: write an origin like https://www.example.co.jp (no path): {text}"),
        ))
    }
}

fn url_error(field: &str) -> FieldError {
    FieldError::new(
        field,
        "invalid_url",
        "http:// または https:// で始まるURLを入力してください。",
        "Enter a URL starting with http:// or https://.",
    )
}

fn number_in(errors: &mut FieldErrors, field: &str, text: &str, default: u32, range: (u32, u32)) -> u32 {
    let text = nfkc_trim(text);
    if text.is_empty() {
        return default;
    }
    match text.parse::<u32>() {
        Ok(n) if (range.0..=range.1).contains(&n) => n,
        _ => {
            errors.push(FieldError::new(
                field,
                "out_of_range",
                format!("{}〜{}の整数を入力してください。", range.0, range.1),
                format!("Enter a whole number from {} to {}.", range.0, range.1),
            ));
            default
        }
    }
}

impl FormDraft {
    /// Checks the builder's input against the custom fields and products that exist; returns
    /// the slug and the definition.
    ///
    /// # Errors
    /// Every problem, each naming its field (`fields.2.target`, `allowed_origins` with the line …).
    pub fn validate(
        &self,
        custom_defs: &[CustomFieldDef],
        product_ids: &[i64],
    ) -> Result<(String, FormDefinition), FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = text_as_typed(&mut errors, "name", Some(&self.name), 100).unwrap_or_default();
        if name.is_empty() && errors.get("name").is_none() {
            errors.push(FieldError::required("name"));
        }
        let slug = errors.take(parse_slug(&self.slug)).unwrap_or_default();
        let unknown_product = |field: &str| {
            FieldError::new(field, "unknown_product", "その商材はありません。", "There is no such product.")
        };
        if let Some(id) = self.product_id {
            if !product_ids.contains(&id) {
                errors.push(unknown_product("product_id"));
            }
        }
        let mut fields: Vec<FormField> = Vec::new();
        for (i, draft) in self.fields.iter().enumerate() {
            let at = |part: &str| format!("fields.{i}.{part}");
            let target_text = draft.target.trim();
            if target_text.is_empty() {
                continue;
            }
            let Some(target) = Target::parse(target_text) else {
                errors.push(FieldError::new(
                    at("target"),
                    "unknown_target",
                    format!("{}行目: 項目「{target_text}」はありません。", i + 1),
                    format!("Row {}: there is no field \"{target_text}\".", i + 1),
                ));
                continue;
            };
            if let Target::Custom(key) = &target {
                if !custom_defs.iter().any(|d| &d.key == key) {
                    errors.push(FieldError::new(
                        at("target"),
                        "unknown_custom_field",
                        format!("{}行目: カスタム項目「{key}」は定義されていません。", i + 1),
                        format!("Row {}: there is no custom field \"{key}\".", i + 1),
                    ));
                    continue;
                }
            }
            let key = target.key();
            if fields.iter().any(|f| f.target == key) {
                errors.push(FieldError::new(
                    at("target"),
                    "duplicate_target",
                    format!("{}行目: 「{key}」は既に使われています。", i + 1),
                    format!("Row {}: \"{key}\" is used twice.", i + 1),
                ));
                continue;
            }
            let (default_ja, default_en) = default_label(&target, custom_defs);
            let label_ja = text_as_typed(&mut errors, &at("label_ja"), Some(&draft.label_ja), 200)
                .unwrap_or_else(|| default_ja.clone());
            let label_en = text_as_typed(&mut errors, &at("label_en"), Some(&draft.label_en), 200)
                .unwrap_or_else(|| if draft.label_ja.trim().is_empty() { default_en } else { label_ja.clone() });
            let choices: Vec<String> = match target {
                Target::Extra(_) => draft.choices.lines().map(nfkc_trim).filter(|c| !c.is_empty()).collect(),
                _ => Vec::new(),
            };
            if choices.iter().any(|c| c.chars().count() > 200) || choices.len() > 100 {
                errors.push(FieldError::new(
                    at("choices"),
                    "too_many_choices",
                    "選択肢は100個まで、各200文字以内です。",
                    "At most 100 choices of at most 200 characters each.",
                ));
            }
            fields.push(FormField { target: key, label_ja, label_en, required: draft.required, choices });
        }
        if fields.is_empty() && !errors.0.iter().any(|e| e.field.starts_with("fields.")) {
            errors.push(FieldError::new(
                "fields",
                "no_fields",
                "項目を1つ以上追加してください。",
                "Add at least one field.",
            ));
        } else if fields.len() > MAX_FIELDS {
            errors.push(FieldError::new(
                "fields",
                "too_many_fields",
                format!("項目は{MAX_FIELDS}個までです。"),
                format!("A form has at most {MAX_FIELDS} fields."),
            ));
        }
        // A submission must say who sent it: one identifying field is required.
        if !fields.is_empty()
            && !fields.iter().any(|f| f.required && ["email", "phone", "family_name"].contains(&f.target.as_str()))
        {
            errors.push(FieldError::new(
                "fields",
                "identity_field_required",
                "メールアドレス・電話番号・姓のいずれかを必須項目にしてください。",
                "Make the e-mail address, the phone number or the family name a required field.",
            ));
        }
        let mut consents = Vec::new();
        for (i, draft) in self.consents.iter().enumerate() {
            if !product_ids.contains(&draft.product_id) {
                errors.push(unknown_product(&format!("consents.{i}.product_id")));
                continue;
            }
            let label_ja = text_as_typed(&mut errors, &format!("consents.{i}.label_ja"), Some(&draft.label_ja), 300);
            let label_en = text_as_typed(&mut errors, &format!("consents.{i}.label_en"), Some(&draft.label_en), 300);
            consents.push(ConsentItem {
                product_id: draft.product_id,
                label_ja: label_ja.clone().unwrap_or_else(|| "この商材のメールを受け取る".to_owned()),
                label_en: label_en.or(label_ja).unwrap_or_else(|| "Send me mail about this product".to_owned()),
            });
        }
        let thank_you_ja = text_as_typed(&mut errors, "thank_you_ja", Some(&self.thank_you_ja), 2000)
            .unwrap_or_else(|| "お問い合わせありがとうございました。担当者よりご連絡いたします。".to_owned());
        let thank_you_en = text_as_typed(&mut errors, "thank_you_en", Some(&self.thank_you_en), 2000)
            .unwrap_or_else(|| "Thank you. We will be in touch shortly.".to_owned());
        let redirect = self.redirect_url.trim();
        let redirect_url = if redirect.is_empty() {
            None
        } else if (redirect.starts_with("https://") || redirect.starts_with("http://"))
            && redirect.len() <= 2_000
            && !redirect.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            Some(redirect.to_owned())
        } else {
            errors.push(url_error("redirect_url"));
            None
        };
        let mut allowed_origins: Vec<String> = Vec::new();
        for (i, line) in self.allowed_origins.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(origin) = errors.take(parse_origin(line, i + 1)) {
                if !allowed_origins.contains(&origin) {
                    allowed_origins.push(origin);
                }
            }
        }
        if allowed_origins.len() > MAX_ORIGINS {
            errors.push(FieldError::new(
                "allowed_origins",
                "too_many_origins",
                format!("許可するサイトは{MAX_ORIGINS}個までです。"),
                format!("At most {MAX_ORIGINS} sites."),
            ));
        }
        let booking = if self.booking {
            let slot_minutes = number_in(&mut errors, "slot_minutes", &self.slot_minutes, 60, (15, 240));
            let business_days = number_in(&mut errors, "business_days", &self.business_days, 10, (1, 60));
            let min_notice_minutes =
                number_in(&mut errors, "min_notice_minutes", &self.min_notice_minutes, 120, (0, 10_080));
            if self.product_id.is_none() {
                errors.push(FieldError::new(
                    "booking",
                    "booking_needs_product",
                    "商談予約には、担当営業を決める商材を選んでください。",
                    "Booking needs the form's product: its reps are offered.",
                ));
            }
            Some(BookingStep { slot_minutes, business_days, min_notice_minutes })
        } else {
            None
        };
        if self.fast_track && self.product_id.is_none() {
            errors.push(FieldError::new(
                "fast_track",
                "fast_track_needs_product",
                "ハンドレイズとして扱うには、MQLキューを決める商材を選んでください。",
                "A hand-raise needs the form's product: its MQL queue receives the lead.",
            ));
        }
        let privacy_url = self.privacy_url.trim();
        if self.privacy
            && !privacy_url.is_empty()
            && !(privacy_url.starts_with("https://") || privacy_url.starts_with("http://"))
        {
            errors.push(FieldError::new(
                "privacy_url",
                "invalid_url",
                "プライバシーポリシーのURLは https:// で始めてください。",
                "The privacy policy's address starts with https://.",
            ));
        }
        let privacy =
            self.privacy.then(|| PrivacyConsent { url: Some(privacy_url.to_owned()).filter(|u| !u.is_empty()) });
        let fast_track = Some(self.fast_track);
        errors.into_result(|| {
            (
                slug,
                FormDefinition {
                    name,
                    product_id: self.product_id,
                    fields,
                    consents,
                    thank_you_ja,
                    thank_you_en,
                    redirect_url,
                    allowed_origins,
                    booking,
                    fast_track,
                    privacy,
                },
            )
        })
    }
}

/// The label a field gets when the builder leaves it blank.
pub fn default_label(target: &Target, custom_defs: &[CustomFieldDef]) -> (String, String) {
    match target {
        Target::Lead(key) => LEAD_TARGETS
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, ja, en)| ((*ja).to_owned(), (*en).to_owned()))
            .unwrap_or_default(),
        Target::Custom(key) => custom_defs
            .iter()
            .find(|d| &d.key == key)
            .map_or_else(|| (key.clone(), key.clone()), |d| (d.label_ja.clone(), d.label_en.clone())),
        Target::Extra(key) => (key.clone(), key.clone()),
    }
}

/// How a field is shown: an input type and, for a choice, its choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldView {
    pub name: String,
    pub label_ja: String,
    pub label_en: String,
    pub required: bool,
    /// `text`, `email`, `tel`, `number`, `date`, `textarea` or `select`.
    pub input: &'static str,
    pub choices: Vec<String>,
    pub autocomplete: &'static str,
}

impl FormField {
    /// How the field is shown, given the custom fields as defined now.
    pub fn view(&self, custom_defs: &[CustomFieldDef]) -> FieldView {
        let (input, choices, autocomplete) = match Target::parse(&self.target) {
            Some(Target::Lead("email")) => ("email", Vec::new(), "email"),
            Some(Target::Lead("phone")) => ("tel", Vec::new(), "tel"),
            Some(Target::Lead("company_name")) => ("text", Vec::new(), "organization"),
            Some(Target::Lead("family_name")) => ("text", Vec::new(), "family-name"),
            Some(Target::Lead("given_name")) => ("text", Vec::new(), "given-name"),
            Some(Target::Lead("title")) => ("text", Vec::new(), "organization-title"),
            Some(Target::Lead("address")) => ("text", Vec::new(), "street-address"),
            Some(Target::Lead("prefecture")) => {
                ("select", PREFECTURES.iter().map(|(ja, _)| (*ja).to_owned()).collect(), "address-level1")
            }
            Some(Target::Custom(key)) => match custom_defs.iter().find(|d| d.key == key).map(|d| &d.kind) {
                Some(FieldKind::Number) => ("number", Vec::new(), "off"),
                Some(FieldKind::Date) => ("date", Vec::new(), "off"),
                Some(FieldKind::Choice { choices }) => ("select", choices.clone(), "off"),
                _ => ("text", Vec::new(), "off"),
            },
            Some(Target::Extra(_)) if !self.choices.is_empty() => ("select", self.choices.clone(), "off"),
            Some(Target::Extra(_)) => ("textarea", Vec::new(), "off"),
            _ => ("text", Vec::new(), "off"),
        };
        FieldView {
            name: self.target.clone(),
            label_ja: self.label_ja.clone(),
            label_en: self.label_en.clone(),
            required: self.required,
            input,
            choices,
            autocomplete,
        }
    }
}

/// A submission that passed the form's checks: the answers to keep, in the form's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedSubmission {
    /// Each answered field by its target key, plus `consents` (the product ids agreed to).
    pub payload: Map<String, Value>,
}

fn answer<'a>(values: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl FormDefinition {
    /// Whether a robot filled the hidden field.
    pub fn is_honeypot_filled(values: &[(String, String)]) -> bool {
        answer(values, HONEYPOT_FIELD).is_some_and(|v| !v.trim().is_empty())
    }

    /// Checks a submission (the posted name/value pairs) the way the lead will be checked, so
    /// that the person sees every problem at once, by field, before anything is stored.
    ///
    /// # Errors
    /// Every problem, named by the field's input name (`email`, `custom.budget` …).
    pub fn check(
        &self,
        values: &[(String, String)],
        custom_defs: &[CustomFieldDef],
    ) -> Result<CheckedSubmission, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut payload = Map::new();
        for field in &self.fields {
            let text = answer(values, &field.target).map(nfkc_trim).unwrap_or_default();
            if text.is_empty() {
                if field.required {
                    errors.push(FieldError::required(&field.target));
                }
                continue;
            }
            if let Some(Target::Extra(_)) = Target::parse(&field.target) {
                if text.chars().count() > MAX_EXTRA_CHARS {
                    errors.push(FieldError::too_long(&field.target, MAX_EXTRA_CHARS));
                    continue;
                }
                if !field.choices.is_empty() && !field.choices.contains(&text) {
                    errors.push(FieldError::new(
                        field.target.clone(),
                        "invalid_choice",
                        "選択肢から選んでください。",
                        "Choose one of the choices.",
                    ));
                    continue;
                }
            }
            payload.insert(field.target.clone(), Value::String(text));
        }
        let mut consents = Vec::new();
        for item in &self.consents {
            let name = format!("{CONSENT_PREFIX}{}", item.product_id);
            if answer(values, &name).is_some_and(|v| !v.is_empty()) {
                consents.push(Value::from(item.product_id));
            }
        }
        // The lead's own checks (e-mail, phone, kana, prefecture, custom values) on what is
        // answered, so their errors show on the form too.
        if let Err(lead_errors) = self.lead_input(&payload).validate(custom_defs) {
            for error in lead_errors.0 {
                // A custom field deleted since the form was saved is not the person's problem:
                // the submission is kept and its processing fails until the field is back.
                if error.code == "identity_required" || error.code == "unknown_custom_field" {
                    continue;
                }
                if errors.get(&error.field).is_none() {
                    errors.push(error);
                }
            }
        }
        if self.privacy.is_some() {
            if answer(values, PRIVACY_FIELD).is_some_and(|v| !v.is_empty()) {
                payload.insert(PRIVACY_FIELD.to_owned(), Value::Bool(true));
            } else {
                errors.push(FieldError::new(
                    PRIVACY_FIELD,
                    "privacy_required",
                    "個人情報の取扱いに同意してください。",
                    "Please agree to the handling of your personal information.",
                ));
            }
        }
        payload.insert("consents".to_owned(), Value::Array(consents));
        errors.into_result(|| CheckedSubmission { payload })
    }

    /// Whether a submission is a hand-raise that goes straight to the MQL queue: as set, or,
    /// for a form saved before the setting existed, when it books a meeting (a download form is
    /// interest, not a request to be contacted). Only a form with a product has a queue.
    pub fn is_fast_track(&self) -> bool {
        self.product_id.is_some() && self.fast_track.unwrap_or(self.booking.is_some())
    }

    /// The lead a submission's payload describes (checked by [`LeadInput::validate`]).
    pub fn lead_input(&self, payload: &Map<String, Value>) -> LeadInput {
        let mut input = LeadInput::default();
        let mut custom = Map::new();
        for (key, value) in payload {
            let Some(text) = value.as_str() else { continue };
            let text = Some(text.to_owned());
            match Target::parse(key) {
                Some(Target::Lead(field)) => match field {
                    "company_name" => input.company_name = text,
                    "family_name" => input.family_name = text,
                    "given_name" => input.given_name = text,
                    "family_name_kana" => input.family_name_kana = text,
                    "given_name_kana" => input.given_name_kana = text,
                    "email" => input.email = text,
                    "phone" => input.phone = text,
                    "department" => input.department = text,
                    "title" => input.title = text,
                    "prefecture" => input.prefecture = text,
                    "address" => input.address = text,
                    _ => {}
                },
                Some(Target::Custom(key)) => {
                    custom.insert(key, value.clone());
                }
                _ => {}
            }
        }
        if !custom.is_empty() {
            input.custom = Some(custom);
        }
        input.product_ids = self.product_id.map(|id| vec![id]);
        input
    }

    /// The product ids a payload consents to.
    pub fn consents_of(payload: &Map<String, Value>) -> Vec<i64> {
        payload
            .get("consents")
            .and_then(Value::as_array)
            .map_or_else(Vec::new, |ids| ids.iter().filter_map(Value::as_i64).collect())
    }

    /// The answers that are not lead or custom fields (`extra.message` → `message`).
    pub fn extras_of(payload: &Map<String, Value>) -> Map<String, Value> {
        payload.iter().filter_map(|(k, v)| k.strip_prefix("extra.").map(|key| (key.to_owned(), v.clone()))).collect()
    }

    /// The thank-you text in the sender's language (`en`, else Japanese).
    pub fn thank_you(&self, locale: &str) -> &str {
        if locale == "en" {
            &self.thank_you_en
        } else {
            &self.thank_you_ja
        }
    }

    /// Whether a page of this origin may embed the form.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_lowercase();
        self.allowed_origins.contains(&origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> Vec<CustomFieldDef> {
        vec![
            CustomFieldDef::parse("budget", "予算", "Budget", "number", "").unwrap(),
            CustomFieldDef::parse("timing", "導入時期", "Timing", "choice", "3ヶ月以内\n半年以内").unwrap(),
        ]
    }

    fn field(target: &str, required: bool) -> FieldDraft {
        FieldDraft { target: target.into(), required, ..Default::default() }
    }

    fn draft() -> FormDraft {
        FormDraft {
            name: "資料請求".into(),
            slug: "Catalog-2026".into(),
            product_id: Some(1),
            fields: vec![
                field("company_name", true),
                field("family_name", true),
                field("email", true),
                field("custom.timing", false),
                FieldDraft {
                    target: "extra.topic".into(), choices: "価格\n導入事例\n".into(), ..Default::default()
                },
                field("", false),
            ],
            consents: vec![ConsentDraft { product_id: 1, ..Default::default() }],
            allowed_origins: "https://www.example.co.jp/\n\nHTTP://Example.com".into(),
            ..Default::default()
        }
    }

    fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_draft_becomes_a_definition_with_defaults() {
        let (slug, form) = draft().validate(&defs(), &[1, 2]).unwrap();
        assert_eq!(slug, "catalog-2026");
        assert_eq!(form.fields.len(), 5, "the blank row is skipped");
        assert_eq!(form.fields[0].label_ja, "会社名");
        assert_eq!(form.fields[3].label_en, "Timing", "a custom field's label is its definition's");
        assert_eq!(form.fields[4].choices, ["価格", "導入事例"]);
        assert_eq!(form.allowed_origins, ["https://www.example.co.jp", "http://example.com"]);
        assert!(form.allows_origin("https://WWW.example.co.jp"));
        assert!(!form.allows_origin("https://evil.example"));
        assert!(form.thank_you_ja.contains("ありがとう"));
        assert_eq!(form.consents[0].product_id, 1);
    }

    #[test]
    fn each_kind_of_bad_draft_names_its_field() {
        type Change = Box<dyn Fn(&mut FormDraft)>;
        let cases: Vec<(Change, &str, &str)> = vec![
            (Box::new(|d| d.name = " ".into()), "name", "required"),
            (Box::new(|d| d.slug = "資料".into()), "slug", "invalid_slug"),
            (Box::new(|d| d.product_id = Some(9)), "product_id", "unknown_product"),
            (Box::new(|d| d.fields[0].target = "fax".into()), "fields.0.target", "unknown_target"),
            (Box::new(|d| d.fields[3].target = "custom.nothing".into()), "fields.3.target", "unknown_custom_field"),
            (Box::new(|d| d.fields[1].target = "email".into()), "fields.2.target", "duplicate_target"),
            (Box::new(|d| d.fields = vec![field("", false)]), "fields", "no_fields"),
            (
                Box::new(|d| d.fields = vec![field("email", false), field("company_name", true)]),
                "fields",
                "identity_field_required",
            ),
            (Box::new(|d| d.consents[0].product_id = 7), "consents.0.product_id", "unknown_product"),
            (Box::new(|d| d.redirect_url = "javascript:alert(1)".into()), "redirect_url", "invalid_url"),
            (
                Box::new(|d| d.allowed_origins = "https://ok.example\nwww.example.co.jp".into()),
                "allowed_origins",
                "invalid_origin",
            ),
            (
                Box::new(|d| {
                    d.booking = true;
                    d.slot_minutes = "5".into();
                }),
                "slot_minutes",
                "out_of_range",
            ),
            (
                Box::new(|d| {
                    d.booking = true;
                    d.product_id = None;
                }),
                "booking",
                "booking_needs_product",
            ),
        ];
        for (change, field, code) in cases {
            let mut d = draft();
            change(&mut d);
            let errors = d.validate(&defs(), &[1, 2]).unwrap_err();
            let error = errors.get(field).unwrap_or_else(|| panic!("{field}: {errors}"));
            assert_eq!(error.code, code, "{field}");
            assert!(!error.message_ja.is_empty() && !error.message_en.is_empty());
        }
        let errors = {
            let mut d = draft();
            d.allowed_origins = "https://ok.example\nftp://x".into();
            d.validate(&defs(), &[1]).unwrap_err()
        };
        assert!(errors.0[0].message_en.starts_with("Line 2"), "{errors}");
    }

    #[test]
    fn a_submission_is_checked_by_field() {
        let (_, form) = draft().validate(&defs(), &[1]).unwrap();
        let ok = form
            .check(
                &values(&[
                    ("company_name", "株式会社テスト"),
                    ("family_name", " 山田 "),
                    ("email", "Yamada@Example.co.jp"),
                    ("custom.timing", "半年以内"),
                    ("extra.topic", "価格"),
                    ("consent.1", "on"),
                    ("consent.2", "on"),
                    ("unrelated", "ignored"),
                ]),
                &defs(),
            )
            .unwrap();
        assert_eq!(ok.payload["family_name"], "山田");
        assert_eq!(FormDefinition::consents_of(&ok.payload), [1], "a product the form does not ask about is ignored");
        assert!(!ok.payload.contains_key("unrelated"));
        let lead = form.lead_input(&ok.payload).validate(&defs()).unwrap();
        assert_eq!(lead.product_ids, [1]);
        assert_eq!(lead.custom["timing"], "半年以内");
        assert_eq!(FormDefinition::extras_of(&ok.payload)["topic"], "価格");

        let errors = form
            .check(
                &values(&[
                    ("company_name", ""),
                    ("family_name", "山田"),
                    ("email", "not-an-address"),
                    ("custom.timing", "来年"),
                    ("extra.topic", "その他"),
                ]),
                &defs(),
            )
            .unwrap_err();
        let got: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("company_name", "required"),
                ("extra.topic", "invalid_choice"),
                ("email", "invalid_email"),
                ("custom.timing", "invalid_choice"),
            ]
        );
    }

    #[test]
    fn the_honeypot_is_seen() {
        assert!(FormDefinition::is_honeypot_filled(&values(&[(HONEYPOT_FIELD, "http://spam")])));
        assert!(!FormDefinition::is_honeypot_filled(&values(&[(HONEYPOT_FIELD, " ")])));
        assert!(!FormDefinition::is_honeypot_filled(&values(&[])));
    }

    #[test]
    fn fields_are_shown_by_what_they_fill() {
        let view = |target: &str| {
            FormField {
                target: target.into(),
                label_ja: String::new(),
                label_en: String::new(),
                required: false,
                choices: vec![],
            }
            .view(&defs())
        };
        assert_eq!(view("email").input, "email");
        assert_eq!(view("prefecture").choices.len(), 47);
        assert_eq!(view("custom.timing").choices, ["3ヶ月以内", "半年以内"]);
        assert_eq!(view("custom.budget").input, "number");
        assert_eq!(view("extra.message").input, "textarea");
    }
}
