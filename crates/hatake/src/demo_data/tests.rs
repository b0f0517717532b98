use super::*;
use hatake_domain::prefecture::parse_prefecture;
use hatake_domain::RequiredFieldSet;
use std::collections::HashSet;
use std::time::Instant;

fn list_share(leads: &[DemoLead]) -> f64 {
    let set = RequiredFieldSet::default();
    leads.iter().filter(|l| !set.is_lead(&l.data)).count() as f64 / leads.len() as f64
}

#[test]
fn tables_are_consistent() {
    assert_eq!(FAMILY_NAMES.len(), 100);
    assert_eq!(GIVEN_NAMES.len(), 100);
    let plain_romaji = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    for (table, rows) in [("family", FAMILY_NAMES), ("given", GIVEN_NAMES)] {
        let mut seen = HashSet::new();
        for (kanji, kana, romaji) in rows {
            assert!(plain_romaji(romaji), "{table}: {romaji}");
            assert!(seen.insert(*romaji), "{table}: duplicate romaji {romaji}");
            assert!(kana.chars().all(|c| ('ァ'..='ヺ').contains(&c) || c == 'ー'), "{table}: {kana}");
            assert!(!kanji.is_empty());
        }
    }
    let stems: Vec<&str> = STEMS.iter().map(|s| s.1).collect();
    let businesses: Vec<&str> = BUSINESSES.iter().map(|s| s.1).collect();
    let regions: Vec<&str> = REGIONS.iter().map(|s| s.1).collect();
    for list in [&stems, &businesses, &regions] {
        assert!(list.iter().all(|s| plain_romaji(s)), "{list:?}");
        assert_eq!(list.iter().collect::<HashSet<_>>().len(), list.len(), "{list:?}");
    }
    assert_eq!(STEMS.iter().map(|s| s.0).collect::<HashSet<_>>().len(), STEMS.len());
    assert_eq!(BUSINESSES.iter().map(|s| s.0).collect::<HashSet<_>>().len(), BUSINESSES.len());
    assert_eq!(PREFECTURE_CITIES.len(), 47);
    for (index, (name, weight, cities)) in PREFECTURE_CITIES.iter().enumerate() {
        assert_eq!(parse_prefecture(name), Some(*name));
        assert_eq!(hatake_domain::prefecture::PREFECTURES[index].0, *name, "JIS order");
        assert!(*weight > 0 && !cities.is_empty());
        for (_, area) in *cities {
            assert!(area.starts_with('0') && (2..=5).contains(&area.len()), "{area}");
        }
    }
    assert_eq!(PREFECTURE_CITIES[12].0, "東京都");
    assert_eq!(INDUSTRIES.len(), REVENUE_PER_EMPLOYEE.len());
    assert_eq!(INDUSTRIES.len(), INDUSTRY_DEPARTMENTS.len());
}

#[test]
fn company_names_and_domains_are_unique_through_all_tiers() {
    let plain = STEMS.len() * BUSINESSES.len();
    let regional = plain * REGIONS.len();
    let mut names = HashSet::new();
    let mut labels = HashSet::new();
    // Every plain name, a stretch of regional ones, and the numbered tier.
    let indices = (0..plain).chain(plain..plain + 20_000).chain(plain + regional - 2_000..plain + regional + 30_000);
    for index in indices {
        let parts = NameParts::of(7, index);
        assert!(names.insert(parts.body()), "duplicate name at {index}: {}", parts.body());
        assert!(labels.insert(parts.label()), "duplicate label at {index}: {}", parts.label());
    }
    assert_eq!(NameParts::of(7, plain - 1).number, 0);
    assert!(NameParts::of(7, plain).region.is_some());
    assert_eq!(NameParts::of(7, plain + regional).number, 2);
}

#[test]
fn permutation_is_a_bijection() {
    for n in [1u64, 2, 3, 7, 100, 1000, 12_345] {
        let mut seen: Vec<u64> = (0..n).map(|x| permute(x, n, 99)).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n = {n}");
    }
}

