//! Scoring (スコアリング): per product, the model in force (its rules shown as tables), the
//! editor — the model as YAML, checked with the line of every problem before it is saved as a
//! new version — the versions, the YAML export, the leads ranked by score, and the score
//! breakdown shown on the lead page.

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::scoring::fold::{AwardStatus, RuleRef};
use hatake_domain::scoring::ScoringModel;
use hatake_domain::{EventKind, FieldErrors};
use hatake_store::{ProductRow, ScoringModelRow, StoreError};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/scoring", Access::SignedIn, get(list)),
        route("GET", "/scoring/{product}", Access::Configure, get(edit)),
        route("POST", "/scoring/{product}", Access::Configure, post(save)),
        route("GET", "/scoring/{product}/export", Access::Configure, get(export)),
        route("GET", "/scoring/{product}/leads", Access::SignedIn, get(ranking)),
        route("GET", "/scoring/{product}/accounts", Access::SignedIn, get(account_ranking)),
    ]
}

pub(crate) fn store_error(locale: &'static str) -> impl Fn(StoreError) -> PageError {
    move |e| PageError::from_store(e, locale)
}

async fn list(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let products = store.list_products().await.map_err(store_error(locale))?;
    let models = store.current_scoring_models().await.map_err(store_error(locale))?;
    let rows: Vec<minijinja::Value> = products
        .iter()
        .map(|p| {
            let model = models.iter().find(|m| m.product_id == p.id);
            context! { product => p, model => model }
        })
        .collect();
    render(&state, &user, "scoring/list.html", "scoring", context! { rows => rows }).await
}

/// The product a path names (404 for anything else).
pub(crate) async fn product(state: &AppState, text: &str, locale: &'static str) -> Result<ProductRow, PageError> {
    let id: i64 = text.parse().map_err(|_| PageError::not_found(locale))?;
    state.store.get_product(id).await.map_err(store_error(locale))
}

#[derive(Deserialize, Default)]
pub struct EditParams {
    /// Start from the ready template instead of the model in force.
    template: Option<String>,
    /// Show this version's YAML.
    version: Option<i64>,
    saved: Option<i64>,
}

/// The kinds of event, with labels, for the reference beside the editor.
fn kinds(locale: &str) -> Vec<minijinja::Value> {
    EventKind::ALL
        .iter()
        .map(|k| context! { key => k.as_str(), label => if locale == "en" { k.label_en() } else { k.label_ja() } })
        .collect()
}

/// A model's rules as rows for reading (not YAML).
fn readable(
    model: &ScoringModel,
    forms: &std::collections::HashMap<i64, String>,
    custom: &std::collections::HashMap<String, String>,
    locale: &str,
) -> minijinja::Value {
    let kind_label = |kind: &str| {
        EventKind::parse(kind).map_or_else(
            || kind.to_owned(),
            |k| if locale == "en" { k.label_en().to_owned() } else { k.label_ja().to_owned() },
        )
    };
    let engagement: Vec<minijinja::Value> = model
        .engagement
        .iter()
        .map(|r| {
            let en = locale == "en";
            let mut conditions = Vec::new();
            if let Some(url) = &r.url {
                conditions.push(if en { format!("URL matches {url}") } else { format!("URLが「{url}」に一致") });
            }
            if let Some(name) = &r.name {
                conditions.push(if en {
                    format!("name matches {name}")
                } else {
                    format!("名前が「{name}」に一致")
                });
            }
            if let Some(form) = r.form {
                let name = forms.get(&form).cloned().unwrap_or_else(|| format!("#{form}"));
                conditions.push(if en { format!("form “{name}”") } else { format!("フォーム「{name}」") });
            }
            if let Some(campaign) = &r.campaign {
                conditions.push(if en {
                    format!("campaign “{campaign}”")
                } else {
                    format!("キャンペーン「{campaign}」")
                });
            }
            if let Some(p) = &r.property {
                conditions.push(if en {
                    format!("{} is “{}”", p.key, p.value)
                } else {
                    format!("{}が「{}」", p.key, p.value)
                });
            }
            context! {
                id => r.id, label => r.label, kind => kind_label(&r.kind), conditions => conditions.join(", "),
                points => r.points, cap => r.cap.map(|c| context! { times => c.times, days => c.days }),
                expires_days => r.expires_days,
            }
        })
        .collect();
    let decay: Vec<minijinja::Value> = model
        .decay
        .iter()
        .map(|r| {
            let kinds: Vec<String> = r.kinds.iter().map(|k| kind_label(k)).collect();
            context! { id => r.id, label => r.label, kinds => kinds.join("・"), days => r.days, points => r.points, repeat => r.repeat }
        })
        .collect();
    let fit: Vec<minijinja::Value> = model
        .fit
        .iter()
        .map(|r| {
            let test = if !r.equals.is_empty() {
                format!("= {}", r.equals.join(" / "))
            } else if !r.contains.is_empty() {
                format!("∋ {}", r.contains.join(" / "))
            } else {
                format!(
                    "{} – {}",
                    r.min.map(|n| n.to_string()).unwrap_or_default(),
                    r.max.map(|n| n.to_string()).unwrap_or_default()
                )
            };
            let field = hatake_domain::scoring::FIT_FIELDS
                .iter()
                .find(|(key, ..)| *key == r.field)
                .map(|(_, ja, en, _)| if locale == "en" { (*en).to_owned() } else { (*ja).to_owned() })
                .or_else(|| r.field.strip_prefix("custom.").and_then(|key| custom.get(key).cloned()))
                .unwrap_or_else(|| r.field.clone());
            context! { id => r.id, label => r.label, field => field, test => test, points => r.points }
        })
        .collect();
    context! {
        engagement => engagement, decay => decay, fit => fit, include_unassigned => model.include_unassigned,
        account => rollup_label(model.account.method, model.account.top, locale),
        allow_negative => model.allow_negative,
    }
}

