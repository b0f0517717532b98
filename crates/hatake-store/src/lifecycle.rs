//! Qualification and the sales process ([`LifecycleStore`]): versioned per-product configuration
//! (MQL policies, process settings), each lead's stage per product with the history of every
//! move, and opportunities. The SQL is written once and instantiated by each backend with
//! [`impl_lifecycle_store!`].

use crate::{Millis, StoreResult};
use async_trait::async_trait;
use serde::Serialize;

/// The configuration kinds kept in `product_configs`.
pub const CONFIG_MQL_POLICY: &str = "mql_policy";
pub const CONFIG_PROCESS: &str = "process";

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ConfigRow {
    pub product_id: i64,
    pub kind: String,
    pub version: i64,
    pub definition: String,
    pub created_by: Option<i64>,
    pub created_by_name: Option<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LeadStageRow {
    pub lead_id: i64,
    pub product_id: i64,
    pub stage: String,
    pub since: Millis,
    pub policy_version: Option<i64>,
    pub sla_due_at: Option<Millis>,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct HistoryRow {
    pub id: i64,
    pub lead_id: i64,
    pub product_id: i64,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub at: Millis,
    pub by_user: Option<i64>,
    pub by_name: Option<String>,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub policy_version: Option<i64>,
    pub mode: Option<String>,
    pub opportunity_id: Option<i64>,
    pub detail: Option<String>,
}

/// An opportunity opened with a move to `opportunity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOpportunity {
    pub name: String,
    pub stage_key: String,
    pub amount: Option<i64>,
    pub expected_close_on: Option<String>,
    pub owner_id: Option<i64>,
}

/// One move of a lead's stage for a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageMove {
    pub lead_id: i64,
    pub product_id: i64,
    /// The stage the mover saw (`None`: no row, i.e. `lead`): if it changed meanwhile the move
    /// is refused with [`crate::StoreError::Conflict`] (`stage`).
    pub from: Option<String>,
    pub to: String,
    pub at: Millis,
    pub by: Option<i64>,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub policy_version: Option<i64>,
    pub mode: Option<String>,
    pub sla_due_at: Option<Millis>,
    pub opportunity: Option<NewOpportunity>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct OpportunityRow {
    pub id: i64,
    pub lead_id: Option<i64>,
    pub product_id: i64,
    pub account_id: Option<i64>,
    pub name: String,
    pub stage_key: String,
    /// `open`, `won` or `lost`.
    pub status: String,
    pub amount: Option<i64>,
    pub expected_close_on: Option<String>,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub competitor: Option<String>,
    pub competitor_installed_on: Option<String>,
    pub reapproach_on: Option<String>,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub lead_name: Option<String>,
    pub company_name: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub closed_at: Option<Millis>,
}

/// Changes to an open opportunity (its stage, amount, expected close).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityUpdate {
    pub id: i64,
    pub stage_key: String,
    pub amount: Option<i64>,
    pub expected_close_on: Option<String>,
    pub by: Option<i64>,
    pub at: Millis,
}

/// Closing an opportunity: won or lost, with a reason; the lead's stage moves with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityClose {
    pub id: i64,
    pub won: bool,
    pub reason: String,
    pub note: Option<String>,
    pub competitor: Option<String>,
    pub competitor_installed_on: Option<String>,
    pub reapproach_on: Option<String>,
    pub by: Option<i64>,
    pub at: Millis,
}

/// The order of a stage's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueSort {
    /// Longest waiting first.
    #[default]
    Waiting,
    /// The nearest SLA deadline first (none last).
    Sla,
    /// The highest engagement score first.
    Score,
}

impl QueueSort {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "waiting" => Some(Self::Waiting),
            "sla" => Some(Self::Sla),
            "score" => Some(Self::Score),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Sla => "sla",
            Self::Score => "score",
        }
    }

    /// The SQL of the sort key (ascending), over `lead_stages s` and `lead_scores sc`.
    pub fn key_sql(self) -> &'static str {
        match self {
            Self::Waiting => "s.since",
            Self::Sla => "COALESCE(s.sla_due_at, 9223372036854775807)",
            Self::Score => "(0 - COALESCE(sc.engagement, -1))",
        }
    }
}

