//! The real `hatake import` commands in a temp directory: a Shift_JIS lead file with one person
//! spelt two ways, a bad e-mail and a short row; importing it again; the dry run; refused input
//! that must leave the stored imports as they were; undo; the company master and the links of
//! leads to it; and the lead import with its undo on PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

const HEADERS: [&str; 8] = ["会社名", "部署", "役職", "氏名", "フリガナ", "メールアドレス", "電話番号", "住所"];

/// The lead file's data rows (lines 2 to 6). Lines 2 and 3 are one person: 株式会社 / (株),
/// the e-mail in another case, the phone in full-width digits, and a new title. Line 5 has a bad
/// e-mail and line 6 is short.
const ROWS: [&[&str]; 5] = [
    &[
        "株式会社はたけ商事",
        "営業部",
        "主任",
        "山田 太郎",
        "ヤマダ タロウ",
        "taro.yamada@hatake-shoji.co.jp",
        "03-1234-5678",
        "東京都千代田区丸の内1-2-3",
    ],
    &[
        "(株)はたけ商事",
        "営業部",
        "課長",
        "山田 太郎",
        "ヤマダ タロウ",
        "Taro.Yamada@hatake-shoji.co.jp",
        "０３－１２３４－５６７８",
        "東京都千代田区丸の内１－２－３",
    ],
    &[
        "有限会社みどり木工",
        "総務部",
        "部長",
        "佐藤 花子",
        "サトウ ハナコ",
        "hanako@midori-mokko.jp",
        "0263-12-3456",
        "長野県松本市中央2-5-8",
    ],
    &[
        "合同会社ソラノ工房",
        "開発部",
        "",
        "鈴木 一郎",
        "スズキ イチロウ",
        "suzuki@@example",
        "092-111-2222",
        "福岡県福岡市中央区天神4-1-17",
    ],
    &["株式会社短い行", "営業部"],
];

/// What the first import of the lead file prints, after "import N: 5 rows in X s — ".
const FIRST_COUNTS: &str = "2 created, 1 merged, 0 unchanged, 0 to review, 2 rejected";

fn hatake() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hatake"));
    command.env_remove("HATAKE_DATABASE_URL").env_remove("HATAKE_DATA_DIR").env_remove("HATAKE_CONFIG");
    command.env("HATAKE_LOG", "warn");
    command
}

/// One run of the binary.
struct Run {
    ok: bool,
    out: String,
    err: String,
}

