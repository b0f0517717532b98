//! The real `hatake` binary in a temp directory: help texts (imports and benchmarks included),
//! migrate, user management, the demo's create-then-reuse, and serve answering on the address
//! it prints. The import commands at work are in `cli_import.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hatake() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hatake"));
    command.env_remove("HATAKE_DATABASE_URL").env_remove("HATAKE_DATA_DIR").env_remove("HATAKE_CONFIG");
    command.env("HATAKE_LOG", "warn");
    command
}

fn run(args: &[&str]) -> (bool, String, String) {
    let output = hatake().args(args).output().expect("hatake runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_command_explains_itself() {
    let commands: &[&[&str]] = &[
        &["--help"],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["user", "--help"],
        &["user", "add", "--help"],
        &["user", "list", "--help"],
        &["user", "set-password", "--help"],
        &["demo", "--help"],
        &["bench", "--help"],
        &["bench", "ui", "--help"],
        &["bench", "match", "--help"],
        &["bench", "import", "--help"],
        &["import", "--help"],
        &["import", "leads", "--help"],
        &["import", "companies", "--help"],
        &["import", "list", "--help"],
        &["import", "undo", "--help"],
        &["mail", "inbound", "--help"],
    ];
    for args in commands {
        let (ok, out, err) = run(args);
        assert!(ok, "{args:?}: {err}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
    let (_, out, _) = run(&["serve", "--help"]);
    for flag in ["--listen", "--data-dir", "--database-url", "--config", "HATAKE_LISTEN"] {
        assert!(out.contains(flag), "serve --help lacks {flag}");
    }
    let (_, out, _) = run(&["import", "leads", "--help"]);
    for flag in ["--source", "--product", "--encoding", "--mapping", "--dry-run", "--rejects", "--data-dir"] {
        assert!(out.contains(flag), "import leads --help lacks {flag}");
    }
    let (_, out, _) = run(&["import", "companies", "--help"]);
    for flag in ["--encoding", "--data-dir", "--database-url"] {
        assert!(out.contains(flag), "import companies --help lacks {flag}");
    }
    let (ok, _, err) = run(&["frobnicate"]);
    assert!(!ok && err.contains("unrecognized subcommand"));
}

#[test]
fn migrate_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for _ in 0..2 {
        let (ok, out, err) = run(&["migrate", "--data-dir", data]);
        assert!(ok, "{err}");
        assert!(out.contains("0001 init"), "{out}");
    }
    let (ok, _, err) = run(&["user", "add", "--data-dir", data, "--email", "bad", "--role", "boss", "--password", "x"]);
    assert!(!ok);
    assert!(err.contains("--email") && err.contains("--role") && err.contains("--password"), "{err}");
    let (ok, out, err) =
        run(&["user", "add", "--data-dir", data, "--email", "Boss@Example.jp", "--name", "社長", "--role", "admin"]);
    assert!(ok, "{err}");
    assert!(out.contains("Password (shown only now): "), "{out}");
    let (ok, _, err) = run(&["user", "add", "--data-dir", data, "--email", "boss@example.jp", "--role", "marketer"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, out, _) = run(&["user", "list", "--data-dir", data]);
    assert!(ok && out.contains("boss@example.jp") && out.contains("admin") && out.contains("社長"), "{out}");
    let (ok, out, err) = run(&["user", "set-password", "--data-dir", data, "--email", "boss@example.jp"]);
    assert!(ok && out.contains("Password (shown only now): "), "{err}");
    let (ok, _, err) = run(&["user", "set-password", "--data-dir", data, "--email", "nobody@example.jp"]);
    assert!(!ok && err.contains("no user has e-mail"), "{err}");
    let (ok, _, err) =
        run(&["user", "set-password", "--data-dir", data, "--email", "boss@example.jp", "--password", "short"]);
    assert!(!ok && err.contains("at least 10"), "{err}");
    let (ok, _, err) = run(&["migrate", "--database-url", "mysql://root:hunter2@db/x"]);
    assert!(!ok && err.contains("postgres://") && !err.contains("hunter2"), "{err}");
}

#[test]
fn demo_creates_then_reuses_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data = data.to_str().unwrap();
    let args = ["demo", "--no-serve", "--data-dir", data, "--companies", "40", "--people", "300"];
    let (ok, out, err) = run(&args);
    assert!(ok, "{err}");
    assert!(out.contains("Creating demo data") && out.contains("admin@hatake-demo.jp"), "{out}");
    // Behaviour events came with the people, and every product has a scoring model to rank them.
    let events: u64 = out
        .split_once(" behaviour events")
        .and_then(|(before, _)| before.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count: {out}"));
    assert!(events > 300 * 5, "{out}");
    let (ok, out, err) = run(&args);
    assert!(ok, "{err}");
    assert!(out.contains("Reusing the demo data"), "{out}");
    let (ok, out, err) = run(&["rescore", "--data-dir", data, "--product", "erp", "--product", "security"]);
    assert!(ok, "{err}");
    assert!(out.contains("Recomputed") && !out.contains("Recomputed 0 scores"), "{out}");
    let (_, users, _) = run(&["user", "list", "--data-dir", data]);
    for role in ["admin", "marketer", "inside_sales", "field_sales"] {
        assert!(users.contains(role), "{role} missing: {users}");
    }
}

#[test]
fn serve_listens_where_it_says_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = hatake()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.split_whitespace().find(|w| w.starts_with("http://")).expect("URL printed").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    let health = reqwest::blocking_get(&format!("{url}healthz"));
    assert_eq!(health, "ok sqlite\n");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "graceful stop");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

mod reqwest {
    /// A GET with a fresh single-threaded runtime (these tests are synchronous).
    pub fn blocking_get(url: &str) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async { ::reqwest::get(url).await.unwrap().text().await.unwrap() })
    }
}

