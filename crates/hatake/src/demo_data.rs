//! Deterministic synthetic Japanese B2B data: companies (accounts) and the people at them
//! (leads and list entries), for demos, tests and benchmarks.
//!
//! Pure: no IO, no clock. The same seed always yields the same data, on every platform (the
//! generator uses its own SplitMix64 stream rather than a library RNG whose algorithm may change).
//!
//! Every value is a pure function of the seed and an index, which is what makes
//! [`leads_batch`] possible: company `c` is always the same company, and person `i` is always the
//! same person, whichever batch they are generated in. Uniqueness is by construction:
//! - a company's name and domain come from a bijection of its index onto stem × business word
//!   (「ひまわり」×「商事」), then region × stem × business (「九州ひまわり商事」), and only
//!   beyond that (≈ 200,000 companies) a number suffix;
//! - corporate numbers come from a bijection of the index onto a 6-digit serial;
//! - people are laid out in rounds in which every company owns a fixed number of slots (more for
//!   larger companies), so each person has a unique (company, slot) pair; the slot selects a
//!   distinct (family, given) name pair within the company, hence a distinct local part on the
//!   company's own domain; free-mail addresses carry the global index.
//!
//! [`behaviour`] adds what the people did (behaviour events) and [`scoring`] a scoring model per
//! demo product.

pub mod behaviour;
pub mod cards;
pub mod scoring;
mod tables;

use hatake_domain::{AccountData, AccountInput, CorporateNumber, LeadData, LeadInput};
use tables::{
    City, Name, BUILDINGS, BUSINESSES, DEPARTMENTS, FAMILY_NAMES, FREE_MAIL, GIVEN_NAMES, INDUSTRIES,
    INDUSTRY_DEPARTMENTS, PREFECTURE_CITIES, REGIONS, REVENUE_PER_EMPLOYEE, SECTIONS, SOURCES, STEMS, TITLES, TOWNS,
};

/// A generated company.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoAccount {
    pub data: AccountData,
}

/// A generated person. `account_index` points into [`DemoData::accounts`] (the caller maps it to
/// the stored account id); `None` for people not linked to a company record.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoLead {
    pub account_index: Option<usize>,
    pub data: LeadData,
}

impl DemoLead {
    /// The lead as the store takes it: linked to the stored id of its company (`account_ids`
    /// in the order the accounts were generated) and classified as lead or list entry.
    pub fn into_stored(self, account_ids: &[i64], required: &hatake_domain::RequiredFieldSet) -> (LeadData, bool) {
        let mut data = self.data;
        data.account_id = self.account_index.map(|i| account_ids[i]);
        let is_lead = required.is_lead(&data);
        (data, is_lead)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DemoData {
    pub accounts: Vec<DemoAccount>,
    pub leads: Vec<DemoLead>,
}

/// `product_ids` and `owner_ids` are ids already stored; leads get 0..=2 of the products and
/// an owner from `owner_ids` (some none).
///
/// # Panics
/// Never for any input; a record failing the domain's validation would be a bug here.
pub fn generate(seed: u64, companies: usize, people: usize, product_ids: &[i64], owner_ids: &[i64]) -> DemoData {
    let accounts = (0..companies)
        .map(|index| DemoAccount {
            data: account_input(seed, index, owner_ids).validate().expect("generated demo account must validate"),
        })
        .collect();
    let leads = leads_batch(seed, 0, people, companies, product_ids, owner_ids);
    DemoData { accounts, leads }
}

/// Streaming variant for huge sets (benchmarks with 1,000,000 leads): yields leads in batches
/// without holding all in memory. People `start..start + count` of the same set [`generate`]
/// would make with the same `seed` and `companies`. Each call costs O(`companies`) for the
/// layout plus O(`count`), so use batches of some thousands.
///
/// # Panics
/// Never for any input; a record failing the domain's validation would be a bug here.
pub fn leads_batch(
    seed: u64,
    start: usize,
    count: usize,
    companies: usize,
    product_ids: &[i64],
    owner_ids: &[i64],
) -> Vec<DemoLead> {
    let layout = Layout::new(seed, companies);
    let make = |range: std::ops::Range<usize>| -> Vec<DemoLead> {
        range.map(|index| person(seed, index, companies, &layout, product_ids, owner_ids)).collect()
    };
    // Most of the time goes into the domain's validation (NFKC of every field), so large batches
    // are split across the available cores. Each person depends only on (seed, index), so the
    // result is the same whatever the split.
    let workers = worker_count().min(count / MIN_PER_WORKER).max(1);
    if workers == 1 {
        return make(start..start + count);
    }
    let chunk = count.div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let from = start + worker * chunk;
                let to = (from + chunk).min(start + count);
                let make = &make;
                scope.spawn(move || make(from..to))
            })
            .collect();
        let mut leads = Vec::with_capacity(count);
        for handle in handles {
            leads.extend(handle.join().expect("demo-data worker panicked"));
        }
        leads
    })
}

