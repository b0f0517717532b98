//! Meeting booking (商談予約): a prospect who sent an inquiry picks a free slot of the field-sales
//! reps responsible for a product. Here are the reps' weekly working hours (typed as text, one
//! rule a line), the booking rules (slot length, how far ahead, how much notice) and the free
//! slots they leave. Nothing here reads a clock: "now" is always a parameter.

use crate::holidays;
use crate::text::nfkc_trim;
use crate::{FieldError, FieldErrors};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The field name under which errors in working hours are reported.
pub const WORKING_HOURS_FIELD: &str = "working_hours";

/// Minutes in a day; 24:00 is allowed as the end of a range.
const DAY_MINUTES: u16 = 24 * 60;

/// Japanese short names of the days, from Monday.
pub const DAY_NAMES_JA: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];

/// English short names of the days, from Monday.
pub const DAY_NAMES_EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Characters accepted between the two ends of a range of days or times (after NFKC, which
/// turns `～` and `－` into `~` and `-`).
const RANGE_SEPARATORS: &[char] = &['-', '~', '〜', 'ー', '−', '‐', '‑', '–', '—', '―'];

fn weekday_index(weekday: Weekday) -> usize {
    match weekday {
        Weekday::Monday => 0,
        Weekday::Tuesday => 1,
        Weekday::Wednesday => 2,
        Weekday::Thursday => 3,
        Weekday::Friday => 4,
        Weekday::Saturday => 5,
        Weekday::Sunday => 6,
    }
}

/// A span of one day's clock time, `start` inclusive and `end` exclusive, in minutes since
/// midnight (`end` may be 24:00). Stored as text such as `"09:00-12:00"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeRange {
    start: u16,
    end: u16,
}

impl TimeRange {
    /// A range from `start` to `end` minutes after midnight; `None` unless
    /// `start < end <= 24:00`.
    pub fn new(start_minute: u16, end_minute: u16) -> Option<Self> {
        (start_minute < end_minute && end_minute <= DAY_MINUTES)
            .then_some(Self { start: start_minute, end: end_minute })
    }

    /// Minutes after midnight the range starts.
    pub fn start_minute(&self) -> u16 {
        self.start
    }

    /// Minutes after midnight the range ends (exclusive; 1440 is 24:00).
    pub fn end_minute(&self) -> u16 {
        self.end
    }

    fn overlaps(&self, other: &TimeRange) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl std::fmt::Display for TimeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}-{:02}:{:02}", self.start / 60, self.start % 60, self.end / 60, self.end % 60)
    }
}

impl From<TimeRange> for String {
    fn from(range: TimeRange) -> Self {
        range.to_string()
    }
}

impl TryFrom<String> for TimeRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match parse_time_range(&text) {
            Ok(range) => Ok(range),
            Err(_) => Err(format!("not a time range: {text:?}")),
        }
    }
}

/// When a rep works, day by day: for each day of the week its ranges, sorted and not
/// overlapping (ranges may touch: 09:00-12:00 and 12:00-13:00 are two ranges).
///
/// As text (see [`WeeklyHours::parse`]) and [`Display`](std::fmt::Display):
/// `月-金 09:00-12:00, 13:00-18:00`, one rule a line. As JSON:
/// `{"mon": ["09:00-12:00", "13:00-18:00"], "tue": […], …}` (days without hours left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WeeklyHoursJson", into = "WeeklyHoursJson")]
pub struct WeeklyHours {
    days: [Vec<TimeRange>; 7],
}

impl WeeklyHours {
    /// Monday to Friday, 09:00–12:00 and 13:00–18:00.
    pub fn default_business() -> Self {
        let weekday = vec![TimeRange { start: 9 * 60, end: 12 * 60 }, TimeRange { start: 13 * 60, end: 18 * 60 }];
        Self {
            days: [weekday.clone(), weekday.clone(), weekday.clone(), weekday.clone(), weekday, Vec::new(), Vec::new()],
        }
    }