fn run(args: &[&str]) -> Run {
    let output = hatake().args(args).output().expect("hatake runs");
    Run {
        ok: output.status.success(),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A run that must succeed.
fn run_ok(args: &[&str]) -> Run {
    let run = run(args);
    assert!(run.ok, "{args:?} failed:\n{}\n{}", run.out, run.err);
    run
}

/// A run that must fail; returns its stderr.
fn run_fails(args: &[&str]) -> String {
    let run = run(args);
    assert!(!run.ok, "{args:?} succeeded:\n{}\n{}", run.out, run.err);
    run.err
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// Writes the lead file as CP932 bytes, as Excel in Japan saves "CSV (コンマ区切り)".
fn write_shift_jis_leads(dir: &Path) -> PathBuf {
    let mut writer = hatake_csv::CsvWriter::new(&HEADERS, hatake_csv::ExportEncoding::Cp932);
    for row in ROWS {
        writer.write_row(row.iter().copied());
    }
    let export = writer.finish();
    assert_eq!(export.unmappable, 0, "every character fits CP932");
    assert!(std::str::from_utf8(&export.bytes).is_err(), "the file is not UTF-8");
    let path = dir.join("展示会リスト.csv");
    std::fs::write(&path, export.bytes).unwrap();
    path
}

/// The id in a summary line "import N: …" or "import N (…): …".
fn import_id(summary: &str) -> String {
    let rest = summary.strip_prefix("import ").unwrap_or_else(|| panic!("no summary: {summary}"));
    rest.chars().take_while(char::is_ascii_digit).collect()
}

/// `hatake import list` with the given store flags.
fn import_list(store: &[&str]) -> String {
    let mut args = vec!["import", "list"];
    args.extend_from_slice(store);
    run_ok(&args).out
}

/// Imports the lead file from the 展示会 and checks the summary; returns the run.
fn import_leads_from_the_fair(file: &Path, store: &[&str]) -> Run {
    let mut args = vec!["import", "leads", text(file), "--source", "展示会"];
    args.extend_from_slice(store);
    let first = run_ok(&args);
    assert!(first.out.starts_with("import ") && first.out.contains(": 5 rows in "), "{}", first.out);
    assert!(first.out.contains(FIRST_COUNTS), "{}", first.out);
    first
}

#[test]
fn shift_jis_lead_file_merges_one_person_and_rejects_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ["--data-dir", text(&data)];
    let file = write_shift_jis_leads(dir.path());
    let rejects = dir.path().join("rejects.csv");
    let mut args = vec!["import", "leads", text(&file), "--source", "展示会", "--rejects", text(&rejects)];
    args.extend_from_slice(&store);
    let output = hatake().args(&args).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let out = String::from_utf8(output.stdout).unwrap();
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(out.starts_with("import 1: 5 rows in "), "{out}");
    assert!(out.contains(FIRST_COUNTS), "{out}");
    assert!(out.contains("  line 5: email: Not a valid e-mail address: suzuki@@example"), "{out}");
    assert!(out.contains("  line 6: row: Wrong number of columns: expected 8, got 2"), "{out}");
    assert!(out.contains(&format!("rejected rows written to {}", rejects.display())), "{out}");
    assert!(err.contains("encoding: Shift_JIS (CP932) (0 undecodable characters)"), "{err}");
    assert!(!err.contains("imported before"), "{err}");

    let bytes = std::fs::read(&rejects).unwrap();
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").expect("the rejected rows start with a UTF-8 BOM");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(body);
    let records: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    assert_eq!(records.len(), 3, "{records:?}");
    let mut header = vec!["行 line".to_owned(), "理由 reason".to_owned()];
    header.extend(HEADERS.iter().map(|h| (*h).to_owned()));
    assert_eq!(records[0], header);
    let bad_email = &records[1];
    assert_eq!(bad_email[0], "5");
    assert!(bad_email[1].starts_with("email: ") && bad_email[1].contains("suzuki@@example"), "{bad_email:?}");
    assert_eq!(bad_email[2..], ROWS[3].iter().map(|f| (*f).to_owned()).collect::<Vec<_>>()[..]);
    let short = &records[2];
    assert_eq!(short[0], "6");
    assert!(short[1].contains("Wrong number of columns: expected 8, got 2"), "{short:?}");
    assert_eq!(short[2..4], ["株式会社短い行".to_owned(), "営業部".to_owned()]);
    assert!(short[4..].iter().all(String::is_empty), "{short:?}");

    let list = import_list(&store);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 1, "{list}");
    let fields: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(fields[..4], ["1", "done", "展示会リスト.csv", "5"], "{list}");
    assert!(lines[0].contains("2 created, 1 merged, 0 unchanged, 0 review, 2 rejected"), "{list}");
}

#[test]
fn importing_the_same_file_again_is_noted_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ["--data-dir", text(&data)];
    let file = write_shift_jis_leads(dir.path());
    import_leads_from_the_fair(&file, &store);
    let mut args = vec!["import", "leads", text(&file), "--source", "展示会"];
    args.extend_from_slice(&store);
    let again = run_ok(&args);
    assert!(
        again.err.contains(
            "note: this file was imported before as import 1 (done, 5 rows); importing it again changes nothing"
        ),
        "{}",
        again.err
    );
    assert!(again.out.starts_with("import 2: 5 rows in "), "{}", again.out);
    assert!(again.out.contains("0 created, 0 merged, 3 unchanged, 0 to review, 2 rejected"), "{}", again.out);
    // Without --rejects no file is promised.
    assert!(!again.out.contains("rejected rows written"), "{}", again.out);
    let list = import_list(&store);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].trim_start().starts_with("2  done") && lines[0].contains("0 created, 0 merged"), "{list}");
    assert!(lines[1].trim_start().starts_with("1  done") && lines[1].contains("2 created, 1 merged"), "{list}");
}

