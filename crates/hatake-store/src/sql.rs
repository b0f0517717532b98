//! SQL text shared by both backends: the list queries are built here once, with `$n`
//! placeholders (which SQLite accepts too), and only the search clause differs by dialect.

use crate::query::{AccountQuery, Cursor, LeadKind, LeadQuery, LeadSort, COUNT_CAP};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The statement that starts a transaction that writes. SQLite's default (deferred)
    /// transaction takes the write lock only at its first write, and one that has read first
    /// then fails at once with "database is locked" when another connection holds the lock
    /// (the busy timeout does not apply to that upgrade); `BEGIN IMMEDIATE` takes the lock up
    /// front and waits for it.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// ` FOR UPDATE` on PostgreSQL (a row read to be changed in the same transaction); nothing on
    /// SQLite, whose write transaction is exclusive already.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// ` FOR UPDATE SKIP LOCKED` on PostgreSQL (rows claimed by one worker of several: the others
    /// pass them by instead of waiting); nothing on SQLite, which writes one at a time.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// A value to bind, in placeholder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Int(i64),
    Text(String),
}

/// SQL text with its binds.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub sql: String,
    pub binds: Vec<Bind>,
}

impl Built {
    fn push(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
}

/// The columns of [`crate::LeadRow`], from `leads l` joined to `accounts a` and `users u`.
pub const LEAD_COLUMNS: &str = "l.id, l.account_id, a.name AS account_name, l.company_name, l.family_name, \
    l.given_name, l.family_name_kana, l.given_name_kana, l.email, l.phone, l.department, l.title, \
    l.prefecture, l.address, l.source, l.owner_id, u.display_name AS owner_name, l.is_lead, l.custom, \
    l.department_class, l.created_at, l.updated_at";

pub const LEAD_FROM: &str =
    "leads l LEFT JOIN accounts a ON a.id = l.account_id LEFT JOIN users u ON u.id = l.owner_id";

/// The columns of [`crate::AccountRow`] from `accounts a`.
pub const ACCOUNT_COLUMNS: &str = "a.id, a.name, a.name_normalized, a.corporate_number, a.domains, a.industry, \
    a.employee_count, a.annual_revenue, a.prefecture, a.address, a.abm_tier, a.owner_id, \
    (SELECT count(*) FROM leads x WHERE x.account_id = a.id) AS lead_count, a.created_at, a.updated_at";

/// How a SQLite query uses the search index when a search is combined with a sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPlan {
    /// Start from the matching ids, then sort them: best when few leads match.
    Drive,
    /// Walk the sort's index and keep the rows that match: best when many match, because the
    /// first page fills quickly. (`+l.id` stops SQLite from driving the join from the matches.)
    Filter,
}

/// Fewer matches than this: drive from the matches ([`SearchPlan::Drive`]); more: walk the
/// sort index. Chosen so that ~50 sorted rows cost about the same either way on 1M leads.
pub const SEARCH_DRIVE_THRESHOLD: i64 = 5_000;

/// SQLite: how many leads a search matches, up to `cap` (cheap: the index alone).
pub fn search_match_count(search: &hatake_domain::text::SearchQuery, cap: i64) -> Built {
    let mut built = Built::default();
    let p = built.push(Bind::Text(search.to_fts5()));
    built.sql = format!("SELECT count(*) FROM (SELECT 1 FROM lead_search WHERE lead_search MATCH {p} LIMIT {cap}) t");
    built
}