/// How an account's score is rolled up from its people's, in words (合計, 最高点, 上位3人の合計).
pub(crate) fn rollup_label(method: hatake_domain::scoring::RollupMethod, top: Option<u32>, locale: &str) -> String {
    use hatake_domain::scoring::RollupMethod;
    let en = locale == "en";
    match method {
        RollupMethod::Sum => if en { "Sum" } else { "合計" }.to_owned(),
        RollupMethod::Max => if en { "Highest" } else { "最高点" }.to_owned(),
        RollupMethod::Top => {
            let n = top.unwrap_or(3);
            if en {
                format!("Sum of the best {n}")
            } else {
                format!("上位{n}人の合計")
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    user: &CurrentUser,
    product: &ProductRow,
    yaml: &str,
    errors: Option<&FieldErrors>,
    shown: Option<&ScoringModelRow>,
    saved: Option<i64>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let versions = store.scoring_model_versions(product.id).await.map_err(store_error(locale))?;
    let current = versions.first();
    let model = current.and_then(|m| ScoringModel::from_json(&m.definition).ok());
    // Forms and custom fields by their names, for showing the rules in words.
    let forms: std::collections::HashMap<i64, String> =
        store.list_forms().await.map_err(store_error(locale))?.into_iter().map(|f| (f.id, f.name)).collect();
    let custom: std::collections::HashMap<String, String> = crate::service::custom_defs(store)
        .await
        .map_err(store_error(locale))?
        .into_iter()
        .map(|d| (d.key, if locale == "en" { d.label_en } else { d.label_ja }))
        .collect();
    render(
        state,
        user,
        "scoring/edit.html",
        "scoring",
        context! {
            product => product, yaml => yaml, versions => versions, current => current, shown => shown,
            readable => model.as_ref().map(|m| readable(m, &forms, &custom, locale)),
            error_list => errors.map(|e| e.0.iter().map(|f| f.message(locale).to_owned()).collect::<Vec<_>>()),
            kinds => kinds(locale), saved => saved,
            rescored => hatake_engine::scoring::rescored_versions(store).await.map_err(store_error(locale))?
                .get(&product.id).copied(),
        },
    )
    .await
}

async fn edit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<EditParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let shown = match params.version {
        Some(version) => Some(store.scoring_model_version(product.id, version).await.map_err(store_error(locale))?),
        None => store.scoring_model_versions(product.id).await.map_err(store_error(locale))?.into_iter().next(),
    };
    let model = match (&shown, params.template.is_some()) {
        (Some(row), false) => ScoringModel::from_json(&row.definition).unwrap_or_default(),
        _ => ScoringModel::template(),
    };
    let shown = shown.filter(|_| params.version.is_some());
    page(&state, &user, &product, &model.to_yaml(), None, shown.as_ref(), params.saved).await
}

#[derive(Deserialize)]
pub struct SaveForm {
    yaml: String,
    /// `check` only checks; anything else saves.
    #[serde(default)]
    action: String,
}

/// Checks the posted YAML; saves it as the product's next version when it is right (the scorer
/// then recomputes the product's scores). A wrong model comes back as typed (422) with the
/// line of every problem, and nothing is stored.
async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm { user, data }: PageForm<SaveForm>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let yaml = data.yaml.replace("\r\n", "\n");
    let defs = crate::service::custom_defs(store).await.map_err(store_error(locale))?;
    let keys: Vec<&str> = defs.iter().map(|d| d.key.as_str()).collect();
    match ScoringModel::from_yaml(&yaml, &keys) {
        Err(errors) => {
            let html = page(&state, &user, &product, &yaml, Some(&errors), None, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Ok(_) if data.action == "check" => {
            let html = page(&state, &user, &product, &yaml, Some(&FieldErrors::default()), None, None).await?;
            Ok(html.into_response())
        }
        Ok(model) => {
            let row = store
                .save_scoring_model(product.id, &model.to_json(), Some(user.user.id), now_millis())
                .await
                .map_err(store_error(locale))?;
            state.runtime.wake(hatake_engine::runtime::EVENTS_WRITTEN);
            Ok(Redirect::to(&format!("/scoring/{}?saved={}", product.id, row.version)).into_response())
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ExportParams {
    version: Option<i64>,
}

async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<ExportParams>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let row = match params.version {
        Some(version) => store.scoring_model_version(product.id, version).await.map_err(store_error(locale))?,
        None => store
            .scoring_model_versions(product.id)
            .await
            .map_err(store_error(locale))?
            .into_iter()
            .next()
            .ok_or_else(|| PageError::not_found(locale))?,
    };
    let model = ScoringModel::from_json(&row.definition).map_err(|_| PageError::internal(locale))?;
    Ok(yaml_download("scoring model", "scoring", &product, row.version, &model.to_yaml()))
}

/// A configuration's YAML as a download named `{file}-{product code}-v{version}.yaml`, headed by
/// a comment saying what it is.
pub(crate) fn yaml_download(what: &str, file: &str, product: &ProductRow, version: i64, yaml: &str) -> Response {
    let body = format!("# hatake {what}: {} ({}) version {version}\n{yaml}", product.name, product.code);
    let disposition = format!("attachment; filename=\"{file}-{}-v{version}.yaml\"", product.code);
    (
        [
            (header::CONTENT_TYPE, "application/yaml; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct RankingParams {
    /// Only leads with at least this engagement score.
    min: Option<String>,
    /// The page after (score, lead id) `score:id`.
    after: Option<String>,
}

const RANKING_PAGE: i64 = 50;

async fn ranking(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<RankingParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let min: i64 = params.min.as_deref().and_then(|m| m.trim().parse().ok()).unwrap_or(i64::MIN);
    let after = params.after.as_deref().and_then(|a| {
        let (score, id) = a.split_once(':')?;
        Some((score.parse().ok()?, id.parse().ok()?))
    });
    let rows = store.ranked_leads(product.id, min, after, RANKING_PAGE).await.map_err(store_error(locale))?;
    let next = (rows.len() as i64 == RANKING_PAGE)
        .then(|| rows.last().map(|r| format!("{}:{}", r.engagement, r.lead_id)))
        .flatten();
    let model = store
        .current_scoring_models()
        .await
        .map_err(store_error(locale))?
        .into_iter()
        .find(|m| m.product_id == product.id);
    render(
        &state,
        &user,
        "scoring/ranking.html",
        "scoring",
        context! {
            product => product, rows => rows, next => next, model => model,
            min => params.min.filter(|m| m.trim().parse::<i64>().is_ok()),
        },
    )
    .await
}

/// Accounts ranked by their score for a product, rolled up as the product's model says (for
/// account-based work).
async fn account_ranking(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let models = hatake_engine::scoring::Models::load(store).await.map_err(store_error(locale))?;
    let rollup = models.get(product.id).map(|(_, _, m)| m.model.account);
    let rows = match rollup {
        Some(r) => store
            .ranked_accounts(product.id, r.method.as_str(), i64::from(r.top.unwrap_or(3)), 100)
            .await
            .map_err(store_error(locale))?,
        None => Vec::new(),
    };
    render(
        &state,
        &user,
        "scoring/accounts.html",
        "scoring",
        context! {
            product => product, rows => rows, has_model => rollup.is_some(),
            method => rollup.map(|r| rollup_label(r.method, r.top, locale)),
        },
    )
    .await
}

/// The lead page's score section: per product with a model, the stored scores and the awards
/// that make them up, from the same fold.
pub(crate) async fn lead_scores(
    state: &AppState,
    lead_id: i64,
    products: &[ProductRow],
    locale: &'static str,
) -> Result<Vec<minijinja::Value>, PageError> {
    let store = state.store.as_ref();
    let now = now_millis();
    let models = hatake_engine::scoring::Models::load(store).await.map_err(store_error(locale))?;
    let explained =
        hatake_engine::scoring::explain_lead(store, &models, lead_id, now).await.map_err(store_error(locale))?;
    let mut out = Vec::new();
    for part in explained {
        let Some((_, _, compiled)) = models.get(part.product_id) else { continue };
        if part.explanation.awards.is_empty() && part.stored.is_none() && part.fit.is_empty() {
            continue;
        }
        let product = products.iter().find(|p| p.id == part.product_id);
        let awards: Vec<minijinja::Value> = part
            .explanation
            .awards
            .iter()
            .rev()
            .map(|award| {
                let (rule_id, label) = compiled.rule_label(award.rule);
                let event = award.event_id.and_then(|id| part.events.get(&id));
                let kind = event.and_then(|(kind, _)| EventKind::parse(kind)).map(|k| if locale == "en" { k.label_en() } else { k.label_ja() });
                context! {
                    rule => rule_id, label => label, at => award.at, points => award.points,
                    decay => matches!(award.rule, RuleRef::Decay(_)),
                    event_id => award.event_id, kind => kind, detail => event.and_then(|(_, d)| d.clone()),
                    status => match award.status { AwardStatus::Counted => "counted", AwardStatus::Capped => "capped", AwardStatus::Expired => "expired" },
                    expires_at => award.expires_at,
                }
            })
            .collect();
        let fit: Vec<minijinja::Value> = part
            .fit
            .iter()
            .map(|(id, label, points)| context! { rule => id, label => label, points => points })
            .collect();
        out.push(context! {
            product => product.map(|p| p.name.clone()), product_id => part.product_id, version => part.version,
            engagement => part.explanation.engagement, fit_total => part.fit.iter().map(|f| f.2).sum::<i64>(),
            stored => part.stored.as_ref().map(|s| context! { engagement => s.engagement, fit => s.fit, version => s.model_version, updated_at => s.updated_at }),
            next_change_at => part.explanation.next_change_at,
            awards => awards, fit => fit,
        });
    }
    Ok(out)
}

/// An account's score per product with a model: its people's engagement rolled up as the model
/// says (sum, max or the best few), with how many people count.
pub(crate) async fn account_scores(
    store: &dyn hatake_store::Store,
    account_id: i64,
    products: &[ProductRow],
    locale: &str,
) -> Result<Vec<minijinja::Value>, StoreError> {
    let models = hatake_engine::scoring::Models::load(store).await?;
    if models.models.is_empty() {
        return Ok(Vec::new());
    }
    let people = store.account_person_scores(account_id).await?;
    Ok(models
        .models
        .iter()
        .filter_map(|(product_id, _, model)| {
            let scores: Vec<i64> =
                people.iter().filter(|p| p.product_id == *product_id).map(|p| p.engagement).collect();
            if scores.is_empty() {
                return None;
            }
            let product = products.iter().find(|p| p.id == *product_id)?;
            Some(context! {
                product => product.name, product_id => product_id, score => model.model.account.roll_up(&scores),
                people => scores.len(), method => rollup_label(model.model.account.method, model.model.account.top, locale),
                best => scores.iter().max().copied(),
            })
        })
        .collect())
}
