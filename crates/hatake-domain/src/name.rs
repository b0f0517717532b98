//! Splitting a Japanese name written without a space (「田中太郎」) into family and given name.
//!
//! Cards, forms and other systems often hold the whole name in one field, and not always with
//! a space. The split uses, in this order: the space; the reading, when it has a space and a
//! known family name of that reading starts the name (「東海林 ショウジ」); a dictionary of
//! common family names, the longest that starts the name and leaves one to four characters
//! for the given name. A name none of these can split stays whole (as the family name, the
//! given name unknown); matching then compares it with the other record's whole name
//! ([`crate::matching::lead`]).

use crate::text::nfkc_trim;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Common family names with their usual reading (katakana), for splitting names written
/// without a space. Written for hatake; about 400 of the most frequent names in Japan.
const FAMILY_NAMES: &str = "\
佐藤:サトウ 鈴木:スズキ 高橋:タカハシ 田中:タナカ 伊藤:イトウ 渡辺:ワタナベ 渡邊:ワタナベ 渡邉:ワタナベ 山本:ヤマモト 中村:ナカムラ \
小林:コバヤシ 加藤:カトウ 吉田:ヨシダ 山田:ヤマダ 佐々木:ササキ 山口:ヤマグチ 松本:マツモト 井上:イノウエ 木村:キムラ 林:ハヤシ \
斎藤:サイトウ 斉藤:サイトウ 齋藤:サイトウ 齊藤:サイトウ 清水:シミズ 山崎:ヤマザキ 森:モリ 池田:イケダ 橋本:ハシモト 阿部:アベ 石川:イシカワ \
山下:ヤマシタ 中島:ナカジマ 石井:イシイ 小川:オガワ 前田:マエダ 岡田:オカダ 長谷川:ハセガワ 藤田:フジタ 後藤:ゴトウ 近藤:コンドウ \
村上:ムラカミ 遠藤:エンドウ 青木:アオキ 坂本:サカモト 斉木:サイキ 福田:フクダ 太田:オオタ 西村:ニシムラ 藤井:フジイ 金子:カネコ \
岡本:オカモト 藤原:フジワラ 中野:ナカノ 三浦:ミウラ 原田:ハラダ 中川:ナカガワ 松田:マツダ 竹内:タケウチ 小野:オノ 田村:タムラ \
中山:ナカヤマ 和田:ワダ 石田:イシダ 森田:モリタ 上田:ウエダ 原:ハラ 内田:ウチダ 柴田:シバタ 酒井:サカイ 宮崎:ミヤザキ \
横山:ヨコヤマ 高木:タカギ 安藤:アンドウ 宮本:ミヤモト 大野:オオノ 小島:コジマ 工藤:クドウ 谷口:タニグチ 今井:イマイ 高田:タカダ \
丸山:マルヤマ 増田:マスダ 杉山:スギヤマ 村田:ムラタ 大塚:オオツカ 小山:コヤマ 平野:ヒラノ 藤本:フジモト 久保:クボ 松井:マツイ \
千葉:チバ 岩崎:イワサキ 桜井:サクライ 木下:キノシタ 野口:ノグチ 松尾:マツオ 菊地:キクチ 菊池:キクチ 野村:ノムラ 新井:アライ \
渡部:ワタナベ 佐野:サノ 杉本:スギモト 古川:フルカワ 上野:ウエノ 市川:イチカワ 水野:ミズノ 小松:コマツ 大西:オオニシ 武田:タケダ \
山内:ヤマウチ 菅原:スガワラ 高野:タカノ 西田:ニシダ 島田:シマダ 菅野:カンノ 中田:ナカタ 吉川:ヨシカワ 飯田:イイダ 服部:ハットリ \
山中:ヤマナカ 小池:コイケ 北村:キタムラ 石原:イシハラ 岩田:イワタ 中西:ナカニシ 西川:ニシカワ 川口:カワグチ 松下:マツシタ 荒木:アラキ \
野田:ノダ 辻:ツジ 浅野:アサノ 大久保:オオクボ 田口:タグチ 本田:ホンダ 河野:コウノ 川村:カワムラ 永井:ナガイ 中井:ナカイ \
松岡:マツオカ 平田:ヒラタ 関:セキ 須藤:スドウ 安田:ヤスダ 大橋:オオハシ 吉村:ヨシムラ 秋山:アキヤマ 桑原:クワバラ 今村:イマムラ \
星野:ホシノ 大島:オオシマ 松浦:マツウラ 宮田:ミヤタ 山岸:ヤマギシ 内藤:ナイトウ 大谷:オオタニ 岡崎:オカザキ 土屋:ツチヤ 熊谷:クマガイ \
川上:カワカミ 平井:ヒライ 森本:モリモト 小田:オダ 樋口:ヒグチ 堀:ホリ 望月:モチヅキ 大川:オオカワ 田辺:タナベ 松村:マツムラ \
片山:カタヤマ 川崎:カワサキ 吉岡:ヨシオカ 岡:オカ 福島:フクシマ 荒井:アライ 北川:キタガワ 上原:ウエハラ 馬場:ババ 早川:ハヤカワ \
松原:マツバラ 安部:アベ 石橋:イシバシ 川端:カワバタ 西山:ニシヤマ 大和田:オオワダ 小西:コニシ 井口:イグチ 広瀬:ヒロセ 高山:タカヤマ \
三宅:ミヤケ 浜田:ハマダ 堀内:ホリウチ 中尾:ナカオ 平山:ヒラヤマ 西尾:ニシオ 岩本:イワモト 大石:オオイシ 本間:ホンマ 石塚:イシヅカ \
小森:コモリ 西:ニシ 東:ヒガシ 南:ミナミ 北:キタ 宮下:ミヤシタ 堀江:ホリエ 奥村:オクムラ 黒田:クロダ 坂口:サカグチ \
永田:ナガタ 小沢:オザワ 小澤:オザワ 竹田:タケダ 上村:ウエムラ 大森:オオモリ 長田:ナガタ 小泉:コイズミ 松永:マツナガ 篠原:シノハラ \
桜田:サクラダ 中嶋:ナカジマ 植田:ウエダ 岩井:イワイ 飯塚:イイヅカ 矢野:ヤノ 内山:ウチヤマ 浅井:アサイ 足立:アダチ 河合:カワイ \
田島:タジマ 吉野:ヨシノ 関口:セキグチ 大山:オオヤマ 谷:タニ 杉浦:スギウラ 成田:ナリタ 渡:ワタリ 川島:カワシマ 宮川:ミヤガワ \
三上:ミカミ 高島:タカシマ 石山:イシヤマ 尾崎:オザキ 水谷:ミズタニ 野中:ノナカ 松山:マツヤマ 荒川:アラカワ 井手:イデ 栗原:クリハラ \
沢田:サワダ 澤田:サワダ 榎本:エノモト 中谷:ナカタニ 大島:オオシマ 森山:モリヤマ 沖田:オキタ 萩原:ハギワラ 高瀬:タカセ 小倉:オグラ \
佐久間:サクマ 嶋田:シマダ 津田:ツダ 梅田:ウメダ 角田:カクタ 奥田:オクダ 金田:カネダ 堤:ツツミ 平川:ヒラカワ 吉原:ヨシハラ \
西岡:ニシオカ 福井:フクイ 豊田:トヨダ 細川:ホソカワ 白石:シライシ 秋元:アキモト 宇野:ウノ 川田:カワタ 戸田:トダ 中本:ナカモト \
大塚:オオツカ 新田:ニッタ 加納:カノウ 石黒:イシグロ 小野寺:オノデラ 高井:タカイ 滝沢:タキザワ 瀧澤:タキザワ 有田:アリタ 三好:ミヨシ \
五十嵐:イガラシ 東海林:ショウジ 勅使河原:テシガワラ 長谷部:ハセベ 長谷:ハセ 八木:ヤギ 白井:シライ 江口:エグチ 塚本:ツカモト 田代:タシロ \
宇佐美:ウサミ 五味:ゴミ 新谷:シンタニ 大城:オオシロ 比嘉:ヒガ 金城:キンジョウ 宮城:ミヤギ 仲村:ナカムラ 上地:ウエチ 島袋:シマブクロ \
安里:アサト 玉城:タマキ 知念:チネン 照屋:テルヤ 我那覇:ガナハ 神田:カンダ 野上:ノガミ 細田:ホソダ 丹羽:ニワ 坂井:サカイ \
水上:ミズカミ 吉井:ヨシイ 坂田:サカタ 原口:ハラグチ 若林:ワカバヤシ 米田:ヨネダ 川原:カワハラ 大平:オオヒラ 松崎:マツザキ 寺田:テラダ \
中原:ナカハラ 志村:シムラ 片岡:カタオカ 竹中:タケナカ 岩瀬:イワセ 今田:イマダ 三木:ミキ 寺島:テラシマ 大竹:オオタケ 相馬:ソウマ \
笠原:カサハラ 古田:フルタ 岸:キシ 岸本:キシモト 田上:タガミ 稲垣:イナガキ 稲葉:イナバ 岡村:オカムラ 中塚:ナカツカ 亀井:カメイ \
青山:アオヤマ 緒方:オガタ 根本:ネモト 冨田:トミタ 富田:トミタ 前川:マエカワ 森下:モリシタ 古賀:コガ 久保田:クボタ 大木:オオキ \
田所:タドコロ 岡野:オカノ 堀田:ホッタ 畑中:ハタナカ 小原:オハラ 梶原:カジワラ 溝口:ミゾグチ 川本:カワモト 入江:イリエ 福本:フクモト \
神谷:カミヤ 大場:オオバ 星:ホシ 野崎:ノザキ 佐伯:サエキ 二宮:ニノミヤ 榊原:サカキバラ 浅田:アサダ 北野:キタノ 平松:ヒラマツ \
木内:キウチ 小笠原:オガサワラ 宮内:ミヤウチ 三谷:ミタニ 吉永:ヨシナガ 稲田:イナダ 加賀:カガ 三島:ミシマ 大川原:オオカワラ 市村:イチムラ \
川瀬:カワセ 向井:ムカイ 木原:キハラ 赤木:アカギ 赤松:アカマツ 辻本:ツジモト 庄司:ショウジ 大村:オオムラ 芦田:アシダ 一条:イチジョウ \
伊東:イトウ 宮原:ミヤハラ 徳永:トクナガ 岩下:イワシタ 村井:ムライ 杉田:スギタ 大津:オオツ 竹下:タケシタ 小田切:オダギリ 河村:カワムラ \
石崎:イシザキ 吉武:ヨシタケ 松川:マツカワ 安井:ヤスイ 浜口:ハマグチ 金井:カナイ 松澤:マツザワ 松沢:マツザワ 田原:タハラ 西野:ニシノ \
加茂:カモ 中澤:ナカザワ 中沢:ナカザワ 宮沢:ミヤザワ 宮澤:ミヤザワ 関根:セキネ 遠山:トオヤマ 深沢:フカザワ 深澤:フカザワ 吉沢:ヨシザワ";