    /// Hours from a list of ranges for each day from Monday; the ranges are sorted.
    ///
    /// # Errors
    /// `overlapping_ranges` when two ranges of a day overlap.
    pub fn from_days(mut days: [Vec<TimeRange>; 7]) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        for (index, ranges) in days.iter_mut().enumerate() {
            ranges.sort_unstable();
            ranges.dedup();
            if ranges.windows(2).any(|pair| pair[0].overlaps(&pair[1])) {
                errors.push(overlap_error(None, index));
            }
        }
        errors.into_result(|| Self { days })
    }

    /// The ranges of one day of the week, sorted.
    pub fn ranges(&self, weekday: Weekday) -> &[TimeRange] {
        &self.days[weekday_index(weekday)]
    }

    /// Whether there are no hours on any day.
    pub fn is_empty(&self) -> bool {
        self.days.iter().all(Vec::is_empty)
    }

    /// Parses the text a user types: one rule a line, the day or days first, then the time
    /// ranges separated by `,` `、` `;` or spaces:
    ///
    /// ```text
    /// 月-金 09:00-12:00, 13:00-18:00
    /// 土 10:00〜15:00
    /// Mon,Wed 18:00-20:00
    /// ```
    ///
    /// Text is NFKC-normalised first (全角 digits, `：`, `～` and `－` are fine). Days are
    /// `月`…`日` (also `月曜`, `月曜日`), `Mon`…`Sun` or `Monday`…`Sunday` in any case, a range
    /// of them (`月-金`, `Mon~Fri`, wrapping as `金-月`), several of them (`月・水・金`,
    /// `月水金`, `Mon,Wed`), `平日` (Monday to Friday) or `毎日` (every day). Times are `9:00`,
    /// `09:00`, `9` or `9時`/`9時30分`, up to `24:00`; ranges are joined by `-`, `~`, `〜`,
    /// `～` or `ー`. Rules for the same day add up. Blank lines and `#` comments are skipped.
    ///
    /// # Errors
    /// For each bad line, by its number (field [`WORKING_HOURS_FIELD`]): `unknown_day`,
    /// `invalid_time`, `end_not_after_start` or `overlapping_ranges`; `empty` when no line
    /// gives any hours.
    pub fn parse(text: &str) -> Result<Self, FieldErrors> {
        let mut days: [Vec<TimeRange>; 7] = Default::default();
        let mut errors = FieldErrors::default();
        for (index, raw) in text.lines().enumerate() {
            let line = nfkc_trim(raw.split('#').next().unwrap_or_default());
            if line.is_empty() {
                continue;
            }
            if let Err(error) = parse_line(&line, &mut days) {
                errors.push(error.into_field_error(index + 1, &line));
            }
        }
        if errors.is_empty() && days.iter().all(Vec::is_empty) {
            errors.push(FieldError::new(
                WORKING_HOURS_FIELD,
                "empty",
                "受付時間を1行以上入力してください（例 月-金 09:00-12:00, 13:00-18:00）。",
                "Enter at least one line of working hours (e.g. Mon-Fri 09:00-12:00, 13:00-18:00).",
            ));
        }
        for ranges in &mut days {
            ranges.sort_unstable();
        }
        errors.into_result(|| Self { days })
    }
}

/// Renders the hours in the text format [`WeeklyHours::parse`] reads, with consecutive days
/// of the same hours on one line (`月-金 09:00-12:00, 13:00-18:00`).
impl std::fmt::Display for WeeklyHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        let mut index = 0;
        while index < 7 {
            let ranges = &self.days[index];
            let mut last = index;
            while last + 1 < 7 && self.days[last + 1] == *ranges {
                last += 1;
            }
            if !ranges.is_empty() {
                if !first {
                    f.write_str("\n")?;
                }
                first = false;
                f.write_str(DAY_NAMES_JA[index])?;
                if last > index {
                    write!(f, "-{}", DAY_NAMES_JA[last])?;
                }
                for (n, range) in ranges.iter().enumerate() {
                    write!(f, "{}{range}", if n == 0 { " " } else { ", " })?;
                }
            }
            index = last + 1;
        }
        Ok(())
    }
}

/// [`WeeklyHours`] as stored in JSON.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeeklyHoursJson {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mon: Vec<TimeRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tue: Vec<TimeRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    wed: Vec<TimeRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    thu: Vec<TimeRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fri: Vec<TimeRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sat: Vec<TimeRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sun: Vec<TimeRange>,
}

impl From<WeeklyHours> for WeeklyHoursJson {
    fn from(hours: WeeklyHours) -> Self {
        let [mon, tue, wed, thu, fri, sat, sun] = hours.days;
        Self { mon, tue, wed, thu, fri, sat, sun }
    }
}

impl TryFrom<WeeklyHoursJson> for WeeklyHours {
    type Error = FieldErrors;

    fn try_from(json: WeeklyHoursJson) -> Result<Self, Self::Error> {
        let WeeklyHoursJson { mon, tue, wed, thu, fri, sat, sun } = json;
        Self::from_days([mon, tue, wed, thu, fri, sat, sun])
    }
}

/// What is wrong with one line of working hours.
#[derive(Debug)]
enum LineError {
    /// No day at the start of the line.
    NoDay,
    UnknownDay(String),
    NoTimes,
    BadTime(String),
    EndNotAfterStart(String),
    /// Ranges of this day (index from Monday) overlap.
    Overlap(usize),
}

impl LineError {
    fn into_field_error(self, number: usize, line: &str) -> FieldError {
        let (code, ja, en) = match self {
            LineError::NoDay => (
                "unknown_day",
                "行の先頭に曜日を書いてください（例 月-金 09:00-18:00）。".to_owned(),
                "Start the line with the day or days (e.g. Mon-Fri 09:00-18:00).".to_owned(),
            ),
            LineError::UnknownDay(item) => (
                "unknown_day",
                format!("曜日「{item}」が分かりません（例 月-金、月・水・金、Mon-Fri）。"),
                format!("\"{item}\" is not a day of the week (e.g. Mon-Fri, Mon,Wed,Fri, 月-金)."),
            ),
            LineError::NoTimes => (
                "invalid_time",
                "時間帯がありません（例 月-金 09:00-18:00）。".to_owned(),
                "No time range given (e.g. Mon-Fri 09:00-18:00).".to_owned(),
            ),
            LineError::BadTime(item) => (
                "invalid_time",
                format!("「{item}」は時間帯として読めません（例 09:00-12:00、時刻は00:00〜24:00）。"),
                format!("\"{item}\" is not a time range (e.g. 09:00-12:00, times from 00:00 to 24:00)."),
            ),
            LineError::EndNotAfterStart(item) => (
                "end_not_after_start",
                format!("「{item}」の終了時刻が開始時刻より後になっていません。"),
                format!("In \"{item}\" the end is not after the start."),
            ),
            LineError::Overlap(day) => return overlap_error(Some((number, line)), day),
        };
        FieldError::new(
            WORKING_HOURS_FIELD,
            code,
            format!("{number}行目「{line}」: {ja}"),
            format!("Line {number} (\"{line}\"): {en}"),
        )
    }
}

