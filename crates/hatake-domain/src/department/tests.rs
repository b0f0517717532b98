use super::*;

/// (department as entered, class key: "" for none).
const CASES: &[(&str, &str)] = &[
    ("情報システム部", "it"),
    ("情シス", "it"),
    ("IT推進室", "it"),
    ("ＩＴ戦略部", "it"),
    ("総務部 情報システム課", "it"),
    ("情報 システム部", "it"),
    ("システム部", "it"),
    ("ICT推進部", "it"),
    ("情報システム部 ヘルプデスク", "it"),
    ("IT Department", "it"),
    ("Information Systems", "it"),
    ("DX推進室", "dx"),
    ("ＤＸ戦略部", "dx"),
    ("デジタル変革推進本部", "dx"),
    ("Digital Transformation Office", "dx"),
    ("経営企画室", "corporate_planning"),
    ("事業開発部", "corporate_planning"),
    ("企画部", "corporate_planning"),
    ("Business Development", "corporate_planning"),
    ("総務部総務課", "general_affairs"),
    ("管理部", "general_affairs"),
    ("管理本部 経理課", "finance"),
    ("人事部 採用グループ", "hr"),
    ("人材開発部", "hr"),
    ("Human Resources", "hr"),
    ("経理部", "finance"),
    ("財務経理部", "finance"),
    ("営業本部 第一営業部", "sales"),
    ("東日本営業所", "sales"),
    ("営業企画部", "sales"),
    ("技術営業部", "sales"),
    ("大阪支店", "sales"),
    ("Sales Dept.", "sales"),
    ("Inside Sales", "sales"),
    ("マーケティング部", "marketing"),
    ("デジタルマーケティング室", "marketing"),
    ("販売促進部", "marketing"),
    ("商品企画部", "marketing"),
    ("Marketing", "marketing"),
    ("製造部", "manufacturing"),
    ("生産技術部", "manufacturing"),
    ("生産管理課", "manufacturing"),
    ("研究開発本部", "rnd"),
    ("技術部", "rnd"),
    ("商品開発部", "rnd"),
    ("R&D Center", "rnd"),
    ("品質保証部", "quality"),
    ("品質管理課", "quality"),
    ("購買部", "procurement"),
    ("資材調達課", "procurement"),
    ("物流センター", "logistics"),
    ("法務部", "legal"),
    ("知的財産部", "legal"),
    ("広報室", "pr"),
    ("Public Relations", "pr"),
    ("カスタマーサポート部", "support"),
    ("CS推進室", "support"),
    ("Customer Success", "support"),
    ("社長室", "executive"),
    ("代表取締役", "executive"),
    ("キッチン", "other"),
    ("Itinerary Planning", "other"),
    ("Physics", "other"),
    ("", ""),
    ("　 ", ""),
];

#[test]
fn classifies_realistic_departments() {
    let dictionary = DepartmentDictionary::default();
    for (department, expected) in CASES {
        let got = dictionary.classify(department).map_or("", |c| c.key.as_str());
        assert_eq!(got, *expected, "{department}");
    }
}

#[test]
fn shipped_dictionary_round_trips_through_text() {
    let dictionary = DepartmentDictionary::default();
    assert_eq!(DepartmentDictionary::parse(&dictionary.to_text()), Ok(dictionary.clone()));
    assert_eq!(dictionary.class("it").map(|c| c.label_ja.as_str()), Some("情報システム"));
    assert_eq!(dictionary.classes().len(), 18);
}

#[test]
fn a_small_dictionary_is_configured_as_text() {
    let text = "# 最小の辞書\nclass kitchen | 厨房 | Kitchen\nclass other | その他 | Other\n\nキッチン => kitchen\n厨房 => kitchen\n";
    let dictionary = DepartmentDictionary::parse(text).unwrap();
    assert_eq!(dictionary.classify("セントラルキッチン").map(|c| c.key.as_str()), Some("kitchen"));
    assert_eq!(dictionary.classify("情報システム部").map(|c| c.key.as_str()), Some("other"));
    assert_eq!(dictionary.rules().len(), 2);
}

/// (dictionary text, the (line, code) of each error).
const BAD: &[(&str, &[(usize, &str)])] = &[
    ("class other | その他 | Other\n情シス => it", &[(2, "unknown_class")]),
    ("class other | その他 | Other\n => other", &[(2, "empty_keyword")]),
    (
        "class other | その他 | Other\n情シス => other\nじょうしす => other\n情シス => other",
        &[(4, "duplicate_keyword")],
    ),
    ("class other | その他 | Other\nＩＴ => other\nit => other", &[(3, "duplicate_keyword")]),
    ("class other | その他 | Other\nclass other | 他 | Else", &[(2, "duplicate_class")]),
    ("class Other | その他 | Other", &[(1, "invalid_class_key"), (0, "missing_other_class")]),
    ("class other | その他", &[(1, "malformed_line"), (0, "missing_other_class")]),
    ("class other | | Other", &[(1, "empty_label"), (0, "missing_other_class")]),
    ("class other | その他 | Other\n情シス it\na => b => other", &[(2, "malformed_line"), (3, "malformed_line")]),
    ("", &[(0, "missing_other_class")]),
];

#[test]
fn errors_name_the_line_and_the_reason() {
    for (text, expected) in BAD {
        let errors = DepartmentDictionary::parse(text).unwrap_err();
        let mut got: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.code)).collect();
        let mut want = expected.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{text}");
        assert!(errors.iter().all(|e| !e.message_ja.is_empty() && !e.message_en.is_empty()));
    }
    let errors = DepartmentDictionary::parse("x").unwrap_err();
    let fields: Vec<FieldError> = errors.iter().map(|e| e.to_field_error("departments")).collect();
    assert_eq!(fields[0].message_en, "The class 'other' must be defined.");
    assert!(fields[1].message_ja.starts_with("1行目: ") && fields[1].message_en.starts_with("Line 1: "));
}
