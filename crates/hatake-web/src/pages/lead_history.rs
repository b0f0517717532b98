//! What a lead's page shows about where it came from: its sources (each import row, form or
//! API write that created, changed or confirmed it), the open review questions about it, and
//! the merges it survived, with undo.

use super::PageError;
use crate::i18n::t;
use hatake_store::{LeadRow, SourceRow, Store, StoreError};
use minijinja::context;
use std::collections::HashMap;

fn channel_key(channel: &str) -> &'static str {
    match channel {
        "import" => "source.channel.import",
        "form" => "source.channel.form",
        "api" => "source.channel.api",
        "ui" => "source.channel.ui",
        _ => "common.none",
    }
}

fn source_view(source: &SourceRow, labelled: &super::labels::Names, locale: &str) -> minijinja::Value {
    // The record's fields as they arrived: a file's in its own words (header → value), those
    // of a form or the API by their field names in the user's language.
    let named = source.channel != "import";
    let fields: Vec<(String, String)> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&source.fields)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            .map(|(k, v)| {
                if !named {
                    return (k, super::labels::value_text(&v, locale));
                }
                let value = super::labels::field_value(&k, &v, labelled, locale);
                let key = if k == hatake_domain::form::PRIVACY_FIELD {
                    t(locale, "forms.privacy_consent").to_owned()
                } else {
                    labelled.custom_label(&k, locale).unwrap_or_else(|| super::imports::field_label(&k, locale))
                };
                (key, value)
            })
            .collect();
    context! {
        row => source,
        source => source.source.as_deref().map(|s| super::labels::source_label(s, labelled, locale)),
        channel => t(locale, channel_key(&source.channel)),
        outcome => t(locale, super::imports::outcome_key(&source.outcome)),
        fields => fields,
    }
}

/// The sources, reviews and merges of a lead, for its page.
pub(crate) async fn history(
    store: &dyn Store,
    lead: &LeadRow,
    locale: &'static str,
) -> Result<minijinja::Value, PageError> {
    let page_error = |e| PageError::from_store(e, locale);
    let sources = store.lead_sources(lead.id).await.map_err(page_error)?;
    let labelled = super::labels::Names::load(store).await.map_err(page_error)?;
    let reviews = store.reviews_of_lead(lead.id).await.map_err(page_error)?;
    let merges = store.merges_of_lead(lead.id).await.map_err(page_error)?;
    let users: HashMap<i64, String> =
        store.list_users().await.map_err(page_error)?.into_iter().map(|u| (u.id, u.display_name)).collect();
    let mut questions = Vec::with_capacity(reviews.len());
    for review in &reviews {
        // A question about two leads names the other lead; one about a company names it.
        let account = review.kind == "account";
        let other_id = if account || review.lead_id == lead.id { review.candidate_id } else { review.lead_id };
        let (other, other_href) = if account {
            let account = match store.get_account(other_id).await {
                Ok(account) => Some(account.name),
                Err(StoreError::NotFound) => None,
                Err(error) => return Err(page_error(error)),
            };
            (account, format!("/accounts/{other_id}"))
        } else {
            let other = match store.get_lead(other_id).await {
                Ok(other) => Some(other.full_name()).filter(|n| !n.is_empty()).or(other.email),
                Err(StoreError::NotFound) => None,
                Err(error) => return Err(page_error(error)),
            };
            (other, format!("/leads/{other_id}"))
        };
        questions.push(context! {
            id => review.id,
            kind => review.kind,
            other => other,
            other_href => other_href,
            other_id => other_id,
            score => format!("{:.1}", review.score),
            // The queue starts right at this question.
            href => format!("/reviews?after_id={}#review-{}", review.id - 1, review.id),
        });
    }
    let merges: Vec<minijinja::Value> = merges
        .iter()
        .map(|m| {
            context! {
                row => m,
                by => m.decided_by.and_then(|id| users.get(&id)),
                undone_by => m.undone_by.and_then(|id| users.get(&id)),
                score => m.score.map(|s| format!("{s:.1}")),
            }
        })
        .collect();
    Ok(context! {
        sources => sources.iter().map(|s| source_view(s, &labelled, locale)).collect::<Vec<_>>(),
        questions => questions,
        merges => merges,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_in_its_own_words() {
        let source = SourceRow {
            id: 1,
            lead_id: 2,
            import_id: Some(3),
            line: Some(4),
            channel: "import".into(),
            source: Some("展示会2026".into()),
            outcome: "merged".into(),
            fields: r#"{"会社名":"ひまわり商事","従業員数":"120"}"#.into(),
            created_at: 0,
        };
        let view = source_view(&source, &crate::pages::labels::Names::default(), "en");
        assert_eq!(view.get_attr("channel").unwrap().to_string(), "File import");
        assert_eq!(view.get_attr("outcome").unwrap().to_string(), "Merged");
        assert_eq!(view.get_attr("fields").unwrap().len(), Some(2));
        // The API's fields by their names; nulls are left out.
        let api = SourceRow {
            channel: "api".into(),
            import_id: None,
            line: None,
            fields: r#"{"company_name":"ひまわり商事","email":"a@example.jp","title":null}"#.into(),
            ..source
        };
        let fields = source_view(&api, &crate::pages::labels::Names::default(), "ja").get_attr("fields").unwrap();
        assert_eq!(fields.len(), Some(2));
        assert_eq!(fields.get_item_by_index(0).unwrap().get_item_by_index(0).unwrap().to_string(), "会社名");
    }
}