#[test]
fn twenty_thousand_people_at_two_thousand_companies() {
    let started = Instant::now();
    let data = generate(42, 2_000, 20_000, &[1, 2, 3], &[10, 11, 12]);
    let elapsed = started.elapsed();
    assert_eq!(data.accounts.len(), 2_000);
    assert_eq!(data.leads.len(), 20_000);

    let numbers: HashSet<_> = data.accounts.iter().filter_map(|a| a.data.corporate_number.clone()).collect();
    assert_eq!(numbers.len(), 2_000, "unique corporate numbers");
    let names: HashSet<_> = data.accounts.iter().map(|a| a.data.name_normalized.clone()).collect();
    assert_eq!(names.len(), 2_000, "unique company names");
    let domains: Vec<&String> = data.accounts.iter().flat_map(|a| &a.data.domains).collect();
    assert_eq!(domains.iter().collect::<HashSet<_>>().len(), domains.len(), "unique domains");
    assert!(data.accounts.iter().any(|a| a.data.abm_tier.is_some()));
    assert!(data.accounts.iter().any(|a| a.data.name.starts_with("株式会社")));
    assert!(data.accounts.iter().any(|a| a.data.name.ends_with("株式会社")));
    assert!(data.accounts.iter().any(|a| a.data.name.contains("合同会社") || a.data.name.contains("有限会社")));
    let tokyo = data.accounts.iter().filter(|a| a.data.address.as_deref().unwrap().starts_with("東京都")).count();
    assert!((400..1000).contains(&tokyo), "{tokyo} in Tokyo");
    for account in &data.accounts {
        assert!(account.data.address.as_deref().unwrap().starts_with(account.data.prefecture.as_deref().unwrap()));
    }

    let emails: Vec<&str> = data.leads.iter().filter_map(|l| l.data.email.as_ref().map(|e| e.as_str())).collect();
    assert!(emails.len() > 18_000);
    assert_eq!(emails.iter().collect::<HashSet<_>>().len(), emails.len(), "unique e-mail addresses");
    let share = list_share(&data.leads);
    assert!((0.20..=0.40).contains(&share), "list share {share}");
    let departments: HashSet<&str> = data.leads.iter().filter_map(|l| l.data.department.as_deref()).collect();
    assert!(departments.contains("情報システム部") && departments.contains("DX推進室"));

    for lead in &data.leads {
        if let Some(index) = lead.account_index {
            let account = &data.accounts[index].data;
            let entered = lead.data.company_name.as_deref().expect("linked leads name their company");
            assert_eq!(hatake_domain::company::normalise_company_name(entered), account.name_normalized);
        }
        assert!(lead.data.product_ids.len() <= 2);
    }
    let unlinked = data.leads.iter().filter(|l| l.account_index.is_none() && l.data.company_name.is_some()).count();
    assert!(unlinked > 500, "{unlinked} people name a company but are not linked");
    let company_mail = data
        .leads
        .iter()
        .filter(|l| match (l.account_index, &l.data.email) {
            (Some(index), Some(email)) => data.accounts[index].data.domains.iter().any(|d| d == email.domain()),
            _ => false,
        })
        .count();
    assert!(company_mail > 14_000, "{company_mail} at the company's domain");
    assert!(data.leads.iter().any(|l| l.data.owner_id.is_none()));
    assert!(data.leads.iter().any(|l| l.data.owner_id.is_some()));
    assert!(data.leads.iter().any(|l| l.data.product_ids.len() == 2));
    eprintln!("generate(2,000 companies, 20,000 people): {elapsed:?}, list share {share:.3}");
}

#[test]
fn same_seed_same_data() {
    let a = generate(7, 300, 2_000, &[5], &[1]);
    let b = generate(7, 300, 2_000, &[5], &[1]);
    assert_eq!(a, b);
    let c = generate(8, 300, 2_000, &[5], &[1]);
    assert_ne!(a.accounts[0], c.accounts[0]);
}

#[test]
fn batches_are_slices_of_the_whole() {
    let whole = generate(3, 500, 1_500, &[1, 2], &[9]);
    let mut batched = leads_batch(3, 0, 400, 500, &[1, 2], &[9]);
    batched.extend(leads_batch(3, 400, 1_100, 500, &[1, 2], &[9]));
    assert_eq!(whole.leads, batched);
}

#[test]
fn edge_cases_validate() {
    let empty = generate(1, 0, 200, &[], &[]);
    assert!(empty.accounts.is_empty());
    assert!(empty.leads.iter().all(|l| l.account_index.is_none() && l.data.owner_id.is_none()));
    assert!(empty.leads.iter().all(|l| l.data.product_ids.is_empty()));
    // Companies far out in the numbered tier and past the corporate-number serial range.
    for index in [250_000, 999_999, 1_000_000, 5_000_000] {
        let account = account_input(1, index, &[1]).validate().unwrap();
        assert!(account.corporate_number.is_some());
    }
    // Many people at a handful of companies: counters past 10,000 per company.
    let crowded = leads_batch(1, 0, 30_000, 1, &[], &[]);
    let emails: Vec<&str> = crowded.iter().filter_map(|l| l.data.email.as_ref().map(|e| e.as_str())).collect();
    assert_eq!(emails.iter().collect::<HashSet<_>>().len(), emails.len());
}

/// Timing: 1,000,000 leads in release mode (20,000 in debug), with unique e-mails across batches.
#[test]
fn streaming_speed() {
    let total = if cfg!(debug_assertions) { 20_000 } else { 1_000_000 };
    let batch = 10_000;
    let started = Instant::now();
    let mut emails = HashSet::with_capacity(total);
    let mut list = 0usize;
    let set = RequiredFieldSet::default();
    let mut generation = std::time::Duration::ZERO;
    for start in (0..total).step_by(batch) {
        let t = Instant::now();
        let leads = leads_batch(11, start, batch, 100_000, &[1, 2, 3, 4], &[1, 2, 3]);
        generation += t.elapsed();
        for lead in leads {
            list += usize::from(!set.is_lead(&lead.data));
            if let Some(email) = lead.data.email {
                assert!(emails.insert(String::from(email)), "duplicate e-mail");
            }
        }
    }
    let share = list as f64 / total as f64;
    assert!((0.20..=0.40).contains(&share), "list share {share}");
    eprintln!(
        "leads_batch: {total} leads in {generation:?} ({:.0} leads/s), whole test {:?}",
        total as f64 / generation.as_secs_f64(),
        started.elapsed()
    );
}