fn lead_filters(query: &LeadQuery, dialect: Dialect, built: &mut Built, plan: SearchPlan) -> Vec<String> {
    let mut clauses = Vec::new();
    if let Some(search) = &query.search {
        match dialect {
            Dialect::Sqlite => {
                let p = built.push(Bind::Text(search.to_fts5()));
                let id = if plan == SearchPlan::Filter { "+l.id" } else { "l.id" };
                clauses.push(format!("{id} IN (SELECT rowid FROM lead_search WHERE lead_search MATCH {p})"));
            }
            Dialect::Postgres => {
                let p = built.push(Bind::Text(search.to_tsquery()));
                clauses.push(format!("l.search_tsv @@ {p}::tsquery"));
            }
        }
    }
    if let Some(product) = query.product_id {
        let p = built.push(Bind::Int(product));
        clauses
            .push(format!("EXISTS (SELECT 1 FROM lead_products lp WHERE lp.lead_id = l.id AND lp.product_id = {p})"));
    }
    if let Some(owner) = query.owner_id {
        let p = built.push(Bind::Int(owner));
        clauses.push(format!("l.owner_id = {p}"));
    }
    if let Some(account) = query.account_id {
        let p = built.push(Bind::Int(account));
        clauses.push(format!("l.account_id = {p}"));
    }
    match query.kind {
        LeadKind::Lead => clauses.push("l.is_lead = TRUE".into()),
        LeadKind::List => clauses.push("l.is_lead = FALSE".into()),
        LeadKind::All => {}
    }
    if let Some(prefecture) = &query.prefecture {
        let p = built.push(Bind::Text(prefecture.clone()));
        clauses.push(format!("l.prefecture = {p}"));
    }
    if let Some(class) = &query.department_class {
        let p = built.push(Bind::Text(class.clone()));
        clauses.push(format!("l.department_class = {p}"));
    }
    if let Some(import) = query.import_id {
        let p = built.push(Bind::Int(import));
        clauses.push(format!("l.id IN (SELECT s.lead_id FROM lead_sources s WHERE s.import_id = {p})"));
    }
    clauses
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

/// The keyset condition and ORDER BY for a sort column, ascending or descending.
fn keyset(
    built: &mut Built,
    column: &str,
    descending: bool,
    cursor: Option<&Cursor>,
    clauses: &mut Vec<String>,
    text_key: bool,
) -> String {
    let backward = cursor.is_some_and(|c| c.backward);
    // Going backward flips both the comparison and the order; rows are reversed afterwards.
    let ascending = descending == backward;
    if let Some(cursor) = cursor {
        let key = if text_key {
            built.push(Bind::Text(cursor.text.clone().unwrap_or_default()))
        } else {
            built.push(Bind::Int(cursor.number.unwrap_or_default()))
        };
        let id = built.push(Bind::Int(cursor.id));
        let op = if ascending { ">" } else { "<" };
        clauses.push(format!("({column}, l.id) {op} ({key}, {id})"));
    }
    let dir = if ascending { "ASC" } else { "DESC" };
    format!(" ORDER BY {column} {dir}, l.id {dir}")
}

/// The page query: `limit + 1` rows so the caller knows whether there is more. The inner
/// query finds the page's ids touching only `leads` and its indexes; only those rows are
/// joined to their account and owner.
pub fn lead_page(query: &LeadQuery, dialect: Dialect, plan: SearchPlan) -> Built {
    let mut built = Built::default();
    let mut clauses = lead_filters(query, dialect, &mut built, plan);
    let cursor = query.cursor.as_ref();
    let mut extra = String::new();
    let order = match query.sort {
        LeadSort::Updated => keyset(&mut built, "l.updated_at", true, cursor, &mut clauses, false),
        LeadSort::Created => keyset(&mut built, "l.created_at", true, cursor, &mut clauses, false),
        LeadSort::Name => keyset(&mut built, "l.sort_name", false, cursor, &mut clauses, true),
        LeadSort::Score(product) => {
            // Only leads scored for the product; the key is their engagement (a product id is
            // a number, written in the SQL).
            let score = format!(
                "(SELECT sc.engagement FROM lead_scores sc WHERE sc.lead_id = l.id AND sc.product_id = {product})"
            );
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM lead_scores sc WHERE sc.lead_id = l.id AND sc.product_id = {product})"
            ));
            extra = format!(", {score} AS sort_score");
            keyset(&mut built, &score, true, cursor, &mut clauses, false)
        }
    };
    built.sql = format!(
        "SELECT {LEAD_COLUMNS}{extra} FROM {LEAD_FROM} WHERE l.id IN (SELECT l.id FROM leads l{}{order} LIMIT {}){order}",
        where_sql(&clauses),
        query.limit + 1
    );
    built
}

/// The capped count of the page query's matches (ignoring the cursor).
pub fn lead_count(query: &LeadQuery, dialect: Dialect) -> Built {
    let mut built = Built::default();
    let clauses = lead_filters(query, dialect, &mut built, SearchPlan::Drive);
    built.sql =
        format!("SELECT count(*) FROM (SELECT 1 FROM leads l{} LIMIT {}) t", where_sql(&clauses), COUNT_CAP + 1);
    built
}