#[test]
fn dry_run_shows_encoding_and_mapping_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ["--data-dir", text(&data)];
    let file = write_shift_jis_leads(dir.path());
    let mut args = vec!["import", "leads", text(&file), "--dry-run"];
    args.extend_from_slice(&store);
    let dry = run_ok(&args);
    assert!(dry.err.contains("encoding: Shift_JIS (CP932) (0 undecodable characters)"), "{}", dry.err);
    assert!(!data.join("hatake.db").exists(), "a dry run on a new data directory creates no database");
    assert!(dry.err.contains("holds no database yet"), "{}", dry.err);
    let mapping = [
        ("会社名", "company_name"),
        ("部署", "department"),
        ("役職", "title"),
        ("氏名", "full_name"),
        ("フリガナ", "full_name_kana"),
        ("メールアドレス", "email"),
        ("電話番号", "phone"),
        ("住所", "address"),
    ];
    for (header, key) in mapping {
        assert!(dry.err.contains(&format!("  {header} → {key}\n")), "{header}: {}", dry.err);
    }
    for line in [
        "line 2: ok (山田 太郎)",
        "line 3: ok (山田 太郎)",
        "line 4: ok (佐藤 花子)",
        "line 5: email: Not a valid e-mail address: suzuki@@example",
        "line 6: row: Wrong number of columns: expected 8, got 2",
        "5 data rows; nothing was written (--dry-run)",
    ] {
        assert!(dry.err.contains(line), "{line}: {}", dry.err);
    }
    assert!(!dry.out.contains("created"), "{}", dry.out);
    assert_eq!(import_list(&store), "", "a dry run records no import");

    // After a real import, a dry run still adds nothing and says the file is known.
    import_leads_from_the_fair(&file, &store);
    let before = import_list(&store);
    let dry = run_ok(&args);
    assert!(dry.err.contains("note: this file was imported before as import 1"), "{}", dry.err);
    assert_eq!(import_list(&store), before);
}

#[test]
fn bad_input_is_refused_and_leaves_the_imports_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ["--data-dir", text(&data)];
    let file = write_shift_jis_leads(dir.path());
    let first = import_leads_from_the_fair(&file, &store);
    let id = import_id(&first.out);
    let before = import_list(&store);
    let with_store = |args: &[&str]| -> Vec<String> { args.iter().chain(&store).map(|a| (*a).to_owned()).collect() };
    let check = |args: &[&str], expected: &[&str]| {
        let args = with_store(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = run_fails(&args);
        for part in expected {
            assert!(err.contains(part), "{args:?}: expected {part:?} in\n{err}");
        }
        assert_eq!(import_list(&store), before, "{args:?} changed the stored imports");
    };

    let missing = dir.path().join("ない.csv");
    check(&["import", "leads", text(&missing)], &[text(&missing)]);
    check(&["import", "leads", text(&file), "--encoding", "latin9"], &["--encoding", "latin9"]);
    let unknown_key = "company_name,department,title,full_name,furigana,email,phone,address";
    check(&["import", "leads", text(&file), "--mapping", unknown_key], &["--mapping", "Column 5", "furigana"]);
    check(
        &["import", "leads", text(&file), "--mapping", "company_name,department"],
        &["--mapping", "The mapping covers 2 columns but the file has 8"],
    );
    check(&["import", "leads", text(&file), "--product", "nope"], &["--product", "nope"]);
    check(&["import", "undo", "999"], &["there is no import 999"]);
    check(&["import", "companies", text(&missing)], &[text(&missing)]);

    // Undo once, then again: the second is refused and changes nothing more. The first undo
    // finds just the two people of the import, so the refused commands wrote no leads either.
    let undo = with_store(&["import", "undo", &id]);
    let undo: Vec<&str> = undo.iter().map(String::as_str).collect();
    assert_eq!(run_ok(&undo).out, format!("import {id} undone: 2 removed, 0 restored (leads)\n"));
    let undone = import_list(&store);
    assert_ne!(undone, before);
    let err = run_fails(&undo);
    assert!(err.contains(&format!("import {id} is not finished or was already undone")), "{err}");
    assert_eq!(import_list(&store), undone);
}

