//! The lead matcher: which stored person an incoming record is.
//!
//! An e-mail address that belongs to one person (not `info@…`) is an exact key: the same
//! address is the same person. Otherwise records are compared on name, reading (kana), company,
//! phone, e-mail and prefecture, and the Fellegi–Sunter score decides: at
//! [`MERGE_THRESHOLD`] or above the records are merged; from [`REVIEW_THRESHOLD`] a person
//! decides in the review queue; below, the record is a new person.

use super::engine::{compare, compare_field, Comparator, Level, Pattern, Prepared, Record, Weights};
use crate::company::normalise_company_name;
use crate::text::search_key;
use crate::LeadData;
use serde::Serialize;
use std::sync::OnceLock;

/// Score from which two records are merged without asking.
pub const MERGE_THRESHOLD: f64 = 15.0;
/// Score from which a pair goes to the review queue.
pub const REVIEW_THRESHOLD: f64 = 11.0;
/// The organisation fields (company, landline, e-mail domain, prefecture) all say "works at
/// the same place"; colleagues share them. Together they add at most this much.
pub const ORGANISATION_CAP: f64 = 6.0;

/// What an agreeing reading adds when the written names agree already.
const KANA_WHEN_NAMES_AGREE: f64 = 1.0;

/// The compared fields, in schema order.
pub const FIELDS: [&str; 10] = [
    "family_name",
    "given_name",
    "kana",
    "kana_full",
    "company",
    "phone",
    "mobile",
    "email",
    "email_domain",
    "prefecture",
];
const FAMILY: usize = 0;
const GIVEN: usize = 1;
const KANA: usize = 2;
const KANA_FULL: usize = 3;
const COMPANY: usize = 4;
const PHONE: usize = 5;
const MOBILE: usize = 6;
const EMAIL: usize = 7;
const DOMAIN: usize = 8;
const PREFECTURE: usize = 9;
const ORGANISATION: [usize; 4] = [COMPANY, PHONE, DOMAIN, PREFECTURE];

const SIMILAR: Comparator = Comparator::Similar { agree: 0.95, partial: 0.85 };
const NAME: Comparator = Comparator::Name { agree: 0.95, partial: 0.85 };
const COMPARATORS: [Comparator; 10] = [
    NAME,
    NAME,
    SIMILAR,
    SIMILAR,
    Comparator::Organisation { agree: 0.95, partial: 0.88 },
    Comparator::Exact,
    Comparator::Exact,
    Comparator::Exact,
    Comparator::Exact,
    Comparator::Exact,
];

/// m and u shares (disagree, partial, agree) per field. A landline is often a company's main
/// number shared by colleagues, so it weighs little; a mobile number is personal.
const M_U: [([f64; 3], [f64; 3]); 10] = [
    ([0.03, 0.02, 0.95], [0.98, 0.01, 0.01]),
    ([0.03, 0.07, 0.90], [0.985, 0.01, 0.005]),
    ([0.05, 0.10, 0.85], [0.985, 0.012, 0.003]),
    ([0.05, 0.10, 0.85], [0.985, 0.012, 0.003]),
    ([0.10, 0.10, 0.80], [0.95, 0.02, 0.03]),
    ([0.40, 1.0, 0.60], [0.94, 1.0, 0.06]),
    ([0.30, 1.0, 0.70], [0.9995, 1.0, 0.0005]),
    ([0.30, 1.0, 0.70], [0.9999, 1.0, 0.0001]),
    ([0.15, 1.0, 0.85], [0.90, 1.0, 0.10]),
    ([0.10, 1.0, 0.90], [0.85, 1.0, 0.15]),
];

fn weights() -> &'static Weights {
    static WEIGHTS: OnceLock<Weights> = OnceLock::new();
    WEIGHTS.get_or_init(|| Weights::from_m_u(&M_U))
}

/// Local parts that name a role, not a person: never an identity key.
const ROLE_ADDRESSES: &[&str] = &[
    "info",
    "information",
    "sales",
    "eigyo",
    "eigyou",
    "contact",
    "support",
    "office",
    "admin",
    "soumu",
    "somu",
    "jinji",
    "saiyo",
    "saiyou",
    "recruit",
    "pr",
    "press",
    "koho",
    "kouhou",
    "marketing",
    "mail",
    "webmaster",
    "inquiry",
    "toiawase",
    "otoiawase",
    "customer",
    "service",
    "help",
    "desk",
    "general",
    "hr",
    "it",
    "system",
    "noreply",
    "no-reply",
];