/// The cursor key of a lead row under a sort.
pub fn lead_cursor(row: &crate::LeadRow, sort: LeadSort) -> Cursor {
    let (number, text) = match sort {
        LeadSort::Updated => (Some(row.updated_at), None),
        LeadSort::Created => (Some(row.created_at), None),
        LeadSort::Score(_) => (Some(row.sort_score.unwrap_or_default()), None),
        LeadSort::Name => (
            None,
            Some(sort_name(
                row.family_name_kana.as_deref(),
                row.given_name_kana.as_deref(),
                row.family_name.as_deref(),
                row.given_name.as_deref(),
                row.email.as_deref(),
            )),
        ),
    };
    Cursor { number, text, id: row.id, backward: false }
}

/// The key leads are sorted by "name": the reading when known, else the name, else the e-mail.
pub fn sort_name(
    family_kana: Option<&str>,
    given_kana: Option<&str>,
    family: Option<&str>,
    given: Option<&str>,
    email: Option<&str>,
) -> String {
    let pick = |a: Option<&str>, b: Option<&str>| {
        let joined = hatake_domain::lead::join_name(a, b);
        (!joined.is_empty()).then_some(joined)
    };
    pick(family_kana, given_kana)
        .or_else(|| pick(family, given))
        .or_else(|| email.map(str::to_owned))
        .unwrap_or_default()
}

fn account_filters(query: &AccountQuery, built: &mut Built) -> Vec<String> {
    let mut clauses = Vec::new();
    if let Some(search) = query.search.as_deref().filter(|s| !s.trim().is_empty()) {
        let digits: String = hatake_domain::text::nfkc_trim(search).chars().filter(|c| *c != '-').collect();
        if digits.len() == 13 && digits.bytes().all(|b| b.is_ascii_digit()) {
            let p = built.push(Bind::Text(digits));
            clauses.push(format!("a.corporate_number = {p}"));
        } else {
            let key = hatake_domain::company::normalise_company_name(search);
            let escaped = key.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let p = built.push(Bind::Text(format!("%{escaped}%")));
            clauses.push(format!("a.name_normalized LIKE {p} ESCAPE '\\'"));
        }
    }
    if let Some(prefecture) = &query.prefecture {
        let p = built.push(Bind::Text(prefecture.clone()));
        clauses.push(format!("a.prefecture = {p}"));
    }
    clauses
}

/// Accounts sorted by normalised name.
pub fn account_page(query: &AccountQuery) -> Built {
    let mut built = Built::default();
    let mut clauses = account_filters(query, &mut built);
    let backward = query.cursor.as_ref().is_some_and(|c| c.backward);
    if let Some(cursor) = &query.cursor {
        let key = built.push(Bind::Text(cursor.text.clone().unwrap_or_default()));
        let id = built.push(Bind::Int(cursor.id));
        let op = if backward { "<" } else { ">" };
        clauses.push(format!("(a.name_normalized, a.id) {op} ({key}, {id})"));
    }
    let dir = if backward { "DESC" } else { "ASC" };
    built.sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts a{} ORDER BY a.name_normalized {dir}, a.id {dir} LIMIT {}",
        where_sql(&clauses),
        query.limit + 1
    );
    built
}

pub fn account_count(query: &AccountQuery) -> Built {
    let mut built = Built::default();
    let clauses = account_filters(query, &mut built);
    built.sql =
        format!("SELECT count(*) FROM (SELECT 1 FROM accounts a{} LIMIT {}) t", where_sql(&clauses), COUNT_CAP + 1);
    built
}