fn overlap_error(line: Option<(usize, &str)>, day: usize) -> FieldError {
    let (prefix_ja, prefix_en) = match line {
        Some((number, line)) => (format!("{number}行目「{line}」: "), format!("Line {number} (\"{line}\"): ")),
        None => (String::new(), String::new()),
    };
    FieldError::new(
        WORKING_HOURS_FIELD,
        "overlapping_ranges",
        format!("{prefix_ja}{}曜日の時間帯が重なっています。", DAY_NAMES_JA[day]),
        format!("{prefix_en}time ranges on {} overlap.", DAY_NAMES_EN[day]),
    )
}

/// Adds the ranges of one (normalised, non-empty) line to `days`.
fn parse_line(line: &str, days: &mut [Vec<TimeRange>; 7]) -> Result<(), LineError> {
    // The days are everything before the first digit: no day name has one, every time does.
    let split = line.find(|c: char| c.is_ascii_digit()).unwrap_or(line.len());
    let (day_text, time_text) = line.split_at(split);
    let day_text = day_text.trim().trim_end_matches(':').trim_end();
    if day_text.is_empty() {
        return Err(LineError::NoDay);
    }
    let selected = parse_days(day_text)?;
    let mut ranges = parse_time_ranges(time_text)?;
    ranges.sort_unstable();
    let first_day = selected.iter().position(|s| *s).unwrap_or_default();
    if ranges.windows(2).any(|pair| pair[0].overlaps(&pair[1])) {
        return Err(LineError::Overlap(first_day));
    }
    // Check every day before adding anything, so that a bad line leaves no trace.
    for (index, ranges_of_day) in days.iter().enumerate() {
        if selected[index] && ranges_of_day.iter().any(|other| ranges.iter().any(|range| range.overlaps(other))) {
            return Err(LineError::Overlap(index));
        }
    }
    for (index, ranges_of_day) in days.iter_mut().enumerate() {
        if selected[index] {
            ranges_of_day.extend_from_slice(&ranges);
        }
    }
    Ok(())
}

/// The days named by the start of a line, as flags from Monday.
fn parse_days(text: &str) -> Result<[bool; 7], LineError> {
    let mut selected = [false; 7];
    let text = unify_range_separators(text);
    let items = text.split(|c: char| matches!(c, '・' | ',' | '、' | '/' | '&') || c.is_whitespace());
    for item in items.filter(|item| !item.is_empty()) {
        let unknown = || LineError::UnknownDay(item.to_owned());
        if let Some((from, to)) = item.split_once(RANGE_SEPARATORS) {
            let from = day_index(from).ok_or_else(unknown)?;
            let to = day_index(to).ok_or_else(unknown)?;
            let mut day = from;
            loop {
                selected[day] = true;
                if day == to {
                    break;
                }
                day = (day + 1) % 7;
            }
        } else if let Some(day) = day_index(item) {
            selected[day] = true;
        } else if matches!(item, "平日" | "平日のみ") {
            selected[..5].fill(true);
        } else if matches!(item, "毎日" | "全日") {
            selected.fill(true);
        } else {
            // Kanji days run together: 月水金, 土日.
            let days: Option<Vec<usize>> = item.chars().map(|c| day_index(c.encode_utf8(&mut [0; 4]))).collect();
            for day in days.ok_or_else(unknown)? {
                selected[day] = true;
            }
        }
    }
    if !selected.contains(&true) {
        return Err(LineError::NoDay);
    }
    Ok(selected)
}

/// One day's index from Monday, by its Japanese or English name.
fn day_index(name: &str) -> Option<usize> {
    let name = name.trim().trim_end_matches('.');
    let name = name.strip_suffix("曜日").or_else(|| name.strip_suffix('曜')).unwrap_or(name);
    let index = match name.to_ascii_lowercase().as_str() {
        "月" | "mon" | "monday" => 0,
        "火" | "tue" | "tues" | "tuesday" => 1,
        "水" | "wed" | "wednesday" => 2,
        "木" | "thu" | "thur" | "thurs" | "thursday" => 3,
        "金" | "fri" | "friday" => 4,
        "土" | "sat" | "saturday" => 5,
        "日" | "sun" | "sunday" => 6,
        _ => return None,
    };
    Some(index)
}

/// The time ranges of the rest of a line.
fn parse_time_ranges(text: &str) -> Result<Vec<TimeRange>, LineError> {
    let ranges: Vec<TimeRange> = unify_range_separators(text)
        .split(|c: char| matches!(c, ',' | '、' | ';' | '/') || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .map(parse_time_range)
        .collect::<Result<_, _>>()?;
    if ranges.is_empty() {
        return Err(LineError::NoTimes);
    }
    Ok(ranges)
}

/// The text with every range separator as `-` and no spaces around it (nor around `:`), so
/// that spaces can separate the items (`月 - 金 9 - 12 13 - 18`).
fn unify_range_separators(text: &str) -> String {
    let mut unified = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if RANGE_SEPARATORS.contains(&c) { '-' } else { c };
        if matches!(c, '-' | ':') {
            while unified.ends_with(' ') {
                unified.pop();
            }
        } else if c == ' ' && unified.ends_with(['-', ':']) {
            continue;
        }
        unified.push(c);
    }
    unified
}

