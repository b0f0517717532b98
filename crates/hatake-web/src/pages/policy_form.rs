//! The MQL policy as a form, beside its YAML: the modes (thresholds, the items that must be
//! known, whether list entries may qualify), the default mode, the schedule of modes and the
//! exclusions, each field in words. Saving makes the next version, exactly as the YAML editor
//! does; a mode switched by hand stays switched.

use super::scoring::{product, store_error};
use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::qualification::{CustomExclusion, Exclusions, ModeRange, MqlPolicy, PolicyMode, REQUIRABLE_FIELDS};
use hatake_domain::{FieldError, FieldErrors};
use hatake_store::{ProductRow, CONFIG_MQL_POLICY};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/qualification/{product}/form", Access::Configure, get(show)),
        route("POST", "/qualification/{product}/form", Access::Configure, post(save)),
    ]
}

#[derive(Deserialize, Default)]
pub struct ShowParams {
    template: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let versions = state.store.config_versions(product.id, CONFIG_MQL_POLICY).await.map_err(store_error(locale))?;
    let policy = match (versions.first(), params.template.is_some()) {
        (Some(row), false) => MqlPolicy::from_json(&row.definition).unwrap_or_else(|_| MqlPolicy::template()),
        _ => MqlPolicy::template(),
    };
    page(&state, &user, &product, &policy, None, false).await
}

/// The form's rows: the policy's, then an empty one to add.
async fn page(
    state: &AppState,
    user: &CurrentUser,
    product: &ProductRow,
    policy: &MqlPolicy,
    errors: Option<&FieldErrors>,
    checked: bool,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let defs = crate::service::custom_defs(state.store.as_ref()).await.map_err(store_error(locale))?;
    let labels: Vec<(String, String, String)> =
        defs.iter().map(|d| (d.key.clone(), d.label_ja.clone(), d.label_en.clone())).collect();
    let label_of = |item: &str| {
        let (ja, en) = hatake_domain::qualification::item_label(item, &labels);
        if locale == "en" {
            en
        } else {
            ja
        }
    };
    let items: Vec<(String, String)> = REQUIRABLE_FIELDS
        .iter()
        .map(|f| (*f).to_owned())
        .chain(defs.iter().map(|d| format!("custom.{}", d.key)))
        .map(|item| {
            let label = label_of(&item);
            (item, label)
        })
        .collect();
    let mut modes: Vec<PolicyMode> = policy.modes.clone();
    modes.push(PolicyMode::default());
    let mut schedule: Vec<ModeRange> = policy.schedule.clone();
    schedule.push(ModeRange::default());
    let mut custom: Vec<CustomExclusion> = policy.exclusions.custom.clone();
    custom.push(CustomExclusion::default());
    let error_list: Option<Vec<String>> = errors.map(|errors| {
        errors.0.iter().map(|e| format!("{}: {}", field_words(&e.field, locale), e.message(locale))).collect()
    });
    render(
        state,
        user,
        "process/policy_form.html",
        "pipeline",
        context! {
            product => product,
            modes => modes.iter().map(|m| context! {
                id => m.id, label => m.label, min_engagement => m.min_engagement, min_fit => m.min_fit,
                min_account_score => m.min_account_score, required => m.required, allow_list_entries => m.allow_list_entries,
            }).collect::<Vec<_>>(),
            default_mode => policy.default_mode,
            schedule => schedule,
            exclusions => context! {
                free_mail => policy.exclusions.free_mail, existing_customers => policy.exclusions.existing_customers,
                domains => policy.exclusions.domains.join("\n"), companies => policy.exclusions.companies.join("\n"),
            },
            custom => custom.iter().map(|c| context! { key => c.key, values => c.values.join("\n") }).collect::<Vec<_>>(),
            custom_fields => defs.iter().map(|d| context! { key => d.key, label => d.label(locale) }).collect::<Vec<_>>(),
            items => items,
            error_list => error_list,
            checked => checked,
        },
    )
    .await
}