pub fn account_cursor(row: &crate::AccountRow) -> Cursor {
    Cursor { number: None, text: Some(row.name_normalized.clone()), id: row.id, backward: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatake_domain::text::SearchQuery;

    #[test]
    fn filters_and_cursor_bind_in_order() {
        let query = LeadQuery {
            search: SearchQuery::parse("田中"),
            product_id: Some(2),
            kind: LeadKind::List,
            cursor: Some(Cursor { number: Some(100), text: None, id: 7, backward: false }),
            limit: 50,
            ..LeadQuery::default()
        };
        let built = lead_page(&query, Dialect::Sqlite, SearchPlan::Drive);
        assert!(
            built.sql.contains("l.id IN (SELECT rowid FROM lead_search WHERE lead_search MATCH $1)"),
            "{}",
            built.sql
        );
        let filtered = lead_page(&query, Dialect::Sqlite, SearchPlan::Filter);
        assert!(filtered.sql.contains("+l.id IN (SELECT rowid"), "{}", filtered.sql);
        assert!(built.sql.contains("lp.product_id = $2"));
        assert!(built.sql.contains("l.is_lead = FALSE"));
        assert!(built.sql.contains("(l.updated_at, l.id) < ($3, $4)"));
        assert!(built.sql.contains("ORDER BY l.updated_at DESC, l.id DESC LIMIT 51)"), "{}", built.sql);
        assert!(built.sql.ends_with(") ORDER BY l.updated_at DESC, l.id DESC"), "{}", built.sql);
        assert_eq!(built.binds, [Bind::Text("\"田中\"".into()), Bind::Int(2), Bind::Int(100), Bind::Int(7)]);
        let pg = lead_page(&query, Dialect::Postgres, SearchPlan::Drive);
        assert!(pg.sql.contains("l.search_tsv @@ $1::tsquery"));
    }

    #[test]
    fn backward_cursor_flips_order() {
        let query = LeadQuery {
            sort: LeadSort::Name,
            cursor: Some(Cursor { number: None, text: Some("ヤマダ".into()), id: 3, backward: true }),
            limit: 10,
            ..LeadQuery::default()
        };
        let built = lead_page(&query, Dialect::Sqlite, SearchPlan::Filter);
        assert!(built.sql.contains("(l.sort_name, l.id) < ($1, $2)"), "{}", built.sql);
        assert!(built.sql.contains("ORDER BY l.sort_name DESC, l.id DESC"));
    }

    #[test]
    fn account_search_by_number_or_name() {
        let by_number =
            account_page(&AccountQuery { search: Some("7000012050002".into()), limit: 5, ..Default::default() });
        assert!(by_number.sql.contains("a.corporate_number = $1"));
        let by_name =
            account_page(&AccountQuery { search: Some("(株)ひまわり".into()), limit: 5, ..Default::default() });
        assert_eq!(by_name.binds, [Bind::Text("%ひまわり%".into())]);
    }
}

/// The SQL condition that holds when a lead row has every field of `required` (for
/// re-deriving the lead-or-list flag in one statement).
pub fn required_condition(required: &hatake_domain::RequiredFieldSet) -> String {
    use hatake_domain::RequiredField as F;
    let parts: Vec<&str> = required
        .0
        .iter()
        .map(|field| match field {
            F::Company => "(account_id IS NOT NULL OR company_name IS NOT NULL)",
            F::Department => "department IS NOT NULL",
            F::Title => "title IS NOT NULL",
            F::Name => "family_name IS NOT NULL",
            F::Email => "email IS NOT NULL",
            F::Phone => "phone IS NOT NULL",
            F::Address => "(prefecture IS NOT NULL OR address IS NOT NULL)",
        })
        .collect();
    if parts.is_empty() {
        "TRUE".into()
    } else {
        parts.join(" AND ")
    }
}

/// Maps a database error to a store error, naming the field of a unique violation from the
/// constraint's name (PostgreSQL: `leads_email_key`) or the message (SQLite: `UNIQUE constraint
/// failed: leads.email`). Anything unexpected is logged here and returned without detail.
pub fn store_error(error: sqlx::Error, backend: &'static str) -> crate::StoreError {
    use crate::StoreError;
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict { field: unique_field(db.constraint().unwrap_or_else(|| db.message())) }
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::MissingReference { field: "id" },
        _ => {
            tracing::error!(%error, backend, "database error");
            StoreError::Database(error.to_string())
        }
    }
}

/// Which unique value a constraint-violation message or constraint name is about.
pub fn unique_field(text: &str) -> &'static str {
    const FIELDS: [&str; 9] =
        ["corporate_number", "email", "token_hash", "code", "key", "token", "slug", "slot", "name"];
    FIELDS.into_iter().find(|f| text.contains(f)).unwrap_or("id")
}

/// The lead columns written on insert and update, in bind order.
pub const LEAD_WRITE_COLUMNS: [&str; 19] = [
    "account_id",
    "company_name",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "email",
    "phone",
    "department",
    "title",
    "prefecture",
    "address",
    "source",
    "owner_id",
    "is_lead",
    "custom",
    "sort_name",
    "department_class",
    "updated_at",
];