/// Whether an address's local part names a role (`info@`, `sales@` …) rather than a person.
pub fn is_role_address(email: &str) -> bool {
    let local = email.split('@').next().unwrap_or("");
    let stem = local.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_' || c == '.');
    ROLE_ADDRESSES.contains(&stem)
}

fn is_mobile(digits: &str) -> bool {
    digits.len() == 11 && ["070", "080", "090"].iter().any(|p| digits.starts_with(p))
}

/// Reading as comparable katakana: hiragana folded to katakana, spaces and dots removed.
pub fn kana_key(kana: &str) -> String {
    search_key(kana)
        .chars()
        .map(|c| if ('ぁ'..='ゖ').contains(&c) { char::from_u32(c as u32 + 0x60).unwrap_or(c) } else { c })
        .collect()
}

/// A blocking key as the store keeps it: the 64-bit FNV-1a hash of its UTF-8 bytes. Stored,
/// so it must never change (a new scheme needs new `KEYS_VERSION` in the engine, which keys
/// every lead again). Two keys sharing a hash only make a lead a candidate that is then
/// compared and found unlike.
pub fn key_hash(key: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// A lead prepared for matching: its compared fields and blocking keys.
#[derive(Debug, Clone)]
pub struct LeadFeatures {
    record: Record,
    /// The whole name as compared (no spaces): a name split differently, or not at all, is
    /// still the same name.
    name: Box<str>,
    /// The identity e-mail (lower case), unless it is a role address.
    pub email: Option<String>,
    pub keys: Vec<String>,
}

impl LeadFeatures {
    pub fn new(lead: &LeadData) -> Self {
        let name = search_key(&lead.full_name());
        // A whole name in the family field (「田中太郎」) is split as an import splits it.
        let split = match (&lead.family_name, &lead.given_name) {
            (Some(whole), None) => {
                let reading = crate::lead::join_name(lead.family_name_kana.as_deref(), lead.given_name_kana.as_deref());
                crate::name::split_full_name(whole, Some(&reading))
            }
            _ => (lead.family_name.clone(), lead.given_name.clone()),
        };
        // Variant characters (髙 for 高, 齋 for 斎) are one name.
        let fold = |part: &str| crate::name::fold_variants(&search_key(part));
        let family = split.0.as_deref().map(fold).unwrap_or_default();
        let given = split.1.as_deref().map(fold).unwrap_or_default();
        let name = crate::name::fold_variants(&name);
        let kana = kana_key(&crate::lead::join_name(lead.family_name_kana.as_deref(), lead.given_name_kana.as_deref()));
        // The given name's reading, when the reading was given in two parts: it tells 太郎 (タロウ)
        // from 次郎 (ジロウ) where the family names agree anyway.
        let kana_given = match (&lead.family_name_kana, &lead.given_name_kana) {
            (Some(_), Some(given)) => kana_key(given),
            _ => String::new(),
        };
        let company = lead.company_name.as_deref().map(normalise_company_name).unwrap_or_default();
        let phone = lead.phone.as_ref().map(crate::Phone::key).unwrap_or_default();
        let email = lead.email.as_ref().map(|e| e.as_str().to_owned()).filter(|e| !is_role_address(e));
        let domain = lead.email.as_ref().and_then(crate::Email::company_domain).unwrap_or_default().to_owned();
        let mut record: Record = vec![None; FIELDS.len()];
        record[FAMILY] = Prepared::new(&family);
        record[GIVEN] = Prepared::new(&given);
        record[KANA] = Prepared::new(&kana_given);
        record[KANA_FULL] = Prepared::new(&kana);
        record[COMPANY] = Prepared::new(&company);
        if is_mobile(&phone) {
            record[MOBILE] = Prepared::new(&phone);
        } else {
            record[PHONE] = Prepared::new(&phone);
        }
        record[EMAIL] = email.as_deref().and_then(Prepared::new);
        record[DOMAIN] = Prepared::new(&domain);
        record[PREFECTURE] = lead.prefecture.as_deref().and_then(Prepared::new);

        let mut keys = Vec::with_capacity(5);
        if phone.len() >= 9 {
            keys.push(format!("p:{phone}"));
        }
        if !company.is_empty() && !family.is_empty() {
            keys.push(format!("n:{company}|{family}"));
        }
        if kana.chars().count() >= 3 {
            keys.push(format!("k:{kana}"));
        }
        if name.chars().count() >= 2 {
            keys.push(format!("f:{name}"));
        }
        if !domain.is_empty() && !family.is_empty() {
            keys.push(format!("d:{domain}|{family}"));
        }
        Self { record, name: name.into(), email, keys }
    }

    /// Takes `email` as the lead's identity address when it has none: a record merged into
    /// the lead brings it (so later records of the same address find the lead).
    pub fn adopt_email(&mut self, email: &str) {
        if self.email.is_none() && !is_role_address(email) {
            self.email = Some(email.to_owned());
            self.record[EMAIL] = Prepared::new(email);
        }
    }

    /// The blocking keys as the store keeps them ([`key_hash`]).
    pub fn key_hashes(&self) -> Vec<i64> {
        self.keys.iter().map(|key| key_hash(key)).collect()
    }

    /// Whether there is enough to match on at all (a name, an e-mail or a phone).
    pub fn is_matchable(&self) -> bool {
        self.email.is_some() || !self.keys.is_empty()
    }
}

/// One field's part in a score, for showing why two records were matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub field: &'static str,
    pub level: Level,
    pub weight: f64,
}