/// A lead waiting in a stage (the MQL queue), with the move that brought it there.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct QueueRow {
    pub lead_id: i64,
    pub name: String,
    pub email: Option<String>,
    pub company_name: Option<String>,
    pub account_id: Option<i64>,
    pub since: Millis,
    pub sla_due_at: Option<Millis>,
    pub policy_version: Option<i64>,
    pub engagement: Option<i64>,
    pub fit: Option<i64>,
    /// The move into the stage: its reason, note, mode, detail (JSON) and who made it.
    pub reason: Option<String>,
    pub note: Option<String>,
    pub mode: Option<String>,
    pub detail: Option<String>,
    pub moved_by: Option<String>,
    /// The row's key in the order it was read ([`QueueSort::key_sql`]), for the next page.
    pub sort_key: i64,
}

/// The columns of an [`OpportunityRow`] from `opportunities o` (a person without a name is
/// shown by their e-mail address).
pub const OPPORTUNITY_SELECT: &str =
    "SELECT o.id, o.lead_id, o.product_id, o.account_id, o.name, o.stage_key, o.status, \
     o.amount, o.expected_close_on, o.reason, o.note, o.competitor, o.competitor_installed_on, o.reapproach_on, \
     o.owner_id, u.display_name AS owner_name, \
     CASE WHEN l.id IS NULL THEN NULL ELSE COALESCE(NULLIF(TRIM(COALESCE(l.family_name, '') || ' ' || \
     COALESCE(l.given_name, '')), ''), l.email) END AS lead_name, COALESCE(a.name, l.company_name) AS company_name, o.created_at, o.updated_at, o.closed_at \
     FROM opportunities o LEFT JOIN users u ON u.id = o.owner_id LEFT JOIN leads l ON l.id = o.lead_id \
     LEFT JOIN accounts a ON a.id = o.account_id";

pub const HISTORY_SELECT: &str = "SELECT h.id, h.lead_id, h.product_id, h.from_stage, h.to_stage, h.at, h.by_user, \
     u.display_name AS by_name, h.reason, h.note, h.policy_version, h.mode, h.opportunity_id, h.detail \
     FROM stage_history h LEFT JOIN users u ON u.id = h.by_user";