struct Dictionary {
    /// Reading by family name.
    names: HashMap<&'static str, &'static str>,
    /// The longest family name, in characters.
    longest: usize,
}

fn dictionary() -> &'static Dictionary {
    static DICTIONARY: OnceLock<Dictionary> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let names: HashMap<&str, &str> =
            FAMILY_NAMES.split_whitespace().filter_map(|pair| pair.split_once(':')).collect();
        let longest = names.keys().map(|n| n.chars().count()).max().unwrap_or(1);
        Dictionary { names, longest }
    })
}

/// Whether `name` is a known family name.
pub fn is_known_family_name(name: &str) -> bool {
    dictionary().names.contains_key(name)
}

/// The usual reading of a known family name.
pub fn family_name_reading(name: &str) -> Option<&'static str> {
    dictionary().names.get(name).copied()
}

/// Old and variant forms of characters common in names (異体字), with the form in common use:
/// 髙橋 and 高橋, 齋藤 and 斎藤, 山﨑 and 山崎 are written for one another.
const VARIANTS: &[(char, char)] = &[
    ('髙', '高'),
    ('﨑', '崎'),
    ('嵜', '崎'),
    ('齋', '斎'),
    ('齊', '斎'),
    ('斉', '斎'),
    ('邊', '辺'),
    ('邉', '辺'),
    ('澤', '沢'),
    ('濱', '浜'),
    ('櫻', '桜'),
    ('廣', '広'),
    ('國', '国'),
    ('德', '徳'),
    ('眞', '真'),
    ('藏', '蔵'),
    ('龍', '竜'),
    ('瀨', '瀬'),
    ('壽', '寿'),
    ('惠', '恵'),
    ('榮', '栄'),
    ('曾', '曽'),
    ('冨', '富'),
    ('槇', '槙'),
    ('桒', '桑'),
];

