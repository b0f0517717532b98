//! Bringing stored data up to what the current version derives from it, once, after an
//! upgrade: matching keys for leads written before they existed (or under an older key
//! scheme), search documents written under an older scheme, and department classes for leads
//! written before the dictionary.

use crate::settings::{departments, save_departments, SETTING_DEPARTMENTS};
use hatake_store::{Store, StoreResult};

/// The version of the matching keys (`hatake_domain::matching::lead`); raise it when the
/// keys change, and every lead is keyed again on the next start.
pub const KEYS_VERSION: &str = "3";
/// Where the store records the key version its leads have.
pub const SETTING_KEYS_VERSION: &str = "matching.keys_version";

/// The version of the search documents (`hatake_domain::text::search_document`); raise it
/// when they change, and every lead is indexed again on the next start. 2: kana folded to
/// hiragana, names also indexed without their space.
pub const SEARCH_VERSION: &str = "2";
/// Where the store records the version of its leads' search documents.
pub const SETTING_SEARCH_VERSION: &str = "search.version";

/// An import that wrote no batch for this long was stopped with its process (a batch takes
/// seconds; a batch of 100,000 rows on a slow PostgreSQL under a minute).
pub const STALLED_AFTER_MS: i64 = 5 * 60 * 1000;

/// What [`bring_up_to_date`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upgraded {
    pub rekeyed: bool,
    pub reindexed: bool,
    pub reclassified: Option<u64>,
    /// Imports found stopped half-way and marked failed.
    pub stalled_imports: u64,
}

/// Keys and classifies what needs it; cheap (two settings reads) when nothing does.
///
/// # Errors
/// On a database error.
pub async fn bring_up_to_date(store: &dyn Store, now: i64) -> StoreResult<Upgraded> {
    let mut upgraded = Upgraded {
        stalled_imports: store.fail_stalled_imports(now - STALLED_AFTER_MS, now).await?,
        ..Upgraded::default()
    };
    if store.get_setting(SETTING_KEYS_VERSION).await?.as_deref() != Some(KEYS_VERSION) {
        let mut after = 0;
        while let Some(last) = store.rekey_leads(after, 5_000).await? {
            after = last;
        }
        store.put_setting(SETTING_KEYS_VERSION, KEYS_VERSION, now).await?;
        upgraded.rekeyed = true;
    }
    if store.get_setting(SETTING_SEARCH_VERSION).await?.as_deref() != Some(SEARCH_VERSION) {
        let mut after = 0;
        while let Some(last) = store.reindex_leads(after, 5_000).await? {
            after = last;
        }
        store.put_setting(SETTING_SEARCH_VERSION, SEARCH_VERSION, now).await?;
        upgraded.reindexed = true;
    }
    if store.get_setting(SETTING_DEPARTMENTS).await?.is_none() {
        let dictionary = departments(store).await?;
        upgraded.reclassified = Some(save_departments(store, &dictionary, None, now).await?);
    }
    Ok(upgraded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatake_store::{LeadQuery, LeadStore, ResolutionStore};

    #[tokio::test]
    async fn stored_leads_are_keyed_again_and_classified_once() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open");
        let lead = hatake_domain::LeadInput {
            company_name: Some("株式会社ひまわり商事".into()),
            family_name: Some("佐藤".into()),
            given_name: Some("太郎".into()),
            department: Some("情報システム部".into()),
            ..hatake_domain::LeadInput::default()
        }
        .validate(&[])
        .expect("valid");
        // Written without a class, as before the dictionary existed.
        let stored = store.create_lead(&lead, false, 1).await.expect("create");
        assert_eq!(store.rekey_leads(stored.id, 10).await.expect("past the end"), None);
        let key = hatake_domain::matching::key_hash("n:ひまわり商事|佐藤");
        let found = store.match_candidate_ids(&[key], &[], 50).await.expect("ids");
        assert_eq!(found, vec![stored.id], "create_lead keys the lead itself");

        let first = bring_up_to_date(&store, 2).await.expect("upgrade");
        assert!(first.rekeyed && first.reindexed);
        assert_eq!(first.reclassified, Some(1), "the class was missing");
        let query = LeadQuery { department_class: Some("it".into()), limit: 10, ..LeadQuery::default() };
        assert_eq!(store.list_leads(&query).await.expect("list").items.len(), 1);
        assert_eq!(store.match_candidate_ids(&[key], &[], 50).await.expect("ids"), vec![stored.id]);
        let second = bring_up_to_date(&store, 3).await.expect("again");
        assert_eq!(second, Upgraded::default(), "nothing to do the second time");
    }
}
