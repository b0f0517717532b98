//! The scenarios of `hatake bench ui`: which pages each one requests, and in what order.

use super::{Ids, COMPANY_FRAGMENTS, SURNAMES};
use hatake_web::pages::url_encode;
use rand::rngs::SmallRng;
use rand::Rng as _;

/// What one scenario requests: a fixed set of paths rotated per request, or random lead pages.
#[derive(Debug, Clone)]
pub(super) enum Paths {
    /// (variant, path)
    Rotate(Vec<(usize, String)>),
    /// `/leads/{id}` with `id` uniform in `1..=max`.
    LeadDetail { max: i64 },
}

#[derive(Debug, Clone)]
pub(super) struct Scenario {
    pub(super) name: &'static str,
    /// Names of the variants the paths fall into (for a per-variant breakdown).
    pub(super) variants: Vec<&'static str>,
    pub(super) paths: Paths,
    /// Whether this is the baseline rather than a page with a target.
    pub(super) baseline: bool,
}

impl Paths {
    pub(super) fn pick(&self, rng: &mut SmallRng, counter: usize) -> (usize, String) {
        match self {
            Paths::Rotate(paths) => paths[counter % paths.len()].clone(),
            Paths::LeadDetail { max } => (0, format!("/leads/{}", rng.gen_range(1..=*max))),
        }
    }

    pub(super) fn first(&self) -> (usize, String) {
        match self {
            Paths::Rotate(paths) => paths[0].clone(),
            Paths::LeadDetail { max } => (0, format!("/leads/{}", (max + 1) / 2)),
        }
    }
}

pub(super) fn scenarios(ids: &Ids, leads: usize) -> Vec<Scenario> {
    let tokyo = url_encode("東京都");
    let osaka = url_encode("大阪府");
    let mut filtered = Vec::new();
    for owner in &ids.owners {
        filtered.push((0, format!("/leads?kind=lead&owner={owner}&prefecture={tokyo}")));
    }
    for product in &ids.products {
        filtered.push((1, format!("/leads?product={product}")));
        filtered.push((2, format!("/leads?kind=lead&product={product}&prefecture={osaka}")));
    }
    let mut search = Vec::new();
    for surname in SURNAMES {
        let variant = if surname.chars().count() == 1 { 1 } else { 0 };
        search.push((variant, format!("/leads?q={}", url_encode(surname))));
    }
    for fragment in COMPANY_FRAGMENTS {
        search.push((2, format!("/leads?q={}", url_encode(fragment))));
    }
    vec![
        Scenario {
            name: "/healthz (baseline)",
            variants: vec!["healthz"],
            paths: Paths::Rotate(vec![(0, "/healthz".into())]),
            baseline: true,
        },
        Scenario {
            name: "lead list, first page",
            variants: vec!["/leads"],
            paths: Paths::Rotate(vec![(0, "/leads".into())]),
            baseline: false,
        },
        Scenario {
            name: "lead list, filtered",
            variants: vec!["kind=lead&owner&prefecture=東京都", "product", "kind=lead&product&prefecture=大阪府"],
            paths: Paths::Rotate(interleave(filtered)),
            baseline: false,
        },
        Scenario {
            name: "lead list, search",
            variants: vec!["surname (2+ chars)", "surname (1 char)", "company name"],
            paths: Paths::Rotate(search),
            baseline: false,
        },
        Scenario {
            name: "lead detail",
            variants: vec!["/leads/{id}"],
            paths: Paths::LeadDetail { max: leads as i64 },
            baseline: false,
        },
    ]
}

/// Reorders paths so consecutive requests alternate between variants.
fn interleave(mut paths: Vec<(usize, String)>) -> Vec<(usize, String)> {
    let mut position = std::collections::HashMap::<usize, usize>::new();
    let mut keyed: Vec<(usize, usize, (usize, String))> = paths
        .drain(..)
        .map(|p| {
            let n = position.entry(p.0).or_default();
            *n += 1;
            (*n, p.0, p)
        })
        .collect();
    keyed.sort_by_key(|(n, variant, _)| (*n, *variant));
    keyed.into_iter().map(|(_, _, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_interleave_variants() {
        let paths = interleave(vec![(0, "a".into()), (0, "b".into()), (1, "c".into()), (1, "d".into())]);
        let variants: Vec<usize> = paths.iter().map(|p| p.0).collect();
        assert_eq!(variants, vec![0, 1, 0, 1]);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_encode("東京都"), "%E6%9D%B1%E4%BA%AC%E9%83%BD");
        assert_eq!(url_encode("a b&c"), "a%20b%26c");
        // `url_encode` leaves `/` alone; none of the encoded values has one.
        assert!(["東京都", "大阪府"].iter().chain(SURNAMES).chain(COMPANY_FRAGMENTS).all(|v| !v.contains('/')));
    }
}
