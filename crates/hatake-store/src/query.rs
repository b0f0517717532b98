//! List queries with keyset (cursor) pagination, shared by both backends.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hatake_domain::text::SearchQuery;
use serde::{Deserialize, Serialize};

/// Most rows one page may hold.
pub const MAX_PAGE_SIZE: u32 = 200;
/// Counting stops here; a larger total is shown as "1,000+". (Counting further costs a
/// row visit per match on every page load; the exact size of a segment is a report's job.)
pub const COUNT_CAP: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadKind {
    /// Every required field is present.
    Lead,
    /// Something required is missing.
    List,
    #[default]
    All,
}

impl LeadKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "lead" => Some(Self::Lead),
            "list" => Some(Self::List),
            "all" | "" => Some(Self::All),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSort {
    /// Most recently updated first.
    #[default]
    Updated,
    /// Newest first.
    Created,
    /// By reading (kana), then name.
    Name,
    /// By the engagement score for this product, highest first (leads scored for it only).
    Score(i64),
}

impl LeadSort {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "updated" | "" => Some(Self::Updated),
            "created" => Some(Self::Created),
            "name" => Some(Self::Name),
            other => other.strip_prefix("score:").and_then(|p| p.parse().ok()).map(Self::Score),
        }
    }

    /// The sort as a query parameter (`updated`, `score:3` …).
    pub fn param(self) -> String {
        match self {
            Self::Updated => "updated".into(),
            Self::Created => "created".into(),
            Self::Name => "name".into(),
            Self::Score(product) => format!("score:{product}"),
        }
    }
}

/// Where a page starts: just after (or, going back, just before) the row with this sort key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `n` for a number key, `s` for a text key.
    #[serde(skip_serializing_if = "Option::is_none", rename = "n")]
    pub number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "s")]
    pub text: Option<String>,
    pub id: i64,
    /// true: the page before this row.
    #[serde(default, skip_serializing_if = "std::ops::Not::not", rename = "b")]
    pub backward: bool,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// `None` for anything that is not a cursor this store made.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[derive(Debug, Clone, Default)]
pub struct LeadQuery {
    pub search: Option<SearchQuery>,
    pub product_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub account_id: Option<i64>,
    pub kind: LeadKind,
    pub prefecture: Option<String>,
    /// A department class key (see `hatake_domain::department`).
    pub department_class: Option<String>,
    /// Only leads an import created, changed or confirmed.
    pub import_id: Option<i64>,
    pub sort: LeadSort,
    pub cursor: Option<Cursor>,
    pub limit: u32,
    /// Whether to count the matches (capped at [`COUNT_CAP`]).
    pub count: bool,
}

impl LeadQuery {
    /// Whether a search is the only condition (then the search index alone can count).
    pub fn only_search(&self) -> bool {
        self.search.is_some()
            && self.product_id.is_none()
            && self.owner_id.is_none()
            && self.account_id.is_none()
            && self.kind == LeadKind::All
            && self.prefecture.is_none()
            && self.department_class.is_none()
            && self.import_id.is_none()
    }
}

#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Substring of the normalised name, or a corporate number.
    pub search: Option<String>,
    pub prefecture: Option<String>,
    pub cursor: Option<Cursor>,
    pub limit: u32,
    pub count: bool,
}

/// A count that may have stopped at [`COUNT_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Total {
    pub value: i64,
    /// true when the real total is larger than `value`.
    pub capped: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
    pub prev: Option<String>,
    pub total: Option<Total>,
}

/// Turns `limit + 1` rows fetched in query order into a page with next and previous cursors.
/// `key` gives a row's cursor key; `backward` says the rows were fetched in reverse order.
pub fn paginate<T>(mut rows: Vec<T>, limit: u32, cursor: Option<&Cursor>, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let limit = limit as usize;
    let backward = cursor.is_some_and(|c| c.backward);
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    if backward {
        rows.reverse();
    }
    // Going forward, a previous page exists when we started from a cursor; going backward, a
    // next page always exists (we came from it) and a previous one exists when there was more.
    let (more_before, more_after) = if backward { (has_more, true) } else { (cursor.is_some(), has_more) };
    let next = rows.last().filter(|_| more_after).map(|row| Cursor { backward: false, ..key(row) }.encode());
    let prev = rows.first().filter(|_| more_before).map(|row| Cursor { backward: true, ..key(row) }.encode());
    Page { items: rows, next, prev, total: None }
}

/// The page size to use: `requested` within 1..=[`MAX_PAGE_SIZE`], 50 when zero.
pub fn page_size(requested: u32) -> u32 {
    match requested {
        0 => 50,
        n => n.min(MAX_PAGE_SIZE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &i64) -> Cursor {
        Cursor { number: Some(*n), text: None, id: *n, backward: false }
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        let cursor = Cursor { number: Some(5), text: Some("ヤマダ".into()), id: 9, backward: true };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("not a cursor!"), None);
        assert_eq!(Cursor::decode(""), None);
    }

    #[test]
    fn first_middle_and_backward_pages() {
        let first = paginate(vec![1, 2, 3], 2, None, key);
        assert_eq!(first.items, [1, 2]);
        assert!(first.prev.is_none());
        let next = Cursor::decode(first.next.as_deref().unwrap()).unwrap();
        assert_eq!(next.id, 2);
        let last = paginate(vec![3], 2, Some(&next), key);
        assert!(last.next.is_none());
        let prev = Cursor::decode(last.prev.as_deref().unwrap()).unwrap();
        assert!(prev.backward);
        // Fetched backward from 3: rows arrive 2, 1 (and nothing more).
        let back = paginate(vec![2, 1], 2, Some(&prev), key);
        assert_eq!(back.items, [1, 2]);
        assert!(back.prev.is_none());
        assert!(back.next.is_some());
    }
}