/// Below this many people per thread, spawning costs more than it saves.
const MIN_PER_WORKER: usize = 2_000;

/// Threads to use for one batch: the machine's parallelism (asked once), at most 8.
fn worker_count() -> usize {
    static WORKERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WORKERS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
}

// ---------------------------------------------------------------------------------------------
// Randomness: hashing, a small RNG and a keyed permutation.

const TAG_SIZE: u64 = 1;
const TAG_COMPANY: u64 = 2;
const TAG_ACCOUNT: u64 = 3;
const TAG_PERSON: u64 = 4;
const TAG_ROUND: u64 = 5;
const TAG_NAMES: u64 = 6;
const TAG_CORPORATE: u64 = 7;

/// SplitMix64's finaliser: a good 64-bit mixing function.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of one stream: which seed, which kind of record, which record.
fn key(seed: u64, tag: u64, index: u64) -> u64 {
    mix(mix(mix(seed) ^ tag) ^ index)
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn new(key: u64) -> Self {
        Self(key)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the bias of the multiply-shift is far below what matters here.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut roll = self.below(u64::from(total)) as u32;
        for (item, weight) in items {
            if roll < *weight {
                return *item;
            }
            roll -= weight;
        }
        items[items.len() - 1].0
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A keyed pseudo-random bijection of `0..n` (a balanced Feistel network with cycle walking).
fn permute(x: u64, n: u64, key: u64) -> u64 {
    debug_assert!(x < n);
    if n <= 1 {
        return x;
    }
    let bits = 64 - (n - 1).leading_zeros();
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let mut value = x;
    loop {
        let mut left = value >> half;
        let mut right = value & mask;
        for round in 0..4u64 {
            let f = mix(right ^ key.wrapping_add(round.wrapping_mul(0xD6E8_FEB8_6659_FD93))) & mask;
            (left, right) = (right, left ^ f);
        }
        value = (left << half) | right;
        if value < n {
            return value;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Companies.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Legal {
    KabushikiFront,
    KabushikiBack,
    GodoFront,
    YugenFront,
    YugenBack,
}

impl Legal {
    fn text(self) -> &'static str {
        match self {
            Legal::KabushikiFront | Legal::KabushikiBack => "株式会社",
            Legal::GodoFront => "合同会社",
            Legal::YugenFront | Legal::YugenBack => "有限会社",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Legal::KabushikiFront | Legal::KabushikiBack => "(株)",
            Legal::GodoFront => "(同)",
            Legal::YugenFront | Legal::YugenBack => "(有)",
        }
    }

    fn front(self) -> bool {
        matches!(self, Legal::KabushikiFront | Legal::GodoFront | Legal::YugenFront)
    }

    /// The kind part of the corporate number's base.
    fn kind_code(self) -> u32 {
        match self {
            Legal::KabushikiFront | Legal::KabushikiBack => 1,
            Legal::YugenFront | Legal::YugenBack => 2,
            Legal::GodoFront => 5,
        }
    }
}

const TLDS: [&str; 3] = ["co.jp", "jp", "com"];

/// The parts of a company's name: which region (if any), stem, business word and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct NameParts {
    region: Option<usize>,
    stem: usize,
    business: usize,
    number: u64,
}

impl NameParts {
    /// A bijection from the company index onto names: plain names first, then names with a
    /// region, then (only for very large sets) plain names with a number 2, 3, ….
    fn of(seed: u64, index: usize) -> Self {
        let stems = STEMS.len() as u64;
        let plain = stems * BUSINESSES.len() as u64;
        let regions = REGIONS.len() as u64;
        let index = index as u64;
        let split = |p: u64| ((p % stems) as usize, (p / stems) as usize);
        if index < plain {
            let (stem, business) = split(permute(index, plain, key(seed, TAG_NAMES, 0)));
            return Self { region: None, stem, business, number: 0 };
        }
        let index = index - plain;
        if index < plain * regions {
            let p = permute(index, plain * regions, key(seed, TAG_NAMES, 1));
            let (stem, business) = split(p / regions);
            return Self { region: Some((p % regions) as usize), stem, business, number: 0 };
        }
        let index = index - plain * regions;
        let number = index / plain + 2;
        let (stem, business) = split(permute(index % plain, plain, key(seed, TAG_NAMES, number)));
        Self { region: None, stem, business, number }
    }

    /// 「九州ひまわり商事」, without legal form.
    fn body(self) -> String {
        let mut out = String::with_capacity(48);
        if let Some(region) = self.region {
            out.push_str(REGIONS[region].0);
        }
        out.push_str(STEMS[self.stem].0);
        out.push_str(BUSINESSES[self.business].0);
        if self.number > 0 {
            out.push_str(&self.number.to_string());
        }
        out
    }

    /// `kyushu-himawari-shoji`: the label of the company's domains.
    fn label(self) -> String {
        let mut out = String::with_capacity(40);
        if let Some(region) = self.region {
            out.push_str(REGIONS[region].1);
            out.push('-');
        }
        out.push_str(STEMS[self.stem].1);
        out.push('-');
        out.push_str(BUSINESSES[self.business].1);
        if self.number > 0 {
            out.push_str(&self.number.to_string());
        }
        out
    }

    fn industry(self) -> usize {
        usize::from(BUSINESSES[self.business].2)
    }
}

/// Company sizes in bands: (upper bound of the roll, fewest and most employees, person slots
/// per round). Most companies are small; slots make larger ones hold more people.
const SIZE_BANDS: [(f64, f64, f64, u64); 5] = [
    (0.38, 5.0, 50.0, 1),
    (0.68, 50.0, 300.0, 2),
    (0.87, 300.0, 1000.0, 4),
    (0.97, 1000.0, 5000.0, 7),
    (1.0, 5000.0, 60000.0, 12),
];

fn size_band(seed: u64, index: usize) -> (Rng, usize) {
    let mut rng = Rng::new(key(seed, TAG_SIZE, index as u64));
    let roll = rng.unit();
    (rng, SIZE_BANDS.iter().position(|band| roll < band.0).unwrap_or(SIZE_BANDS.len() - 1))
}

/// Employees of company `index`: log-uniform within its size band, rounded as people do.
fn employees_of(seed: u64, index: usize) -> i64 {
    let (mut rng, band) = size_band(seed, index);
    let (_, lo, hi, _) = SIZE_BANDS[band];
    let raw = (lo * (hi / lo).powf(rng.unit())) as i64;
    match raw {
        n if n >= 10_000 => n / 100 * 100,
        n if n >= 1000 => n / 10 * 10,
        n => n.max(1),
    }
}

/// How many of each round's person slots company `index` gets.
fn slot_weight(seed: u64, index: usize) -> u64 {
    SIZE_BANDS[size_band(seed, index).1].3
}

/// What leads and accounts share about a company; cheap to recompute for every person.
struct Company {
    index: usize,
    name: NameParts,
    employees: i64,
    legal: Legal,
    prefecture: usize,
    city: usize,
    town: usize,
    block: (u64, u64, u64),
    kanji_block: bool,
    building: Option<(usize, u64)>,
    tld: usize,
    second_tld: Option<usize>,
    mail_pattern: u8,
    name_multiplier: u64,
    name_offset: u64,
    exchange: u64,
    subscriber: u64,
    owner_roll: Option<u64>,
}

impl Company {
    fn new(seed: u64, index: usize) -> Self {
        let name = NameParts::of(seed, index);
        let employees = employees_of(seed, index);
        let mut rng = Rng::new(key(seed, TAG_COMPANY, index as u64));
        let legal = if employees < 50 && rng.chance(0.22) {
            rng.pick(&[Legal::YugenFront, Legal::YugenBack, Legal::GodoFront, Legal::GodoFront])
        } else if rng.chance(0.62) {
            Legal::KabushikiFront
        } else {
            Legal::KabushikiBack
        };
        let prefecture = if employees >= 1000 && rng.chance(0.5) { 12 } else { pick_prefecture(&mut rng) };
        let city = rng.index(PREFECTURE_CITIES[prefecture].2.len());
        let town = rng.index(TOWNS.len());
        let block = (rng.between(1, 6), rng.between(1, 30), rng.between(1, 25));
        let kanji_block = rng.chance(0.25);
        let building = rng.chance(0.45).then(|| (rng.index(BUILDINGS.len()), rng.between(2, 12)));
        let tld = match rng.unit() {
            u if u < 0.72 => 0,
            u if u < 0.82 => 1,
            _ => 2,
        };
        let second_tld =
            rng.chance(if employees >= 1000 { 0.5 } else { 0.2 }).then(|| (tld + rng.between(1, 2) as usize) % 3);
        let mail_pattern = rng.weighted(&[(0u8, 55), (1, 18), (2, 8), (3, 7), (4, 5), (5, 7)]);
        let names = (FAMILY_NAMES.len() * GIVEN_NAMES.len()) as u64;
        let mut name_multiplier = rng.between(1, names - 1);
        while gcd(name_multiplier, names) != 1 {
            name_multiplier = name_multiplier % (names - 1) + 1;
        }
        let name_offset = rng.below(names);
        let exchange = rng.next();
        let subscriber = rng.between(1, 9) * 1000 + rng.pick(&[0, 0, 100, 111, 200, 500]);
        let owner_roll = rng.chance(0.5).then(|| rng.next());
        Self {
            index,
            name,
            employees,
            legal,
            prefecture,
            city,
            town,
            block,
            kanji_block,
            building,
            tld,
            second_tld,
            mail_pattern,
            name_multiplier,
            name_offset,
            exchange,
            subscriber,
            owner_roll,
        }
    }

    fn prefecture_name(&self) -> &'static str {
        PREFECTURE_CITIES[self.prefecture].0
    }

    fn city(&self) -> City {
        PREFECTURE_CITIES[self.prefecture].2[self.city]
    }

    /// 「株式会社ひまわり商事」 as registered.
    fn display_name(&self) -> String {
        self.with_legal_form(self.name.body())
    }

    fn with_legal_form(&self, body: String) -> String {
        if self.legal.front() {
            cat(&[self.legal.text(), &body])
        } else {
            cat(&[&body, self.legal.text()])
        }
    }

    /// The name as a person typed it into a form or as a card scanner read it.
    fn name_as_entered(&self, rng: &mut Rng) -> String {
        let body = self.name.body();
        let front = self.legal.front();
        match rng.between(0, 99) {
            0..=71 => self.with_legal_form(body),
            72..=81 if front => cat(&[self.legal.short(), &body]),
            72..=81 => cat(&[&body, self.legal.short()]),
            82..=85 if front && self.legal == Legal::KabushikiFront => cat(&["㈱", &body]),
            82..=89 if front => cat(&[self.legal.text(), " ", &body]),
            82..=89 => cat(&[&body, " ", self.legal.text()]),
            _ => body,
        }
    }

    fn domain(&self, tld: usize) -> String {
        cat(&[&self.name.label(), ".", TLDS[tld]])
    }

    fn domains(&self) -> Vec<String> {
        let mut out = vec![self.domain(self.tld)];
        if let Some(second) = self.second_tld {
            out.push(self.domain(second));
        }
        out
    }

    /// 「東京都千代田区本町2-3-15 本町センタービル 5F」.
    fn address(&self) -> String {
        let (city, _) = self.city();
        let town = TOWNS[self.town];
        let (chome, ban, go) = self.block;
        let mut out = if self.kanji_block {
            let (chome, ban, go) = (Digits::new(chome, 1), Digits::new(ban, 1), Digits::new(go, 1));
            let parts =
                [self.prefecture_name(), city, town, chome.as_str(), "丁目", ban.as_str(), "番", go.as_str(), "号"];
            cat_with_room(&parts, 40)
        } else {
            street_address(self.prefecture_name(), city, town, (chome, ban, go), 40)
        };
        if let Some((building, floor)) = self.building {
            out.push(' ');
            out.push_str(town);
            out.push_str(BUILDINGS[building]);
            out.push(' ');
            out.push_str(Digits::new(floor, 1).as_str());
            out.push('F');
        }
        out
    }

    /// A 12-digit base: registry office (from the prefecture), kind of company, serial.
    fn corporate_number(&self, seed: u64) -> CorporateNumber {
        let index = self.index as u64;
        let base = if index < 1_000_000 {
            let serial = permute(index, 1_000_000, key(seed, TAG_CORPORATE, 0));
            let office = (self.prefecture as u64 + 1) * 100 + 1 + serial % 3;
            format!("{office:04}{:02}{serial:06}", self.legal.kind_code())
        } else {
            format!("99{index:010}")
        };
        CorporateNumber::from_base(&base)
    }

    /// The (family, given) names of the person in slot `slot`, and a duplicate counter that is
    /// non-zero only past 10,000 people at one company.
    fn person_name(&self, slot: u64) -> (&'static Name, &'static Name, u64) {
        let names = (FAMILY_NAMES.len() * GIVEN_NAMES.len()) as u64;
        let combo = (self.name_multiplier * (slot % names) + self.name_offset) % names;
        let givens = GIVEN_NAMES.len() as u64;
        (&FAMILY_NAMES[(combo / givens) as usize], &GIVEN_NAMES[(combo % givens) as usize], slot / names)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn pick_prefecture(rng: &mut Rng) -> usize {
    let total: u32 = PREFECTURE_CITIES.iter().map(|(_, w, _)| w).sum();
    let mut roll = rng.below(u64::from(total)) as u32;
    for (index, (_, weight, _)) in PREFECTURE_CITIES.iter().enumerate() {
        if roll < *weight {
            return index;
        }
        roll -= weight;
    }
    12
}

fn account_input(seed: u64, index: usize, owner_ids: &[i64]) -> AccountInput {
    let company = Company::new(seed, index);
    let mut rng = Rng::new(key(seed, TAG_ACCOUNT, index as u64));
    let industry = company.name.industry();
    let employees = company.employees;
    let annual_revenue = rng.chance(0.92).then(|| {
        let yen = employees as f64 * REVENUE_PER_EMPLOYEE[industry] as f64 * (0.55 * rng.normal()).exp();
        ((yen / 1_000_000.0).round() as i64).max(10) * 1_000_000
    });
    let abm_tier = match employees {
        n if n >= 5000 => rng.weighted(&[(Some("tier1"), 50), (Some("tier2"), 30), (None, 20)]),
        n if n >= 1000 => rng.weighted(&[(Some("tier2"), 25), (Some("tier3"), 25), (None, 50)]),
        n if n >= 300 => rng.weighted(&[(Some("tier3"), 5), (None, 95)]),
        _ => None,
    };
    AccountInput {
        name: Some(company.display_name()),
        corporate_number: Some(company.corporate_number(seed).to_string()),
        domains: Some(company.domains()),
        industry: rng.chance(0.97).then(|| INDUSTRIES[industry].to_owned()),
        employee_count: Some(employees),
        annual_revenue,
        prefecture: rng.chance(0.7).then(|| company.prefecture_name().to_owned()),
        address: Some(company.address()),
        abm_tier: abm_tier.map(str::to_owned),
        owner_id: company_owner(&company, owner_ids),
    }
}

fn company_owner(company: &Company, owner_ids: &[i64]) -> Option<i64> {
    let roll = company.owner_roll?;
    (!owner_ids.is_empty()).then(|| owner_ids[(roll % owner_ids.len() as u64) as usize])
}

// ---------------------------------------------------------------------------------------------
// People.

/// Slots per round for every company, real ones (`0..companies`) and some that are not
/// accounts (people who name a company the database does not know yet).
struct Layout {
    /// `starts[c]` is the first slot of company `c` in a round; the last entry is the round length.
    starts: Vec<u64>,
    /// `coarse[b]` is the company holding slot `b * COARSE`: a small index that spares a binary
    /// search over `starts` (which misses the cache on every step for large sets).
    coarse: Vec<u32>,
}

const COARSE: u64 = 16;

impl Layout {
    fn new(seed: u64, companies: usize) -> Self {
        let unknown = (companies / 5).max(50);
        let mut starts = Vec::with_capacity(companies + unknown + 1);
        let mut coarse = Vec::new();
        let mut total = 0;
        for index in 0..companies + unknown {
            starts.push(total);
            total += if index < companies { slot_weight(seed, index) } else { 1 };
            while (coarse.len() as u64) * COARSE < total {
                coarse.push(u32::try_from(index).expect("fewer than 4 billion companies"));
            }
        }
        starts.push(total);
        Self { starts, coarse }
    }

    /// Person `index` → (company, slot within the company), a bijection.
    fn place(&self, seed: u64, index: usize) -> (usize, u64) {
        let round_len = self.starts[self.starts.len() - 1];
        let round = index as u64 / round_len;
        let position = permute(index as u64 % round_len, round_len, key(seed, TAG_ROUND, round));
        let mut company = self.coarse[(position / COARSE) as usize] as usize;
        while self.starts[company + 1] <= position {
            company += 1;
        }
        let weight = self.starts[company + 1] - self.starts[company];
        (company, round * weight + position - self.starts[company])
    }
}

const MISSING_COMPANY: u8 = 1;
const MISSING_DEPARTMENT: u8 = 2;
const MISSING_TITLE: u8 = 4;
const MISSING_NAME: u8 = 8;
const MISSING_EMAIL: u8 = 16;
const MISSING_PHONE: u8 = 32;
const MISSING_ADDRESS: u8 = 64;

const MISSING_WEIGHTS: &[(u8, u32)] = &[
    (MISSING_TITLE, 30),
    (MISSING_PHONE, 25),
    (MISSING_DEPARTMENT, 20),
    (MISSING_ADDRESS, 10),
    (MISSING_COMPANY, 7),
    (MISSING_EMAIL, 5),
    (MISSING_NAME, 3),
];

fn person(
    seed: u64,
    index: usize,
    companies: usize,
    layout: &Layout,
    product_ids: &[i64],
    owner_ids: &[i64],
) -> DemoLead {
    let (company_index, slot) = layout.place(seed, index);
    let company = Company::new(seed, company_index);
    let mut rng = Rng::new(key(seed, TAG_PERSON, index as u64));

    let source = rng.weighted(SOURCES);
    let list_share = match source {
        "資料ダウンロード" => 0.44,
        "Webフォーム" => 0.30,
        "展示会" | "セミナー" => 0.26,
        _ => 0.16,
    };
    let mut missing = 0u8;
    if rng.chance(list_share) {
        let lacks = 1 + usize::from(rng.chance(0.3)) + usize::from(rng.chance(0.1));
        for _ in 0..lacks {
            missing |= rng.weighted(MISSING_WEIGHTS);
        }
    }
    if missing & MISSING_NAME != 0 {
        missing &= !MISSING_EMAIL;
    }
    let lacks = |field: u8| missing & field != 0;

    let unmatched = rng.chance(0.04);
    let account_index = (company_index < companies && !lacks(MISSING_COMPANY) && !unmatched).then_some(company_index);
    let company_name = (!lacks(MISSING_COMPANY)).then(|| company.name_as_entered(&mut rng));

    let (family, given, duplicate) = company.person_name(slot);
    let (family_name, given_name, family_name_kana, given_name_kana) = if lacks(MISSING_NAME) {
        (None, None, None, None)
    } else {
        let with_given = rng.chance(0.97);
        let kana_share = if matches!(source, "名刺交換" | "展示会") { 0.7 } else { 0.92 };
        let (family_kana, given_kana) = if rng.chance(kana_share) {
            if rng.chance(0.1) {
                (Some(hiragana(family.1)), with_given.then(|| hiragana(given.1)))
            } else {
                (Some(family.1.to_owned()), with_given.then(|| given.1.to_owned()))
            }
        } else {
            (None, None)
        };
        (Some(family.0.to_owned()), with_given.then(|| given.0.to_owned()), family_kana, given_kana)
    };

    let email = (!lacks(MISSING_EMAIL)).then(|| {
        let free_mail = rng.chance(if lacks(MISSING_COMPANY) { 0.7 } else { 0.08 });
        if free_mail {
            free_mail_address(&mut rng, family, given, index)
        } else {
            company_address(&mut rng, &company, family, given, duplicate)
        }
    });

    // Title first: executives' departments follow from it.
    let title = (!lacks(MISSING_TITLE)).then(|| {
        if company.employees < 30 && rng.chance(0.08) {
            "代表取締役"
        } else {
            rng.weighted(TITLES)
        }
    });
    let industry = company.name.industry();
    let department = (!lacks(MISSING_DEPARTMENT)).then(|| {
        let base = match title {
            Some("代表取締役" | "取締役" | "常務取締役" | "執行役員") => {
                rng.pick(&["役員", "役員", "経営企画部", "経営企画室"])
            }
            Some("CIO" | "CDO") => rng.pick(&["情報システム部", "DX推進室", "IT戦略室", "経営企画部"]),
            _ if rng.chance(0.3) => rng.weighted(INDUSTRY_DEPARTMENTS[industry]),
            _ => rng.weighted(DEPARTMENTS),
        };
        if base.ends_with('部') && base != "経営企画部" && rng.chance(0.12) {
            cat(&[base, " ", rng.pick(SECTIONS)])
        } else {
            base.to_owned()
        }
    });
    let in_office = department.as_deref().is_some_and(|d| d.ends_with('室'));
    let title = title.map(|t| if in_office && t == "部長" { "室長" } else { t }.to_owned());

    // Where the person works: the company's address mostly, sometimes a branch elsewhere.
    let mut office_area = company.city().1;
    let mut office_exchange = company.exchange;
    let (prefecture, address) = if lacks(MISSING_ADDRESS) {
        (None, None)
    } else {
        let own_prefecture = company.prefecture_name();
        match rng.between(0, 99) {
            0..=61 => (rng.chance(0.5).then(|| own_prefecture.to_owned()), Some(company.address())),
            62..=71 => {
                let prefecture = pick_prefecture(&mut rng);
                let (name, _, cities) = PREFECTURE_CITIES[prefecture];
                let (city, area) = rng.pick(cities);
                (office_area, office_exchange) = (area, rng.next());
                let town = rng.pick(TOWNS);
                let block = (rng.between(1, 6), rng.between(1, 30), rng.between(1, 25));
                let address = street_address(name, city, town, block, 0);
                (rng.chance(0.3).then(|| name.to_owned()), Some(address))
            }
            72..=89 => (Some(own_prefecture.to_owned()), None),
            _ => (None, Some(cat(&[own_prefecture, company.city().0]))),
        }
    };

    let phone = (!lacks(MISSING_PHONE)).then(|| {
        if rng.chance(0.15) {
            let prefix = rng.pick(&["090", "080", "070"]);
            let middle = rng.between(1000, 9999);
            let last = rng.between(0, 9999);
            format_phone(&mut rng, prefix, Digits::new(middle, 4).as_str(), last)
        } else {
            let main_line = office_exchange == company.exchange && rng.chance(0.4);
            let subscriber = if main_line { company.subscriber } else { rng.between(0, 9999) };
            format_phone(&mut rng, office_area, &exchange_digits(office_area, office_exchange), subscriber)
        }
    });

    let product_count = rng.weighted(&[(0usize, 40), (1, 40), (2, 20)]).min(product_ids.len());
    let mut products = Vec::with_capacity(product_count);
    if product_count > 0 {
        let first = rng.index(product_ids.len());
        products.push(product_ids[first]);
        if product_count > 1 {
            let second = (first + 1 + rng.index(product_ids.len() - 1)) % product_ids.len();
            products.push(product_ids[second]);
        }
    }

    let owner_id = if owner_ids.is_empty() {
        None
    } else {
        match company_owner(&company, owner_ids) {
            Some(owner) if rng.chance(0.7) => Some(owner),
            _ => rng.chance(0.5).then(|| rng.pick(owner_ids)),
        }
    };

    let input = LeadInput {
        account_id: None,
        company_name,
        family_name,
        given_name,
        family_name_kana,
        given_name_kana,
        email,
        phone,
        department,
        title,
        prefecture,
        address,
        source: Some(source.to_owned()),
        owner_id,
        product_ids: Some(products),
        custom: None,
    };
    DemoLead { account_index, data: input.validate(&[]).expect("generated demo lead must validate") }
}

fn hiragana(katakana: &str) -> String {
    katakana
        .chars()
        .map(|c| if ('ァ'..='ヶ').contains(&c) { char::from_u32(c as u32 - 0x60).unwrap_or(c) } else { c })
        .collect()
}

/// `taro.yamada@himawari-shoji.co.jp`, in the company's own convention. Unique because a slot
/// gives a distinct name pair within the company (plus a counter past 10,000 people).
fn company_address(rng: &mut Rng, company: &Company, family: &Name, given: &Name, duplicate: u64) -> String {
    let capitalised = rng.chance(0.05);
    let (f, g) = (part(family.2, capitalised), part(given.2, capitalised));
    let tld = match company.second_tld {
        Some(second) if rng.chance(0.1) => second,
        _ => company.tld,
    };
    let duplicate = Digits::new(duplicate + 1, 1);
    let duplicate = if duplicate.as_str() == "1" { "" } else { duplicate.as_str() };
    let (first, separator, second) = match company.mail_pattern {
        0 => (&g, ".", &f),
        1 => (&f, ".", &g),
        2 => (&g, "-", &f),
        3 => (&g, "_", &f),
        4 => (&f, "_", &g),
        _ => (&f, "-", &g),
    };
    cat(&[first, separator, second, duplicate, "@", &company.name.label(), ".", TLDS[tld]])
}

fn part(romaji: &str, capitalised: bool) -> std::borrow::Cow<'_, str> {
    if capitalised {
        let mut chars = romaji.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase()).into_iter();
        std::borrow::Cow::Owned(first.chain(chars).collect())
    } else {
        std::borrow::Cow::Borrowed(romaji)
    }
}

/// `taroyamada12345@gmail.com`: unique because the trailing number is the person's index.
fn free_mail_address(rng: &mut Rng, family: &Name, given: &Name, index: usize) -> String {
    let (f, g) = (family.2, given.2);
    let domain = rng.weighted(FREE_MAIL);
    let index = Digits::new(index as u64, 1);
    let (first, separator, second) = match rng.between(0, 4) {
        0 => (g, ".", f),
        1 => (f, ".", g),
        2 => (g, "", f),
        3 => (f, "", g),
        _ => (g, "_", f),
    };
    cat(&[first, separator, second, index.as_str(), "@", domain])
}

/// The exchange part of a fixed-line number: as many digits as make ten with the area code
/// and a four-digit subscriber number, never starting with 0 or 1.
fn exchange_digits(area: &str, roll: u64) -> String {
    let digits = 10 - area.len() - 4;
    let mut out = String::with_capacity(digits);
    out.push(char::from(b'2' + (roll % 8) as u8));
    let mut rest = roll / 8;
    for _ in 1..digits {
        out.push(char::from(b'0' + (rest % 10) as u8));
        rest /= 10;
    }
    out
}

/// Japanese phone formats as people write them: 03-1234-5678 mostly, sometimes 03(1234)5678,
/// 0312345678, +81-3-1234-5678 or in 全角.
fn format_phone(rng: &mut Rng, area: &str, middle: &str, last: u64) -> String {
    let last = Digits::new(last, 4);
    let last = last.as_str();
    match rng.between(0, 99) {
        0..=77 => cat(&[area, "-", middle, "-", last]),
        78..=83 => cat(&[area, "(", middle, ")", last]),
        84..=90 => cat(&[area, middle, last]),
        91..=94 => cat(&["+81-", &area[1..], "-", middle, "-", last]),
        _ => cat(&[area, "-", middle, "-", last])
            .chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
                '-' => '－',
                other => other,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;

/// Concatenates with a single allocation of the right size.
fn cat(parts: &[&str]) -> String {
    cat_with_room(parts, 0)
}

/// Concatenates, leaving `room` bytes for what the caller appends.
fn cat_with_room(parts: &[&str], room: usize) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + room);
    for part in parts {
        out.push_str(part);
    }
    out
}

/// 「東京都千代田区本町2-3-15」.
fn street_address(prefecture: &str, city: &str, town: &str, block: (u64, u64, u64), room: usize) -> String {
    let (chome, ban, go) = (Digits::new(block.0, 1), Digits::new(block.1, 1), Digits::new(block.2, 1));
    cat_with_room(&[prefecture, city, town, chome.as_str(), "-", ban.as_str(), "-", go.as_str()], room)
}

/// A number in decimal, zero-padded to `width`, without allocating.
struct Digits {
    buffer: [u8; 20],
    start: usize,
}

impl Digits {
    fn new(mut number: u64, width: usize) -> Self {
        let mut buffer = [b'0'; 20];
        let mut start = buffer.len();
        while number > 0 || buffer.len() - start < width.max(1) {
            start -= 1;
            buffer[start] = b'0' + (number % 10) as u8;
            number /= 10;
        }
        Self { buffer, start }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buffer[self.start..]).unwrap_or("0")
    }
}
