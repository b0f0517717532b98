//! The record-linkage engine: compare two records field by field into a pattern of agreement
//! levels, weigh the pattern (Fellegi–Sunter log-likelihood ratios, given or estimated from the
//! data by expectation–maximisation), and find candidate pairs by blocking.
//!
//! The lead matcher ([`super::lead`]) is one configuration of this engine; the FEBRL benchmark
//! is another. Both go through the same comparison, weighting and blocking code.

use super::similarity::{jaro_winkler, jaro_winkler_ascii};
use std::collections::HashMap;

/// How one field is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Comparator {
    /// Agree when equal, else disagree.
    Exact,
    /// Jaro–Winkler: agree at `agree` or above, partly agree at `partial` or above.
    Similar { agree: f64, partial: f64 },
    /// As `Similar`, and two names of the same length that differ in one character partly
    /// agree however short they are (太郎 / 太朗: Jaro–Winkler is crude on two characters).
    Name { agree: f64, partial: f64 },
    /// As `Similar` for names of organisations, where a number is part of the name: two names
    /// whose numbers differ (ウォーク00商事 / ウォーク30商事, 第一物産 / 第二物産) disagree however
    /// alike the rest is.
    Organisation { agree: f64, partial: f64 },
}

/// The numbers in a name, in order: ASCII digits and kanji numerals.
fn numbers_of(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().filter(|c| c.is_ascii_digit() || "〇一二三四五六七八九十百千万".contains(*c))
}

/// Agreement level of one field in a compared pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Missing = 0,
    Disagree = 1,
    Partial = 2,
    Agree = 3,
}

impl Level {
    const ALL: [Level; 4] = [Level::Missing, Level::Disagree, Level::Partial, Level::Agree];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Missing => "missing",
            Level::Disagree => "disagree",
            Level::Partial => "partial",
            Level::Agree => "agree",
        }
    }
}

/// A field value prepared once for many comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub text: Box<str>,
    /// The characters, kept only for non-ASCII text (ASCII compares on `text`'s bytes).
    chars: Option<Box<[char]>>,
}

impl Prepared {
    /// `None` for empty text.
    pub fn new(text: &str) -> Option<Self> {
        if text.is_empty() {
            return None;
        }
        let chars = (!text.is_ascii()).then(|| text.chars().collect());
        Some(Self { text: text.into(), chars })
    }
}

/// A record as the engine sees it: one optional prepared value per schema field.
pub type Record = Vec<Option<Prepared>>;

/// Up to 16 fields' levels packed two bits each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pattern(u32);

impl Pattern {
    pub const MAX_FIELDS: usize = 16;

    pub fn level(self, field: usize) -> Level {
        Level::ALL[((self.0 >> (field * 2)) & 3) as usize]
    }

    fn set(&mut self, field: usize, level: Level) {
        self.0 = (self.0 & !(3 << (field * 2))) | ((level as u32) << (field * 2));
    }

    /// The same pattern with one field's level replaced.
    #[must_use]
    pub fn with(mut self, field: usize, level: Level) -> Self {
        self.set(field, level);
        self
    }
}

/// Compares two records field by field.
pub fn compare(comparators: &[Comparator], a: &Record, b: &Record) -> Pattern {
    debug_assert!(comparators.len() <= Pattern::MAX_FIELDS);
    let mut pattern = Pattern::default();
    for (field, comparator) in comparators.iter().enumerate() {
        pattern.set(field, compare_field(*comparator, &a[field], &b[field]));
    }
    pattern
}

/// Compares one field of two records (missing when either lacks it).
pub fn compare_field(comparator: Comparator, a: &Option<Prepared>, b: &Option<Prepared>) -> Level {
    match (a, b) {
        (Some(x), Some(y)) => compare_values(comparator, x, y),
        _ => Level::Missing,
    }
}

