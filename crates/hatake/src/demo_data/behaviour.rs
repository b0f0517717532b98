//! What the demo's people did: 18 months of behaviour events on a fictional corporate site
//! (`https://www.hatake-demo.jp`), in mails, at seminars and exhibitions, and with inside and
//! field sales.
//!
//! Pure and deterministic like the rest of [`crate::demo_data`]: a person's events are a function
//! of the seed, the person's index, its lead id and interests, and `now` (times are relative to
//! it). Each person falls into one segment: no events, *cold* (a few, old), *warm* (some, spread
//! out) or *hot* (many, recent, on one product, often ending in an inquiry, a call and a
//! meeting). Most events name one of the products; mail newsletters, the top page, columns and
//! joint seminars name none. Some people browse as an anonymous web visitor first (page views
//! with the visitor id only) and are linked to their lead by a later download or form submission
//! that names both; [`Behaviour::visitors`] adds visitors who never identify.

use super::{key, mix, Rng};
use hatake_store::NewEvent;
use serde_json::{json, Map, Value};

const TAG_BEHAVIOUR: u64 = 8;
const TAG_VISITOR: u64 = 9;
const TAG_SCHEDULE: u64 = 10;
const TAG_ANONYMOUS: u64 = 11;

/// The demo's corporate site.
pub const SITE: &str = "https://www.hatake-demo.jp";
/// How many days of behaviour the demo has.
pub const HISTORY_DAYS: i64 = 540;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;
/// Japan Standard Time, ahead of UTC.
const JST: i64 = 9 * HOUR;

/// What the site, the mails and the events say about one product.
#[derive(Debug)]
pub struct Catalog {
    pub code: &'static str,
    /// The product's pages under `/products/{code}/`: (path, title); the first is its top page.
    pub pages: &'static [(&'static str, &'static str)],
    /// Its price page under `/products/{code}/` (each product's site names it differently).
    pub pricing: (&'static str, &'static str),
    /// Case studies under `/case-studies/`: (slug, title).
    pub case_studies: &'static [(&'static str, &'static str)],
    /// Documents to download: (asset key, title).
    pub assets: &'static [(&'static str, &'static str)],
    /// Seminar series; each session is named 「{series}{year}{春|秋}」.
    pub seminars: &'static [&'static str],
    /// The exhibition it is shown at, twice a year.
    pub exhibition: &'static str,
    /// Mail campaigns: (campaign key, subject).
    pub campaigns: &'static [(&'static str, &'static str)],
    /// The inquiry form: (event source, name).
    pub form: (&'static str, &'static str),
}