/// `09:00-12:00` (or any separator and time form [`WeeklyHours::parse`] accepts).
fn parse_time_range(text: &str) -> Result<TimeRange, LineError> {
    let bad = || LineError::BadTime(text.to_owned());
    let (start, end) = text.split_once(RANGE_SEPARATORS).ok_or_else(bad)?;
    let start = parse_time(start).ok_or_else(bad)?;
    let end = parse_time(end).ok_or_else(bad)?;
    TimeRange::new(start, end).ok_or_else(|| LineError::EndNotAfterStart(text.to_owned()))
}

/// Minutes after midnight of `9:00`, `09:00`, `9`, `9時` or `9時30分`, up to 24:00.
fn parse_time(text: &str) -> Option<u16> {
    let text = text.trim();
    let (hour, minute) = if let Some((hour, minute)) = text.split_once(':') {
        (hour, Some(minute).filter(|m| m.len() == 2)?)
    } else if let Some((hour, rest)) = text.split_once('時') {
        match rest {
            "" => (hour, "0"),
            "半" => (hour, "30"),
            _ => (hour, rest.strip_suffix('分')?),
        }
    } else {
        (text, "0")
    };
    let number = |digits: &str| -> Option<u16> {
        if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let (hour, minute) = (number(hour)?, number(minute)?);
    let minutes = hour * 60 + minute;
    (minute < 60 && minutes <= DAY_MINUTES).then_some(minutes)
}

/// How bookings are offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BookingRules {
    /// Length of a meeting in minutes (15–240).
    pub slot_minutes: u32,
    /// How many business days to offer, today included if it is one (1–60).
    pub business_days: u32,
    /// No slot starts sooner than this many minutes from now (0–10080, a week).
    pub min_notice_minutes: u32,
    /// The IANA time zone of the working hours and of "today" (`Asia/Tokyo`).
    pub time_zone: String,
}

impl Default for BookingRules {
    /// 30-minute slots over the next 10 business days, two hours' notice, Asia/Tokyo.
    fn default() -> Self {
        Self { slot_minutes: 30, business_days: 10, min_notice_minutes: 120, time_zone: "Asia/Tokyo".to_owned() }
    }
}

impl BookingRules {
    /// The rules' time zone, if it is a known IANA name.
    pub fn zone(&self) -> Option<TimeZone> {
        let name = self.time_zone.trim();
        if name.is_empty() {
            return None;
        }
        TimeZone::get(name).ok()
    }

    /// Checks the ranges and the time zone.
    ///
    /// # Errors
    /// `out_of_range` for `slot_minutes` (15–240), `business_days` (1–60) or
    /// `min_notice_minutes` (0–10080); `unknown_time_zone` for `time_zone`.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        let limits: [(&str, &str, &str, u32, u32, u32); 3] = [
            ("slot_minutes", "予約枠の長さ", "Slot length", self.slot_minutes, 15, 240),
            ("business_days", "予約を受け付ける営業日数", "Number of business days", self.business_days, 1, 60),
            ("min_notice_minutes", "予約締切（分前）", "Minimum notice", self.min_notice_minutes, 0, 10_080),
        ];
        for (field, label_ja, label_en, value, min, max) in limits {
            if !(min..=max).contains(&value) {
                errors.push(FieldError::new(
                    field,
                    "out_of_range",
                    format!("{label_ja}は{min}から{max}の間で指定してください。"),
                    format!("{label_en} must be between {min} and {max}."),
                ));
            }
        }
        if self.zone().is_none() {
            errors.push(FieldError::new(
                "time_zone",
                "unknown_time_zone",
                format!("タイムゾーン「{}」が分かりません（例 Asia/Tokyo）。", self.time_zone),
                format!("Unknown time zone \"{}\" (e.g. Asia/Tokyo).", self.time_zone),
            ));
        }
        errors.into_result(|| ())
    }
}

/// One rep's hours and the meetings they have already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepAvailability {
    pub user_id: i64,
    pub hours: WeeklyHours,
    /// Booked meetings as `[start_ms, end_ms)` in UTC milliseconds.
    pub busy: Vec<(i64, i64)>,
}

impl RepAvailability {
    /// Whether nothing booked overlaps `[start_ms, end_ms)` (meetings may touch it).
    fn is_free(&self, start_ms: i64, end_ms: i64) -> bool {
        !self
            .busy
            .iter()
            .any(|&(busy_start, busy_end)| busy_start < busy_end && busy_start < end_ms && start_ms < busy_end)
    }
}

/// A time a prospect can book, with the reps free for all of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// UTC milliseconds, inclusive.
    pub start_ms: i64,
    /// UTC milliseconds, exclusive.
    pub end_ms: i64,
    /// The reps free for the whole slot, ascending.
    pub user_ids: Vec<i64>,
}