fn compare_values(comparator: Comparator, a: &Prepared, b: &Prepared) -> Level {
    if a.text == b.text {
        return Level::Agree;
    }
    match comparator {
        Comparator::Exact => Level::Disagree,
        Comparator::Name { agree, partial } => {
            let level = compare_values(Comparator::Similar { agree, partial }, a, b);
            if level == Level::Disagree && one_substitution(a, b) {
                Level::Partial
            } else {
                level
            }
        }
        Comparator::Organisation { agree, partial } => {
            if !numbers_of(&a.text).eq(numbers_of(&b.text)) {
                return Level::Disagree;
            }
            compare_values(Comparator::Similar { agree, partial }, a, b)
        }
        Comparator::Similar { agree, partial } => {
            let similarity = match (&a.chars, &b.chars) {
                (None, None) => jaro_winkler_ascii(a.text.as_bytes(), b.text.as_bytes()),
                (Some(x), Some(y)) => jaro_winkler(x, y),
                _ => {
                    let x: Vec<char> = a.text.chars().collect();
                    let y: Vec<char> = b.text.chars().collect();
                    jaro_winkler(&x, &y)
                }
            };
            if similarity >= agree {
                Level::Agree
            } else if similarity >= partial {
                Level::Partial
            } else {
                Level::Disagree
            }
        }
    }
}

fn one_substitution(a: &Prepared, b: &Prepared) -> bool {
    fn one<T: PartialEq>(x: &[T], y: &[T]) -> bool {
        x.len() == y.len() && x.len() >= 2 && x.iter().zip(y).filter(|(p, q)| p != q).count() == 1
    }
    match (&a.chars, &b.chars) {
        (None, None) => one(a.text.as_bytes(), b.text.as_bytes()),
        (Some(x), Some(y)) => one(x, y),
        // One ASCII and one not: compare characters.
        _ => {
            let (x, y): (Vec<char>, Vec<char>) = (a.text.chars().collect(), b.text.chars().collect());
            one(&x, &y)
        }
    }
}

/// Log₂ likelihood-ratio weights per field and level (missing is always 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Weights(pub Vec<[f64; 4]>);

impl Weights {
    /// Weights from m (share among true matches) and u (share among non-matches) for the
    /// disagree, partial and agree levels of each field.
    pub fn from_m_u(m_u: &[([f64; 3], [f64; 3])]) -> Self {
        Self(m_u.iter().map(|(m, u)| [0.0, (m[0] / u[0]).log2(), (m[1] / u[1]).log2(), (m[2] / u[2]).log2()]).collect())
    }

    pub fn score(&self, pattern: Pattern) -> f64 {
        self.0.iter().enumerate().map(|(field, w)| w[pattern.level(field) as usize]).sum()
    }

    /// Weight of one field's level, for explaining a score.
    pub fn weight(&self, field: usize, level: Level) -> f64 {
        self.0[field][level as usize]
    }
}

/// The result of [`estimate`]: weights and the estimated share of matches among the pairs.
#[derive(Debug, Clone)]
pub struct Estimate {
    pub weights: Weights,
    pub match_share: f64,
    /// Score above which a pair is more likely a match than not (log₂ prior odds, negated).
    pub threshold: f64,
}