/// The form in common use of a variant character, if it is one.
fn common_form(c: char) -> Option<char> {
    // Every variant is a CJK ideograph: anything else (kana, Latin letters) is passed at once.
    if !is_kanji(c) {
        return None;
    }
    VARIANTS.iter().find(|(from, _)| *from == c).map(|(_, to)| *to)
}

/// A name with its variant characters written in the form in common use (for comparing).
pub fn fold_variants(name: &str) -> String {
    if !name.chars().any(|c| common_form(c).is_some()) {
        return name.to_owned();
    }
    name.chars().map(|c| common_form(c).unwrap_or(c)).collect()
}

/// A full name as (family, given). The given name is `None` when the name cannot be split
/// (see the module's rules); `None, None` for an empty name.
pub fn split_full_name(full: &str, reading: Option<&str>) -> (Option<String>, Option<String>) {
    let full = nfkc_trim(full);
    if full.is_empty() {
        return (None, None);
    }
    if let Some((family, given)) = full.split_once(' ') {
        return (Some(family.to_owned()), Some(given.trim().to_owned()));
    }
    match split_point(&full, reading) {
        Some(at) => (Some(full[..at].to_owned()), Some(full[at..].to_owned())),
        None => (Some(full), None),
    }
}

/// Where a name without a space splits, in bytes.
fn split_point(full: &str, reading: Option<&str>) -> Option<usize> {
    // Latin letters, digits and kana-only names are not split by the dictionary.
    if !full.chars().next().is_some_and(is_kanji) {
        return None;
    }
    let dictionary = dictionary();
    let chars: Vec<(usize, char)> = full.char_indices().collect();
    let total = chars.len();
    // Every known family name that starts the name and leaves 1 to 4 characters, longest first.
    let candidates: Vec<usize> = (1..=dictionary.longest.min(total.saturating_sub(1)))
        .rev()
        .filter(|&n| (1..=4).contains(&(total - n)))
        .map(|n| chars[n].0)
        .filter(|&at| dictionary.names.contains_key(&full[..at]))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    // A reading with a space says how the family name is read: pick the candidate read so.
    let family_reading = reading
        .map(nfkc_trim)
        .and_then(|r| r.split_once(' ').map(|(family, _)| crate::matching::lead::kana_key(family)));
    if let Some(family_reading) = family_reading {
        if let Some(at) = candidates
            .iter()
            .copied()
            .find(|&at| dictionary.names.get(&full[..at]).is_some_and(|r| *r == family_reading))
        {
            return Some(at);
        }
    }
    // The whole name being a family name itself (「長谷川」) is no split.
    if dictionary.names.contains_key(full) {
        return None;
    }
    candidates.first().copied()
}