#[test]
fn undo_removes_created_leads_and_restores_merged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ["--data-dir", text(&data)];
    let file = write_shift_jis_leads(dir.path());

    // Undo of the first import: both people it created go.
    let first = import_leads_from_the_fair(&file, &store);
    let id = import_id(&first.out);
    let mut args = vec!["import", "undo", &id];
    args.extend_from_slice(&store);
    let undo = run_ok(&args);
    assert_eq!(undo.out, format!("import {id} undone: 2 removed, 0 restored (leads)\n"));
    let list = import_list(&store);
    assert!(list.lines().next().unwrap().split_whitespace().take(2).eq([id.as_str(), "undone"]), "{list}");

    // Import it again, then a second file from a seminar that updates 山田 and adds 田中. Its
    // undo removes 田中 and puts 山田 back as he was.
    let again = import_leads_from_the_fair(&file, &store);
    let seminar = dir.path().join("seminar.csv");
    std::fs::write(
        &seminar,
        "会社名,氏名,メールアドレス,役職,住所\n\
         株式会社はたけ商事,山田 太郎,taro.yamada@hatake-shoji.co.jp,部長,東京都千代田区丸の内1-2-3\n\
         株式会社あたらしい,田中 次郎,jiro@atarashii.co.jp,,東京都港区芝公園4-2-8\n",
    )
    .unwrap();
    let mut args = vec!["import", "leads", text(&seminar), "--source", "セミナー"];
    args.extend_from_slice(&store);
    let second = run_ok(&args);
    assert!(second.err.contains("encoding: UTF-8 (0 undecodable characters)"), "{}", second.err);
    assert!(second.out.contains("2 rows in"), "{}", second.out);
    assert!(second.out.contains("1 created, 1 merged, 0 unchanged, 0 to review, 0 rejected"), "{}", second.out);
    let second_id = import_id(&second.out);
    let mut args = vec!["import", "undo", &second_id];
    args.extend_from_slice(&store);
    let undo = run_ok(&args);
    assert_eq!(undo.out, format!("import {second_id} undone: 1 removed, 1 restored (leads)\n"));
    let list = import_list(&store);
    let statuses: Vec<(String, String)> = list
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            (words.next().unwrap().to_owned(), words.next().unwrap().to_owned())
        })
        .collect();
    let again_id = import_id(&again.out);
    assert_eq!(
        statuses,
        [(second_id, "undone".to_owned()), (again_id, "done".to_owned()), (id, "undone".to_owned())],
        "{list}"
    );
}

#[test]
fn company_master_import_links_leads_already_stored_and_those_imported_later() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = ["--data-dir", text(&data)];
    let corporate =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../hatake-csv/tests/fixtures/corporate_sample_utf8.csv");
    let companies = |expect_created: &str| -> Run {
        let mut args = vec!["import", "companies", text(&corporate)];
        args.extend_from_slice(&store);
        let run = run_ok(&args);
        assert!(run.out.contains("(corporate-number bulk file): 9 rows in "), "{}", run.out);
        assert!(run.out.contains(expect_created), "{}", run.out);
        run
    };

    // Leads stored before the company master are linked when it arrives: はたけ商事 and
    // みどり木工 are in the sample, the third company is not.
    let file = write_shift_jis_leads(dir.path());
    import_leads_from_the_fair(&file, &store);
    let first = companies(
        "6 companies created, 0 updated, 3 unchanged or skipped (history rows, closed companies), 0 rejected",
    );
    assert!(
        first.out.contains("leads linked to companies: 2 linked, 0 to review, 0 without a company of that name"),
        "{}",
        first.out
    );

    // A lead imported once the master is there is linked during its import: running the
    // company import again finds only the lead whose company the master does not know.
    let later = dir.path().join("later.csv");
    std::fs::write(
        &later,
        "会社名,氏名,メールアドレス,住所\n\
         株式会社はたけ商事,高橋 三郎,saburo.takahashi@hatake-shoji.co.jp,東京都千代田区丸の内1-2-3\n\
         株式会社どこにもない,田中 次郎,jiro@dokonimo.co.jp,東京都港区芝公園4-2-8\n",
    )
    .unwrap();
    let mut args = vec!["import", "leads", text(&later)];
    args.extend_from_slice(&store);
    let imported = run_ok(&args);
    assert!(imported.out.contains("2 created, 0 merged, 0 unchanged, 0 to review, 0 rejected"), "{}", imported.out);
    assert!(
        imported.out.contains("new leads linked to companies: 1 linked, 0 with a company question"),
        "the lead import says it linked はたけ商事's person: {}",
        imported.out
    );
    let again = companies("0 companies created, 0 updated, 9 unchanged or skipped");
    assert!(
        again.out.contains("leads linked to companies: 0 linked, 0 to review, 1 without a company of that name"),
        "{}",
        again.out
    );

    let list = import_list(&store);
    let names: Vec<&str> = list.lines().map(|l| l.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(
        names,
        ["corporate_sample_utf8.csv", "later.csv", "corporate_sample_utf8.csv", "展示会リスト.csv"],
        "{list}"
    );
    assert!(list.lines().all(|l| l.split_whitespace().nth(1) == Some("done")), "{list}");
}

