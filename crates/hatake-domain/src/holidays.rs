//! Japanese national holidays (国民の祝日 and the 休日 the law adds to them), computed from the
//! rules of 国民の祝日に関する法律 rather than read from a list, so that they hold for years
//! nobody has typed in yet.
//!
//! For 2000–2099 this covers the named days with their changes over the years (Happy Monday
//! from 2000 and 2003, 昭和の日 from 2007, 山の日 from 2016, the move of 天皇誕生日 in 2019–2020),
//! 春分の日 and 秋分の日 by the usual approximation formula, 振替休日, 国民の休日, the special
//! days of 2019 (the enthronement) and the days moved for the Olympics in 2020 and 2021. The
//! equinox formula and the Cabinet's announcements can disagree in a far-off year; the
//! announcement (made each February for the next year) wins, and this module should follow it.
//!
//! Outside 2000–2099 only the fixed and Happy Monday days are reported (no equinoxes, 振替休日
//! or 国民の休日): an approximation that never panics.

use jiff::civil::{Date, Weekday};

/// The first and last year whose holidays are computed in full.
const FULL_YEARS: std::ops::RangeInclusive<i16> = 2000..=2099;

/// The holiday's Japanese name (`元日`, `振替休日`, `国民の休日`, …), or `None` on an ordinary
/// day.
pub fn holiday_name(date: Date) -> Option<&'static str> {
    if let Some(name) = national_holiday(date) {
        return Some(name);
    }
    if !FULL_YEARS.contains(&date.year()) {
        return None;
    }
    if is_substitute_holiday(date) {
        return Some("振替休日");
    }
    if is_citizens_holiday(date) {
        return Some("国民の休日");
    }
    None
}

/// Whether the date is a national holiday, a 振替休日 or a 国民の休日.
pub fn is_holiday(date: Date) -> bool {
    holiday_name(date).is_some()
}

/// Whether the date is a working day: Monday to Friday and not a holiday.
pub fn is_business_day(date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_holiday(date)
}

/// All the holidays of a year with their names, in date order.
pub fn holidays_in_year(year: i16) -> Vec<(Date, &'static str)> {
    let Ok(first) = Date::new(year, 1, 1) else { return Vec::new() };
    let mut holidays = Vec::new();
    let mut day = Some(first);
    while let Some(date) = day.filter(|d| d.year() == year) {
        if let Some(name) = holiday_name(date) {
            holidays.push((date, name));
        }
        day = date.tomorrow().ok();
    }
    holidays
}

/// A 国民の祝日 proper — a named day, or a day the law treats as one (the 2019 enthronement
/// days). 振替休日 and 国民の休日 are derived from these.
fn national_holiday(date: Date) -> Option<&'static str> {
    let year = date.year();
    let day = date.day();
    let full = FULL_YEARS.contains(&year);
    match date.month() {
        1 if day == 1 => Some("元日"),
        1 if nth_monday(date) == Some(2) => Some("成人の日"),
        2 if day == 11 => Some("建国記念の日"),
        2 if day == 23 && year >= 2020 => Some("天皇誕生日"),
        3 if full && day == vernal_equinox_day(year) => Some("春分の日"),
        4 if day == 29 => Some(if year >= 2007 { "昭和の日" } else { "みどりの日" }),
        5 if day == 1 && year == 2019 => Some("即位の日"),
        5 if day == 3 => Some("憲法記念日"),
        5 if day == 4 && year >= 2007 => Some("みどりの日"),
        5 if day == 5 => Some("こどもの日"),
        7 if is_marine_day(date) => Some("海の日"),
        7 if is_sports_day(date) => Some("スポーツの日"),
        8 if is_mountain_day(date) => Some("山の日"),
        9 if is_respect_for_aged_day(date) => Some("敬老の日"),
        9 if full && day == autumnal_equinox_day(year) => Some("秋分の日"),
        10 if is_sports_day(date) => Some(if year >= 2020 { "スポーツの日" } else { "体育の日" }),
        10 if day == 22 && year == 2019 => Some("即位礼正殿の儀"),
        11 if day == 3 => Some("文化の日"),
        11 if day == 23 => Some("勤労感謝の日"),
        12 if day == 23 && (1989..=2018).contains(&year) => Some("天皇誕生日"),
        _ => None,
    }
}

/// Which Monday of its month the date is (1 for the first), or `None` if it is no Monday.
fn nth_monday(date: Date) -> Option<i8> {
    (date.weekday() == Weekday::Monday).then(|| (date.day() - 1) / 7 + 1)
}