/// A lead's values for [`LEAD_WRITE_COLUMNS`].
pub fn lead_write_values(lead: &hatake_domain::LeadData, is_lead: bool, now: crate::Millis) -> Vec<Value> {
    use Value::{Bool, Int, Text};
    let text = |v: &Option<String>| v.clone().map_or(Value::NullText, Text);
    vec![
        lead.account_id.map_or(Value::NullInt, Int),
        text(&lead.company_name),
        text(&lead.family_name),
        text(&lead.given_name),
        text(&lead.family_name_kana),
        text(&lead.given_name_kana),
        lead.email.as_ref().map_or(Value::NullText, |e| Text(e.to_string())),
        lead.phone.as_ref().map_or(Value::NullText, |p| Text(p.as_str().to_owned())),
        text(&lead.department),
        text(&lead.title),
        text(&lead.prefecture),
        text(&lead.address),
        text(&lead.source),
        lead.owner_id.map_or(Value::NullInt, Int),
        Bool(is_lead),
        Text(serde_json::Value::Object(lead.custom.clone()).to_string()),
        Text(sort_name(
            lead.family_name_kana.as_deref(),
            lead.given_name_kana.as_deref(),
            lead.family_name.as_deref(),
            lead.given_name.as_deref(),
            lead.email.as_ref().map(hatake_domain::Email::as_str),
        )),
        text(&lead.department_class),
        Int(now),
    ]
}

/// The account columns written on insert and update, in bind order.
pub const ACCOUNT_WRITE_COLUMNS: [&str; 12] = [
    "name",
    "name_normalized",
    "corporate_number",
    "domains",
    "industry",
    "employee_count",
    "annual_revenue",
    "prefecture",
    "address",
    "abm_tier",
    "owner_id",
    "updated_at",
];

pub fn account_write_values(account: &hatake_domain::AccountData, now: crate::Millis) -> Vec<Value> {
    use Value::{Int, Text};
    let text = |v: &Option<String>| v.clone().map_or(Value::NullText, Text);
    vec![
        Text(account.name.clone()),
        Text(account.name_normalized.clone()),
        account.corporate_number.as_ref().map_or(Value::NullText, |c| Text(c.to_string())),
        Text(account.domains.join(" ")),
        text(&account.industry),
        account.employee_count.map_or(Value::NullInt, Int),
        account.annual_revenue.map_or(Value::NullInt, Int),
        text(&account.prefecture),
        text(&account.address),
        account.abm_tier.map_or(Value::NullText, |t| Text(t.as_str().to_owned())),
        account.owner_id.map_or(Value::NullInt, Int),
        Int(now),
    ]
}

/// A nullable value to bind when writing rows. A NULL keeps its column's type: PostgreSQL
/// prepares a statement with the parameter types of its first execution, and sqlx reuses it,
/// so a NULL typed as the wrong type makes later non-NULL values fail to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// NULL in an integer column.
    NullInt,
    /// NULL in a text column.
    NullText,
    Int(i64),
    Bool(bool),
    Text(String),
}

/// `INSERT INTO table (columns…, created_at) VALUES (…), (…)` for `rows` rows, numbering
/// placeholders from 1.
pub fn multi_insert(table: &str, columns: &[&str], rows: usize) -> String {
    let mut with_time = columns.to_vec();
    with_time.push("created_at");
    insert_rows(table, &with_time, rows)
}

/// `INSERT INTO table (columns) VALUES ($1, …), …` for `rows` rows, numbered row by row.
pub fn insert_rows(table: &str, columns: &[&str], rows: usize) -> String {
    let width = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let placeholders: Vec<String> = (1..=width).map(|c| format!("${}", row * width + c)).collect();
        sql.push('(');
        sql.push_str(&placeholders.join(", "));
        sql.push(')');
    }
    sql
}

/// The rows of a `VALUES` list of `rows` rows of `width` placeholders each, numbered from
/// `$first`: `($2, $3), ($4, $5)`. Its columns are `column1`, `column2`, … on both databases.
pub fn values_rows(width: usize, rows: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 6);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", first + row * width + column));
        }
        sql.push(')');
    }
    sql
}

/// `UPDATE table SET a = $1, b = $2 … WHERE id = $n`.
pub fn update_by_id(table: &str, columns: &[&str]) -> String {
    let sets: Vec<String> = columns.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
    format!("UPDATE {table} SET {} WHERE id = ${}", sets.join(", "), columns.len() + 1)
}

/// [`update_by_id`] of a lead for a resolution plan (an import's or an API record's merge):
/// the company link and the owner are anchored — a merge never clears them — so a link made
/// since the plan was made (the import linking the leads of its previous batch, or a person)
/// stays.
pub fn update_planned_lead_sql() -> String {
    let sets: Vec<String> = LEAD_WRITE_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| match *c {
            "account_id" | "owner_id" => format!("{c} = COALESCE(${}, {c})", i + 1),
            _ => format!("{c} = ${}", i + 1),
        })
        .collect();
    format!("UPDATE leads SET {} WHERE id = ${}", sets.join(", "), LEAD_WRITE_COLUMNS.len() + 1)
}

