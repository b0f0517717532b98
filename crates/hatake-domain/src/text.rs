//! Text normalisation shared by validation, matching and search.

use unicode_normalization::UnicodeNormalization;

/// Whether a text is in NFKC already. Text of ASCII, hiragana, katakana (with ー) and common
/// kanji is, character by character and as a whole (no two of them compose), which spares
/// most records the general check's table lookups.
pub fn is_nfkc(input: &str) -> bool {
    let plain = |c: char| {
        c.is_ascii()
            || matches!(c, '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}' | 'ー' | '々' | '\u{4E00}'..='\u{9FFF}')
    };
    input.chars().all(plain)
        || unicode_normalization::is_nfkc_quick(input.chars()) == unicode_normalization::IsNormalized::Yes
}

/// NFKC (全角 letters and digits to 半角, 半角 kana to 全角), with surrounding whitespace
/// (including 全角 spaces) removed and inner runs of whitespace collapsed to one space.
pub fn nfkc_trim(input: &str) -> String {
    // Most text is already normalised; the quick check avoids re-composing it.
    let quick = is_nfkc(input);
    let normalised: std::borrow::Cow<'_, str> =
        if quick { std::borrow::Cow::Borrowed(input) } else { std::borrow::Cow::Owned(input.nfkc().collect()) };
    let mut out = String::with_capacity(normalised.len());
    for word in normalised.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `None` for input that is empty after [`nfkc_trim`], else the trimmed text.
pub fn non_empty(input: Option<&str>) -> Option<String> {
    input.map(nfkc_trim).filter(|s| !s.is_empty())
}

/// The key used to search and compare loosely: NFKC, lower case, and only letters and digits.
pub fn search_key(input: &str) -> String {
    let mut key = String::with_capacity(input.len());
    // Stored values are normalised already; the quick check spares composing them again.
    if is_nfkc(input) {
        input.chars().for_each(|c| push_key_char(&mut key, c));
    } else {
        input.nfkc().for_each(|c| push_key_char(&mut key, c));
    }
    key
}

/// Appends a character to a search key: lower case, letters and digits only. ASCII, kana and
/// the common CJK ideographs (no case, all letters) skip the Unicode tables.
fn push_key_char(key: &mut String, c: char) {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        }
    } else if is_caseless_letter(c) {
        key.push(c);
    } else {
        key.extend(c.to_lowercase().filter(|c| c.is_alphanumeric()));
    }
}

/// Hiragana, katakana (with ー and the iteration marks, without ・ and the voicing marks) and
/// the CJK Unified Ideographs block: letters without case.
fn is_caseless_letter(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309F}' | '\u{30A1}'..='\u{30FA}' | '\u{30FC}'..='\u{30FF}' | '\u{4E00}'..='\u{9FFF}')
}

/// Bigram tokens of a search key, for an n-gram index that finds substrings in Japanese
/// text, where words are not separated by spaces. A one-character key yields itself.
pub fn bigrams(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    match chars.len() {
        0 => Vec::new(),
        1 => vec![chars[0].to_string()],
        _ => chars.windows(2).map(|w| w.iter().collect()).collect(),
    }
}

/// The text stored in the search index for a record: the bigrams of each part's search key,
/// space-separated (parts are kept apart so no bigram spans two fields).
pub fn search_document<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut document = String::new();
    let token = |document: &mut String, chars: &[char]| {
        if !document.is_empty() {
            document.push(' ');
        }
        document.extend(chars);
    };
    for part in parts {
        // Kana folded to hiragana: a query's hiragana form then finds a word stored in either
        // script or a mix of both (さくらテック, サクラテック).
        // Variant characters in their common form too (髙橋 as 高橋, 﨑 as 崎).
        let key: Vec<char> = crate::name::fold_variants(&swap_kana(&search_key(part), false)).chars().collect();
        if key.len() >= 2 {
            for pair in key.windows(2) {
                token(&mut document, pair);
            }
            // The last character starts no bigram; as a token of its own it lets a one-character
            // query (a prefix query) find it too, e.g. 「藤」 in 佐藤.
            token(&mut document, &key[key.len() - 1..]);
        } else if !key.is_empty() {
            token(&mut document, &key);
        }
    }
    document
}