/// Expectation–maximisation of m and u per field level under conditional independence (the
/// classic unsupervised Fellegi–Sunter fit), from the patterns of all candidate pairs.
pub fn estimate(fields: usize, patterns: &HashMap<Pattern, u64>, iterations: usize) -> Estimate {
    // Start: matches mostly agree, non-matches mostly disagree; a small share of matches.
    let mut m = vec![[0.0, 0.1, 0.1, 0.8]; fields];
    let mut u = vec![[0.0, 0.8, 0.1, 0.1]; fields];
    let mut p = 0.05;
    let total: u64 = patterns.values().sum();
    #[allow(clippy::cast_precision_loss)]
    let total = total.max(1) as f64;
    for _ in 0..iterations {
        let mut m_next = vec![[1e-6; 4]; fields];
        let mut u_next = vec![[1e-6; 4]; fields];
        let mut matches = 0.0;
        for (&pattern, &count) in patterns {
            let (mut pm, mut pu) = (p, 1.0 - p);
            for field in 0..fields {
                let level = pattern.level(field) as usize;
                if level != 0 {
                    pm *= m[field][level];
                    pu *= u[field][level];
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let count = count as f64;
            let posterior = if pm + pu > 0.0 { pm / (pm + pu) } else { 0.0 };
            matches += posterior * count;
            for field in 0..fields {
                let level = pattern.level(field) as usize;
                m_next[field][level] += posterior * count;
                u_next[field][level] += (1.0 - posterior) * count;
            }
        }
        for field in 0..fields {
            // Shares among the pairs where the field is present.
            let m_sum: f64 = m_next[field][1..].iter().sum();
            let u_sum: f64 = u_next[field][1..].iter().sum();
            for level in 1..4 {
                m[field][level] = m_next[field][level] / m_sum;
                u[field][level] = u_next[field][level] / u_sum;
            }
        }
        p = (matches / total).clamp(1e-9, 1.0 - 1e-9);
    }
    let weights = Weights(
        m.iter()
            .zip(&u)
            .map(|(m, u)| [0.0, (m[1] / u[1]).log2(), (m[2] / u[2]).log2(), (m[3] / u[3]).log2()])
            .collect(),
    );
    Estimate { weights, match_share: p, threshold: ((1.0 - p) / p).log2() }
}

/// Blocking: records sharing any key are compared. Keys with more than `max_block` records
/// are skipped, so one very common key (a common surname) cannot make the work quadratic.
#[derive(Debug, Default)]
pub struct BlockIndex {
    blocks: HashMap<Box<str>, Vec<u32>>,
}

impl BlockIndex {
    pub fn insert(&mut self, key: &str, record: u32) {
        if let Some(list) = self.blocks.get_mut(key) {
            list.push(record);
        } else {
            self.blocks.insert(key.into(), vec![record]);
        }
    }

    pub fn get(&self, key: &str) -> &[u32] {
        self.blocks.get(key).map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// Collects each distinct candidate for one record across its keys, without a hash set: a
/// stamp per indexed record says whether it was already taken for the current query.
#[derive(Debug)]
pub struct CandidateCollector {
    stamps: Vec<u32>,
    round: u32,
    pub max_block: usize,
}

impl CandidateCollector {
    pub fn new(records: usize, max_block: usize) -> Self {
        Self { stamps: vec![0; records], round: 0, max_block }
    }

    /// Grows to cover records added to the index since.
    pub fn cover(&mut self, records: usize) {
        if self.stamps.len() < records {
            self.stamps.resize(records, 0);
        }
    }

    /// The distinct records sharing any of `keys`, appended to `out` (cleared first).
    pub fn collect<'k>(&mut self, index: &BlockIndex, keys: impl IntoIterator<Item = &'k str>, out: &mut Vec<u32>) {
        out.clear();
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            self.stamps.fill(0);
            self.round = 1;
        }
        for key in keys {
            let block = index.get(key);
            if block.len() > self.max_block {
                continue;
            }
            for &record in block {
                let stamp = &mut self.stamps[record as usize];
                if *stamp != self.round {
                    *stamp = self.round;
                    out.push(record);
                }
            }
        }
    }
}

/// A scored candidate pair between two record sets.
#[derive(Debug, Clone, Copy)]
pub struct ScoredPair {
    pub a: u32,
    pub b: u32,
    pub score: f64,
}

/// One-to-one assignment: the best-scoring pairs first, each record used at most once, pairs
/// below `threshold` dropped. For linking two lists in which each entity appears at most once.
pub fn one_to_one(mut pairs: Vec<ScoredPair>, a_len: usize, b_len: usize, threshold: f64) -> Vec<ScoredPair> {
    pairs.retain(|p| p.score >= threshold);
    pairs.sort_unstable_by(|x, y| y.score.total_cmp(&x.score).then(x.a.cmp(&y.a)).then(x.b.cmp(&y.b)));
    let mut a_used = vec![false; a_len];
    let mut b_used = vec![false; b_len];
    pairs
        .into_iter()
        .filter(|p| {
            let free = !a_used[p.a as usize] && !b_used[p.b as usize];
            if free {
                a_used[p.a as usize] = true;
                b_used[p.b as usize] = true;
            }
            free
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(values: &[&str]) -> Record {
        values.iter().map(|v| Prepared::new(v)).collect()
    }

    #[test]
    fn patterns_hold_one_level_per_field() {
        let comparators = [Comparator::Exact, Comparator::Similar { agree: 0.95, partial: 0.8 }, Comparator::Exact];
        let cases: &[(&[&str], &[&str], [Level; 3])] = &[
            (&["a", "martha", "x"], &["a", "martha", "x"], [Level::Agree, Level::Agree, Level::Agree]),
            (&["a", "martha", ""], &["b", "marhta", "x"], [Level::Disagree, Level::Agree, Level::Missing]),
            (&["a", "dwayne", "x"], &["a", "duane", "y"], [Level::Agree, Level::Partial, Level::Disagree]),
            (&["a", "dixon", "x"], &["a", "smith", "x"], [Level::Agree, Level::Disagree, Level::Agree]),
            (&["a", "dixon", "x"], &["a", "dicksonx", "x"], [Level::Agree, Level::Partial, Level::Agree]),
            (&["a", "jones", "x"], &["a", "johnson", "x"], [Level::Agree, Level::Partial, Level::Agree]),
        ];
        for (a, b, expected) in cases {
            let pattern = compare(&comparators, &record(a), &record(b));
            let got: Vec<Level> = (0..3).map(|f| pattern.level(f)).collect();
            assert_eq!(got, expected.to_vec(), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn em_separates_matches_from_non_matches() {
        // 100 pairs agreeing on both fields, 900 disagreeing on both, 50 mixed.
        let mut agree = Pattern::default();
        agree.set(0, Level::Agree);
        agree.set(1, Level::Agree);
        let mut disagree = Pattern::default();
        disagree.set(0, Level::Disagree);
        disagree.set(1, Level::Disagree);
        let mut mixed = Pattern::default();
        mixed.set(0, Level::Agree);
        mixed.set(1, Level::Disagree);
        let patterns = HashMap::from([(agree, 100), (disagree, 900), (mixed, 50)]);
        let estimate = estimate(2, &patterns, 50);
        assert!(estimate.weights.score(agree) > estimate.threshold);
        assert!(estimate.weights.score(disagree) < estimate.threshold);
        assert!((estimate.match_share - 0.1).abs() < 0.05, "{}", estimate.match_share);
    }

    #[test]
    fn blocking_skips_oversized_blocks_and_deduplicates() {
        let mut index = BlockIndex::default();
        for record in 0..10 {
            index.insert("common", record);
        }
        index.insert("rare", 3);
        index.insert("other", 3);
        index.insert("other", 4);
        let mut collector = CandidateCollector::new(10, 5);
        let mut out = Vec::new();
        collector.collect(&index, ["common", "rare", "other"], &mut out);
        assert_eq!(out, vec![3, 4]);
        collector.collect(&index, ["rare"], &mut out);
        assert_eq!(out, vec![3]);
    }

    #[test]
    fn one_to_one_keeps_the_best_pair_per_record() {
        let pairs = vec![
            ScoredPair { a: 0, b: 0, score: 10.0 },
            ScoredPair { a: 0, b: 1, score: 12.0 },
            ScoredPair { a: 1, b: 1, score: 11.0 },
            ScoredPair { a: 1, b: 0, score: 9.0 },
            ScoredPair { a: 2, b: 2, score: 1.0 },
        ];
        let kept: Vec<(u32, u32)> = one_to_one(pairs, 3, 3, 5.0).iter().map(|p| (p.a, p.b)).collect();
        assert_eq!(kept, vec![(0, 1), (1, 0)]);
    }
}
