//! Table tests of the lead matcher: pairs of records as they arrive from real sources, and
//! what the matcher must decide for each.

use super::lead::{decide, is_role_address, kana_key, Decision, LeadFeatures};
use crate::LeadInput;

/// company, family, given, kana (family given), email, phone, prefecture.
type Row = (&'static str, &'static str, &'static str, &'static str, &'static str, &'static str, &'static str);

fn features(row: &Row) -> LeadFeatures {
    let (company, family, given, kana, email, phone, prefecture) = *row;
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let (kana_family, kana_given) = kana.split_once(' ').unwrap_or((kana, ""));
    let input = LeadInput {
        company_name: some(company),
        family_name: some(family),
        given_name: some(given),
        family_name_kana: some(kana_family),
        given_name_kana: some(kana_given),
        email: some(email),
        phone: some(phone),
        prefecture: some(prefecture),
        ..LeadInput::default()
    };
    LeadFeatures::new(&input.validate(&[]).expect("test rows are valid"))
}

#[derive(Debug, PartialEq)]
enum Expect {
    Merge,
    Review,
    New,
}

const BASE: Row =
    ("株式会社ひまわり商事", "佐藤", "太郎", "サトウ タロウ", "taro.sato@himawari.co.jp", "03-1234-5678", "東京都");

#[test]
fn decisions_on_realistic_variants() {
    let cases: &[(&str, Row, Expect)] = &[
        ("same e-mail, nothing else", ("", "", "", "", "TARO.SATO@HIMAWARI.CO.JP", "", ""), Expect::Merge),
        (
            "same e-mail, other name (shared personal address is rare)",
            ("", "鈴木", "花子", "", "taro.sato@himawari.co.jp", "", ""),
            Expect::Merge,
        ),
        (
            "legal form spelt (株), 全角 phone, no e-mail",
            ("(株)ひまわり商事", "佐藤", "太郎", "", "", "０３（１２３４）５６７８", "東京都"),
            Expect::Merge,
        ),
        (
            "company written after, 半角 kana reading, no e-mail",
            ("ひまわり商事 株式会社", "佐藤", "太郎", "ｻﾄｳ ﾀﾛｳ", "", "", ""),
            Expect::Merge,
        ),
        (
            "typo in the given name, same reading and company",
            ("株式会社ひまわり商事", "佐藤", "太朗", "サトウ タロウ", "", "", "東京都"),
            Expect::Merge,
        ),
        (
            "hiragana reading, other e-mail at the same company",
            ("ひまわり商事", "佐藤", "太郎", "さとう たろう", "t-sato@himawari.co.jp", "", "東京都"),
            Expect::Merge,
        ),
        (
            "same name, a mobile the stored record lacks: a namesake",
            ("", "佐藤", "太郎", "", "", "090-1111-2222", ""),
            Expect::New,
        ),
        ("same name only, same prefecture: a namesake", ("", "佐藤", "太郎", "", "", "", "東京都"), Expect::New),
        (
            "same name, same company domain, no company name",
            ("", "佐藤", "太郎", "", "t.sato@himawari.co.jp", "", ""),
            Expect::Merge,
        ),
        (
            "namesake at a company whose name differs only in its number, other e-mail and phone",
            (
                "株式会社ひまわり30商事",
                "佐藤",
                "太郎",
                "サトウ タロウ",
                "taro.sato@himawari30.co.jp",
                "03-9876-5432",
                "東京都",
            ),
            Expect::New,
        ),
        (
            "namesake at 第二 where the stored record is at 第一",
            ("株式会社第二ひまわり商事", "佐藤", "太郎", "サトウ タロウ", "", "", "東京都"),
            Expect::New,
        ),
        (
            "colleague: other given name, same switchboard",
            (
                "株式会社ひまわり商事",
                "佐藤",
                "次郎",
                "サトウ ジロウ",
                "jiro.sato@himawari.co.jp",
                "03-1234-5678",
                "東京都",
            ),
            Expect::New,
        ),
        (
            "other person, other company",
            (
                "株式会社あおぞら工業",
                "田中",
                "一郎",
                "タナカ イチロウ",
                "tanaka@aozora.co.jp",
                "06-1111-2222",
                "大阪府",
            ),
            Expect::New,
        ),
        (
            "same name at another company in another prefecture",
            ("株式会社あおぞら工業", "佐藤", "太郎", "サトウ タロウ", "sato@aozora.co.jp", "06-1111-2222", "大阪府"),
            Expect::New,
        ),
        (
            "typo in the given name, no reading: a person decides",
            ("ひまわり商事", "佐藤", "太朗", "", "", "090-9999-0000", "東京都"),
            Expect::Review,
        ),
        (
            "other given name, no reading: a person decides",
            ("ひまわり商事", "佐藤", "次郎", "", "", "", "東京都"),
            Expect::Review,
        ),
        (
            "homonym with the same reading elsewhere, free mail",
            ("", "佐藤", "太郎", "サトウ タロウ", "taro1234@gmail.com", "048-550-7945", "埼玉県"),
            Expect::New,
        ),
        (
            "the name written without a space, same company, nothing else",
            ("ひまわり商事", "佐藤太郎", "", "", "", "", ""),
            Expect::Merge,
        ),
        (
            "the name without a space, another e-mail at the same company",
            ("株式会社ひまわり商事", "佐藤太郎", "", "", "sato.t@himawari.co.jp", "", "東京都"),
            Expect::Merge,
        ),
        (
            "a colleague whose family name differs by one character (佐藤 / 佐野)",
            ("株式会社ひまわり商事", "佐野", "太郎", "サノ タロウ", "", "03-1234-5678", "東京都"),
            Expect::New,
        ),
        (
            "role address is not an identity",
            ("株式会社ひまわり商事", "鈴木", "花子", "スズキ ハナコ", "info@himawari.co.jp", "", ""),
            Expect::New,
        ),
    ];
    let mut base = features(&BASE);
    // The stored person used for the role-address case also gave info@.
    let role_stored = features(&("株式会社ひまわり商事", "佐藤", "太郎", "", "info@himawari.co.jp", "", ""));
    for (what, row, expected) in cases {
        let incoming = features(row);
        let stored = if row.4.starts_with("info@") { &role_stored } else { &base };
        let got = match decide(&incoming, &[stored]) {
            Decision::Merge { .. } => Expect::Merge,
            Decision::Review { .. } => Expect::Review,
            Decision::New => Expect::New,
        };
        let comparison = super::compare_leads(&incoming, stored);
        assert_eq!(&got, expected, "{what}: score {:.1} {:?}", comparison.score, comparison.evidence);
        // `decide` skips candidates that share no place: such a pair must be one it would
        // neither merge nor ask about.
        if !super::lead::share_a_place(&incoming, stored) {
            assert!(!comparison.is_confident() && !comparison.needs_review(), "{what}: {comparison:?}");
        }
    }
    // And every pair of the cases among themselves.
    let all: Vec<LeadFeatures> = cases.iter().map(|(_, row, _)| features(row)).chain([base.clone()]).collect();
    let mut skipped = 0;
    for a in &all {
        for b in &all {
            if !super::lead::share_a_place(a, b) {
                skipped += 1;
                let comparison = super::lead::compare_leads(a, b);
                assert!(!comparison.is_confident() && !comparison.needs_review(), "{comparison:?}");
            }
            // The evidence a person is shown adds up to the score: caps and adjustments are
            // lines of their own.
            let comparison = super::lead::compare_leads(a, b);
            let sum: f64 = comparison.evidence.iter().map(|e| e.weight).sum();
            assert!((sum - comparison.score).abs() < 1e-9, "{sum} ≠ {}: {comparison:?}", comparison.score);
        }
    }
    assert!(skipped > 0, "the cases include pairs that share no place");
    base.keys.sort();
    assert!(base.keys.iter().any(|k| k.starts_with("n:ひまわり商事|佐藤")), "{:?}", base.keys);
}

#[test]
fn the_best_confident_candidate_wins() {
    let incoming = features(&("ひまわり商事", "佐藤", "太郎", "", "taro.sato@himawari.co.jp", "", ""));
    let colleague = features(&("ひまわり商事", "佐藤", "次郎", "", "jiro@himawari.co.jp", "", ""));
    let same = features(&BASE);
    match decide(&incoming, &[&colleague, &same]) {
        Decision::Merge { index, comparison } => {
            assert_eq!(index, 1);
            assert!(comparison.same_email);
        }
        other => panic!("expected a merge, got {other:?}"),
    }
}

#[test]
fn key_hashes_are_fnv_1a() {
    // The published FNV-1a 64-bit test vectors: stored hashes must never change.
    assert_eq!(super::lead::key_hash(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
    assert_eq!(super::lead::key_hash("a"), 0xaf63_dc4c_8601_ec8c_u64 as i64);
    assert_eq!(super::lead::key_hash("foobar"), 0x8594_4171_f739_67e8_u64 as i64);
    let lead = features(&BASE);
    assert_eq!(lead.key_hashes().len(), lead.keys.len());
    assert_eq!(lead.key_hashes()[0], super::lead::key_hash(&lead.keys[0]));
}

#[test]
fn helpers() {
    assert!(is_role_address("info@x.co.jp"));
    assert!(is_role_address("sales2@x.co.jp"));
    assert!(!is_role_address("taro.sato@x.co.jp"));
    // The matcher compares phones by `Phone::key`.
    let key = |text: &str| crate::Phone::parse_field(text, "phone").expect("valid phone").key();
    assert_eq!(key("+81 3-1234-5678"), "0312345678");
    assert_eq!(key("+81 (0)3-1234-5678"), "0312345678");
    assert_eq!(key("03-1234-5678"), "0312345678");
    assert_eq!(kana_key("さとう たろう"), "サトウタロウ");
    assert_eq!(kana_key("ｻﾄｳ ﾀﾛｳ"), "サトウタロウ");
}

/// Names that differ only in variant characters (髙橋 / 高橋) are one name; two common family
/// names read differently are two families; a whole name in one field matches its split form.
#[test]
fn names_written_otherwise() {
    let stored = features(&("株式会社あおぞら工業", "高橋", "一郎", "タカハシ イチロウ", "", "06-1111-2222", "大阪府"));
    let cases: &[(&str, Row, Expect)] = &[
        ("old character", ("あおぞら工業", "髙橋", "一郎", "", "", "06-1111-2222", "大阪府"), Expect::Merge),
        ("whole name, old character", ("あおぞら工業", "髙橋一郎", "", "", "", "06-1111-2222", ""), Expect::Merge),
        ("whole name of an unknown family", ("あおぞら工業", "高梨一郎", "", "", "", "06-1111-2222", ""), Expect::New),
        (
            "another family, same switchboard",
            ("あおぞら工業", "高田", "一郎", "タカダ イチロウ", "", "06-1111-2222", ""),
            Expect::New,
        ),
    ];
    for (what, row, expected) in cases {
        let got = match decide(&features(row), &[&stored]) {
            Decision::Merge { .. } => Expect::Merge,
            Decision::Review { .. } => Expect::Review,
            Decision::New => Expect::New,
        };
        let comparison = super::compare_leads(&features(row), &stored);
        assert_eq!(&got, expected, "{what}: score {:.1} {:?}", comparison.score, comparison.evidence);
    }
}