/// The demo products' site content, by product code (`hatake demo`'s products).
pub static CATALOGS: &[Catalog] = &[
    Catalog {
        code: "erp",
        pages: &[
            ("", "クラウドERP「実り」｜製品概要"),
            ("features/", "機能一覧｜クラウドERP「実り」"),
            ("features/accounting/", "会計・債権債務管理｜クラウドERP「実り」"),
            ("features/production/", "生産管理｜クラウドERP「実り」"),
            ("implementation/", "導入の流れ｜クラウドERP「実り」"),
        ],
        pricing: ("pricing/", "料金プラン｜クラウドERP「実り」"),
        case_studies: &[
            ("erp-seimitsu-kikai", "導入事例：精密機械メーカー 決算早期化を実現"),
            ("erp-chubu-shoji", "導入事例：中部の専門商社 基幹システム刷新"),
            ("erp-logistics-group", "導入事例：物流グループ 12社の会計統合"),
        ],
        assets: &[
            ("erp-catalog", "クラウドERP「実り」製品カタログ"),
            ("erp-case-studies", "クラウドERP 導入事例集"),
            ("erp-replacement-guide", "基幹システム刷新の進め方ガイド"),
            ("erp-roi-whitepaper", "ERP投資対効果の算出方法（ホワイトペーパー）"),
        ],
        seminars: &["製造業DXセミナー", "基幹システム刷新セミナー"],
        exhibition: "ものづくりDX展",
        campaigns: &[
            ("erp-nurture", "【実り通信】基幹システム刷新のよくある失敗3選"),
            ("erp-case-mail", "【導入事例】決算を5営業日早めた精密機械メーカーの取り組み"),
            ("erp-seminar-invite", "【ご招待】製造業DXセミナーのご案内"),
        ],
        form: ("form:erp-inquiry", "クラウドERP「実り」 お問い合わせ・商談予約"),
    },
    Catalog {
        code: "kintai",
        pages: &[
            ("", "勤怠管理SaaS｜製品概要"),
            ("features/", "機能紹介｜勤怠管理SaaS"),
            ("features/shift/", "シフト管理｜勤怠管理SaaS"),
            ("law/", "法改正への対応｜勤怠管理SaaS"),
        ],
        pricing: ("price/", "料金｜勤怠管理SaaS"),
        case_studies: &[
            ("kintai-retail-chain", "導入事例：小売チェーン 300店舗のシフトと勤怠を一元化"),
            ("kintai-care-service", "導入事例：介護事業者 紙のタイムカードを廃止"),
        ],
        assets: &[
            ("kintai-service-guide", "勤怠管理SaaS サービス紹介資料"),
            ("labor-law-checklist", "2026年 労務法改正対応チェックリスト"),
            ("kintai-comparison", "勤怠管理システム比較表"),
        ],
        seminars: &["働き方改革・労務管理セミナー", "勤怠管理DX入門ウェビナー"],
        exhibition: "HR業務改革EXPO",
        campaigns: &[
            ("kintai-nurture", "【勤怠管理】残業時間の上限規制、対応は万全ですか？"),
            ("kintai-law-update", "【法改正情報】労務担当者が押さえるべきポイント"),
        ],
        form: ("form:contact", "お問い合わせ"),
    },
    Catalog {
        code: "security",
        pages: &[
            ("", "セキュリティ診断サービス｜サービス概要"),
            ("assessment/", "脆弱性診断｜セキュリティ診断サービス"),
            ("managed/", "運用支援｜セキュリティ診断サービス"),
        ],
        pricing: ("plans/", "プランと費用｜セキュリティ診断サービス"),
        case_studies: &[
            ("security-regional-bank", "導入事例：地方銀行 Webアプリ診断を内製化"),
            ("security-hospital", "導入事例：総合病院 ランサムウェア対策の見直し"),
        ],
        assets: &[
            ("security-checklist", "情報セキュリティ対策チェックリスト"),
            ("vulnerability-report-sample", "脆弱性診断レポート（サンプル）"),
        ],
        seminars: &["サイバーセキュリティ対策セミナー"],
        exhibition: "情報セキュリティ対策EXPO",
        campaigns: &[
            ("security-news", "【セキュリティニュース】今月注意すべき脆弱性"),
            ("security-ransomware", "ランサムウェア被害の最新動向と対策"),
        ],
        form: ("form:contact", "お問い合わせ"),
    },
];

/// What names no product: the top page, columns, the monthly newsletter, joint seminars.
static GENERAL_PAGES: &[(&str, &str)] = &[
    ("/", "株式会社はたけデモ｜企業の基幹業務を支えるクラウドサービス"),
    ("/column/dx-first-step/", "コラム：中堅企業のDX、最初の一歩"),
    ("/column/invoice-system/", "コラム：インボイス制度と経理業務の見直し"),
    ("/column/work-style-reform/", "コラム：働き方改革で変わる勤怠管理"),
    ("/seminars/", "セミナー・イベント一覧"),
    ("/company/", "会社概要"),
    ("/news/", "お知らせ"),
];
static GENERAL_SEMINARS: &[&str] = &["中堅企業のDX推進セミナー"];
static GENERAL_EXHIBITION: &str = "業務改革EXPO";
static CALL_NAMES: &[&str] = &["初回ヒアリング", "フォローコール", "アポイント調整", "資料送付後フォロー"];
static CALL_RESULTS: &[(&str, u32)] = &[("connected", 45), ("no_answer", 35), ("callback", 12), ("appointment", 8)];