#[test]
fn postgres_is_chosen_by_flag_or_environment() {
    let url = hatake_testkit::PgCluster::shared().fresh_database();
    let (ok, out, err) = run(&["migrate", "--database-url", &url]);
    assert!(ok, "{err}");
    assert!(out.contains("PostgreSQL at postgres://") && out.contains("0001 init"), "{out}");
    let output = hatake()
        .args(["user", "add", "--email", "pg@example.jp", "--role", "admin"])
        .env("HATAKE_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = hatake().args(["user", "list"]).env("HATAKE_DATABASE_URL", &url).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("pg@example.jp"));
    // A password in the URL is never printed.
    let with_password = url.replacen("postgres@", "postgres:topsecret@", 1);
    let (ok, out, err) = run(&["migrate", "--database-url", &with_password]);
    assert!(ok, "{err}");
    assert!(!out.contains("topsecret") && !err.contains("topsecret") && out.contains("postgres:***@"), "{out}");
}

/// `hatake mail inbound`: a returned message piped in is applied (the address suppressed); a
/// message that is no report changes nothing and succeeds (so the mailbox does not bounce it).
#[test]
fn returned_mail_piped_in_suppresses_the_address() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let pipe = |message: &str| {
        let mut child = hatake()
            .args(["mail", "inbound", "--data-dir", data])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hatake runs");
        child.stdin.take().unwrap().write_all(message.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let dsn = "From: MAILER-DAEMON@mx.example.jp\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n\
               Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\n\
               Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.jp\r\n\r\n\
               Final-Recipient: rfc822; Gone@Example.jp\r\nAction: failed\r\nStatus: 5.1.1\r\n\
               Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--B--\r\n";
    let (ok, out, err) = pipe(dsn);
    assert!(ok, "{err}");
    assert!(out.contains("hard bounce: gone@example.jp (550 5.1.1 user unknown) → suppressed"), "{out}");
    let (ok, out, _) = pipe("From: someone@example.jp\r\nSubject: Re: ご案内\r\n\r\nありがとうございます\r\n");
    assert!(ok && out.contains("nothing done"), "{out}");
}
