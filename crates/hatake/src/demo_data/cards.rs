//! A business-card and exhibition file whose truth is known: who each row is and which
//! company they work for. `hatake bench names` measures name-matching on it, and the import
//! tests generate small ones to cross every batch boundary.
//!
//! The people are what Japanese teams collect: several people at one company (the same
//! family name among them: siblings, or just common names), the same full name at other
//! companies (homonyms), shared role addresses (`info@`) at small companies, free mail. Each
//! person is written one or more times, and every repeat differs as such files do: the legal
//! form spelt another way or left out, 全角 digits, the reading in hiragana or 半角 kana or
//! missing, the e-mail in capitals or a free-mail address instead of the company's, the phone
//! missing, the name written without a space, the department abbreviated, a new title, now
//! and then a typo in the given name. Some companies share a name with a company in another
//! prefecture; some are not in the company master at all.

use super::tables::BUSINESSES;
use super::tables::{Name, DEPARTMENTS, FAMILY_NAMES, FREE_MAIL, GIVEN_NAMES, PREFECTURE_CITIES, STEMS, TITLES};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The columns of a card file, in order.
pub const CARD_HEADERS: [&str; 10] =
    ["会社名", "部署", "役職", "氏名", "フリガナ", "メールアドレス", "電話番号", "携帯電話", "都道府県", "住所"];

/// A company people on the cards work for.
#[derive(Debug, Clone)]
pub struct CardCompany {
    /// The name as registered, with its legal form (「株式会社東和精機」).
    pub name: String,
    /// The name without legal form.
    pub body: String,
    pub front: bool,
    pub corporate_number: String,
    pub prefecture: &'static str,
    pub city: &'static str,
    pub domain: String,
    /// The main line (colleagues share it).
    pub phone: String,
    /// Whether the company master holds it (leads of the others cannot be linked).
    pub in_master: bool,
}

/// One row of the file, with its truth.
#[derive(Debug, Clone)]
pub struct CardRow {
    /// The person the row is (index into the set's people).
    pub person: usize,
    /// The company the person works for (index into [`CardSet::companies`]).
    pub company: usize,
    /// The values, in [`CARD_HEADERS`] order.
    pub fields: [String; 10],
}

/// A generated file and its truth.
#[derive(Debug, Clone)]
pub struct CardSet {
    pub companies: Vec<CardCompany>,
    pub people: usize,
    /// In file order (shuffled).
    pub rows: Vec<CardRow>,
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct CardOptions {
    pub seed: u64,
    pub people: usize,
    /// Extra rows per person on average (each repeat written differently).
    pub repeats: f64,
}

impl Default for CardOptions {
    fn default() -> Self {
        Self { seed: 2026, people: 5_000, repeats: 0.6 }
    }
}

/// A person before they are written on cards.
struct Person {
    company: usize,
    family: Name,
    given: Name,
    department: &'static str,
    title: &'static str,
    /// The company address, a free-mail address, a shared role address or none.
    email: Option<String>,
    /// A direct line (else the company's main line is on the card, or nothing).
    phone: Option<String>,
    mobile: Option<String>,
    /// Whether the card shows the company's main line when it has no direct line.
    main_line: bool,
}

/// Generates a card file.
pub fn generate_cards(options: CardOptions) -> CardSet {
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let companies = companies(&mut rng, (options.people / 4).max(2));
    let people = people(&mut rng, &companies, options.people);
    let mut rows = Vec::with_capacity(options.people * 2);
    for (index, person) in people.iter().enumerate() {
        let company = &companies[person.company];
        let mut extra = 0;
        while rng.gen_bool(options.repeats / (1.0 + options.repeats)) && extra < 5 {
            extra += 1;
        }
        for repeat in 0..=extra {
            let fields = write_card(&mut rng, person, company, repeat > 0);
            rows.push(CardRow { person: index, company: person.company, fields });
        }
    }
    // Shuffle (Fisher–Yates with the set's own generator: the same seed gives the same file).
    for i in (1..rows.len()).rev() {
        let j = rng.gen_range(0..=i);
        rows.swap(i, j);
    }
    CardSet { companies, people: people.len(), rows }
}

impl CardSet {
    /// The file as CSV text (a header row, then the rows; fields quoted where needed).
    pub fn csv(&self) -> String {
        let mut out = String::with_capacity(self.rows.len() * 160);
        push_record(&mut out, CARD_HEADERS.iter().copied());
        for row in &self.rows {
            push_record(&mut out, row.fields.iter().map(String::as_str));
        }
        out
    }