/// A seminar or exhibition day.
#[derive(Debug, Clone)]
struct Session {
    /// The catalog it belongs to (`None`: general).
    catalog: Option<usize>,
    exhibition: bool,
    name: String,
    /// Its start (ms).
    at: i64,
    booth: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Cold,
    Warm,
    Hot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PageView,
    Download,
    MailOpen,
    MailClick,
    Seminar,
    Exhibition,
    Form,
    Call,
    Meeting,
}

/// Generates the demo's behaviour events relative to one `now`.
#[derive(Debug)]
pub struct Behaviour {
    seed: u64,
    now: i64,
    /// The start of today in Japan.
    today: i64,
    /// (product id, its catalog), the demo's products that have one.
    products: Vec<(i64, usize)>,
    sessions: Vec<Session>,
    callers: Vec<String>,
    reps: Vec<String>,
}

impl Behaviour {
    /// `products` are the stored products as (id, code); codes without a [`Catalog`] get no
    /// events. `callers` (inside sales) and `reps` (field sales) are named on calls and meetings.
    pub fn new(seed: u64, now: i64, products: &[(i64, &str)], callers: &[&str], reps: &[&str]) -> Self {
        let today = (now + JST).div_euclid(DAY) * DAY - JST;
        let products: Vec<(i64, usize)> = products
            .iter()
            .filter_map(|(id, code)| CATALOGS.iter().position(|c| c.code == *code).map(|c| (*id, c)))
            .collect();
        let mut sessions = Vec::new();
        let mut rng = Rng::new(key(seed, TAG_SCHEDULE, 0));
        let series = products
            .iter()
            .flat_map(|(_, c)| {
                let catalog = &CATALOGS[*c];
                catalog.seminars.iter().map(move |s| (Some(*c), false, *s)).chain(std::iter::once((
                    Some(*c),
                    true,
                    catalog.exhibition,
                )))
            })
            .chain(GENERAL_SEMINARS.iter().map(|s| (None, false, *s)))
            .chain(std::iter::once((None, true, GENERAL_EXHIBITION)));
        for (catalog, exhibition, base) in series {
            // Twice a year, on a weekday afternoon; the next one may be up to 40 days ahead.
            let phase = rng.between(0, 181) as i64 - 40;
            let booth = format!("{}-{}", rng.pick(&["A", "B", "C", "E"]), rng.between(1, 48));
            let mut days_ago = phase;
            while days_ago < HISTORY_DAYS {
                let mut day = today - days_ago * DAY;
                while matches!(weekday(day), 0 | 6) {
                    day -= DAY;
                }
                let at = day + if exhibition { 10 * HOUR } else { 14 * HOUR };
                let (year, month) = year_month(at);
                let half = if month <= 6 { "春" } else { "秋" };
                sessions.push(Session {
                    catalog,
                    exhibition,
                    name: format!("{base}{year}{half}"),
                    at,
                    booth: booth.clone(),
                });
                days_ago += 182;
            }
        }
        Self {
            seed,
            now,
            today,
            products,
            sessions,
            callers: callers.iter().map(|s| (*s).to_owned()).collect(),
            reps: reps.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The events of person `index` (lead `lead_id`, interested in `interests`), oldest first,
    /// appended to `out`; keys `demo:{index}:{n}`.
    pub fn person(&self, index: usize, lead_id: i64, interests: &[i64], out: &mut Vec<NewEvent>) {
        if self.products.is_empty() {
            return;
        }
        let mut rng = Rng::new(key(self.seed, TAG_BEHAVIOUR, index as u64));
        let segment = match rng.below(100) {
            0..=21 => return,
            22..=63 => Segment::Cold,
            64..=91 => Segment::Warm,
            _ => Segment::Hot,
        };
        let known: Vec<usize> =
            interests.iter().filter_map(|id| self.products.iter().position(|(p, _)| p == id)).collect();
        let focus = match known.first() {
            Some(first) if rng.chance(0.85) => *first,
            _ => rng.index(self.products.len()),
        };
        let count = match segment {
            Segment::Cold => rng.between(1, 6),
            Segment::Warm => rng.between(6, 20),
            Segment::Hot => rng.between(25, 60),
        };
        let mut events: Vec<(i64, NewEvent)> = Vec::with_capacity(count as usize + 4);
        for _ in 0..count {
            let days_ago = match segment {
                Segment::Cold => rng.between(150, HISTORY_DAYS as u64 - 1) as i64,
                Segment::Warm => rng.between(0, HISTORY_DAYS as u64 - 1) as i64,
                Segment::Hot if rng.chance(0.75) => (45.0 * rng.unit().powf(1.5)) as i64,
                Segment::Hot => rng.between(45, HISTORY_DAYS as u64 - 1) as i64,
            };
            let kind = rng.weighted(match segment {
                Segment::Cold => &[
                    (Kind::MailOpen, 40),
                    (Kind::PageView, 20),
                    (Kind::Download, 15),
                    (Kind::Exhibition, 12),
                    (Kind::Seminar, 8),
                    (Kind::MailClick, 5),
                ][..],
                Segment::Warm => &[
                    (Kind::PageView, 35),
                    (Kind::MailOpen, 25),
                    (Kind::MailClick, 10),
                    (Kind::Download, 12),
                    (Kind::Seminar, 8),
                    (Kind::Exhibition, 5),
                    (Kind::Form, 2),
                    (Kind::Call, 3),
                ][..],
                Segment::Hot => &[
                    (Kind::PageView, 42),
                    (Kind::MailOpen, 12),
                    (Kind::MailClick, 10),
                    (Kind::Download, 12),
                    (Kind::Seminar, 7),
                    (Kind::Form, 3),
                    (Kind::Call, 6),
                    (Kind::Meeting, 2),
                    (Kind::Exhibition, 3),
                ][..],
            });
            let product = match kind {
                Kind::Form | Kind::Call | Kind::Meeting => Some(focus),
                _ => match rng.below(100) {
                    n if segment == Segment::Hot && n < 85 => Some(focus),
                    n if segment == Segment::Hot || n >= 75 => None,
                    n if n < 65 || self.products.len() == 1 => Some(focus),
                    _ => Some((focus + 1 + rng.index(self.products.len() - 1)) % self.products.len()),
                },
            };
            self.event(&mut rng, segment, kind, product, days_ago, lead_id, &mut events);
        }
        if segment == Segment::Hot && rng.chance(0.6) {
            // The inquiry, the inside-sales call that follows and often a meeting.
            let days_ago = rng.between(2, 20) as i64;
            self.event(&mut rng, segment, Kind::Form, Some(focus), days_ago, lead_id, &mut events);
            let call = days_ago - rng.between(0, 2) as i64;
            self.event(&mut rng, segment, Kind::Call, Some(focus), call, lead_id, &mut events);
            if rng.chance(0.5) {
                let meeting = (call - rng.between(1, 7) as i64).max(0);
                self.event(&mut rng, segment, Kind::Meeting, Some(focus), meeting, lead_id, &mut events);
            }
        }
        events.sort_by_key(|(at, _)| *at);
        // Some browse anonymously first: their page views carry the visitor id alone, and their
        // first download or form submission names both, which links the visitor to the lead.
        if segment != Segment::Cold && rng.chance(0.5) {
            let linker = events.iter().position(|(_, e)| matches!(e.kind, "download" | "form_submit"));
            if let Some(linker) = linker {
                let visitor = visitor_id(self.seed, index as u64);
                events[linker].1.visitor_id = Some(visitor.clone());
                for (_, event) in events.iter_mut().filter(|(_, e)| e.kind == "page_view") {
                    if rng.chance(0.85) {
                        event.lead_id = None;
                        event.visitor_id = Some(visitor.clone());
                    }
                }
            }
        }
        for (n, (_, mut event)) in events.into_iter().enumerate() {
            event.idempotency_key = Some(format!("demo:{index:07}:{n:03}"));
            out.push(event);
        }
    }

    /// Anonymous visitors who never identify: `count` of them, each with some page views; keys
    /// `demo:v{index}:{n}`.
    pub fn visitors(&self, start: usize, count: usize, out: &mut Vec<NewEvent>) {
        for index in start..start + count {
            let mut rng = Rng::new(key(self.seed, TAG_ANONYMOUS, index as u64));
            let visitor = visitor_id(self.seed, (1 << 40) + index as u64);
            let views = rng.between(1, 7);
            let product = (!self.products.is_empty() && rng.chance(0.7)).then(|| rng.index(self.products.len()));
            let mut events = Vec::with_capacity(views as usize);
            for _ in 0..views {
                let days_ago = rng.between(0, HISTORY_DAYS as u64 - 1) as i64;
                let product = product.filter(|_| rng.chance(0.8));
                let mut event = self.page_view(&mut rng, Segment::Cold, product, days_ago);
                event.visitor_id = Some(visitor.clone());
                events.push(event);
            }
            events.sort_by_key(|e| e.occurred_at);
            for (n, mut event) in events.into_iter().enumerate() {
                event.idempotency_key = Some(format!("demo:v{index:07}:{n:03}"));
                out.push(event);
            }
        }
    }

    /// A time `days_ago` days before today in Japan: any hour of the day for web and mail (mostly
    /// working hours), a weekday's working hours for the rest; never after `now`.
    fn at(&self, rng: &mut Rng, days_ago: i64, office: bool) -> i64 {
        let mut day = self.today - days_ago * DAY;
        if office {
            while matches!(weekday(day), 0 | 6) {
                day -= DAY;
            }
        }
        let hour = if office || rng.chance(0.8) { rng.between(9, 18) } else { rng.between(6, 23) };
        let at = day + hour as i64 * HOUR + rng.between(0, 59) as i64 * MINUTE + rng.between(0, 59_999) as i64;
        if at <= self.now {
            at
        } else {
            self.now - rng.between(1, 180) as i64 * MINUTE
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        rng: &mut Rng,
        segment: Segment,
        kind: Kind,
        product: Option<usize>,
        days_ago: i64,
        lead_id: i64,
        out: &mut Vec<(i64, NewEvent)>,
    ) {
        let catalog = product.map(|p| &CATALOGS[self.products[p].1]);
        let product_id = product.map(|p| self.products[p].0);
        let base = |kind: &'static str, at: i64, source: &str, name: Option<String>, properties: Value| NewEvent {
            kind,
            lead_id: Some(lead_id),
            visitor_id: None,
            product_id,
            occurred_at: at,
            source: Some(source.to_owned()),
            name,
            properties: properties.to_string(),
            idempotency_key: None,
        };
        let mut push = |event: NewEvent| out.push((event.occurred_at, event));
        match kind {
            Kind::PageView => {
                let mut event = self.page_view(rng, segment, product, days_ago);
                event.lead_id = Some(lead_id);
                push(event);
            }
            Kind::Download => {
                let (asset, title) = match catalog {
                    Some(c) => rng.pick(c.assets),
                    None => ("dx-whitepaper-2026", "中堅企業のDX実態調査レポート"),
                };
                let at = self.at(rng, days_ago, false);
                let properties = json!({
                    "asset": asset,
                    "url": format!("{SITE}/download/{asset}/"),
                    "file": format!("{asset}.pdf"),
                });
                push(base("download", at, "web", Some(title.to_owned()), properties));
            }
            Kind::MailOpen | Kind::MailClick => {
                let at = self.at(rng, days_ago, false);
                let (campaign, subject) = match catalog {
                    Some(c) => {
                        let (campaign, subject) = rng.pick(c.campaigns);
                        (campaign.to_owned(), subject.to_owned())
                    }
                    None => {
                        let (year, month) = year_month(at);
                        (format!("newsletter-{year}-{month:02}"), format!("【はたけデモ通信】{year}年{month}月号"))
                    }
                };
                let mut properties = Map::new();
                properties.insert("campaign".into(), campaign.clone().into());
                properties.insert("subject".into(), subject.clone().into());
                if kind == Kind::MailClick {
                    let page = match catalog {
                        Some(c) => format!("{SITE}/products/{}/", c.code),
                        None => format!("{SITE}/column/dx-first-step/"),
                    };
                    properties.insert(
                        "url".into(),
                        format!("{page}?utm_source=newsletter&utm_medium=email&utm_campaign={campaign}").into(),
                    );
                }
                let kind = if kind == Kind::MailOpen { "mail_open" } else { "mail_click" };
                push(base(kind, at, "mail", Some(subject), Value::Object(properties)));
            }
            Kind::Seminar | Kind::Exhibition => {
                let exhibition = kind == Kind::Exhibition;
                let target = self.today - days_ago * DAY;
                // The session of this product (or a joint one) nearest to the day drawn.
                let sessions = self
                    .sessions
                    .iter()
                    .filter(|s| s.exhibition == exhibition && s.catalog == product.map(|p| self.products[p].1));
                let Some(session) = sessions.min_by_key(|s| (s.at - target).abs()) else { return };
                if exhibition {
                    if session.at > self.now {
                        return;
                    }
                    let at = (session.at + rng.between(0, 2) as i64 * DAY + rng.between(0, 420) as i64 * MINUTE)
                        .min(self.now);
                    let properties = json!({ "booth": session.booth, "scanned": "名刺スキャン" });
                    push(base("exhibition_visit", at, "exhibition", Some(session.name.clone()), properties));
                    return;
                }
                let format = if rng.chance(0.6) { "オンライン" } else { "会場" };
                let registered = (session.at - rng.between(2, 30) as i64 * DAY - rng.between(0, 600) as i64 * MINUTE)
                    .min(self.now - rng.between(1, 600) as i64 * MINUTE);
                let properties = json!({ "format": format, "session_at": session.at });
                push(base(
                    "seminar_registration",
                    registered,
                    "seminar",
                    Some(session.name.clone()),
                    properties.clone(),
                ));
                if session.at <= self.now && rng.chance(0.65) {
                    push(base("seminar_attendance", session.at, "seminar", Some(session.name.clone()), properties));
                }
            }
            Kind::Form => {
                let at = self.at(rng, days_ago, false);
                let (source, name) = catalog.map_or(("form:contact", "お問い合わせ"), |c| c.form);
                let page = match catalog {
                    Some(c) => format!("{SITE}/products/{}/contact/", c.code),
                    None => format!("{SITE}/contact/"),
                };
                let message = rng.pick(&[
                    "導入費用の目安を知りたいです。",
                    "現行システムの保守期限が近く、入れ替えを検討しています。",
                    "デモを見せていただけますか。",
                    "同業他社の導入事例を教えてください。",
                ]);
                let consents: Vec<i64> = product_id.filter(|_| rng.chance(0.6)).into_iter().collect();
                let properties = json!({
                    "url": page,
                    "consents": consents,
                    "answers": { "message": message },
                });
                push(base("form_submit", at, source, Some(name.to_owned()), properties));
            }
            Kind::Call => {
                let at = self.at(rng, days_ago, true);
                let result = rng.weighted(CALL_RESULTS);
                let caller = if self.callers.is_empty() {
                    "インサイドセールス"
                } else {
                    &self.callers[rng.index(self.callers.len())]
                };
                let properties = json!({ "caller": caller, "result": result });
                push(base("call", at, "inside_sales", Some(rng.pick(CALL_NAMES).to_owned()), properties));
            }
            Kind::Meeting => {
                let at = self.at(rng, days_ago, true);
                let rep = if self.reps.is_empty() { "営業担当" } else { &self.reps[rng.index(self.reps.len())] };
                let format = if rng.chance(0.6) { "online" } else { "visit" };
                let properties = json!({ "rep": rep, "status": "held", "format": format });
                push(base("meeting", at, "sales", Some(rep.to_owned()), properties));
            }
        }
    }

    /// A page view as web tracking records it (url, title, the URL's `utm_*` parameters),
    /// without lead or visitor.
    fn page_view(&self, rng: &mut Rng, segment: Segment, product: Option<usize>, days_ago: i64) -> NewEvent {
        let catalog = product.map(|p| &CATALOGS[self.products[p].1]);
        let (path, title) = match catalog {
            None => {
                let (path, title) = rng.pick(GENERAL_PAGES);
                (path.to_owned(), title)
            }
            Some(c) => {
                let pricing = if segment == Segment::Hot { 30 } else { 10 };
                match rng.weighted(&[(0u8, 35), (1, 25), (2, pricing), (3, 15)]) {
                    0 => (format!("/products/{}/", c.code), c.pages[0].1),
                    1 => {
                        let (page, title) = rng.pick(c.pages);
                        (format!("/products/{}/{page}", c.code), title)
                    }
                    2 => (format!("/products/{}/{}", c.code, c.pricing.0), c.pricing.1),
                    _ => {
                        let (slug, title) = rng.pick(c.case_studies);
                        (format!("/case-studies/{slug}/"), title)
                    }
                }
            }
        };
        let mut properties = Map::new();
        let mut url = format!("{SITE}{path}");
        let utm: Option<[(&str, String); 3]> = match rng.below(100) {
            0..=11 => Some([
                ("utm_source", "newsletter".into()),
                ("utm_medium", "email".into()),
                ("utm_campaign", catalog.map_or("newsletter".into(), |c| c.campaigns[0].0.to_owned())),
            ]),
            12..=19 => Some([
                ("utm_source", "search_ads".into()),
                ("utm_medium", "cpc".into()),
                ("utm_campaign", format!("{}-search", catalog.map_or("brand", |c| c.code))),
            ]),
            20..=23 => Some([
                ("utm_source", "pdf".into()),
                ("utm_medium", "document".into()),
                ("utm_campaign", catalog.map_or("dx-whitepaper-2026".into(), |c| c.assets[0].0.to_owned())),
            ]),
            _ => None,
        };
        if let Some(parameters) = &utm {
            for (i, (name, value)) in parameters.iter().enumerate() {
                url.push(if i == 0 { '?' } else { '&' });
                url.push_str(name);
                url.push('=');
                url.push_str(value);
            }
        }
        properties.insert("url".into(), url.into());
        properties.insert("title".into(), title.into());
        if utm.is_none() && rng.chance(0.4) {
            properties.insert("referrer".into(), format!("{SITE}/").into());
        }
        for (name, value) in utm.into_iter().flatten() {
            properties.insert(name.into(), value.into());
        }
        NewEvent {
            kind: "page_view",
            lead_id: None,
            visitor_id: None,
            product_id: product.map(|p| self.products[p].0),
            occurred_at: self.at(rng, days_ago, false),
            source: Some("web".into()),
            name: None,
            properties: Value::Object(properties).to_string(),
            idempotency_key: None,
        }
    }
}

/// A web visitor id as tracking makes them: 32 hexadecimal digits.
fn visitor_id(seed: u64, index: u64) -> String {
    let first = key(seed, TAG_VISITOR, index);
    format!("{first:016x}{:016x}", mix(first))
}

/// The day of the week of a day starting at `day` (ms, Japan): 0 Sunday … 6 Saturday.
fn weekday(day: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    ((day + JST).div_euclid(DAY) + 4).rem_euclid(7)
}

/// The year and month in Japan at `at` (ms), by the proleptic Gregorian calendar.
fn year_month(at: i64) -> (i64, u32) {
    // Howard Hinnant's civil_from_days.
    let z = (at + JST).div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_779_417_600_000; // 2026-05-22T03:00:00Z

    fn behaviour() -> Behaviour {
        Behaviour::new(7, NOW, &[(1, "erp"), (2, "kintai"), (3, "security")], &["内田 聡子"], &["営野 一郎"])
    }

    #[test]
    fn calendar_helpers_agree_with_jiff() {
        for at in [0, NOW, NOW - 400 * DAY + 17 * HOUR, 951_782_400_000] {
            let zoned = jiff::Timestamp::from_millisecond(at)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::Offset::from_hours(9).unwrap()));
            assert_eq!(year_month(at), (i64::from(zoned.year()), zoned.month() as u32), "{at}");
            let day = (at + JST).div_euclid(DAY) * DAY - JST;
            assert_eq!(weekday(day), i64::from(zoned.weekday().to_sunday_zero_offset()), "{at}");
        }
    }