/// A field of the policy (`modes[1].min_fit`) in words: 「モード2 の最低フィット」.
fn field_words(field: &str, locale: &str) -> String {
    let en = locale == "en";
    let part = |key: &str| -> String {
        let (ja, en_word) = match key {
            "id" => ("ID", "id"),
            "label" => ("名前", "name"),
            "min_engagement" => ("最低エンゲージメント", "minimum engagement"),
            "min_fit" => ("最低フィット", "minimum fit"),
            "min_account_score" => ("最低企業スコア", "minimum account score"),
            "required" => ("把握が必要な項目", "items to know"),
            "mode" => ("モード", "mode"),
            "from" => ("開始日", "from"),
            "to" => ("終了日", "to"),
            "key" => ("項目", "field"),
            "values" => ("値", "values"),
            "domains" => ("除外するドメイン", "excluded domains"),
            "companies" => ("除外する会社名", "excluded companies"),
            "default_mode" => ("通常のモード", "default mode"),
            "modes" => ("モード", "modes"),
            other => (other, other),
        };
        if en { en_word } else { ja }.to_owned()
    };
    let mut words = Vec::new();
    for piece in field.split('.') {
        match piece.split_once('[') {
            Some((name, index)) => {
                let n = index.trim_end_matches(']').parse::<usize>().map_or(0, |n| n + 1);
                let group = match name {
                    "modes" => {
                        if en {
                            "Mode"
                        } else {
                            "モード"
                        }
                    }
                    "schedule" => {
                        if en {
                            "Schedule row"
                        } else {
                            "スケジュール"
                        }
                    }
                    "custom" => {
                        if en {
                            "Custom exclusion"
                        } else {
                            "項目による除外"
                        }
                    }
                    other => other,
                };
                words.push(format!("{group}{}{n}", if en { " " } else { "" }));
            }
            None if piece == "exclusions" => {}
            None => words.push(part(piece)),
        }
    }
    words.join(if en { " " } else { "の" })
}

/// The posted form as a policy; numbers that are not numbers are named.
fn policy_from(pairs: &[(String, String)], manual_mode: Option<String>) -> (MqlPolicy, FieldErrors) {
    let mut errors = FieldErrors::default();
    let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned());
    let all = |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let indexes = |prefix: &str| {
        let mut found: Vec<usize> = pairs
            .iter()
            .filter_map(|(k, _)| k.strip_prefix(prefix)?.split('.').next()?.parse::<usize>().ok())
            .filter(|i| *i < 100)
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    };
    let mut number = |name: &str, field: String| -> Option<i64> {
        let text = get(name).filter(|t| !t.is_empty())?;
        match hatake_domain::text::nfkc_trim(&text).replace(',', "").parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(FieldError::new(
                    field,
                    "invalid_number",
                    "整数を入力してください。",
                    "Enter a whole number.",
                ));
                None
            }
        }
    };
    let mut modes = Vec::new();
    for i in indexes("mode.") {
        let p = |part: &str| format!("mode.{i}.{part}");
        let mut id = get(&p("id")).unwrap_or_default();
        let label = get(&p("label")).filter(|l| !l.is_empty());
        let blank = ["min_engagement", "min_fit", "min_account_score"]
            .iter()
            .all(|part| get(&p(part)).is_none_or(|v| v.is_empty()))
            && label.is_none();
        if get(&p("remove")).is_some() || (id.is_empty() && blank) {
            continue;
        }
        // A new mode given by its name only gets an id of its own (mode2, mode3, …).
        if id.is_empty() {
            id = (modes.len() + 1..)
                .map(|n| format!("mode{n}"))
                .find(|candidate| {
                    !modes.iter().any(|m: &PolicyMode| &m.id == candidate)
                        && !indexes("mode.").iter().any(|j| get(&format!("mode.{j}.id")).as_ref() == Some(candidate))
                })
                .unwrap_or_default();
        }
        let at = modes.len();
        modes.push(PolicyMode {
            id,
            label,
            min_engagement: number(&p("min_engagement"), format!("modes[{at}].min_engagement")),
            min_fit: number(&p("min_fit"), format!("modes[{at}].min_fit")),
            min_account_score: number(&p("min_account_score"), format!("modes[{at}].min_account_score")),
            required: all(&p("required")),
            allow_list_entries: get(&p("allow_list_entries")).is_some(),
        });
    }
    let schedule: Vec<ModeRange> = indexes("range.")
        .into_iter()
        .filter_map(|i| {
            let p = |part: &str| format!("range.{i}.{part}");
            let range = ModeRange {
                mode: get(&p("mode")).unwrap_or_default(),
                from: get(&p("from")).unwrap_or_default(),
                to: get(&p("to")).unwrap_or_default(),
            };
            let blank = range.mode.is_empty() && range.from.is_empty() && range.to.is_empty();
            (!blank && get(&p("remove")).is_none()).then_some(range)
        })
        .collect();
    let lines = |name: &str| -> Vec<String> {
        get(name).unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    };
    let custom: Vec<CustomExclusion> = indexes("custom.")
        .into_iter()
        .filter_map(|i| {
            let key = get(&format!("custom.{i}.key")).unwrap_or_default();
            let values = lines(&format!("custom.{i}.values"));
            (!key.is_empty() && get(&format!("custom.{i}.remove")).is_none()).then_some(CustomExclusion { key, values })
        })
        .collect();
    // No default picked (the first mode of a new policy): the first mode.
    let default_mode = get("default_mode")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| modes.first().map(|m| m.id.clone()).unwrap_or_default());
    let policy = MqlPolicy {
        modes,
        default_mode,
        manual_mode,
        schedule,
        exclusions: Exclusions {
            free_mail: get("free_mail").is_some(),
            domains: lines("domains"),
            companies: lines("companies"),
            custom,
            existing_customers: get("existing_customers").is_some(),
        },
    };
    (policy, errors)
}