#[test]
fn lead_import_and_undo_on_postgres() {
    let url = hatake_testkit::PgCluster::shared().fresh_database();
    let store = ["--database-url", url.as_str()];
    let dir = tempfile::tempdir().unwrap();
    let file = write_shift_jis_leads(dir.path());
    let rejects = dir.path().join("rejects.csv");
    let mut args = vec!["import", "leads", text(&file), "--source", "展示会", "--rejects", text(&rejects)];
    args.extend_from_slice(&store);
    let first = run_ok(&args);
    assert!(first.out.contains(FIRST_COUNTS), "{}", first.out);
    assert!(std::fs::read(&rejects).unwrap().starts_with("\u{feff}行 line,理由 reason,会社名".as_bytes()));
    let id = import_id(&first.out);

    let mut args = vec!["import", "leads", text(&file), "--source", "展示会"];
    args.extend_from_slice(&store);
    let again = run_ok(&args);
    assert!(again.err.contains(&format!("imported before as import {id}")), "{}", again.err);
    assert!(again.out.contains("0 created, 0 merged, 3 unchanged, 0 to review, 2 rejected"), "{}", again.out);

    let list = import_list(&store);
    assert_eq!(list.lines().count(), 2, "{list}");
    let mut args = vec!["import", "undo", &id];
    args.extend_from_slice(&store);
    let undo = run_ok(&args);
    assert_eq!(undo.out, format!("import {id} undone: 2 removed, 0 restored (leads)\n"));
    let list = import_list(&store);
    let first_line = list.lines().find(|l| l.split_whitespace().next() == Some(id.as_str())).unwrap();
    assert_eq!(first_line.split_whitespace().nth(1), Some("undone"), "{list}");
    let err = run_fails(&args);
    assert!(err.contains("already undone"), "{err}");
    let mut args = vec!["import", "undo", "999"];
    args.extend_from_slice(&store);
    assert!(run_fails(&args).contains("there is no import 999"));
    assert_eq!(import_list(&store), list);
}

#[test]
fn an_exhibition_list_records_a_visit_for_each_person() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_shift_jis_leads(dir.path());
    let data = dir.path().join("data");
    let store = ["--data-dir", text(&data)];
    // A wrong event is refused before anything is read into the store: each flag named.
    let mut wrong = vec!["import", "leads", text(&file), "--event", "page_view", "--event-date", "昨日"];
    wrong.extend_from_slice(&store);
    let err = run_fails(&wrong);
    for flag in ["--event:", "--event-name:", "--event-date:"] {
        assert!(err.contains(flag), "{flag} missing from: {err}");
    }
    assert!(err.contains("Write the day as 2026-11-20"), "{err}");
    assert!(!data.join(hatake_sqlite::DATABASE_FILE).exists() || import_list(&store).trim().is_empty());

    let mut args = vec![
        "import",
        "leads",
        text(&file),
        "--event",
        "exhibition_visit",
        "--event-name",
        "ものづくり展2026",
        "--event-date",
        "2026-10-07",
    ];
    args.extend_from_slice(&store);
    let done = run_ok(&args);
    // Three rows name a person, two of them the same one: one visit each; the two rejected
    // rows get nothing.
    assert!(done.out.contains("events recorded: 2 × exhibition_visit 「ものづくり展2026」"), "{}", done.out);
}