    #[test]
    fn people_get_valid_deterministic_events_in_the_window() {
        let b = behaviour();
        let mut first = Vec::new();
        for index in 0..400 {
            b.person(index, index as i64 + 1, &[1 + (index as i64 % 3)], &mut first);
        }
        let mut second = Vec::new();
        for index in 0..400 {
            b.person(index, index as i64 + 1, &[1 + (index as i64 % 3)], &mut second);
        }
        assert_eq!(first, second, "the same seed gives the same events");
        let per_person = first.len() as f64 / 400.0;
        assert!((6.0..14.0).contains(&per_person), "{per_person} events a person");
        let mut keys = std::collections::HashSet::new();
        for event in &first {
            assert!(event.occurred_at <= NOW && event.occurred_at > NOW - (HISTORY_DAYS + 40) * DAY, "{event:?}");
            assert!(hatake_domain::EventKind::parse(event.kind).is_some());
            assert!(event.lead_id.is_some() || event.visitor_id.is_some());
            assert!(serde_json::from_str::<Map<String, Value>>(&event.properties).is_ok());
            assert!(event.name.as_deref().is_none_or(|n| n.chars().count() <= hatake_domain::event::MAX_NAME_CHARS));
            assert!(keys.insert(event.idempotency_key.clone().unwrap()));
        }
        let unassigned = first.iter().filter(|e| e.product_id.is_none()).count();
        assert!(unassigned > first.len() / 20 && unassigned < first.len() / 2, "{unassigned} of {}", first.len());
        for kind in ["page_view", "download", "mail_open", "mail_click", "seminar_registration", "seminar_attendance"] {
            assert!(first.iter().any(|e| e.kind == kind), "no {kind}");
        }
        for kind in ["exhibition_visit", "form_submit", "call", "meeting"] {
            assert!(first.iter().any(|e| e.kind == kind), "no {kind}");
        }
        // Anonymous page views and the events that link their visitors.
        assert!(first.iter().any(|e| e.lead_id.is_none() && e.visitor_id.is_some()));
        assert!(first.iter().any(|e| e.lead_id.is_some() && e.visitor_id.is_some()));
        let pricing = first.iter().filter(|e| e.properties.contains("/products/erp/pricing/")).count();
        assert!(pricing > 0);
        let seminar = first.iter().find(|e| e.kind == "seminar_attendance").unwrap();
        assert!(seminar.name.as_deref().unwrap().ends_with('春') || seminar.name.as_deref().unwrap().ends_with('秋'));
    }

    #[test]
    fn anonymous_visitors_name_no_lead() {
        let mut events = Vec::new();
        behaviour().visitors(0, 50, &mut events);
        assert!(events.len() >= 50);
        assert!(events
            .iter()
            .all(|e| e.lead_id.is_none() && e.visitor_id.as_deref().is_some_and(hatake_domain::event::is_visitor_id)));
    }
}