#[async_trait]
pub trait LifecycleStore: Send + Sync + 'static {
    /// The configuration in force (highest version) of a kind, for every product that has one.
    async fn current_configs(&self, kind: &str) -> StoreResult<Vec<ConfigRow>>;
    /// A product's versions of a kind, newest first.
    async fn config_versions(&self, product_id: i64, kind: &str) -> StoreResult<Vec<ConfigRow>>;
    /// Saves the next version.
    async fn save_config(
        &self,
        product_id: i64,
        kind: &str,
        definition: &str,
        by: Option<i64>,
        now: Millis,
    ) -> StoreResult<ConfigRow>;

    /// The stages of these leads (every product).
    async fn lead_stages(&self, lead_ids: &[i64]) -> StoreResult<Vec<LeadStageRow>>;
    /// Moves a lead (and opens the opportunity it names) in one transaction; the history row's id.
    async fn move_stage(&self, step: &StageMove) -> StoreResult<i64>;
    /// A lead's moves, newest first.
    async fn stage_history(&self, lead_id: i64) -> StoreResult<Vec<HistoryRow>>;
    /// Moves of a product into a stage since a time: (lead, at), oldest first.
    async fn moves_into(&self, product_id: i64, stage: &str, since: Millis) -> StoreResult<Vec<(i64, Millis)>>;
    /// Leads in a stage of a product in `sort` order, after the row with `after` = (sort key,
    /// lead id) of the page before ([`QueueRow::sort_key`]), at most `limit`; each with the
    /// move that brought it there (why, by whom, the hand-over note).
    async fn stage_queue(
        &self,
        product_id: i64,
        stage: &str,
        sort: QueueSort,
        after: Option<(i64, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<QueueRow>>;
    /// How many leads of a product wait in a stage past their SLA deadline at `now`.
    async fn count_breached(&self, product_id: i64, stage: &str, now: Millis) -> StoreResult<i64>;
    /// How many leads of a product are in each stage.
    async fn stage_counts(&self, product_id: i64) -> StoreResult<Vec<(String, i64)>>;

    async fn get_opportunity(&self, id: i64) -> StoreResult<OpportunityRow>;
    /// A product's opportunities of a status (`open`, `won`, `lost`), newest change first.
    async fn opportunities(&self, product_id: i64, status: &str, limit: i64) -> StoreResult<Vec<OpportunityRow>>;
    /// A product's open opportunities per pipeline stage: `(stage key, count, summed amount)`.
    async fn open_deal_totals(&self, product_id: i64) -> StoreResult<Vec<(String, i64, i64)>>;
    /// One page of a product's open opportunities in a stage, newest change first.
    async fn stage_opportunities(
        &self,
        product_id: i64,
        stage_key: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<OpportunityRow>>;
    async fn lead_opportunities(&self, lead_id: i64) -> StoreResult<Vec<OpportunityRow>>;
    /// [`crate::StoreError::NotFound`] unless the opportunity is open.
    async fn update_opportunity(&self, update: &OpportunityUpdate) -> StoreResult<()>;
    /// [`crate::StoreError::NotFound`] unless the opportunity is open.
    async fn close_opportunity(&self, close: &OpportunityClose) -> StoreResult<()>;
    /// Which of these accounts have a won opportunity for the product.
    async fn won_accounts(&self, product_id: i64, account_ids: &[i64]) -> StoreResult<Vec<i64>>;
}

#[macro_export]
macro_rules! impl_lifecycle_store {
    ($store:ty, $db:ty) => {
        impl $store {
            const CONFIG_SELECT: &'static str =
                "SELECT c.product_id, c.kind, c.version, c.definition, c.created_by, u.display_name AS created_by_name, \
                 c.created_at FROM product_configs c LEFT JOIN users u ON u.id = c.created_by";

            async fn history_row(
                conn: &mut <$db as sqlx::Database>::Connection,
                step: &$crate::StageMove,
                from: Option<&str>,
                opportunity_id: Option<i64>,
            ) -> $crate::StoreResult<i64> {
                let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "INSERT INTO stage_history (lead_id, product_id, from_stage, to_stage, at, by_user, reason, note, \
                     policy_version, mode, opportunity_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                     RETURNING id",
                )
                .bind(step.lead_id)
                .bind(step.product_id)
                .bind(from)
                .bind(&step.to)
                .bind(step.at)
                .bind(step.by)
                .bind(&step.reason)
                .bind(&step.note)
                .bind(step.policy_version)
                .bind(&step.mode)
                .bind(opportunity_id)
                .bind(&step.detail)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_error)?;
                Ok(id)
            }

            async fn set_stage(
                conn: &mut <$db as sqlx::Database>::Connection,
                step: &$crate::StageMove,
            ) -> $crate::StoreResult<()> {
                sqlx::query::<$db>(
                    "INSERT INTO lead_stages (lead_id, product_id, stage, since, policy_version, sla_due_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $4) ON CONFLICT (lead_id, product_id) DO UPDATE SET \
                     stage = excluded.stage, since = excluded.since, policy_version = excluded.policy_version, \
                     sla_due_at = excluded.sla_due_at, updated_at = excluded.updated_at",
                )
                .bind(step.lead_id)
                .bind(step.product_id)
                .bind(&step.to)
                .bind(step.at)
                .bind(step.policy_version)
                .bind(step.sla_due_at)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::LifecycleStore for $store {
            async fn current_configs(&self, kind: &str) -> $crate::StoreResult<Vec<$crate::ConfigRow>> {
                sqlx::query_as::<$db, $crate::ConfigRow>(&format!(
                    "{} WHERE c.kind = $1 AND c.version = (SELECT MAX(version) FROM product_configs x \
                     WHERE x.product_id = c.product_id AND x.kind = c.kind) ORDER BY c.product_id",
                    Self::CONFIG_SELECT
                ))
                .bind(kind)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn config_versions(&self, product_id: i64, kind: &str) -> $crate::StoreResult<Vec<$crate::ConfigRow>> {
                sqlx::query_as::<$db, $crate::ConfigRow>(&format!(
                    "{} WHERE c.product_id = $1 AND c.kind = $2 ORDER BY c.version DESC",
                    Self::CONFIG_SELECT
                ))
                .bind(product_id)
                .bind(kind)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn save_config(
                &self,
                product_id: i64,
                kind: &str,
                definition: &str,
                by: Option<i64>,
                now: $crate::Millis,
            ) -> $crate::StoreResult<$crate::ConfigRow> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let exists: Option<(i64,)> = sqlx::query_as::<$db, (i64,)>("SELECT id FROM products WHERE id = $1")
                    .bind(product_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                if exists.is_none() {
                    return Err($crate::StoreError::MissingReference { field: "product_id" });
                }
                let (version,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM product_configs WHERE product_id = $1 AND kind = $2",
                )
                .bind(product_id)
                .bind(kind)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                sqlx::query::<$db>(
                    "INSERT INTO product_configs (product_id, kind, version, definition, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(product_id)
                .bind(kind)
                .bind(version)
                .bind(definition)
                .bind(by)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                let rows = $crate::LifecycleStore::config_versions(self, product_id, kind).await?;
                rows.into_iter().find(|r| r.version == version).ok_or($crate::StoreError::NotFound)
            }

            async fn lead_stages(&self, lead_ids: &[i64]) -> $crate::StoreResult<Vec<$crate::LeadStageRow>> {
                self.rows_in(
                    "SELECT lead_id, product_id, stage, since, policy_version, sla_due_at, updated_at FROM lead_stages \
                     WHERE lead_id IN ({}) ORDER BY lead_id, product_id",
                    lead_ids,
                )
                .await
            }

            async fn move_stage(&self, step: &$crate::StageMove) -> $crate::StoreResult<i64> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let lead: Option<(Option<i64>,)> = sqlx::query_as::<$db, (Option<i64>,)>(&format!(
                    "SELECT account_id FROM leads WHERE id = $1{}",
                    Self::DIALECT.for_update()
                ))
                .bind(step.lead_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
                let Some((account_id,)) = lead else { return Err($crate::StoreError::NotFound) };
                let current: Option<(String,)> = sqlx::query_as::<$db, (String,)>(
                    "SELECT stage FROM lead_stages WHERE lead_id = $1 AND product_id = $2",
                )
                .bind(step.lead_id)
                .bind(step.product_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
                let current = current.map(|(s,)| s);
                let seen = step.from.as_deref().filter(|s| *s != "lead");
                if current.as_deref().filter(|s| *s != "lead") != seen {
                    return Err($crate::StoreError::Conflict { field: "stage" });
                }
                let opportunity_id = match &step.opportunity {
                    Some(o) => {
                        let (id,): (i64,) = sqlx::query_as::<$db, (i64,)>(
                            "INSERT INTO opportunities (lead_id, product_id, account_id, name, stage_key, status, amount, \
                             expected_close_on, owner_id, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $9) RETURNING id",
                        )
                        .bind(step.lead_id)
                        .bind(step.product_id)
                        .bind(account_id)
                        .bind(&o.name)
                        .bind(&o.stage_key)
                        .bind(o.amount)
                        .bind(&o.expected_close_on)
                        .bind(o.owner_id)
                        .bind(step.at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_error)?;
                        Some(id)
                    }
                    None => None,
                };
                Self::set_stage(&mut *tx, step).await?;
                let id = Self::history_row(&mut *tx, step, current.as_deref(), opportunity_id).await?;
                tx.commit().await.map_err(db_error)?;
                Ok(id)
            }

            async fn stage_history(&self, lead_id: i64) -> $crate::StoreResult<Vec<$crate::HistoryRow>> {
                sqlx::query_as::<$db, $crate::HistoryRow>(&format!(
                    "{} WHERE h.lead_id = $1 ORDER BY h.at DESC, h.id DESC",
                    $crate::HISTORY_SELECT
                ))
                .bind(lead_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn moves_into(
                &self,
                product_id: i64,
                stage: &str,
                since: $crate::Millis,
            ) -> $crate::StoreResult<Vec<(i64, $crate::Millis)>> {
                sqlx::query_as::<$db, (i64, $crate::Millis)>(
                    "SELECT lead_id, at FROM stage_history WHERE product_id = $1 AND to_stage = $2 AND at >= $3 ORDER BY at",
                )
                .bind(product_id)
                .bind(stage)
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn stage_queue(
                &self,
                product_id: i64,
                stage: &str,
                sort: $crate::QueueSort,
                after: Option<(i64, i64)>,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::QueueRow>> {
                let key = sort.key_sql();
                let sql = format!(
                    "SELECT s.lead_id, TRIM(COALESCE(l.family_name, '') || ' ' || COALESCE(l.given_name, '')) AS name, \
                     l.email, COALESCE(a.name, l.company_name) AS company_name, l.account_id, s.since, s.sla_due_at, \
                     s.policy_version, sc.engagement, sc.fit, h.reason, h.note, h.mode, h.detail, \
                     u.display_name AS moved_by, {key} AS sort_key \
                     FROM lead_stages s JOIN leads l ON l.id = s.lead_id \
                     LEFT JOIN accounts a ON a.id = l.account_id \
                     LEFT JOIN lead_scores sc ON sc.lead_id = s.lead_id AND sc.product_id = s.product_id \
                     LEFT JOIN stage_history h ON h.id = (SELECT MAX(x.id) FROM stage_history x \
                       WHERE x.lead_id = s.lead_id AND x.product_id = s.product_id AND x.to_stage = s.stage) \
                     LEFT JOIN users u ON u.id = h.by_user \
                     WHERE s.product_id = $1 AND s.stage = $2 \
                     AND ({key} > $3 OR ({key} = $3 AND s.lead_id > $4)) \
                     ORDER BY {key}, s.lead_id LIMIT $5"
                );
                let (key_after, id_after) = after.unwrap_or((i64::MIN, i64::MIN));
                sqlx::query_as::<$db, $crate::QueueRow>(&sql)
                    .bind(product_id)
                    .bind(stage)
                    .bind(key_after)
                    .bind(id_after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn count_breached(
                &self,
                product_id: i64,
                stage: &str,
                now: $crate::Millis,
            ) -> $crate::StoreResult<i64> {
                let (count,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM lead_stages WHERE product_id = $1 AND stage = $2 AND sla_due_at < $3",
                )
                .bind(product_id)
                .bind(stage)
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
                Ok(count)
            }

            async fn stage_counts(&self, product_id: i64) -> $crate::StoreResult<Vec<(String, i64)>> {
                sqlx::query_as::<$db, (String, i64)>(
                    "SELECT stage, COUNT(*) FROM lead_stages WHERE product_id = $1 GROUP BY stage ORDER BY stage",
                )
                .bind(product_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn get_opportunity(&self, id: i64) -> $crate::StoreResult<$crate::OpportunityRow> {
                sqlx::query_as::<$db, $crate::OpportunityRow>(&format!("{} WHERE o.id = $1", $crate::OPPORTUNITY_SELECT))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?
                    .ok_or($crate::StoreError::NotFound)
            }

            async fn opportunities(
                &self,
                product_id: i64,
                status: &str,
                limit: i64,
            ) -> $crate::StoreResult<Vec<$crate::OpportunityRow>> {
                sqlx::query_as::<$db, $crate::OpportunityRow>(&format!(
                    "{} WHERE o.product_id = $1 AND o.status = $2 ORDER BY o.updated_at DESC, o.id DESC LIMIT $3",
                    $crate::OPPORTUNITY_SELECT
                ))
                .bind(product_id)
                .bind(status)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn open_deal_totals(&self, product_id: i64) -> $crate::StoreResult<Vec<(String, i64, i64)>> {
                sqlx::query_as::<$db, (String, i64, i64)>(
                    "SELECT stage_key, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM opportunities \
                     WHERE product_id = $1 AND status = 'open' GROUP BY stage_key ORDER BY stage_key",
                )
                .bind(product_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn stage_opportunities(
                &self,
                product_id: i64,
                stage_key: &str,
                limit: i64,
                offset: i64,
            ) -> $crate::StoreResult<Vec<$crate::OpportunityRow>> {
                sqlx::query_as::<$db, $crate::OpportunityRow>(&format!(
                    "{} WHERE o.product_id = $1 AND o.status = 'open' AND o.stage_key = $2 \
                     ORDER BY o.updated_at DESC, o.id DESC LIMIT $3 OFFSET $4",
                    $crate::OPPORTUNITY_SELECT
                ))
                .bind(product_id)
                .bind(stage_key)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn lead_opportunities(&self, lead_id: i64) -> $crate::StoreResult<Vec<$crate::OpportunityRow>> {
                sqlx::query_as::<$db, $crate::OpportunityRow>(&format!(
                    "{} WHERE o.lead_id = $1 ORDER BY o.created_at DESC, o.id DESC",
                    $crate::OPPORTUNITY_SELECT
                ))
                .bind(lead_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)
            }

            async fn update_opportunity(&self, update: &$crate::OpportunityUpdate) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let row: Option<(Option<i64>, i64, String)> = sqlx::query_as::<$db, (Option<i64>, i64, String)>(
                    "SELECT lead_id, product_id, stage_key FROM opportunities WHERE id = $1 AND status = 'open'",
                )
                .bind(update.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
                let Some((lead_id, product_id, old_stage)) = row else { return Err($crate::StoreError::NotFound) };
                sqlx::query::<$db>(
                    "UPDATE opportunities SET stage_key = $1, amount = $2, expected_close_on = $3, updated_at = $4 \
                     WHERE id = $5",
                )
                .bind(&update.stage_key)
                .bind(update.amount)
                .bind(&update.expected_close_on)
                .bind(update.at)
                .bind(update.id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if let (Some(lead_id), true) = (lead_id, old_stage != update.stage_key) {
                    let step = $crate::StageMove {
                        lead_id,
                        product_id,
                        from: None,
                        to: "opportunity".into(),
                        at: update.at,
                        by: update.by,
                        reason: None,
                        note: None,
                        policy_version: None,
                        mode: None,
                        sla_due_at: None,
                        opportunity: None,
                        detail: Some(format!("{old_stage}→{}", update.stage_key)),
                    };
                    Self::history_row(&mut *tx, &step, Some("opportunity"), Some(update.id)).await?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn close_opportunity(&self, close: &$crate::OpportunityClose) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin_with(Self::DIALECT.begin_write()).await.map_err(db_error)?;
                let row: Option<(Option<i64>, i64, String)> = sqlx::query_as::<$db, (Option<i64>, i64, String)>(
                    "SELECT lead_id, product_id, stage_key FROM opportunities WHERE id = $1 AND status = 'open'",
                )
                .bind(close.id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
                let Some((lead_id, product_id, stage_key)) = row else { return Err($crate::StoreError::NotFound) };
                let status = if close.won { "won" } else { "lost" };
                sqlx::query::<$db>(
                    "UPDATE opportunities SET status = $1, reason = $2, note = $3, competitor = $4, \
                     competitor_installed_on = $5, reapproach_on = $6, updated_at = $7, closed_at = $7 WHERE id = $8",
                )
                .bind(status)
                .bind(&close.reason)
                .bind(&close.note)
                .bind(&close.competitor)
                .bind(&close.competitor_installed_on)
                .bind(&close.reapproach_on)
                .bind(close.at)
                .bind(close.id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if let Some(lead_id) = lead_id {
                    let current: Option<(String,)> = sqlx::query_as::<$db, (String,)>(
                        "SELECT stage FROM lead_stages WHERE lead_id = $1 AND product_id = $2",
                    )
                    .bind(lead_id)
                    .bind(product_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let step = $crate::StageMove {
                        lead_id,
                        product_id,
                        from: None,
                        to: status.into(),
                        at: close.at,
                        by: close.by,
                        reason: Some(close.reason.clone()),
                        note: close.note.clone(),
                        policy_version: None,
                        mode: None,
                        sla_due_at: None,
                        opportunity: None,
                        detail: Some(stage_key),
                    };
                    Self::set_stage(&mut *tx, &step).await?;
                    Self::history_row(&mut *tx, &step, current.as_ref().map(|(s,)| s.as_str()), Some(close.id)).await?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn won_accounts(&self, product_id: i64, account_ids: &[i64]) -> $crate::StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = self
                    .rows_in(
                        &format!(
                            "SELECT DISTINCT account_id FROM opportunities WHERE product_id = {product_id} \
                             AND status = 'won' AND account_id IN ({{}})"
                        ),
                        account_ids,
                    )
                    .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }
        }
    };
}