    /// The company master as a company CSV (name, corporate number, prefecture, address,
    /// domain): only the companies it holds.
    pub fn master_csv(&self) -> String {
        let mut out = String::new();
        push_record(&mut out, ["会社名", "法人番号", "都道府県", "住所", "ドメイン"].into_iter());
        for company in self.companies.iter().filter(|c| c.in_master) {
            let address = format!("{}{}", company.prefecture, company.city);
            push_record(
                &mut out,
                [
                    company.name.as_str(),
                    company.corporate_number.as_str(),
                    company.prefecture,
                    address.as_str(),
                    company.domain.as_str(),
                ]
                .into_iter(),
            );
        }
        out
    }
}

fn push_record<'a>(out: &mut String, fields: impl Iterator<Item = &'a str>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

fn weighted<T: Copy>(rng: &mut SmallRng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut roll = rng.gen_range(0..total);
    for (value, weight) in table {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    table[table.len() - 1].0
}

/// A family name, the common ones far more often (so namesakes occur as they do in Japan).
fn family_name(rng: &mut SmallRng) -> Name {
    let x: f64 = rng.gen();
    let index = ((x * x * x) * FAMILY_NAMES.len() as f64) as usize;
    FAMILY_NAMES[index.min(FAMILY_NAMES.len() - 1)]
}

fn digits(rng: &mut SmallRng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect()
}

fn companies(rng: &mut SmallRng, count: usize) -> Vec<CardCompany> {
    let pairs = STEMS.len() * BUSINESSES.len();
    // Distinct (stem, business) pairs in a random order; beyond them, a number is added.
    let mut order: Vec<usize> = (0..pairs).collect();
    for i in (1..order.len()).rev() {
        let j = rng.gen_range(0..=i);
        order.swap(i, j);
    }
    let mut out: Vec<CardCompany> = Vec::with_capacity(count);
    for index in 0..count {
        let pair = order[index % pairs];
        let (stem, business) = (STEMS[pair % STEMS.len()], BUSINESSES[pair / STEMS.len()]);
        let round = index / pairs;
        let number = if round > 0 { (round + 1).to_string() } else { String::new() };
        let (prefecture, _, cities) = PREFECTURE_CITIES[rng.gen_range(0..PREFECTURE_CITIES.len())];
        let (city, area) = cities[rng.gen_range(0..cities.len())];
        let mut body = format!("{}{}{number}", stem.0, business.0);
        let mut label = format!("{}-{}{number}", stem.1, business.1);
        // One company in twenty shares its name with an earlier one in another prefecture.
        if index > 10 && rng.gen_bool(0.05) {
            let earlier = &out[rng.gen_range(0..index)];
            if earlier.prefecture != prefecture {
                body.clone_from(&earlier.body);
                label = format!("{label}-{}", rng.gen_range(2..99));
            }
        }
        let front = rng.gen_bool(0.7);
        let name = if front { format!("株式会社{body}") } else { format!("{body}株式会社") };
        let base = format!("{}{:011}", 1, 10_000_000_000u64 + index as u64 * 7 + u64::from(rng.gen_range(0..7u8)));
        let corporate_number = hatake_domain::CorporateNumber::from_base(&base[base.len() - 12..]).as_str().to_owned();
        let local = 10 - area.len();
        let phone = format!("{area}-{}-{}", digits(rng, local - 4), digits(rng, 4));
        out.push(CardCompany {
            name,
            body,
            front,
            corporate_number,
            prefecture,
            city,
            domain: format!("{label}.co.jp"),
            phone,
            in_master: rng.gen_bool(0.9),
        });
    }
    out
}

fn people(rng: &mut SmallRng, companies: &[CardCompany], count: usize) -> Vec<Person> {
    let mut taken_emails = std::collections::HashSet::new();
    let mut names_at: std::collections::HashSet<(usize, &str, &str)> = std::collections::HashSet::new();
    let mut out: Vec<Person> = Vec::with_capacity(count);
    for _ in 0..count {
        // Larger companies hold more people: a skewed pick.
        let x: f64 = rng.gen();
        let company_index = ((x * x) * companies.len() as f64) as usize % companies.len();
        let company = &companies[company_index];
        let mut family = family_name(rng);
        let mut given = GIVEN_NAMES[rng.gen_range(0..GIVEN_NAMES.len())];
        // Homonyms: one in twenty takes the full name of someone at another company; siblings:
        // one in ten takes the family name of a colleague already on file.
        if !out.is_empty() && rng.gen_bool(0.05) {
            let other = &out[rng.gen_range(0..out.len())];
            if other.company != company_index {
                (family, given) = (other.family, other.given);
            }
        } else if rng.gen_bool(0.1) {
            if let Some(colleague) = out.iter().rev().take(2_000).find(|p| p.company == company_index) {
                family = colleague.family;
                while given.0 == colleague.given.0 {
                    given = GIVEN_NAMES[rng.gen_range(0..GIVEN_NAMES.len())];
                }
            }
        }
        // Two people of one name at one company are beyond what anyone can tell apart on cards.
        let mut tries = 0;
        while names_at.contains(&(company_index, family.0, given.0)) {
            given = GIVEN_NAMES[(GIVEN_NAMES.iter().position(|g| g.0 == given.0).unwrap_or(0) + 1) % GIVEN_NAMES.len()];
            tries += 1;
            if tries % GIVEN_NAMES.len() == 0 {
                // Every given name is taken with this family name here: another family.
                family = FAMILY_NAMES
                    [(FAMILY_NAMES.iter().position(|f| f.0 == family.0).unwrap_or(0) + 1) % FAMILY_NAMES.len()];
            }
        }
        names_at.insert((company_index, family.0, given.0));
        let roll: f64 = rng.gen();
        let email = if roll < 0.68 {
            let mut address = format!("{}.{}@{}", given.2, family.2, company.domain);
            let mut n = 2;
            while taken_emails.contains(&address) {
                address = format!("{}.{}{n}@{}", given.2, family.2, company.domain);
                n += 1;
            }
            Some(address)
        } else if roll < 0.78 {
            let domain = weighted(rng, FREE_MAIL);
            Some(format!("{}{}{}@{domain}", family.2, given.2, digits(rng, 3)))
        } else if roll < 0.83 {
            Some(format!("info@{}", company.domain))
        } else {
            None
        };
        if let Some(address) = &email {
            taken_emails.insert(address.clone());
        }
        let phone = rng.gen_bool(0.3).then(|| {
            let (area, _) = company.phone.split_once('-').unwrap_or((&company.phone, ""));
            format!("{area}-{}-{}", digits(rng, 10 - area.len() - 4), digits(rng, 4))
        });
        let mobile =
            rng.gen_bool(0.3).then(|| format!("0{}0-{}-{}", rng.gen_range(7..=9), digits(rng, 4), digits(rng, 4)));
        out.push(Person {
            company: company_index,
            family,
            given,
            department: weighted(rng, DEPARTMENTS),
            title: weighted(rng, TITLES),
            email,
            phone,
            mobile,
            main_line: rng.gen_bool(0.6),
        });
    }
    out
}

/// The company name as someone wrote it on this row.
fn company_as_written(rng: &mut SmallRng, company: &CardCompany) -> String {
    match rng.gen_range(0..10) {
        0 => format!("(株){}", company.body),
        1 => format!("{}(株)", company.body),
        2 => format!("{}㈱", company.body),
        3 => company.body.clone(),
        4 => format!("（株）{}", company.body),
        _ => company.name.clone(),
    }
}

fn write_card(rng: &mut SmallRng, person: &Person, company: &CardCompany, repeat: bool) -> [String; 10] {
    let mut family = person.family.0.to_owned();
    let mut given = person.given.0.to_owned();
    let mut kana = format!("{} {}", person.family.1, person.given.1);
    let mut company_name = company.name.clone();
    let mut department = person.department.to_owned();
    let mut title = person.title.to_owned();
    let mut email = person.email.clone().unwrap_or_default();
    let mut phone =
        person.phone.clone().or_else(|| person.main_line.then(|| company.phone.clone())).unwrap_or_default();
    let mobile = person.mobile.clone().unwrap_or_default();
    let mut space = true;
    let variations = if repeat { rng.gen_range(1..=3) } else { usize::from(rng.gen_bool(0.3)) };
    for _ in 0..variations {
        match rng.gen_range(0..13) {
            0 => company_name = company_as_written(rng, company),
            1 => phone = to_fullwidth_digits(&phone),
            2 => kana = to_hiragana(&kana),
            3 => kana = to_halfwidth_katakana(&kana),
            4 => kana.clear(),
            5 => email = email.to_uppercase(),
            6 if !email.is_empty() && !email.starts_with("info@") => {
                // A personal address given instead of the company's (at a seminar, say).
                email =
                    format!("{}.{}{}@{}", person.family.2, person.given.2, digits(rng, 2), weighted(rng, FREE_MAIL));
            }
            7 => phone.clear(),
            8 => space = false,
            9 => {
                department = match department.as_str() {
                    "情報システム部" => "情シス".to_owned(),
                    other => {
                        format!("{other} {}", super::tables::SECTIONS[rng.gen_range(0..super::tables::SECTIONS.len())])
                    }
                };
            }
            10 => title = weighted(rng, TITLES).to_owned(),
            11 if rng.gen_bool(0.4) => given = typo(&given),
            12 => family = old_form(&family),
            _ => email.clear(),
        }
    }
    if !space {
        family = format!("{family}{given}");
        given.clear();
    }
    let name = if given.is_empty() { family } else { format!("{family} {given}") };
    let address = format!(
        "{}{}{}-{}-{}",
        company.prefecture,
        company.city,
        "本町",
        1 + company.body.len() % 9,
        1 + company.name.len() % 20
    );
    [company_name, department, title, name, kana, email, phone, mobile, company.prefecture.to_owned(), address]
}

/// A family name in its old or variant characters, as some people write it (髙橋, 齋藤, 山﨑).
fn old_form(family: &str) -> String {
    const FORMS: [(char, char); 6] =
        [('高', '髙'), ('崎', '﨑'), ('斎', '齋'), ('辺', '邊'), ('沢', '澤'), ('浜', '濱')];
    family.chars().map(|c| FORMS.iter().find(|(from, _)| *from == c).map_or(c, |(_, to)| *to)).collect()
}

/// 太郎 → 太朗, 一郎 → 一朗 …: the typos cards and forms are full of (or, now and then, a
/// character left as it is when none is known).
fn typo(given: &str) -> String {
    const SWAPS: [(char, char); 8] = [
        ('郎', '朗'),
        ('太', '大'),
        ('子', '了'),
        ('介', '助'),
        ('司', '次'),
        ('也', '哉'),
        ('香', '佳'),
        ('美', '実'),
    ];
    let mut out = given.to_owned();
    for (from, to) in SWAPS {
        if out.contains(from) {
            out = out.replacen(from, &to.to_string(), 1);
            break;
        }
    }
    out
}

fn to_fullwidth_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - 0x30 + 0xFF10).unwrap_or(c),
            '-' => '－',
            other => other,
        })
        .collect()
}

