//! Reading speed of the streaming reader on a generated 200,000-row, 10-column UTF-8 CSV, with
//! the csv crate's `StringRecord` reader on the same text as the baseline.
//!
//! Run with `cargo run --release -p hatake-csv --example read_speed`.

use hatake_csv::RowReader;
use std::time::{Duration, Instant};

const ROWS: usize = 200_000;
const RUNS: usize = 5;

fn main() {
    let text = generate(ROWS);
    let megabytes = text.len() as f64 / 1_000_000.0;
    println!("{ROWS} rows x 10 columns, {megabytes:.1} MB of UTF-8; best of {RUNS} runs");

    let (elapsed, checksum) = best(|| {
        let mut checksum = 0usize;
        let stats = RowReader::new(&text)
            .expect("header")
            .for_each_row(|row| checksum += row.get(0).len() + row.get(9).len())
            .expect("no syntax errors");
        assert_eq!(stats.rows, ROWS);
        checksum
    });
    report("hatake-csv RowReader", elapsed, megabytes);

    let (baseline, baseline_checksum) = best(|| {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        let mut record = csv::StringRecord::new();
        let (mut rows, mut checksum) = (0usize, 0usize);
        while reader.read_record(&mut record).expect("valid csv") {
            rows += 1;
            checksum += record[0].trim().len() + record[9].trim().len();
        }
        assert_eq!(rows, ROWS);
        checksum
    });
    report("baseline: csv::StringRecord (reused, trimmed)", baseline, megabytes);
    assert_eq!(checksum, baseline_checksum, "both readers see the same fields");
}

fn best(mut run: impl FnMut() -> usize) -> (Duration, usize) {
    let mut fastest = Duration::MAX;
    let mut result = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        result = std::hint::black_box(run());
        fastest = fastest.min(start.elapsed());
    }
    (fastest, result)
}

fn report(name: &str, elapsed: Duration, megabytes: f64) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{name:<46} {:>8.1} ms {:>12.0} rows/s {:>8.1} MB/s",
        seconds * 1000.0,
        ROWS as f64 / seconds,
        megabytes / seconds
    );
}

/// A lead list like an exhibition export: every tenth note is quoted and spans two lines.
fn generate(rows: usize) -> String {
    let companies = ["株式会社はたけ商事", "有限会社みどり木工", "合同会社ソラノ工房", "株式会社ＫＯＭＯＲＥＢＩラボ"];
    let people = ["山田 太郎", "佐藤 花子", "髙橋 﨑子", "鈴木 一郎"];
    let mut text = String::with_capacity(rows * 160);
    text.push_str("会社名,部署,役職,氏名,フリガナ,メールアドレス,電話番号,郵便番号,住所,備考\r\n");
    for n in 0..rows {
        let note = if n % 10 == 0 {
            format!("\"展示会で名刺交換, {n}\r\n資料送付済み\"")
        } else {
            format!("メモ{n}")
        };
        text.push_str(&format!(
            "{},営業部,課長,{},ヤマダ タロウ,user{n}@example.co.jp,03-1234-{:04},100-0005,東京都千代田区丸の内1-2-3,{note}\r\n",
            companies[n % companies.len()],
            people[n % people.len()],
            n % 10_000,
        ));
    }
    text
}