/// A search query as a list of terms, each a list of bigrams that must occur in sequence.
/// A one-character term is a prefix query on the bigram tokens. A word written in kana also
/// matches the same word in the other script or in a mix of both (たなか, タナカ, たなかタロウ):
/// each term has its alternatives, any of which may match — as typed, in hiragana (the form the
/// documents store since search version 2) and in katakana (what older documents may hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<Vec<SearchTerm>>,
}

/// Hiragana as katakana and katakana as hiragana; other characters as they are.
fn swap_kana(text: &str, to_katakana: bool) -> String {
    text.chars()
        .map(|c| {
            let (from, shift) = if to_katakana { ('ぁ'..='ゖ', 0x60) } else { ('ァ'..='ヶ', 0) };
            if from.contains(&c) {
                let code = if to_katakana { c as u32 + shift } else { c as u32 - 0x60 };
                char::from_u32(code).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn term_of(key: String) -> SearchTerm {
    if key.chars().count() == 1 {
        SearchTerm::Prefix(key)
    } else {
        SearchTerm::Phrase(bigrams(&key))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchTerm {
    /// The bigrams of a term of two or more characters, in order.
    Phrase(Vec<String>),
    /// A single character: any token starting with it.
    Prefix(String),
}

impl SearchQuery {
    /// Splits the query on whitespace; each word must match. Returns `None` for a blank query.
    pub fn parse(input: &str) -> Option<Self> {
        let terms: Vec<Vec<SearchTerm>> = nfkc_trim(input)
            .split(' ')
            .map(|word| {
                // A company written with its legal form ((株)播磨) finds it written any way:
                // the form is left out of the term.
                let (rest, forms) = crate::company::strip_legal_forms(word);
                if forms.is_empty() || search_key(&rest).is_empty() {
                    search_key(word)
                } else {
                    search_key(&rest)
                }
            })
            .filter(|key| !key.is_empty())
            .map(|key| {
                let mut keys = vec![key.clone()];
                let folded = crate::name::fold_variants(&swap_kana(&key, false));
                for other in [swap_kana(&key, true), swap_kana(&key, false), folded] {
                    if !keys.contains(&other) {
                        keys.push(other);
                    }
                }
                keys.into_iter().map(term_of).collect()
            })
            .collect();
        (!terms.is_empty()).then_some(Self { terms })
    }

    /// The query in SQLite FTS5 syntax: `"ab bc" AND c*`.
    pub fn to_fts5(&self) -> String {
        let one = |term: &SearchTerm| match term {
            SearchTerm::Phrase(grams) => format!("\"{}\"", grams.join(" ")),
            SearchTerm::Prefix(c) => format!("\"{c}\"*"),
        };
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|alternatives| match alternatives.as_slice() {
                [only] => one(only),
                many => format!("({})", many.iter().map(one).collect::<Vec<_>>().join(" OR ")),
            })
            .collect();
        parts.join(" AND ")
    }

    /// The query as a PostgreSQL `tsquery` literal: `'ab' <-> 'bc' & 'c':*`.
    pub fn to_tsquery(&self) -> String {
        let one = |term: &SearchTerm| match term {
            SearchTerm::Phrase(grams) => {
                let quoted: Vec<String> = grams.iter().map(|g| quote_ts(g)).collect();
                format!("({})", quoted.join(" <-> "))
            }
            SearchTerm::Prefix(c) => format!("{}:*", quote_ts(c)),
        };
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|alternatives| match alternatives.as_slice() {
                [only] => one(only),
                many => format!("({})", many.iter().map(one).collect::<Vec<_>>().join(" | ")),
            })
            .collect();
        parts.join(" & ")
    }
}

/// A search document as a PostgreSQL `tsvector` literal with positions (`'ab':1 'bc':2`), so
/// that lexemes are taken verbatim, whatever the server's locale and text-search parser.
pub fn tsvector_literal(document: &str) -> String {
    let parts: Vec<String> = document
        .split(' ')
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, token)| format!("{}:{}", quote_ts(token), (i + 1).min(16_383)))
        .collect();
    parts.join(" ")
}

fn quote_ts(token: &str) -> String {
    format!("'{}'", token.replace('\'', "''").replace('\\', "\\\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_nfkc_check_agrees_with_normalising() {
        let cases = [
            "佐藤 太郎",
            "サトウ タロウ",
            "さとう",
            "ひまわり商事",
            "taro@example.co.jp",
            "ｶﾌﾞｼｷｶﾞｲｼｬ",
            "ＡＢＣ",
            "か\u{3099}",
            "ヿ",
            "\u{3000}",
            "㈱",
            "ー々",
        ];
        for case in cases {
            assert_eq!(is_nfkc(case), case.nfkc().collect::<String>() == case, "{case:?}");
        }
    }

    #[test]
    fn the_fast_search_key_agrees_with_the_unicode_tables() {
        let general = |c: char| -> String { c.to_lowercase().filter(|c| c.is_alphanumeric()).collect() };
        for c in ('\u{3000}'..='\u{30FF}').chain('\u{4E00}'..='\u{9FFF}').chain('\0'..='\u{7F}') {
            let mut fast = String::new();
            push_key_char(&mut fast, c);
            assert_eq!(fast, general(c), "{c:?} U+{:04X}", c as u32);
        }
        assert_eq!(search_key("Ｓａｔｏ・タロウ ヿ 株式会社 Ä"), "satoタロウコト株式会社ä");
    }

    #[test]
    fn nfkc_trim_cases() {
        let cases = [
            ("　山田　 太郎 ", "山田 太郎"),
            ("ＡＢＣ１２３", "ABC123"),
            ("ｶﾌﾞｼｷｶﾞｲｼｬ", "カブシキガイシャ"),
            ("", ""),
            ("\t\n", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(nfkc_trim(input), expected, "{input:?}");
        }
    }

    #[test]
    fn search_key_keeps_letters_and_digits_only() {
        assert_eq!(search_key("Tanaka@Example.COM"), "tanakaexamplecom");
        assert_eq!(search_key("03-1234-5678"), "0312345678");
        assert_eq!(search_key("情報システム部　ＤＸ"), "情報システム部dx");
    }

    #[test]
    fn bigram_document_and_query_agree() {
        let document = search_document(["田中 太郎", "株式会社ひまわり商事", "t@x.jp"]);
        let tokens: Vec<&str> = document.split(' ').collect();
        assert!(tokens.contains(&"田中"));
        assert!(tokens.contains(&"商事"));
        assert!(!tokens.contains(&"郎株"), "bigrams must not span fields: {document}");
        assert!(tokens.contains(&"郎"), "a field's last character is a token of its own");
        let query = SearchQuery::parse("ひまわり 田").unwrap();
        assert_eq!(query.to_fts5(), "(\"ひま まわ わり\" OR \"ヒマ マワ ワリ\") AND \"田\"*");
        assert_eq!(query.to_tsquery(), "(('ひま' <-> 'まわ' <-> 'わり') | ('ヒマ' <-> 'マワ' <-> 'ワリ')) & '田':*");
        // Katakana finds hiragana too; words without kana have one form.
        assert_eq!(SearchQuery::parse("タナカ").unwrap().to_fts5(), "(\"タナ ナカ\" OR \"たな なか\")");
        assert_eq!(SearchQuery::parse("佐藤").unwrap().to_fts5(), "\"佐藤\"");
        assert_eq!(tsvector_literal("ab bc it's"), "'ab':1 'bc':2 'it''s':3");
    }

    #[test]
    fn kana_in_either_script_or_a_mix_finds_the_other() {
        // Documents hold kana as hiragana; a query's hiragana alternative matches whatever
        // script either side was written in.
        let stored = ["さくらテック", "サクラテック", "たなかタロウ", "タナカタロウ"];
        for text in stored {
            let document = search_document([text]);
            let tokens: Vec<&str> = document.split(' ').collect();
            for query in ["さくらテック", "サクラてっく", "タナカたろう", "たなかたろう"] {
                let parsed = SearchQuery::parse(query).unwrap();
                let found = parsed.terms[0].iter().any(|term| match term {
                    SearchTerm::Phrase(grams) => tokens.windows(grams.len()).any(|w| w == grams.as_slice()),
                    SearchTerm::Prefix(c) => tokens.iter().any(|t| t.starts_with(c.as_str())),
                });
                let same = swap_kana(&search_key(text), false) == swap_kana(&search_key(query), false);
                assert_eq!(found, same, "{query} in {text}: {document}");
            }
        }
    }

    #[test]
    fn blank_queries_are_none() {
        assert_eq!(SearchQuery::parse("  　 "), None);
        assert_eq!(SearchQuery::parse("@@ --"), None);
    }
}
