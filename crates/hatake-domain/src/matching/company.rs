//! Linking a lead to a company of the company master: by the normalised company name, then
//! prefecture and e-mail domain to choose among companies of the same name (there are dozens
//! of 「株式会社サンライズ」 in Japan).

use serde::Serialize;

/// What is known of the lead's company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadCompany {
    /// [`crate::company::normalise_company_name`] of the name as entered.
    pub name_key: String,
    pub prefecture: Option<String>,
    /// The e-mail's domain unless it is free mail.
    pub domain: Option<String>,
}

/// A company of the master, as a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyCandidate {
    pub id: i64,
    pub name_key: String,
    pub prefecture: Option<String>,
    pub domains: Vec<String>,
}

/// Why a link was made or proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkReason {
    /// The e-mail domain is the company's and the names agree.
    DomainAndName,
    /// The only company of that name.
    UniqueName,
    /// The only company of that name in the lead's prefecture.
    NameAndPrefecture,
    /// Same name, but the prefectures differ (a branch office, or another company).
    NameOtherPrefecture,
    /// Several companies share the name and nothing tells them apart.
    AmbiguousName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompanyDecision {
    /// No company of that name.
    None,
    Link {
        id: i64,
        reason: LinkReason,
    },
    /// A person chooses among these (at most five).
    Review {
        ids: Vec<i64>,
        reason: LinkReason,
    },
}

/// Decides which company a lead works for. Candidates should be the companies whose
/// normalised name equals the lead's (others are ignored).
pub fn decide_company(lead: &LeadCompany, candidates: &[CompanyCandidate]) -> CompanyDecision {
    if lead.name_key.is_empty() {
        return CompanyDecision::None;
    }
    let same_name: Vec<&CompanyCandidate> = candidates.iter().filter(|c| c.name_key == lead.name_key).collect();
    if same_name.is_empty() {
        return CompanyDecision::None;
    }
    if let Some(domain) = &lead.domain {
        let by_domain: Vec<&&CompanyCandidate> = same_name
            .iter()
            .filter(|c| c.domains.iter().any(|d| d == domain || domain.ends_with(&format!(".{d}"))))
            .collect();
        if by_domain.len() == 1 {
            return CompanyDecision::Link { id: by_domain[0].id, reason: LinkReason::DomainAndName };
        }
    }
    let in_prefecture: Vec<&&CompanyCandidate> = match &lead.prefecture {
        Some(p) => same_name.iter().filter(|c| c.prefecture.as_ref() == Some(p)).collect(),
        None => Vec::new(),
    };
    match (same_name.len(), in_prefecture.len()) {
        (1, _) => {
            let only = same_name[0];
            let conflict = matches!((&lead.prefecture, &only.prefecture), (Some(a), Some(b)) if a != b);
            if conflict {
                CompanyDecision::Review { ids: vec![only.id], reason: LinkReason::NameOtherPrefecture }
            } else {
                CompanyDecision::Link { id: only.id, reason: LinkReason::UniqueName }
            }
        }
        (_, 1) => CompanyDecision::Link { id: in_prefecture[0].id, reason: LinkReason::NameAndPrefecture },
        _ => {
            let pool: Vec<i64> = if in_prefecture.is_empty() {
                same_name.iter().map(|c| c.id).collect()
            } else {
                in_prefecture.iter().map(|c| c.id).collect()
            };
            CompanyDecision::Review { ids: pool.into_iter().take(5).collect(), reason: LinkReason::AmbiguousName }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: i64, name: &str, prefecture: &str, domains: &[&str]) -> CompanyCandidate {
        CompanyCandidate {
            id,
            name_key: name.to_owned(),
            prefecture: (!prefecture.is_empty()).then(|| prefecture.to_owned()),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    fn lead(name: &str, prefecture: &str, domain: &str) -> LeadCompany {
        LeadCompany {
            name_key: name.to_owned(),
            prefecture: (!prefecture.is_empty()).then(|| prefecture.to_owned()),
            domain: (!domain.is_empty()).then(|| domain.to_owned()),
        }
    }

    #[test]
    fn decisions() {
        let master = [
            company(1, "ひまわり商事", "東京都", &["himawari.co.jp"]),
            company(2, "サンライズ", "東京都", &[]),
            company(3, "サンライズ", "大阪府", &[]),
            company(4, "サンライズ", "大阪府", &["sunrise-osaka.jp"]),
            company(5, "あおぞら工業", "", &[]),
        ];
        let cases: &[(&str, LeadCompany, CompanyDecision)] = &[
            (
                "unique name",
                lead("ひまわり商事", "東京都", ""),
                CompanyDecision::Link { id: 1, reason: LinkReason::UniqueName },
            ),
            (
                "unique name, lead without prefecture",
                lead("ひまわり商事", "", ""),
                CompanyDecision::Link { id: 1, reason: LinkReason::UniqueName },
            ),
            (
                "unique name, company without prefecture",
                lead("あおぞら工業", "北海道", ""),
                CompanyDecision::Link { id: 5, reason: LinkReason::UniqueName },
            ),
            (
                "unique name in another prefecture",
                lead("ひまわり商事", "大阪府", ""),
                CompanyDecision::Review { ids: vec![1], reason: LinkReason::NameOtherPrefecture },
            ),
            (
                "the one of that name in the prefecture",
                lead("サンライズ", "東京都", ""),
                CompanyDecision::Link { id: 2, reason: LinkReason::NameAndPrefecture },
            ),
            (
                "two in the prefecture, the domain decides",
                lead("サンライズ", "大阪府", "sunrise-osaka.jp"),
                CompanyDecision::Link { id: 4, reason: LinkReason::DomainAndName },
            ),
            (
                "a subdomain counts",
                lead("サンライズ", "", "mail.sunrise-osaka.jp"),
                CompanyDecision::Link { id: 4, reason: LinkReason::DomainAndName },
            ),
            (
                "two in the prefecture, nothing else",
                lead("サンライズ", "大阪府", ""),
                CompanyDecision::Review { ids: vec![3, 4], reason: LinkReason::AmbiguousName },
            ),
            (
                "three, no prefecture",
                lead("サンライズ", "", ""),
                CompanyDecision::Review { ids: vec![2, 3, 4], reason: LinkReason::AmbiguousName },
            ),
            ("no company of that name", lead("だいち建設", "東京都", ""), CompanyDecision::None),
            ("no name", lead("", "東京都", "himawari.co.jp"), CompanyDecision::None),
        ];
        for (what, lead, expected) in cases {
            assert_eq!(&decide_company(lead, &master), expected, "{what}");
        }
    }
}
