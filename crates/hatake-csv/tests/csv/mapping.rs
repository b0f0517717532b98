//! Mappings: guessed from headers, parsed from a form, stored as JSON.

use hatake_csv::{ColumnKey, CompanyColumn, CompanyMapping, LeadColumn as L, Mapping};

#[test]
fn guess_keeps_the_first_of_a_single_valued_column_and_all_addresses() {
    let headers = ["会社名", "氏名", "メール", "Eメール", "住所1", "住所2", "名刺交換日", "備考1", "備考2"];
    assert_eq!(
        Mapping::guess(&headers),
        Mapping(vec![
            Some(L::CompanyName),
            Some(L::FullName),
            Some(L::Email),
            None,
            Some(L::Address),
            Some(L::Address),
            None,
            Some(L::Note),
            Some(L::Note),
        ])
    );
}

#[test]
fn json_is_an_array_of_keys_or_null() {
    let mapping = Mapping(vec![Some(L::CompanyName), None, Some(L::Email), Some(L::Ignore)]);
    let json = serde_json::to_string(&mapping).unwrap();
    assert_eq!(json, r#"["company_name",null,"email","ignore"]"#);
    assert_eq!(serde_json::from_str::<Mapping>(&json).unwrap(), mapping);
}

#[test]
fn json_with_an_unknown_key_or_a_duplicate_is_rejected() {
    let unknown = serde_json::from_str::<Mapping>(r#"["company_name","fax"]"#).unwrap_err();
    assert!(unknown.to_string().contains("unknown column key: fax"), "{unknown}");
    let duplicate = serde_json::from_str::<Mapping>(r#"["email",null,"email"]"#).unwrap_err();
    assert!(duplicate.to_string().contains("mapping[2]"), "{duplicate}");
    assert!(serde_json::from_str::<Mapping>(r#"["address","address","ignore","ignore"]"#).is_ok());
}

#[test]
fn form_keys_parse_with_field_named_errors() {
    assert_eq!(
        Mapping::parse_keys(&["company_name", "", "email", "address", "address"]),
        Ok(Mapping(vec![Some(L::CompanyName), None, Some(L::Email), Some(L::Address), Some(L::Address)]))
    );
    let errors = Mapping::parse_keys(&["email", "phone_number", "email", "phone"]).unwrap_err();
    let found: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(found, vec![("mapping[1]", "unknown_column"), ("mapping[2]", "duplicate_column")]);
    assert_eq!(errors.0[1].message_ja, "「メールアドレス」は列1と列3の両方に割り当てられています。");
    assert_eq!(errors.0[1].message_en, "E-mail is mapped from both column 1 and column 3.");
}

#[test]
fn company_mappings_work_the_same_way() {
    let mapping = CompanyMapping::guess(&["会社名", "法人番号", "住所", "番地", "URL"]);
    assert_eq!(mapping.keys(), vec!["name", "corporate_number", "address", "address", "domain"]);
    assert_eq!(mapping.columns_of(CompanyColumn::Address), vec![2, 3]);
    let json = serde_json::to_string(&mapping).unwrap();
    assert_eq!(serde_json::from_str::<CompanyMapping>(&json).unwrap(), mapping);
    assert_eq!(CompanyMapping::parse_keys(&["name", "name"]).unwrap_err().0[0].field, "mapping[1]");
}

#[test]
fn every_key_parses_back() {
    for column in L::ALL {
        assert_eq!(L::parse(column.as_str()), Some(*column));
        assert!(!column.label("ja").is_empty() && !column.label("en").is_empty());
    }
    for column in CompanyColumn::ALL {
        assert_eq!(CompanyColumn::parse(column.as_str()), Some(*column));
    }
}