/// The slots to offer: on the next `business_days` business days
/// ([`holidays::is_business_day`] of the date in the rules' time zone, today included), each
/// rep's working ranges cut into `slot_minutes` pieces from the start of the range (a slot
/// fits within one range; a remainder too short for a slot is not offered). Slots starting
/// before `now_ms + min_notice` and slots no rep is free for are left out. Sorted by start
/// (then end); reps with differently aligned ranges give separate slots.
///
/// Slots are real durations: the clock times of a range are placed in the time zone (a
/// clock time skipped by a daylight-saving change moves forward, a repeated one takes its
/// first occurrence) and the range is cut in elapsed time, so no day is assumed to last 24
/// hours. Invalid rules (see [`BookingRules::validate`]) give no slots.
pub fn free_slots(rules: &BookingRules, reps: &[RepAvailability], now_ms: i64) -> Vec<Slot> {
    if rules.validate().is_err() {
        return Vec::new();
    }
    let (Some(tz), Ok(now)) = (rules.zone(), Timestamp::from_millisecond(now_ms)) else { return Vec::new() };
    let earliest = now_ms.saturating_add(i64::from(rules.min_notice_minutes) * 60_000);
    let slot_ms = i64::from(rules.slot_minutes) * 60_000;
    let mut free: BTreeMap<(i64, i64), Vec<i64>> = BTreeMap::new();
    for day in business_days_from(tz.to_datetime(now).date(), rules.business_days) {
        for rep in reps {
            for range in rep.hours.ranges(day.weekday()) {
                for (start, end) in range_slots(&tz, day, *range, slot_ms) {
                    if start >= earliest && rep.is_free(start, end) {
                        free.entry((start, end)).or_default().push(rep.user_id);
                    }
                }
            }
        }
    }
    free.into_iter()
        .map(|((start_ms, end_ms), mut user_ids)| {
            user_ids.sort_unstable();
            user_ids.dedup();
            Slot { start_ms, end_ms, user_ids }
        })
        .collect()
}

/// The first `count` business days from `today` on (today included if it is one).
fn business_days_from(today: Date, count: u32) -> Vec<Date> {
    let wanted = usize::try_from(count).unwrap_or(usize::MAX);
    let mut days = Vec::new();
    let mut day = Some(today);
    // Japan never has more than a few days off in a row; the bound only guards the loop.
    let mut left = count.saturating_mul(7).saturating_add(30);
    while let Some(date) = day.filter(|_| days.len() < wanted && left > 0) {
        if holidays::is_business_day(date) {
            days.push(date);
        }
        day = date.tomorrow().ok();
        left -= 1;
    }
    days
}

/// The UTC instant of a clock time (minutes after midnight, 24:00 being the next midnight) on
/// a date in a zone.
fn instant_ms(tz: &TimeZone, day: Date, minute: u16) -> Option<i64> {
    let (day, minute) =
        if minute >= DAY_MINUTES { (day.tomorrow().ok()?, minute - DAY_MINUTES) } else { (day, minute) };
    let hour = i8::try_from(minute / 60).ok()?;
    let minute = i8::try_from(minute % 60).ok()?;
    let time = Time::new(hour, minute, 0, 0).ok()?;
    let timestamp = tz.to_ambiguous_timestamp(day.to_datetime(time)).compatible().ok()?;
    Some(timestamp.as_millisecond())
}

/// The slots of one working range on one day, as `[start_ms, end_ms)`.
fn range_slots(tz: &TimeZone, day: Date, range: TimeRange, slot_ms: i64) -> Vec<(i64, i64)> {
    let (Some(from), Some(to)) = (instant_ms(tz, day, range.start), instant_ms(tz, day, range.end)) else {
        return Vec::new();
    };
    let mut slots = Vec::new();
    let mut start = from;
    while slot_ms > 0 && start + slot_ms <= to {
        slots.push((start, start + slot_ms));
        start += slot_ms;
    }
    slots
}

/// The rep to book among those free for a slot: the one with the fewest upcoming meetings
/// (`load` as `(user_id, count)`; a rep not listed has none), ties going to the lowest id, so
/// that bookings spread across the reps. `None` when no rep is free.
pub fn pick_rep(slot_user_ids: &[i64], load: &[(i64, usize)]) -> Option<i64> {
    reps_by_load(slot_user_ids, load).first().copied()
}

