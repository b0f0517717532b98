//! `GET /leads/export.csv`: every lead the list's filters select, as a CSV file for Excel (UTF-8
//! with a byte-order mark, or CP932), with Japanese headers that an import reads back, and
//! cells that Excel would run as formulas neutralised (see `hatake_csv::write`).

use super::imports::{csv_response, export_encoding};
use super::leads::ListParams;
use super::{route, PageError};
use crate::auth::CurrentUser;
use crate::i18n::t;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use hatake_csv::{CsvWriter, ExportEncoding};
use hatake_store::{Cursor, LeadRow};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![route("GET", "/leads/export.csv", Access::SignedIn, get(export))]
}

/// Leads read per query while exporting.
const EXPORT_PAGE: u32 = 1_000;

#[derive(Deserialize, Default, Debug)]
pub struct ExportParams {
    encoding: Option<String>,
}

/// The fixed columns: the header (Japanese, as the import's header guessing reads it) and the
/// i18n key whose Japanese text it is.
const COLUMNS: [&str; 20] = [
    "ID",
    "lead.company",
    "lead.account",
    "lead.family_name",
    "lead.given_name",
    "lead.family_name_kana",
    "lead.given_name_kana",
    "lead.email",
    "lead.phone",
    "lead.department",
    "lead.department_class",
    "lead.title",
    "lead.prefecture",
    "lead.address",
    "lead.source",
    "lead.owner",
    "lead.products",
    "lead.kind",
    "common.created_at",
    "common.updated_at",
];

struct Context {
    products: HashMap<i64, String>,
    classes: HashMap<String, String>,
    custom_keys: Vec<String>,
    zone: jiff::tz::TimeZone,
}

/// Leads written as the export's CSV: the same columns wherever leads are exported (the lead
/// list, a segment's members).
pub(crate) struct LeadCsv {
    writer: CsvWriter,
    context: Context,
}

impl LeadCsv {
    pub(crate) async fn new(state: &AppState, encoding: ExportEncoding) -> Result<Self, hatake_store::StoreError> {
        let store = state.store.as_ref();
        let defs = crate::service::custom_defs(store).await?;
        let dictionary = hatake_engine::settings::departments(store).await?;
        let context = Context {
            products: store.list_products().await?.into_iter().map(|p| (p.id, p.name)).collect(),
            classes: dictionary.classes().iter().map(|c| (c.key.clone(), c.label_ja.clone())).collect(),
            custom_keys: defs.iter().map(|d| d.key.clone()).collect(),
            zone: jiff::tz::TimeZone::get(&state.config.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
        };
        let mut headers: Vec<String> = COLUMNS.iter().map(|key| t("ja", key).to_owned()).collect();
        headers.extend(defs.iter().map(|d| d.label_ja.clone()));
        Ok(Self { writer: CsvWriter::new(&headers, encoding), context })
    }

    pub(crate) fn write(&mut self, leads: &[LeadRow]) {
        for lead in leads {
            self.writer.write_row(row(lead, &self.context));
        }
    }

    pub(crate) fn finish(self) -> hatake_csv::Export {
        self.writer.finish()
    }

    /// `leads-20261207-1030.csv` and its Japanese name, in the organisation's zone.
    pub(crate) fn names(&self, ascii: &str, japanese: &str, encoding: ExportEncoding) -> (String, String) {
        let stamp = jiff::Timestamp::from_millisecond(now_millis())
            .map(|ts| ts.to_zoned(self.context.zone.clone()).strftime("%Y%m%d-%H%M").to_string())
            .unwrap_or_default();
        let suffix = if encoding == ExportEncoding::Cp932 { "-sjis" } else { "" };
        (format!("{ascii}-{stamp}{suffix}.csv"), format!("{japanese}_{stamp}{suffix}.csv"))
    }
}

fn row(lead: &LeadRow, context: &Context) -> Vec<String> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let time = |millis| crate::render::format_time(millis, &context.zone);
    let products: Vec<&str> =
        lead.product_ids.iter().filter_map(|id| context.products.get(id)).map(String::as_str).collect();
    let mut fields = vec![
        lead.id.to_string(),
        text(&lead.company_name),
        text(&lead.account_name),
        text(&lead.family_name),
        text(&lead.given_name),
        text(&lead.family_name_kana),
        text(&lead.given_name_kana),
        text(&lead.email),
        text(&lead.phone),
        text(&lead.department),
        lead.department_class.as_ref().and_then(|k| context.classes.get(k)).cloned().unwrap_or_default(),
        text(&lead.title),
        text(&lead.prefecture),
        text(&lead.address),
        text(&lead.source),
        text(&lead.owner_name),
        products.join("、"),
        t("ja", if lead.is_lead { "lead.kind.lead" } else { "lead.kind.list" }).to_owned(),
        time(lead.created_at),
        time(lead.updated_at),
    ];
    let custom = lead.custom_map();
    for key in &context.custom_keys {
        fields
            .push(custom.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default());
    }
    fields
}

async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
    Query(export): Query<ExportParams>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let encoding = export_encoding(export.encoding.as_deref(), locale)?;
    let store = state.store.as_ref();
    let page_error = |e| PageError::from_store(e, locale);
    let mut csv = LeadCsv::new(&state, encoding).await.map_err(page_error)?;
    // Every page of the list from the first (a cursor in the link is ignored), 1,000 at a time.
    let mut query = params.query(EXPORT_PAGE, false);
    query.cursor = None;
    loop {
        let page = store.list_leads(&query).await.map_err(page_error)?;
        csv.write(&page.items);
        match page.next.as_deref().and_then(Cursor::decode) {
            Some(next) => query.cursor = Some(next),
            None => break,
        }
    }
    let (ascii, japanese) = csv.names("leads", "リード", encoding);
    let export = csv.finish();
    tracing::info!(user = user.user.id, rows = export.rows, unmappable = export.unmappable, "leads exported");
    Ok(csv_response(export.bytes, encoding, &ascii, &japanese))
}