/// The search document of a stored lead (its company as shown).
pub fn lead_row_search_document(row: &crate::LeadRow) -> String {
    lead_document([
        row.family_name.as_deref(),
        row.given_name.as_deref(),
        row.family_name_kana.as_deref(),
        row.given_name_kana.as_deref(),
        row.company(),
        row.email.as_deref(),
        row.phone.as_deref(),
        row.department.as_deref(),
    ])
}

/// The search document of a lead about to be stored, with its company as shown (as
/// [`lead_row_search_document`] does): `account_name`, the name of the linked account, when
/// there is one, else the company name as entered.
pub fn lead_search_document_of(lead: &hatake_domain::LeadData, account_name: Option<&str>) -> String {
    lead_document([
        lead.family_name.as_deref(),
        lead.given_name.as_deref(),
        lead.family_name_kana.as_deref(),
        lead.given_name_kana.as_deref(),
        account_name.or(lead.company_name.as_deref()),
        lead.email.as_ref().map(hatake_domain::Email::as_str),
        lead.phone.as_ref().map(hatake_domain::Phone::as_str),
        lead.department.as_deref(),
    ])
}

/// The indexed fields, in order: name, given name, their readings, company, e-mail, phone,
/// department; then the name and its reading written without a space (田中太郎, たなかたろう),
/// so that a query written either way finds the person.
fn lead_document(fields: [Option<&str>; 8]) -> String {
    let joined = |family: Option<&str>, given: Option<&str>| match (family, given) {
        (Some(family), Some(given)) => Some(format!("{family}{given}")),
        _ => None,
    };
    let names = [joined(fields[0], fields[1]), joined(fields[2], fields[3])];
    hatake_domain::text::search_document(fields.into_iter().flatten().chain(names.iter().flatten().map(String::as_str)))
}

/// The matcher's blocking keys of a lead (see [`hatake_domain::matching::LeadFeatures`]).
pub fn lead_match_keys(lead: &hatake_domain::LeadData) -> Vec<i64> {
    hatake_domain::matching::LeadFeatures::new(lead).key_hashes()
}

/// The SQL type of a column filled from JSON by [`insert_json`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    Int,
    Bool,
    Text,
}

/// `INSERT INTO table (columns) SELECT … FROM <each element of the JSON array $1>`: many rows
/// in one statement with one bound value. Binding is the cost that grows with the number of
/// bound values, and SQLite's full-text index flushes its pending terms at every statement, so
/// bulk writes go through here. Each element is an array of the row's values in column order
/// (see [`json_row`]).
pub fn insert_json(table: &str, columns: &[(&str, JsonType)], dialect: Dialect) -> String {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let values: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| match (dialect, kind) {
            (Dialect::Sqlite, _) => format!("json_extract(value, '$[{i}]')"),
            (Dialect::Postgres, JsonType::Int) => format!("(value->>{i})::bigint"),
            (Dialect::Postgres, JsonType::Bool) => format!("(value->>{i})::boolean"),
            (Dialect::Postgres, JsonType::Text) => format!("(value->>{i})"),
        })
        .collect();
    let from = match dialect {
        Dialect::Sqlite => "json_each($1)",
        Dialect::Postgres => "jsonb_array_elements($1::jsonb)",
    };
    format!("INSERT INTO {table} ({}) SELECT {} FROM {from}", names.join(", "), values.join(", "))
}

/// One row's values as a JSON array for [`insert_json`].
pub fn json_row(values: Vec<Value>) -> serde_json::Value {
    serde_json::Value::Array(
        values
            .into_iter()
            .map(|value| match value {
                Value::NullInt | Value::NullText => serde_json::Value::Null,
                Value::Int(v) => serde_json::Value::from(v),
                Value::Bool(v) => serde_json::Value::Bool(v),
                Value::Text(v) => serde_json::Value::String(v),
            })
            .collect(),
    )
}

/// The JSON type of each of [`LEAD_WRITE_COLUMNS`], then `created_at`.
pub fn lead_json_columns() -> Vec<(&'static str, JsonType)> {
    let mut columns: Vec<(&'static str, JsonType)> = LEAD_WRITE_COLUMNS
        .iter()
        .map(|name| {
            let kind = match *name {
                "account_id" | "owner_id" | "updated_at" => JsonType::Int,
                "is_lead" => JsonType::Bool,
                _ => JsonType::Text,
            };
            (*name, kind)
        })
        .collect();
    columns.push(("created_at", JsonType::Int));
    columns
}