/// The reps free for a slot in the order to try them: fewest upcoming meetings first, ties by
/// lowest id (the next one is tried when another booking took the first meanwhile).
pub fn reps_by_load(slot_user_ids: &[i64], load: &[(i64, usize)]) -> Vec<i64> {
    let load_of = |id: i64| -> usize { load.iter().filter(|(user, _)| *user == id).map(|(_, n)| n).sum() };
    let mut reps = slot_user_ids.to_vec();
    reps.sort_by_key(|id| (load_of(*id), *id));
    reps
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ms(y: i16, m: i8, d: i8, h: i8, mi: i8, zone: &str) -> i64 {
        date(y, m, d).at(h, mi, 0, 0).in_tz(zone).unwrap().timestamp().as_millisecond()
    }

    fn jst(y: i16, m: i8, d: i8, h: i8, mi: i8) -> i64 {
        ms(y, m, d, h, mi, "Asia/Tokyo")
    }

    fn range(text: &str) -> TimeRange {
        parse_time_range(text).unwrap()
    }

    fn rep(user_id: i64, hours: &str, busy: Vec<(i64, i64)>) -> RepAvailability {
        RepAvailability { user_id, hours: WeeklyHours::parse(hours).unwrap(), busy }
    }

    fn rules(slot_minutes: u32, business_days: u32, min_notice_minutes: u32, zone: &str) -> BookingRules {
        BookingRules { slot_minutes, business_days, min_notice_minutes, time_zone: zone.to_owned() }
    }

    #[test]
    fn parses_the_accepted_forms() {
        let business = WeeklyHours::default_business();
        for text in [
            "月-金 09:00-12:00, 13:00-18:00",
            "月〜金 9:00〜12:00、13:00〜18:00",
            "月～金　０９：００～１２：００，１３：００～１８：００",
            "Mon-Fri 09:00-12:00 13:00-18:00",
            "mon - FRI: 9 - 12, 13 - 18",
            "平日 9時-12時, 13時-18時",
            "月曜日-金曜日 09:00-12:00 ; 13:00-18:00",
            "# 営業時間\n\n月-水 09:00-12:00, 13:00-18:00\n木,金 09:00-12:00\nThu・Fri 13:00-18:00  # 午後\n",
        ] {
            assert_eq!(WeeklyHours::parse(text), Ok(business.clone()), "{text:?}");
        }
        let hours = WeeklyHours::parse("月水金 10:00-11:30\n土日 9時30分-12時半\n金-月 20:00-24:00").unwrap();
        assert_eq!(hours.ranges(Weekday::Monday), [range("10:00-11:30"), range("20:00-24:00")]);
        assert!(hours.ranges(Weekday::Tuesday).is_empty());
        assert_eq!(hours.ranges(Weekday::Wednesday), [range("10:00-11:30")]);
        assert_eq!(hours.ranges(Weekday::Saturday), [range("09:30-12:30"), range("20:00-24:00")]);
        assert_eq!(hours.ranges(Weekday::Sunday), [range("09:30-12:30"), range("20:00-24:00")]);
        // Ranges may touch.
        let touching = WeeklyHours::parse("月 09:00-12:00, 12:00-13:00").unwrap();
        assert_eq!(touching.ranges(Weekday::Monday).len(), 2);
    }

    #[test]
    fn reports_each_bad_line() {
        let cases: &[(&str, &[(&str, usize)])] = &[
            ("", &[("empty", 0)]),
            ("# only a comment\n\n", &[("empty", 0)]),
            ("祝 09:00-12:00", &[("unknown_day", 1)]),
            ("Monkey 09:00-12:00", &[("unknown_day", 1)]),
            ("月-祝 09:00-12:00", &[("unknown_day", 1)]),
            ("09:00-12:00", &[("unknown_day", 1)]),
            ("・ 09:00-12:00", &[("unknown_day", 1)]),
            ("月-金", &[("invalid_time", 1)]),
            ("月 25:00-26:00", &[("invalid_time", 1)]),
            ("月 09:60-10:00", &[("invalid_time", 1)]),
            ("月 9:0-10:00", &[("invalid_time", 1)]),
            ("月 09:00", &[("invalid_time", 1)]),
            ("月 09:00-24:30", &[("invalid_time", 1)]),
            ("月 午前9時-12時", &[("unknown_day", 1)]),
            ("月 12:00-09:00", &[("end_not_after_start", 1)]),
            ("月 09:00-09:00", &[("end_not_after_start", 1)]),
            ("月 09:00-12:00, 11:00-13:00", &[("overlapping_ranges", 1)]),
            ("月-金 09:00-12:00\n\n水 11:30-12:30", &[("overlapping_ranges", 3)]),
            (
                "月 09:00-12:00\n火 9時ごろ\n水 18:00-09:00\n木 10:00-11:00",
                &[("invalid_time", 2), ("end_not_after_start", 3)],
            ),
        ];
        for (text, expected) in cases {
            let errors = WeeklyHours::parse(text).unwrap_err();
            let got: Vec<&str> = errors.0.iter().map(|e| e.code).collect();
            let want: Vec<&str> = expected.iter().map(|(code, _)| *code).collect();
            assert_eq!(got, want, "{text:?}");
            for (error, (_, line)) in errors.0.iter().zip(expected.iter()) {
                assert_eq!(error.field, WORKING_HOURS_FIELD);
                if *line > 0 {
                    assert!(error.message_ja.starts_with(&format!("{line}行目")), "{error:?}");
                    assert!(error.message_en.starts_with(&format!("Line {line} ")), "{error:?}");
                }
            }
        }
        let error = WeeklyHours::parse("月 09:00-12:00, 11:00-13:00").unwrap_err();
        assert!(error.0[0].message_ja.contains("月曜日"), "{error}");
        assert!(error.0[0].message_en.contains("Mon"), "{error}");
    }

    #[test]
    fn renders_text_that_parses_back() {
        let text = WeeklyHours::default_business().to_string();
        assert_eq!(text, "月-金 09:00-12:00, 13:00-18:00");
        let hours = WeeklyHours::parse("月,火,木 09:00-17:00\n水 10:00-12:00\n金 09:00-17:00\n土 10:00-24:00").unwrap();
        let text = hours.to_string();
        assert_eq!(text, "月-火 09:00-17:00\n水 10:00-12:00\n木-金 09:00-17:00\n土 10:00-24:00");
        assert_eq!(WeeklyHours::parse(&text), Ok(hours));
    }

    #[test]
    fn stores_as_json() {
        let hours = WeeklyHours::parse("月-金 09:00-12:00, 13:00-18:00\n土 10:00-15:00").unwrap();
        let json = serde_json::to_string(&hours).unwrap();
        assert!(json.starts_with(r#"{"mon":["09:00-12:00","13:00-18:00"],"tue":"#), "{json}");
        assert!(json.ends_with(r#""sat":["10:00-15:00"]}"#), "{json}");
        assert_eq!(serde_json::from_str::<WeeklyHours>(&json).unwrap(), hours);
        // Unsorted ranges are sorted; overlapping ranges and bad text are refused.
        let loaded: WeeklyHours = serde_json::from_str(r#"{"tue":["13:00-18:00","09:00-12:00"]}"#).unwrap();
        assert_eq!(loaded.ranges(Weekday::Tuesday), [range("09:00-12:00"), range("13:00-18:00")]);
        assert!(serde_json::from_str::<WeeklyHours>(r#"{"mon":["09:00-12:00","11:00-13:00"]}"#).is_err());
        assert!(serde_json::from_str::<WeeklyHours>(r#"{"mon":["12:00-09:00"]}"#).is_err());
        assert!(serde_json::from_str::<WeeklyHours>(r#"{"monday":["09:00-12:00"]}"#).is_err());
        let rules: BookingRules = serde_json::from_str(r#"{"slot_minutes":60}"#).unwrap();
        assert_eq!(rules, BookingRules { slot_minutes: 60, ..BookingRules::default() });
    }

    #[test]
    fn validates_rules() {
        assert_eq!(BookingRules::default().validate(), Ok(()));
        assert_eq!(rules(15, 1, 0, "America/New_York").validate(), Ok(()));
        assert_eq!(rules(240, 60, 10_080, "UTC").validate(), Ok(()));
        let cases: &[(BookingRules, &[(&str, &str)])] = &[
            (rules(14, 10, 120, "Asia/Tokyo"), &[("slot_minutes", "out_of_range")]),
            (rules(241, 10, 120, "Asia/Tokyo"), &[("slot_minutes", "out_of_range")]),
            (rules(30, 0, 120, "Asia/Tokyo"), &[("business_days", "out_of_range")]),
            (rules(30, 61, 120, "Asia/Tokyo"), &[("business_days", "out_of_range")]),
            (rules(30, 10, 10_081, "Asia/Tokyo"), &[("min_notice_minutes", "out_of_range")]),
            (rules(30, 10, 120, "Asia/Osaka"), &[("time_zone", "unknown_time_zone")]),
            (rules(30, 10, 120, ""), &[("time_zone", "unknown_time_zone")]),
            (
                rules(0, 0, 120, "Tokyo"),
                &[
                    ("slot_minutes", "out_of_range"),
                    ("business_days", "out_of_range"),
                    ("time_zone", "unknown_time_zone"),
                ],
            ),
        ];
        for (rules, expected) in cases {
            let errors = rules.validate().unwrap_err();
            let got: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
            assert_eq!(got, *expected, "{rules:?}");
        }
        assert!(free_slots(&rules(0, 10, 120, "Asia/Tokyo"), &[rep(1, "月-金 09:00-18:00", vec![])], 0).is_empty());
    }

    #[test]
    fn slots_of_a_week_with_a_holiday_in_tokyo() {
        // Friday 2026-11-20 10:00; Monday 11/23 is 勤労感謝の日.
        let now = jst(2026, 11, 20, 10, 0);
        let reps = [rep(1, "月-金 09:00-12:00, 13:00-18:00", vec![]), rep(2, "月-金 09:00-12:00, 13:00-18:00", vec![])];
        let slots = free_slots(&rules(60, 3, 120, "Asia/Tokyo"), &reps, now);
        let mut expected = Vec::new();
        // Today counts: from noon on (two hours' notice), so the afternoon only.
        for hour in [13, 14, 15, 16, 17] {
            expected.push(jst(2026, 11, 20, hour, 0));
        }
        // The weekend and the holiday are skipped.
        for day in [24, 25] {
            for hour in [9, 10, 11, 13, 14, 15, 16, 17] {
                expected.push(jst(2026, 11, day, hour, 0));
            }
        }
        assert_eq!(slots.iter().map(|s| s.start_ms).collect::<Vec<_>>(), expected);
        assert!(slots.iter().all(|s| s.end_ms - s.start_ms == 3_600_000 && s.user_ids == [1, 2]));
        // A slot starting exactly at now + notice is offered.
        let slots = free_slots(&rules(60, 1, 180, "Asia/Tokyo"), &reps, now);
        assert_eq!(slots.first().map(|s| s.start_ms), Some(jst(2026, 11, 20, 13, 0)));
        // Late on the last business day of the week, today has nothing left.
        let late = free_slots(&rules(30, 1, 120, "Asia/Tokyo"), &reps, jst(2026, 11, 20, 17, 0));
        assert!(late.is_empty());
        let late = free_slots(&rules(30, 2, 120, "Asia/Tokyo"), &reps, jst(2026, 11, 20, 17, 0));
        assert_eq!(late.first().map(|s| s.start_ms), Some(jst(2026, 11, 24, 9, 0)));
        assert_eq!(late.len(), 16);
        // Starting on the holiday itself: it does not count.
        let from_holiday = free_slots(&rules(60, 1, 0, "Asia/Tokyo"), &reps, jst(2026, 11, 23, 8, 0));
        assert_eq!(from_holiday.first().map(|s| s.start_ms), Some(jst(2026, 11, 24, 9, 0)));
        assert_eq!(from_holiday.len(), 8);
    }

    #[test]
    fn a_busy_rep_is_left_out_of_a_slot_but_not_the_other() {
        let now = jst(2026, 11, 24, 0, 0);
        let reps = [
            // Busy 10:30-10:45 and 11:00-12:00 (touching the 10:00 slot only at its end).
            rep(
                2,
                "月-金 09:00-12:00",
                vec![
                    (jst(2026, 11, 24, 10, 30), jst(2026, 11, 24, 10, 45)),
                    (jst(2026, 11, 24, 11, 0), jst(2026, 11, 24, 12, 0)),
                ],
            ),
            rep(1, "月-金 10:00-12:00", vec![(jst(2026, 11, 24, 11, 0), jst(2026, 11, 24, 11, 30))]),
        ];
        let slots = free_slots(&rules(60, 1, 0, "Asia/Tokyo"), &reps, now);
        let got: Vec<(i64, Vec<i64>)> = slots.into_iter().map(|s| (s.start_ms, s.user_ids)).collect();
        assert_eq!(
            got,
            [(jst(2026, 11, 24, 9, 0), vec![2]), (jst(2026, 11, 24, 10, 0), vec![1])],
            "11:00 has no free rep"
        );
    }

    #[test]
    fn a_slot_must_fit_in_its_range() {
        let now = jst(2026, 11, 24, 0, 0);
        let reps = [rep(1, "火 09:00-11:30, 13:00-13:45", vec![])];
        let slots = free_slots(&rules(60, 1, 0, "Asia/Tokyo"), &reps, now);
        assert_eq!(
            slots.iter().map(|s| s.start_ms).collect::<Vec<_>>(),
            [jst(2026, 11, 24, 9, 0), jst(2026, 11, 24, 10, 0)]
        );
        // Ranges of reps are aligned each on its own.
        let reps = [rep(1, "火 09:00-10:00", vec![]), rep(2, "火 09:30-10:30", vec![])];
        let slots = free_slots(&rules(30, 1, 0, "Asia/Tokyo"), &reps, now);
        let got: Vec<(i64, Vec<i64>)> = slots.into_iter().map(|s| (s.start_ms, s.user_ids)).collect();
        assert_eq!(
            got,
            [
                (jst(2026, 11, 24, 9, 0), vec![1]),
                (jst(2026, 11, 24, 9, 30), vec![1, 2]),
                (jst(2026, 11, 24, 10, 0), vec![2]),
            ]
        );
        // A range to midnight ends at the next day's 00:00.
        let reps = [rep(1, "火 23:00-24:00", vec![])];
        let slots = free_slots(&rules(60, 1, 0, "Asia/Tokyo"), &reps, now);
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].end_ms, jst(2026, 11, 25, 0, 0));
    }

    #[test]
    fn daylight_saving_time_in_new_york() {
        // DST starts on Sunday 2026-03-08: 09:00 is 14:00 UTC on Friday and 13:00 UTC on Monday.
        let zone = "America/New_York";
        let now = ms(2026, 3, 6, 6, 0, zone);
        let reps = [rep(7, "月-金 09:00-10:00", vec![])];
        let slots = free_slots(&rules(60, 2, 0, zone), &reps, now);
        let starts: Vec<i64> = slots.iter().map(|s| s.start_ms).collect();
        let utc = |d: i8, h: i8| ms(2026, 3, d, h, 0, "UTC");
        assert_eq!(starts, [utc(6, 14), utc(9, 13)]);
        // A range across the change lasts its real length: 01:00-04:00 that Sunday is two hours.
        let tz = TimeZone::get(zone).unwrap();
        let hour = 3_600_000;
        assert_eq!(
            range_slots(&tz, date(2026, 3, 8), range("01:00-04:00"), hour),
            [(utc(8, 6), utc(8, 7)), (utc(8, 7), utc(8, 8))]
        );
        // And 00:00-03:00 on 2026-11-01, when the clocks go back, is four.
        assert_eq!(range_slots(&tz, date(2026, 11, 1), range("00:00-03:00"), hour).len(), 4);
        // A range starting in the skipped hour starts when the clock resumes.
        assert_eq!(
            range_slots(&tz, date(2026, 3, 8), range("02:30-05:00"), hour),
            [(utc(8, 7) + hour / 2, utc(8, 8) + hour / 2)]
        );
    }

    #[test]
    fn picks_the_least_loaded_rep() {
        assert_eq!(pick_rep(&[], &[(1, 0)]), None);
        assert_eq!(pick_rep(&[3], &[]), Some(3));
        assert_eq!(pick_rep(&[1, 2, 3], &[(1, 2), (2, 1), (3, 1)]), Some(2));
        assert_eq!(pick_rep(&[3, 2], &[(2, 1), (3, 1)]), Some(2), "ties go to the lowest id");
        assert_eq!(pick_rep(&[1, 2], &[(1, 1)]), Some(2), "a rep not listed has no meetings");
        assert_eq!(pick_rep(&[5, 4], &[(9, 0)]), Some(4));
    }
}