async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm { user, data }: PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let versions = store.config_versions(product.id, CONFIG_MQL_POLICY).await.map_err(store_error(locale))?;
    let manual = versions.first().and_then(|v| MqlPolicy::from_json(&v.definition).ok()).and_then(|p| p.manual_mode);
    let (policy, mut errors) = policy_from(&data, manual);
    let keys: Vec<String> =
        crate::service::custom_defs(store).await.map_err(store_error(locale))?.into_iter().map(|d| d.key).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    if let Err(more) = policy.check(&keys) {
        errors.0.extend(more.0);
    }
    if !errors.is_empty() {
        let html = page(&state, &user, &product, &policy, Some(&errors), false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response());
    }
    if data.iter().any(|(k, v)| k == "action" && v == "check") {
        return Ok(page(&state, &user, &product, &policy, None, true).await?.into_response());
    }
    let row = store
        .save_config(product.id, CONFIG_MQL_POLICY, &policy.to_json(), Some(user.user.id), now_millis())
        .await
        .map_err(store_error(locale))?;
    Ok(Redirect::to(&format!("/qualification/{}?saved={}", product.id, row.version)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_form_becomes_a_policy() {
        let posted = pairs(&[
            ("mode.0.id", "normal"),
            ("mode.0.label", "通常"),
            ("mode.0.min_engagement", "５０"),
            ("mode.0.required", "title"),
            ("mode.0.required", "custom.timing"),
            ("mode.1.id", "busy"),
            ("mode.1.min_engagement", "80"),
            ("mode.1.min_fit", "たくさん"),
            ("mode.2.id", ""),
            ("default_mode", "normal"),
            ("range.0.mode", "busy"),
            ("range.0.from", "2026-12-01"),
            ("range.0.to", "2026-12-31"),
            ("range.1.mode", ""),
            ("free_mail", "1"),
            ("domains", "rival.co.jp\n\n partner.jp "),
        ]);
        let (policy, errors) = policy_from(&posted, Some("busy".into()));
        assert_eq!(policy.modes.len(), 2, "the empty row is no mode");
        assert_eq!(policy.modes[0].min_engagement, Some(50), "全角 digits read");
        assert_eq!(policy.modes[0].required, ["title", "custom.timing"]);
        assert_eq!(policy.schedule.len(), 1);
        assert!(policy.exclusions.free_mail && !policy.exclusions.existing_customers);
        assert_eq!(policy.exclusions.domains, ["rival.co.jp", "partner.jp"]);
        assert_eq!(policy.manual_mode.as_deref(), Some("busy"), "a mode switched by hand stays");
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "modes[1].min_fit");
        assert_eq!(field_words(&errors.0[0].field, "ja"), "モード2の最低フィット");
        assert_eq!(field_words("exclusions.domains", "en"), "excluded domains");
    }

    #[test]
    fn a_mode_named_only_gets_an_id_and_the_first_mode_is_the_default() {
        let posted = pairs(&[
            ("mode.0.label", "通常"),
            ("mode.0.min_engagement", "50"),
            ("mode.1.id", "mode1"),
            ("mode.1.label", "繁忙期"),
            ("mode.2.label", "閑散期"),
            ("mode.3.id", ""),
            ("default_mode", ""),
        ]);
        let (policy, errors) = policy_from(&posted, None);
        assert!(errors.is_empty(), "{errors:?}");
        let ids: Vec<&str> = policy.modes.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["mode2", "mode1", "mode3"], "new ids never take one another row has");
        assert_eq!(policy.default_mode, "mode2");
    }
}