/// How alike two prepared leads are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub score: f64,
    /// The same personal e-mail address: the same person whatever the score.
    pub same_email: bool,
    pub evidence: Vec<Evidence>,
}

impl Comparison {
    pub fn is_confident(&self) -> bool {
        self.same_email || self.score >= MERGE_THRESHOLD
    }

    pub fn needs_review(&self) -> bool {
        !self.is_confident() && self.score >= REVIEW_THRESHOLD
    }
}

/// Compares two prepared leads.
pub fn compare_leads(a: &LeadFeatures, b: &LeadFeatures) -> Comparison {
    score(a, b).comparison()
}

/// A compared pair before its evidence is spelt out (most candidates are dropped unexplained).
struct Scored {
    pattern: Pattern,
    score: f64,
    same_email: bool,
    /// What the score is besides the fields' weights, so that the evidence adds up to it:
    /// (code, points) for the reading's weight when the names agree, the organisation's cap and
    /// the cap for a missing anchor (no allocation: scoring is the matcher's inner loop).
    adjustments: [Option<(&'static str, f64)>; 3],
}

impl Scored {
    fn is_confident(&self) -> bool {
        self.same_email || self.score >= MERGE_THRESHOLD
    }

    fn needs_review(&self) -> bool {
        !self.is_confident() && self.score >= REVIEW_THRESHOLD
    }

    fn comparison(&self) -> Comparison {
        let weights = weights();
        let evidence = FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.pattern.level(*i) != Level::Missing)
            .map(|(i, field)| Evidence {
                field,
                level: self.pattern.level(i),
                weight: weights.weight(i, self.pattern.level(i)),
            })
            .chain(self.adjustments.iter().flatten().map(|(code, points)| Evidence {
                field: code,
                level: Level::Missing,
                weight: *points,
            }))
            .collect();
        Comparison { score: self.score, same_email: self.same_email, evidence }
    }
}

/// Whether anything ties two records to one company or contact: the same phone, mobile,
/// e-mail or company domain, or a company name at least partly alike. Without it a pair is
/// neither merged nor asked about (see [`score`]), so [`decide`] compares no further.
pub(crate) fn share_a_place(a: &LeadFeatures, b: &LeadFeatures) -> bool {
    let agrees = |f: usize| compare_field(COMPARATORS[f], &a.record[f], &b.record[f]) == Level::Agree;
    agrees(PHONE)
        || agrees(MOBILE)
        || agrees(EMAIL)
        || agrees(DOMAIN)
        || compare_field(COMPARATORS[COMPANY], &a.record[COMPANY], &b.record[COMPANY]) >= Level::Partial
}

fn score(a: &LeadFeatures, b: &LeadFeatures) -> Scored {
    let mut pattern: Pattern = compare(&COMPARATORS, &a.record, &b.record);
    // The same whole name split differently (or not at all on one side) is the same name.
    // Two different family names that are both common ones, read differently (山本 and 山口),
    // are two families, not a typo of one: alike as strings, they do not partly agree.
    if pattern.level(FAMILY) == Level::Partial {
        let reading = |r: &Record| r[FAMILY].as_ref().and_then(|f| crate::name::family_name_reading(&f.text));
        if let (Some(x), Some(y)) = (reading(&a.record), reading(&b.record)) {
            if x != y {
                pattern = pattern.with(FAMILY, Level::Disagree);
            }
        }
    }
    // (Only where one side has a given name: two bare family names are no person anchor.)
    if !a.name.is_empty() && a.name == b.name && (a.record[GIVEN].is_some() || b.record[GIVEN].is_some()) {
        pattern = pattern.with(FAMILY, Level::Agree).with(GIVEN, Level::Agree);
    }
    // Readings are compared once: by the given name's when both have it, else in full.
    let kana = if pattern.level(KANA) == Level::Missing { KANA_FULL } else { KANA };
    pattern = pattern.with(if kana == KANA { KANA_FULL } else { KANA }, Level::Missing);
    let weights = weights();
    let organisation: f64 = ORGANISATION.iter().map(|&f| weights.weight(f, pattern.level(f))).sum();
    let mut person: f64 =
        (0..FIELDS.len()).filter(|f| !ORGANISATION.contains(f)).map(|f| weights.weight(f, pattern.level(f))).sum();
    // A reading mostly follows from the written name: when the names agree, the same reading
    // adds little (homonyms share it too). It counts fully where the written names differ.
    let mut adjustments = [None; 3];
    if pattern.level(GIVEN) == Level::Agree && pattern.level(kana) == Level::Agree {
        let delta = KANA_WHEN_NAMES_AGREE - weights.weight(kana, Level::Agree);
        person += delta;
        adjustments[0] = Some(("adjust_kana", delta));
    }
    if organisation > ORGANISATION_CAP {
        adjustments[1] = Some(("adjust_organisation", ORGANISATION_CAP - organisation));
    }
    let mut score = person + organisation.min(ORGANISATION_CAP);
    // A merge needs two anchors. The person: the given name, the reading, the e-mail or the
    // mobile agrees (a family name alone fits every colleague of the same name; 太郎 / 太朗
    // may be a typo or another person). The place: something ties both records to one company
    // or contact. A name and a prefecture alone are not even a question: common names repeat.
    let agrees = |f: usize| pattern.level(f) == Level::Agree;
    let person = agrees(GIVEN) || agrees(kana) || agrees(EMAIL) || agrees(MOBILE);
    let place =
        agrees(PHONE) || agrees(MOBILE) || agrees(EMAIL) || agrees(DOMAIN) || pattern.level(COMPANY) >= Level::Partial;
    let cap = if !place {
        // Nothing ties the two to one company or contact: a namesake, not a question worth a
        // person's time (with a million leads, common names would flood the review queue).
        Some(("adjust_no_place", REVIEW_THRESHOLD - 0.5))
    } else if !person {
        Some(("adjust_no_person", MERGE_THRESHOLD - 0.5))
    } else {
        None
    };
    if let Some((code, cap)) = cap.filter(|(_, cap)| score > *cap) {
        adjustments[2] = Some((code, cap - score));
        score = cap;
    }
    Scored { pattern, score, same_email: a.email.is_some() && a.email == b.email, adjustments }
}

/// What to do with an incoming record, given the stored candidates found by blocking.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No candidate is close enough: a new person.
    New,
    /// The same person as candidate `index`.
    Merge { index: usize, comparison: Comparison },
    /// Possibly one of these candidates (best first); a person decides.
    Review { candidates: Vec<(usize, Comparison)> },
}

/// Decides among candidates. The best confident candidate wins (a shared e-mail first, then
/// the highest score); otherwise every candidate above the review threshold is listed.
pub fn decide(incoming: &LeadFeatures, candidates: &[&LeadFeatures]) -> Decision {
    // A candidate that shares no place with the record could be neither merged nor asked
    // about: skipping it changes no decision and spares comparing names with every namesake.
    let mut scored: Vec<(usize, Scored)> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| share_a_place(incoming, c))
        .map(|(i, c)| (i, score(incoming, c)))
        .collect();
    scored
        .sort_by(|(ia, a), (ib, b)| b.same_email.cmp(&a.same_email).then(b.score.total_cmp(&a.score)).then(ia.cmp(ib)));
    match scored.first() {
        Some((index, scored)) if scored.is_confident() => {
            Decision::Merge { index: *index, comparison: scored.comparison() }
        }
        _ => {
            let candidates: Vec<_> =
                scored.iter().filter(|(_, c)| c.needs_review()).take(5).map(|(i, c)| (*i, c.comparison())).collect();
            if candidates.is_empty() {
                Decision::New
            } else {
                Decision::Review { candidates }
            }
        }
    }
}