fn is_kanji(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '々')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_by_space_reading_or_dictionary() {
        type Split<'a> = (Option<&'a str>, Option<&'a str>);
        let cases: &[(&str, Option<&str>, Split<'_>)] = &[
            ("田中 太郎", None, (Some("田中"), Some("太郎"))),
            ("田中　太郎", None, (Some("田中"), Some("太郎"))),
            ("田中太郎", None, (Some("田中"), Some("太郎"))),
            ("佐々木健太", None, (Some("佐々木"), Some("健太"))),
            ("長谷川翔", None, (Some("長谷川"), Some("翔"))),
            ("長谷川", None, (Some("長谷川"), None)),
            ("東海林太郎", Some("ショウジ タロウ"), (Some("東海林"), Some("太郎"))),
            ("東海林太郎", None, (Some("東海林"), Some("太郎"))),
            // The reading tells 伊東 (イトウ) from 伊 (unknown) and picks the name read so.
            ("大島花子", Some("オオシマ ハナコ"), (Some("大島"), Some("花子"))),
            // An unknown family name stays whole; so does a name of Latin letters.
            ("鬼瓦権造", None, (Some("鬼瓦権造"), None)),
            ("John", None, (Some("John"), None)),
            ("", None, (None, None)),
            // Too long a rest is not a given name.
            ("田中一二三四五", None, (Some("田中一二三四五"), None)),
        ];
        for (full, reading, (family, given)) in cases {
            let (f, g) = split_full_name(full, *reading);
            assert_eq!((f.as_deref(), g.as_deref()), (*family, *given), "{full} / {reading:?}");
        }
    }

    #[test]
    fn the_dictionary_is_well_formed() {
        for pair in FAMILY_NAMES.split_whitespace() {
            let (name, reading) = pair.split_once(':').expect(pair);
            assert!(!name.is_empty() && !reading.is_empty(), "{pair}");
            assert!(reading.chars().all(|c| ('ァ'..='ヶ').contains(&c) || c == 'ー'), "{pair}");
        }
        assert!(is_known_family_name("佐藤") && !is_known_family_name("太郎"));
        assert_eq!(fold_variants("髙橋"), "高橋");
        assert_eq!(fold_variants("山﨑 齋藤 渡邉"), "山崎 斎藤 渡辺");
    }
}