fn to_hiragana(text: &str) -> String {
    text.chars()
        .map(|c| if ('ァ'..='ヶ').contains(&c) { char::from_u32(c as u32 - 0x60).unwrap_or(c) } else { c })
        .collect()
}

/// Full-width katakana as 半角 kana (voiced sounds as a base and a ﾞ or ﾟ mark).
fn to_halfwidth_katakana(text: &str) -> String {
    const FULL: &str = "ァアィイゥウェエォオカキクケコサシスセソタチッツテトナニヌネノハヒフヘホマミムメモャヤュユョヨラリルレロワヲンー";
    const HALF: &str = "ｧｱｨｲｩｳｪｴｫｵｶｷｸｹｺｻｼｽｾｿﾀﾁｯﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓｬﾔｭﾕｮﾖﾗﾘﾙﾚﾛﾜｦﾝｰ";
    const VOICED: &str = "ガギグゲゴザジズゼゾダヂヅデドバビブベボ";
    const VOICED_BASE: &str = "カキクケコサシスセソタチツテトハヒフヘホ";
    const SEMI: &str = "パピプペポ";
    const SEMI_BASE: &str = "ハヒフヘホ";
    let half_of = |c: char| FULL.chars().position(|f| f == c).and_then(|i| HALF.chars().nth(i));
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if let Some(i) = VOICED.chars().position(|v| v == c) {
            out.extend(VOICED_BASE.chars().nth(i).and_then(half_of));
            out.push('ﾞ');
        } else if let Some(i) = SEMI.chars().position(|v| v == c) {
            out.extend(SEMI_BASE.chars().nth(i).and_then(half_of));
            out.push('ﾟ');
        } else if c == 'ヴ' {
            out.push_str("ｳﾞ");
        } else {
            out.push(half_of(c).unwrap_or(c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_file_and_every_row_has_its_truth() {
        let options = CardOptions { seed: 7, people: 300, repeats: 0.6 };
        let (a, b) = (generate_cards(options), generate_cards(options));
        assert_eq!(a.csv(), b.csv());
        assert!(a.rows.len() > 300, "repeats are written: {}", a.rows.len());
        let people: std::collections::HashSet<usize> = a.rows.iter().map(|r| r.person).collect();
        assert_eq!(people.len(), 300, "every person is on at least one card");
        assert!(a.csv().lines().count() == a.rows.len() + 1);
    }

    #[test]
    fn half_width_kana_and_typos() {
        assert_eq!(to_halfwidth_katakana("タナカ ダイスケ"), "ﾀﾅｶ ﾀﾞｲｽｹ");
        assert_eq!(to_halfwidth_katakana("ペッパー"), "ﾍﾟｯﾊﾟｰ");
        assert_eq!(typo("太郎"), "太朗");
        assert_eq!(typo("健一"), "健一");
    }

    #[test]
    fn every_written_company_number_is_valid_and_distinct() {
        let set = generate_cards(CardOptions { seed: 3, people: 2_000, repeats: 0.5 });
        let mut seen = std::collections::HashSet::new();
        for company in &set.companies {
            assert!(hatake_domain::CorporateNumber::parse(&company.corporate_number).is_ok());
            assert!(seen.insert(company.corporate_number.clone()), "{}", company.corporate_number);
        }
    }
}