/// Imports a generated card file of about 32,000 rows with an exhibition visit per person,
/// kills the process (`kill -9`) once some batches are written, and resumes the import with
/// the same file: it takes the rows it had not, every row of the file ends with one outcome,
/// and the visit is recorded once per person.
async fn a_killed_import_resumes(store_args: &[&str], store: std::sync::Arc<dyn hatake_store::Store>) {
    use hatake::demo_data::cards::{generate_cards, CardOptions};
    let dir = tempfile::tempdir().unwrap();
    let set = generate_cards(CardOptions { seed: 21, people: 20_000, repeats: 0.6 });
    let rows = set.rows.len();
    let file = dir.path().join("cards.csv");
    std::fs::write(&file, set.csv()).unwrap();
    let event = ["--event", "exhibition_visit", "--event-name", "ものづくり展2026", "--event-date", "2026-10-07"];
    let mut child = hatake()
        .args(["import", "leads", text(&file)])
        .args(event)
        .args(store_args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("hatake runs");
    let started = std::time::Instant::now();
    loop {
        if let Ok(import) = store.get_import(1).await {
            if import.total_rows > 0 {
                break;
            }
        }
        assert!(child.try_wait().expect("status").is_none(), "the import ended before it could be killed");
        assert!(started.elapsed().as_secs() < 120, "no batch was written within two minutes");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    child.kill().expect("kill -9"); // SIGKILL: no shutdown, nothing flushed
    child.wait().expect("reaped");
    let stopped = store.get_import(1).await.expect("import");
    assert_eq!(stopped.status, "running", "a killed import is left running");
    assert!(stopped.total_rows < i64::try_from(rows).unwrap(), "killed half-way: {stopped:?}");

    // Its progress is too recent to take it for stopped without --force.
    let mut args = vec!["import", "resume", "1", text(&file)];
    args.extend_from_slice(store_args);
    let err = run_fails(&args);
    assert!(err.contains("still making progress"), "{err}");
    // Another file is not taken for it.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "氏名\n山田 太郎\n").unwrap();
    let mut args = vec!["import", "resume", "1", text(&other), "--force"];
    args.extend_from_slice(store_args);
    assert!(run_fails(&args).contains("choose the same file"));

    let mut args = vec!["import", "resume", "1", text(&file), "--force"];
    args.extend_from_slice(store_args);
    let resumed = run_ok(&args);
    assert!(resumed.out.starts_with(&format!("import 1: {rows} rows")), "{rows} rows:\n{}", resumed.out);
    let done = store.get_import(1).await.expect("import");
    assert_eq!((done.status.as_str(), done.settled_rows), ("done", done.total_rows));
    let lines = store.import_lines(1).await.expect("lines");
    let rejects = store.import_rejects(1).await.expect("rejects");
    let mut outcomes = vec![0u32; rows];
    for line in lines.iter().map(|l| l.0).chain(rejects.iter().map(|r| r.line)) {
        outcomes[usize::try_from(line - 2).unwrap()] += 1;
    }
    let wrong: Vec<usize> =
        outcomes.iter().enumerate().filter(|(_, n)| **n != 1).map(|(i, _)| i + 2).take(10).collect();
    assert!(wrong.is_empty(), "lines without exactly one outcome: {wrong:?}");
    // One visit per person, none lost at the kill, none twice after the resume.
    let mut people: Vec<i64> = lines.iter().map(|l| l.1).collect();
    people.sort_unstable();
    people.dedup();
    assert_eq!(done.event_rows, i64::try_from(people.len()).unwrap(), "{done:?}");
    let query = hatake_store::EventQuery { limit: 10, ..Default::default() };
    for lead in people.iter().step_by(people.len() / 40 + 1) {
        let events = store.lead_events(*lead, &query).await.expect("events");
        assert_eq!(events.len(), 1, "lead {lead}: {events:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_import_resumes_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = hatake_sqlite::SqliteStore::open(&data).await.expect("open");
    a_killed_import_resumes(&["--data-dir", text(&data)], std::sync::Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_import_resumes_on_postgres() {
    let url = hatake_testkit::PgCluster::shared().fresh_database();
    let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect");
    a_killed_import_resumes(&["--database-url", url.as_str()], std::sync::Arc::new(store)).await;
}