/// 海の日: 7/20 until 2002, then the third Monday of July; 7/23 in 2020 and 7/22 in 2021.
fn is_marine_day(date: Date) -> bool {
    match date.year() {
        2020 => date.month() == 7 && date.day() == 23,
        2021 => date.month() == 7 && date.day() == 22,
        year if year < 2003 => date.month() == 7 && date.day() == 20,
        _ => date.month() == 7 && nth_monday(date) == Some(3),
    }
}

/// 体育の日 / スポーツの日: the second Monday of October; 7/24 in 2020 and 7/23 in 2021.
fn is_sports_day(date: Date) -> bool {
    match date.year() {
        2020 => date.month() == 7 && date.day() == 24,
        2021 => date.month() == 7 && date.day() == 23,
        _ => date.month() == 10 && nth_monday(date) == Some(2),
    }
}

/// 山の日: 8/11 from 2016; 8/10 in 2020 and 8/8 in 2021.
fn is_mountain_day(date: Date) -> bool {
    let day = match date.year() {
        2020 => 10,
        2021 => 8,
        year if year >= 2016 => 11,
        _ => return false,
    };
    date.month() == 8 && date.day() == day
}

/// 敬老の日: 9/15 until 2002, then the third Monday of September.
fn is_respect_for_aged_day(date: Date) -> bool {
    if date.year() < 2003 {
        date.month() == 9 && date.day() == 15
    } else {
        date.month() == 9 && nth_monday(date) == Some(3)
    }
}

/// The day of March of 春分の日 by the approximation valid for 1980–2099.
fn vernal_equinox_day(year: i16) -> i8 {
    equinox_day(20_843_100, year)
}

/// The day of September of 秋分の日 by the approximation valid for 1980–2099.
fn autumnal_equinox_day(year: i16) -> i8 {
    equinox_day(23_248_800, year)
}

/// `floor(base + 0.242194 × (year − 1980) − floor((year − 1980) / 4))`, in millionths so that
/// it is exact; `base_millionths` is 20.8431 or 23.2488 times a million.
fn equinox_day(base_millionths: i64, year: i16) -> i8 {
    let years = i64::from(year) - 1980;
    let millionths = base_millionths + 242_194 * years - 1_000_000 * years.div_euclid(4);
    // Between 19 and 24 for every year the formula is meant for; 0 (no such day) otherwise.
    i8::try_from(millionths.div_euclid(1_000_000)).unwrap_or(0)
}

/// 振替休日: from 2007, when a national holiday falls on a Sunday the next day that is not a
/// national holiday is a holiday; before 2007, only the Monday after it (if not a holiday).
fn is_substitute_holiday(date: Date) -> bool {
    if national_holiday(date).is_some() {
        return false;
    }
    let mut previous = date.yesterday().ok();
    if date.year() < 2007 {
        return date.weekday() == Weekday::Monday && previous.is_some_and(|p| national_holiday(p).is_some());
    }
    // Walk back over the run of national holidays right before the date, looking for a Sunday.
    while let Some(day) = previous.filter(|d| national_holiday(*d).is_some()) {
        if day.weekday() == Weekday::Sunday {
            return true;
        }
        previous = day.yesterday().ok();
    }
    false
}

