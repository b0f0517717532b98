//! The demo's scoring models, one per product: the ready template for the ERP, and variations
//! that fit the other products — their own price-page URLs, caps, points that expire, decay that
//! repeats, and fit rules on the company size, industry, department class and title of the
//! people each product is sold to (the industries of [`super::tables::INDUSTRIES`] and the
//! department classes of the shipped dictionary).

use hatake_domain::scoring::{
    AccountRollup, Cap, DecayRule, EngagementRule, FitRule, PropertyMatch, RollupMethod, ScoringModel,
};

/// The model for the demo product `code` (the template for any code it does not know).
pub fn model(code: &str) -> ScoringModel {
    match code {
        "kintai" => kintai(),
        "security" => security(),
        _ => ScoringModel::template(),
    }
}

fn rule(id: &str, label: &str, kind: &str, points: i64) -> EngagementRule {
    EngagementRule { id: id.into(), label: Some(label.into()), kind: kind.into(), points, ..Default::default() }
}

fn fit(id: &str, label: &str, field: &str, points: i64) -> FitRule {
    FitRule { id: id.into(), label: Some(label.into()), field: field.into(), points, ..Default::default() }
}

fn texts(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// Attendance management for companies of 50 people or more, sold to HR and general affairs:
/// reactions count for a while only, the price page more, and silence costs points every 90 days.
fn kintai() -> ScoringModel {
    ScoringModel {
        include_unassigned: true,
        engagement: vec![
            EngagementRule {
                cap: Some(Cap { times: 4, days: 30 }),
                ..rule("mail-open", "メール開封（30日に4回まで）", "mail_open", 5)
            },
            rule("mail-click", "メールのリンククリック", "mail_click", 10),
            EngagementRule {
                expires_days: Some(180),
                ..rule("download", "資料ダウンロード（180日有効）", "download", 15)
            },
            EngagementRule {
                property: Some(PropertyMatch { key: "asset".into(), value: "labor-law-checklist".into() }),
                ..rule("law-checklist", "法改正チェックリストのダウンロード", "download", 10)
            },
            EngagementRule {
                cap: Some(Cap { times: 1, days: 1 }),
                expires_days: Some(90),
                ..rule("site-visit", "サイト訪問（1日1回・90日有効）", "page_view", 5)
            },
            EngagementRule {
                url: Some("*/products/kintai/price*".into()),
                cap: Some(Cap { times: 2, days: 30 }),
                expires_days: Some(120),
                ..rule("price-page", "料金ページ閲覧（30日に2回まで・120日有効）", "page_view", 20)
            },
            EngagementRule {
                url: Some("*/case-studies/kintai-*".into()),
                expires_days: Some(180),
                ..rule("case-study", "導入事例の閲覧", "page_view", 10)
            },
            EngagementRule {
                name: Some("*労務*".into()),
                ..rule("labor-seminar", "労務管理セミナー参加", "seminar_attendance", 20)
            },
            rule("seminar", "セミナー参加", "seminar_attendance", 10),
            rule("exhibition", "展示会ブース来場", "exhibition_visit", 10),
            rule("inquiry", "お問い合わせ", "form_submit", 30),
        ],
        decay: vec![DecayRule {
            id: "no-reaction".into(),
            label: Some("反応なし（90日ごと）".into()),
            kinds: texts(&["page_view", "download", "mail_open", "mail_click"]),
            days: 90,
            points: -10,
            repeat: true,
        }],
        fit: vec![
            FitRule { min: Some(50), ..fit("fifty-or-more", "従業員50名以上", "employee_count", 10) },
            FitRule { max: Some(29), ..fit("too-small", "従業員30名未満", "employee_count", -10) },
            FitRule {
                equals: texts(&["hr", "general_affairs"]),
                ..fit("hr-or-ga", "人事・総務部門", "department_class", 20)
            },
            FitRule {
                equals: texts(&["小売業", "宿泊・飲食業", "運輸業", "医療・福祉", "製造業"]),
                ..fit("shift-work", "シフト勤務の多い業種", "industry", 10)
            },
            FitRule {
                contains: texts(&["部長", "課長", "マネージャー"]), ..fit("manager", "管理職", "title", 10)
            },
        ],
        account: AccountRollup { method: RollupMethod::Top, top: Some(3) },
        allow_negative: false,
    }
}

/// Security assessments for information systems and DX departments: only the product's own
/// events count, the plans page and the checklist weigh most, and mail and site silence decay.
fn security() -> ScoringModel {
    ScoringModel {
        include_unassigned: false,
        engagement: vec![
            rule("mail-open", "メール開封", "mail_open", 5),
            EngagementRule {
                campaign: Some("security-news".into()),
                ..rule("news-click", "セキュリティニュースのクリック", "mail_click", 10)
            },
            rule("download", "資料ダウンロード", "download", 10),
            EngagementRule {
                property: Some(PropertyMatch { key: "asset".into(), value: "security-checklist".into() }),
                ..rule("checklist", "対策チェックリストのダウンロード", "download", 15)
            },
            EngagementRule {
                url: Some("*/products/security/*".into()),
                cap: Some(Cap { times: 1, days: 1 }),
                expires_days: Some(60),
                ..rule("service-page", "サービスページ閲覧（1日1回・60日有効）", "page_view", 5)
            },
            EngagementRule {
                url: Some("*/products/security/plans*".into()),
                cap: Some(Cap { times: 3, days: 30 }),
                ..rule("plans-page", "プラン・費用ページ閲覧（30日に3回まで）", "page_view", 15)
            },
            EngagementRule {
                expires_days: Some(365),
                ..rule("seminar", "セミナー参加（1年有効）", "seminar_attendance", 20)
            },
            EngagementRule {
                expires_days: Some(365),
                ..rule("exhibition", "展示会ブース来場（1年有効）", "exhibition_visit", 15)
            },
            rule("inquiry", "お問い合わせ", "form_submit", 40),
        ],
        decay: vec![
            DecayRule {
                id: "no-mail-reaction".into(),
                label: Some("メール無反応（120日）".into()),
                kinds: texts(&["mail_open", "mail_click"]),
                days: 120,
                points: -20,
                repeat: false,
            },
            DecayRule {
                id: "no-visit".into(),
                label: Some("サイト訪問なし（90日ごと）".into()),
                kinds: texts(&["page_view"]),
                days: 90,
                points: -10,
                repeat: true,
            },
        ],
        fit: vec![
            FitRule {
                equals: texts(&["it", "dx"]),
                ..fit("it-or-dx", "情報システム・DX推進部門", "department_class", 25)
            },
            FitRule { equals: texts(&["CIO", "CDO"]), ..fit("cio-cdo", "CIO・CDO", "title", 20) },
            FitRule { min: Some(300), ..fit("three-hundred", "従業員300名以上", "employee_count", 10) },
            FitRule {
                equals: texts(&["金融業", "医療・福祉", "情報通信業", "電気・ガス業"]),
                ..fit("regulated", "セキュリティ要件の厳しい業種", "industry", 15)
            },
            FitRule {
                equals: texts(&["3ヶ月以内", "半年以内"]),
                ..fit("soon", "導入時期が半年以内", "custom.timing", 10)
            },
        ],
        account: AccountRollup { method: RollupMethod::Max, top: None },
        allow_negative: false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_model_passes_its_check() {
        let keys = ["problem", "timing", "budget", "position"];
        for code in ["erp", "kintai", "security", "other"] {
            let model = super::model(code);
            model.check(&keys).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(hatake_domain::scoring::ScoringModel::from_json(&model.to_json()).unwrap(), model);
        }
        assert_eq!(super::model("erp"), hatake_domain::scoring::ScoringModel::template());
        // Without the demo's hearing items, the security model's custom-field rule is refused.
        assert!(super::model("security").check(&[]).is_err());
    }
}