/// 国民の休日: a day that is not a national holiday (nor a Sunday, as the law said until 2006;
/// after 2006 such a day can fall only on a Tuesday) but whose day before and day after both
/// are national holidays.
fn is_citizens_holiday(date: Date) -> bool {
    date.weekday() != Weekday::Sunday
        && national_holiday(date).is_none()
        && date.yesterday().ok().and_then(national_holiday).is_some()
        && date.tomorrow().ok().and_then(national_holiday).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn name(y: i16, m: i8, d: i8) -> Option<&'static str> {
        holiday_name(date(y, m, d))
    }

    #[test]
    fn holidays_of_2024_follow_the_rules() {
        let cases: &[(i8, i8, &str)] = &[
            (1, 1, "元日"),
            (1, 8, "成人の日"),      // the second Monday
            (2, 11, "建国記念の日"), // a Sunday …
            (2, 12, "振替休日"),     // … moves to Monday
            (2, 23, "天皇誕生日"),
            (3, 20, "春分の日"), // floor(20.8431 + 0.242194 × 44 − 11) = 20
            (4, 29, "昭和の日"),
            (5, 3, "憲法記念日"),
            (5, 4, "みどりの日"),
            (5, 5, "こどもの日"), // a Sunday; 5/6 is the next day that is no holiday
            (5, 6, "振替休日"),
            (7, 15, "海の日"), // the third Monday
            (8, 11, "山の日"), // a Sunday
            (8, 12, "振替休日"),
            (9, 16, "敬老の日"), // the third Monday
            (9, 22, "秋分の日"), // floor(23.2488 + 0.242194 × 44 − 11) = 22, a Sunday
            (9, 23, "振替休日"),
            (10, 14, "スポーツの日"), // the second Monday
            (11, 3, "文化の日"),      // a Sunday
            (11, 4, "振替休日"),
            (11, 23, "勤労感謝の日"),
        ];
        for (m, d, expected) in cases {
            assert_eq!(name(2024, *m, *d), Some(*expected), "2024-{m}-{d}");
        }
        let all = holidays_in_year(2024);
        assert_eq!(all.len(), 21);
        let listed: Vec<Date> = cases.iter().map(|(m, d, _)| date(2024, *m, *d)).collect();
        assert_eq!(all.iter().map(|(d, _)| *d).collect::<Vec<_>>(), listed);
    }

    #[test]
    fn ordinary_days_are_no_holidays() {
        for (y, m, d) in [
            (2024, 1, 2),   // New Year's days off are a custom, not the law
            (2024, 1, 15),  // the third Monday
            (2024, 7, 22),  // the fourth Monday
            (2024, 12, 23), // 天皇誕生日 until 2018 only
            (2019, 12, 23), // no 天皇誕生日 in 2019 at all …
            (2019, 2, 23),  // … on either date
            (2015, 8, 11),  // 山の日 from 2016
            (2020, 10, 12), // スポーツの日 moved to July in 2020
            (2020, 7, 20),  // 海の日 moved
            (2020, 8, 11),  // 山の日 moved
            (2021, 8, 11),
            (2021, 10, 11),
            (2021, 7, 19),
            (2026, 11, 24), // a Tuesday after a Monday holiday
        ] {
            assert_eq!(name(y, m, d), None, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn citizens_holiday_between_two_holidays() {
        // 敬老の日 (third Monday) and 秋分の日 two days later leave the Tuesday in between.
        assert_eq!(name(2026, 9, 21), Some("敬老の日"));
        assert_eq!(name(2026, 9, 22), Some("国民の休日"));
        assert_eq!(name(2026, 9, 23), Some("秋分の日"));
        assert_eq!(name(2015, 9, 21), Some("敬老の日"));
        assert_eq!(name(2015, 9, 22), Some("国民の休日"));
        assert_eq!(name(2015, 9, 23), Some("秋分の日"));
        assert_eq!(name(2009, 9, 22), Some("国民の休日"));
        // Until 2006 5/4 was no named day, only a 休日 between 憲法記念日 and こどもの日.
        assert_eq!(name(2006, 4, 29), Some("みどりの日"));
        assert_eq!(name(2006, 5, 4), Some("国民の休日"));
        assert_eq!(name(2007, 4, 29), Some("昭和の日"));
        assert_eq!(name(2007, 5, 4), Some("みどりの日"));
    }

    #[test]
    fn special_days_of_2019() {
        assert_eq!(name(2019, 4, 29), Some("昭和の日"));
        assert_eq!(name(2019, 4, 30), Some("国民の休日"));
        assert_eq!(name(2019, 5, 1), Some("即位の日"));
        assert_eq!(name(2019, 5, 2), Some("国民の休日"));
        assert_eq!(name(2019, 5, 5), Some("こどもの日")); // a Sunday
        assert_eq!(name(2019, 5, 6), Some("振替休日"));
        assert_eq!(name(2019, 10, 14), Some("体育の日"));
        assert_eq!(name(2019, 10, 22), Some("即位礼正殿の儀"));
        // Ten days off in a row.
        let mut day = date(2019, 4, 27);
        for _ in 0..10 {
            assert!(!is_business_day(day), "{day}");
            day = day.tomorrow().unwrap();
        }
        assert!(is_business_day(day), "{day}");
        assert_eq!(holidays_in_year(2019).len(), 22);
    }

    #[test]
    fn olympic_years_moved_their_days() {
        assert_eq!(name(2020, 2, 23), Some("天皇誕生日")); // a Sunday
        assert_eq!(name(2020, 2, 24), Some("振替休日"));
        // 5/3 is a Sunday; 5/4 and 5/5 are holidays themselves, so the Wednesday is the day off.
        assert_eq!(name(2020, 5, 6), Some("振替休日"));
        assert_eq!(name(2020, 7, 23), Some("海の日"));
        assert_eq!(name(2020, 7, 24), Some("スポーツの日"));
        assert_eq!(name(2020, 8, 10), Some("山の日"));
        assert_eq!(holidays_in_year(2020).len(), 18);
        assert_eq!(name(2021, 7, 22), Some("海の日"));
        assert_eq!(name(2021, 7, 23), Some("スポーツの日"));
        assert_eq!(name(2021, 8, 8), Some("山の日")); // a Sunday
        assert_eq!(name(2021, 8, 9), Some("振替休日"));
        assert_eq!(holidays_in_year(2021).len(), 17);
        assert_eq!(name(2022, 7, 18), Some("海の日"));
        assert_eq!(name(2022, 10, 10), Some("スポーツの日"));
    }

    #[test]
    fn happy_monday_started_in_2000_and_2003() {
        assert_eq!(name(2000, 1, 10), Some("成人の日"));
        assert_eq!(name(2000, 10, 9), Some("体育の日"));
        assert_eq!(name(2002, 7, 20), Some("海の日"));
        assert_eq!(name(2002, 9, 15), Some("敬老の日")); // a Sunday: the old rule gives Monday
        assert_eq!(name(2002, 9, 16), Some("振替休日"));
        assert_eq!(name(2003, 7, 21), Some("海の日"));
        assert_eq!(name(2003, 9, 15), Some("敬老の日"));
    }

    #[test]
    fn substitute_holiday_rules_before_and_after_2007() {
        // 2008-05-06: 5/4 a Sunday, the next day that is no holiday is the Tuesday after こどもの日.
        assert_eq!(name(2008, 5, 4), Some("みどりの日"));
        assert_eq!(name(2008, 5, 6), Some("振替休日"));
        // 2018-12-23 天皇誕生日 on a Sunday.
        assert_eq!(name(2018, 12, 24), Some("振替休日"));
        // 2023-01-01 on a Sunday, 2017-01-02 as well.
        assert_eq!(name(2023, 1, 2), Some("振替休日"));
        assert_eq!(name(2017, 1, 2), Some("振替休日"));
    }

    #[test]
    fn equinoxes_by_the_formula() {
        let cases: &[(i16, i8, i8)] =
            &[(2000, 20, 23), (2012, 20, 22), (2020, 20, 22), (2023, 21, 23), (2025, 20, 23), (2026, 20, 23)];
        for (year, spring, autumn) in cases {
            assert_eq!(name(*year, 3, *spring), Some("春分の日"), "{year}");
            assert_eq!(name(*year, 9, *autumn), Some("秋分の日"), "{year}");
        }
        // The formula stays within March 19–21 and September 21–24 for the whole range.
        for year in FULL_YEARS {
            assert!((19..=21).contains(&vernal_equinox_day(year)), "{year}");
            assert!((21..=24).contains(&autumnal_equinox_day(year)), "{year}");
        }
    }

    #[test]
    fn derived_days_satisfy_their_definitions() {
        for year in FULL_YEARS {
            let holidays = holidays_in_year(year);
            assert!((15..=23).contains(&holidays.len()), "{year}: {}", holidays.len());
            for (day, name) in holidays {
                let before = day.yesterday().unwrap();
                match name {
                    "振替休日" => {
                        assert!(national_holiday(before).is_some(), "{day}");
                        assert_ne!(day.weekday(), Weekday::Sunday, "{day}");
                    }
                    "国民の休日" => {
                        assert!(national_holiday(before).is_some(), "{day}");
                        assert!(national_holiday(day.tomorrow().unwrap()).is_some(), "{day}");
                    }
                    _ => {}
                }
            }
            // Every national holiday on a Sunday has its 振替休日 within the next four days.
            for (day, _) in holidays_in_year(year) {
                if day.weekday() == Weekday::Sunday && national_holiday(day).is_some() {
                    let mut next = day;
                    let found = (0..4).any(|_| {
                        next = next.tomorrow().unwrap();
                        holiday_name(next) == Some("振替休日")
                    });
                    assert!(found, "{day}");
                }
            }
        }
    }

    #[test]
    fn business_days() {
        assert!(is_business_day(date(2026, 11, 20))); // Friday
        assert!(!is_business_day(date(2026, 11, 21))); // Saturday
        assert!(!is_business_day(date(2026, 11, 22))); // Sunday
        assert!(!is_business_day(date(2026, 11, 23))); // 勤労感謝の日, a Monday
        assert!(is_business_day(date(2026, 11, 24)));
        assert!(!is_business_day(date(2026, 9, 22))); // 国民の休日
    }

    #[test]
    fn years_outside_the_range_only_have_fixed_and_monday_days() {
        assert_eq!(name(1999, 1, 1), Some("元日"));
        assert_eq!(name(2100, 11, 3), Some("文化の日"));
        assert_eq!(name(2100, 1, 11), Some("成人の日"));
        assert_eq!(name(2100, 3, 20), None);
        assert_eq!(name(2100, 3, 21), None);
        // 2101-01-01 is a Saturday; 2102-01-01 a Sunday, with no 振替休日 computed.
        assert_eq!(name(2102, 1, 2), None);
        assert_eq!(name(-9999, 1, 1), Some("元日"));
        assert_eq!(name(9999, 12, 31), None);
        assert!(holidays_in_year(9999).len() > 5);
        assert!(holidays_in_year(-9999).len() > 5);
    }
}
