//! Imports and the review queue through the real pages: a Shift_JIS file sent as a browser
//! sends it (multipart), the mapping and preview steps, commit, the import's page, its rejected
//! rows as CSV, undo; then merging a pair of records and undoing it, and saying two records are
//! different people. Each test says what happens to each kind of bad input.

mod support;

use hatake_csv::{CsvWriter, ExportEncoding, TextEncoding};
use support::{spawn_app, Backend, TestApp};

/// An exhibition list as Excel in Japan saves it, in CP932. Line 3 has a broken e-mail
/// address; line 4 a company written as a formula and a prefecture that does not exist.
const EXHIBITION: &str = "\
会社名,部署名,役職,氏名,フリガナ,メールアドレス,電話番号,都道府県
株式会社ひまわり商事,情報システム部,課長,佐藤 太郎,サトウ タロウ,taro.sato@himawari.example.jp,03-1234-5678,東京都
あおぞら工業株式会社,営業部,主任,田中 一郎,タナカ イチロウ,not-an-address,06-1111-2222,大阪府
=SUM(1),総務部,,鈴木 花子,スズキ ハナコ,hanako@example.jp,03-0000-0000,火星
東和精機株式会社,DX推進室,部長,山本 次郎,ヤマモト ジロウ,jiro@towa.example.jp,052-111-2222,愛知県
";

/// The text as CP932 bytes. hatake-csv's writer does the encoding; it also writes `=SUM(1)`
/// as `'=SUM(1)` (its formula guard), which is taken back out here so the file holds the
/// formula as a careless export would (ASCII bytes never occur inside a CP932 character).
fn shift_jis(text: &str) -> Vec<u8> {
    let mut lines = text.lines();
    let headers: Vec<&str> = lines.next().expect("header").split(',').collect();
    let mut writer = CsvWriter::new(&headers, ExportEncoding::Cp932);
    for line in lines {
        writer.write_row(line.split(','));
    }
    let export = writer.finish();
    assert_eq!(export.unmappable, 0, "the fixture is CP932-clean");
    let guarded = b"'=SUM(1)";
    let mut bytes = export.bytes;
    if let Some(at) = bytes.windows(guarded.len()).position(|w| w == guarded) {
        bytes.remove(at);
    }
    bytes
}

/// The selected option of every `<select name="mapping">`, in column order ("" when none).
fn selected_mapping(html: &str) -> Vec<String> {
    html.split("<select name=\"mapping\"")
        .skip(1)
        .map(|chunk| {
            let select = &chunk[..chunk.find("</select>").expect("closed select")];
            select
                .split("<option value=\"")
                .skip(1)
                .find(|option| option.contains("\" selected"))
                .map(|option| option[..option.find('"').expect("value")].to_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// Every hidden input's value with this name, in order.
fn hidden_values(html: &str, name: &str) -> Vec<String> {
    let marker = format!("type=\"hidden\" name=\"{name}\" value=\"");
    html.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest[..rest.find('"').expect("closing quote")].to_owned()
        })
        .collect()
}

async fn lead_total(app: &TestApp) -> i64 {
    let overview = app.store.overview().await.unwrap();
    overview.lead_records + overview.list_records
}

async fn text(response: reqwest::Response) -> String {
    response.text().await.unwrap()
}

/// Uploads a file and commits it with the guessed mapping; returns the import's id.
async fn import_file(app: &TestApp, client: &reqwest::Client, csrf: &str, name: &str, file: &[u8]) -> i64 {
    let token = app.upload_token(client, csrf, name, file).await;
    let response = client
        .post(app.url(&format!("/imports/uploads/{token}/commit")))
        .form(&[("_csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap();
    let id = location.strip_prefix("/imports/").and_then(|rest| rest.strip_suffix("?done=1")).expect("import page");
    id.parse().unwrap()
}

#[tokio::test]
async fn a_shift_jis_file_is_uploaded_mapped_previewed_committed_and_undone() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let before = lead_total(&app).await;
    let file = shift_jis(EXHIBITION);

    // Bad uploads store nothing: no file → 422 at the file field; a file without a header row
    // → 422 with the reader's reason; a form without the CSRF token → 403.
    let (content_type, body) = support::multipart(&[("_csrf", &csrf)], "", b"");
    let response =
        client.post(app.url("/imports")).header("content-type", content_type).body(body).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(text(response).await.contains("data-field=\"file\""));
    let response = app.upload(&client, &csrf, "blank.csv", b"\r\n\r\n").await;
    assert_eq!(response.status(), 422);
    assert!(text(response).await.contains("data-field=\"file\""));
    let response = app.upload(&client, "forged", "list.csv", &file).await;
    assert_eq!(response.status(), 403);
    // A body that is not multipart at all is a bad request.
    let response = client.post(app.url("/imports")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(app.store.list_imports(10).await.unwrap().is_empty());

    // Upload: the mapping step shows Shift_JIS detected, each header with a sample, a guess.
    let token = app.upload_token(&client, &csrf, "展示会リスト.csv", &file).await;
    let mapping_url = app.url(&format!("/imports/uploads/{token}"));
    let page = text(client.get(&mapping_url).send().await.unwrap()).await;
    assert!(page.contains("展示会リスト.csv"), "the file's name");
    assert!(page.contains("value=\"shift_jis\" selected"), "Shift_JIS detected");
    assert!(page.contains("株式会社ひまわり商事"), "a sample value");
    let guessed = selected_mapping(&page);
    assert_eq!(guessed.len(), 8);
    assert_eq!(guessed[0], "company_name");
    assert_eq!(guessed[5], "email");
    // Read as UTF-8 instead, the same bytes show as undecodable: the page says so.
    let garbled = text(client.get(format!("{mapping_url}?encoding=utf-8")).send().await.unwrap()).await;
    assert!(garbled.contains("id=\"malformed\""));

    // Bad choices come back on the mapping step (422), each next to its field: the e-mail field
    // chosen for two columns (the later one is marked), a product that does not exist, an
    // unknown encoding.
    let preview_url = app.url(&format!("/imports/uploads/{token}/preview"));
    let mut form: Vec<(&str, String)> = vec![("_csrf", csrf.clone()), ("encoding", "shift_jis".into())];
    let mut twice = guessed.clone();
    twice[0] = "email".into();
    form.extend(twice.iter().map(|k| ("mapping", k.clone())));
    form.push(("product", "999".into()));
    let response = client.post(&preview_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = text(response).await;
    assert!(html.contains("data-field=\"mapping[5]\"") && html.contains("列1と列6"), "{html}");
    assert!(html.contains("data-field=\"product\""));
    let response =
        client.post(&preview_url).form(&[("_csrf", csrf.as_str()), ("encoding", "ebcdic")]).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(text(response).await.contains("data-field=\"encoding\""));

    // The preview: every row counted, the bad ones with their line and reason.
    let mut form: Vec<(&str, String)> = vec![("_csrf", csrf.clone()), ("encoding", "shift_jis".into())];
    form.extend(guessed.iter().map(|k| ("mapping", k.clone())));
    form.push(("source", "展示会2026".into()));
    form.push(("product", String::new()));
    let response = client.post(&preview_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let preview = text(response).await;
    assert!(preview.contains("id=\"valid-rows\">2<") && preview.contains("id=\"invalid-rows\">2<"), "{preview}");
    assert!(preview.contains("class=\"bad\" id=\"line-3\""), "line 3 is marked");
    assert!(preview.contains("行 3 · <strong>メールアドレス</strong>: メールアドレスの形式が正しくありません"));
    assert!(preview.contains("行 4 · <strong>都道府県</strong>: 都道府県が分かりません: 火星"));
    assert!(!preview.contains("id=\"imported-before\""), "a new file");

    // Commit with what the preview carries.
    let mut commit: Vec<(&str, String)> = vec![("_csrf", csrf.clone())];
    for name in ["encoding", "source", "product"] {
        commit.push((name, hidden_values(&preview, name)[0].clone()));
    }
    commit.extend(hidden_values(&preview, "mapping").into_iter().map(|k| ("mapping", k)));
    let response =
        client.post(app.url(&format!("/imports/uploads/{token}/commit"))).form(&commit).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = location["/imports/".len()..location.find('?').unwrap()].parse().unwrap();
    assert_eq!(lead_total(&app).await, before + 2);
    // The upload is gone: committing again, or going back to it, asks for the file again.
    let again = client.post(app.url(&format!("/imports/uploads/{token}/commit"))).form(&commit).send().await.unwrap();
    assert_eq!(again.headers()["location"], "/imports?expired=1");
    assert_eq!(lead_total(&app).await, before + 2, "nothing imported twice");

    // The import's page: counts, rejected rows with line and reason, download buttons.
    let page = text(client.get(app.url(&location)).send().await.unwrap()).await;
    assert!(page.contains("id=\"import-done\""));
    assert!(page.contains("data-count=\"created\"><span class=\"figure\">2<"));
    assert!(page.contains("data-count=\"rejected\"><span class=\"figure\">2<"));
    assert!(page.contains("id=\"reject-3\"") && page.contains("id=\"reject-4\""));
    assert!(page.contains("展示会2026") && page.contains("真家 花子"), "source and who imported");
    assert!(page.contains("部署名 → 部署") && page.contains("フリガナ → "), "the file's headers and their fields");
    let leads = text(client.get(app.url("/leads?q=佐藤")).send().await.unwrap()).await;
    assert!(leads.contains("情報システム"), "the department class is shown in the list");
    // From the import to its leads: the list shows only the people this import touched.
    assert!(page.contains(&format!("href=\"/leads?import={id}\"")));
    let imported = text(client.get(app.url(&format!("/leads?import={id}"))).send().await.unwrap()).await;
    assert!(imported.contains("id=\"import-filter\"") && imported.contains("佐藤"));
    let rows = imported.matches("<tr").count();
    assert_eq!(rows, 1 + 2, "a header row and the two leads the import created: {imported}");

    // Rejected rows as CSV: CP932 without a byte-order mark, or UTF-8 with one; the formula
    // is neutralised; an unknown encoding is a 400.
    let csv = client.get(app.url(&format!("/imports/{id}/rejects.csv?encoding=cp932"))).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().contains("Shift_JIS"));
    assert!(csv.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    let bytes = csv.bytes().await.unwrap();
    assert!(!bytes.starts_with(b"\xEF\xBB\xBF"));
    let decoded = hatake_csv::decode(&bytes, Some(TextEncoding::ShiftJis));
    assert_eq!(decoded.malformed, 0, "valid CP932");
    assert!(decoded.text.starts_with("行 line,理由 reason,会社名"), "{}", decoded.text);
    assert!(decoded.text.contains("\r\n3,") && decoded.text.contains("'=SUM(1)"), "{}", decoded.text);
    let csv = client.get(app.url(&format!("/imports/{id}/rejects.csv?encoding=utf8"))).send().await.unwrap();
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a byte-order mark");
    assert!(String::from_utf8_lossy(&bytes).contains("'=SUM(1)"));
    let bad = client.get(app.url(&format!("/imports/{id}/rejects.csv?encoding=latin1"))).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    // The same file again: the preview warns that it was imported before.
    let token = app.upload_token(&client, &csrf, "展示会リスト.csv", &file).await;
    let preview = text(
        client
            .post(app.url(&format!("/imports/uploads/{token}/preview")))
            .form(&[("_csrf", csrf.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(preview.contains("id=\"imported-before\"") && preview.contains(&format!("/imports/{id}\"")));
    assert!(preview.contains("新規 2 · 統合 0 · 取り込めず 2"), "what the earlier import did");

    // Field sales may look at imports but not import or undo (403, nothing changes), and see
    // no upload form; nor may another user use this upload.
    let (sales, sales_csrf) = app.sign_in("sales@example.jp").await;
    assert!(!text(sales.get(app.url("/imports")).send().await.unwrap()).await.contains("id=\"upload-form\""));
    assert_eq!(app.upload(&sales, &sales_csrf, "list.csv", &file).await.status(), 403);
    let undo_url = app.url(&format!("/imports/{id}/undo"));
    let refused = sales.post(&undo_url).form(&[("_csrf", sales_csrf.as_str())]).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let (admin, _) = app.sign_in("admin@example.jp").await;
    let theirs = admin.get(app.url(&format!("/imports/uploads/{token}"))).send().await.unwrap();
    assert_eq!(theirs.headers()["location"], "/imports?expired=1", "an upload is its uploader's");
    assert_eq!(lead_total(&app).await, before + 2);

    // Undo: the two created leads go; the report says so. Undoing twice is refused (409).
    let response = client.post(&undo_url).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = text(response).await;
    assert!(page.contains("id=\"undo-deleted\">2<") && page.contains("id=\"undo-restored\">0<"), "{page}");
    assert_eq!(lead_total(&app).await, before);
    let response = client.post(&undo_url).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 409);
    assert!(text(response).await.contains("id=\"undo-refused\""));
    let list = text(client.get(app.url("/imports")).send().await.unwrap()).await;
    assert!(list.contains("取り消し済み"), "the list shows the import as undone");
    // Undone, the file is new again: its preview no longer warns.
    let preview_url = app.url(&format!("/imports/uploads/{token}/preview"));
    let preview = text(client.post(&preview_url).form(&[("_csrf", csrf.as_str())]).send().await.unwrap()).await;
    assert!(preview.contains("id=\"valid-rows\"") && !preview.contains("id=\"imported-before\""));
}

/// A stored person, then a business-card scan of the same person with a respelt given name
/// and another phone: the matcher is unsure and asks.
const STORED: &str = "会社名,部署名,役職,氏名,フリガナ,メールアドレス,電話番号,住所
株式会社ひまわり商事,情報システム部,課長,佐藤 太郎,サトウ タロウ,taro.sato@himawari.co.jp,03-1234-5678,東京都千代田区千代田1-1
";
const CARDS: &str = "会社名,氏名,電話番号,都道府県\nひまわり商事,佐藤 太朗,090-9999-0000,東京都\n";

/// Imports the stored person and the card scan; returns the review's id and the scan's import.
async fn review_pair(app: &TestApp, client: &reqwest::Client, csrf: &str) -> (i64, i64) {
    import_file(app, client, csrf, "stored.csv", STORED.as_bytes()).await;
    let cards = import_file(app, client, csrf, "cards.csv", CARDS.as_bytes()).await;
    let import = app.store.get_import(cards).await.unwrap();
    assert_eq!(import.review_rows, 1, "{import:?}");
    let reviews = app.store.list_reviews("open", 0, 10).await.unwrap();
    let review = reviews.iter().find(|r| r.kind == "lead").expect("a question about two leads");
    (review.id, cards)
}

#[tokio::test]
async fn a_review_pair_is_merged_and_the_merge_undone_unless_the_lead_changed_since() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("is@example.jp").await;
    let (marketer, marketer_csrf) = app.sign_in("marketing@example.jp").await;
    let (review_id, cards) = review_pair(&app, &marketer, &marketer_csrf).await;
    let review = app.store.get_review(review_id).await.unwrap();
    assert_eq!(lead_total(&app).await, 2);

    // The import's page leads to its questions; the queue shows the pair side by side, what
    // differs, the evidence and the record a merge leaves. Field sales are refused the queue.
    let page = text(client.get(app.url(&format!("/imports/{cards}"))).send().await.unwrap()).await;
    assert!(page.contains(&format!("href=\"/reviews?import={cards}\"")));
    let queue_url = app.url(&format!("/reviews?import={cards}"));
    let queue = text(client.get(&queue_url).send().await.unwrap()).await;
    assert!(queue.contains(&format!("id=\"review-{review_id}\"")));
    assert!(queue.contains("class=\"differs\"") && queue.contains("090-9999-0000") && queue.contains("03-1234-5678"));
    assert!(queue.contains("class=\"level-agree\""), "evidence");
    // The evidence adds up to the score shown: a cap is a line of its own.
    let review_row = app.store.get_review(review_id).await.unwrap();
    let weights: f64 = serde_json::from_str::<Vec<serde_json::Value>>(&review_row.evidence)
        .unwrap()
        .iter()
        .map(|e| e["weight"].as_f64().unwrap())
        .sum();
    assert!((weights - review_row.score).abs() < 1e-6, "{weights} vs {}", review_row.score);
    assert!(queue.contains("id=\"nav-reviews\""), "the navigation counts open questions");
    let (sales, _) = app.sign_in("sales@example.jp").await;
    assert_eq!(sales.get(&queue_url).send().await.unwrap().status(), 403);
    let other_import = text(client.get(app.url("/reviews?import=999")).send().await.unwrap()).await;
    assert!(other_import.contains("id=\"no-reviews\""), "filtered to another import: nothing");

    // Merge: the stored lead survives with the newer phone; the newer record is gone.
    let merge_url = app.url(&format!("/reviews/{review_id}/merge"));
    let form = [("_csrf", csrf.as_str()), ("after_id", "0"), ("import", &cards.to_string())];
    let response = client.post(&merge_url).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("/reviews?import={cards}&merged=")), "{location}");
    let merge_id: i64 = location.rsplit('=').next().unwrap().parse().unwrap();
    assert_eq!(lead_total(&app).await, 1);
    let survivor = app.store.get_lead(review.candidate_id).await.unwrap();
    assert_eq!(survivor.phone.as_deref(), Some("090-9999-0000"));
    assert_eq!(survivor.email.as_deref(), Some("taro.sato@himawari.co.jp"));
    assert_eq!(survivor.department_class.as_deref(), Some("it"));
    let flash = text(client.get(app.url(&location)).send().await.unwrap()).await;
    assert!(flash.contains("id=\"merged-flash\"") && flash.contains(&format!("/merges/{merge_id}/undo")));
    // Merging again (a second click, another person) changes nothing and says why.
    let response = client.post(&merge_url).form(&form).send().await.unwrap();
    assert!(response.headers()["location"].to_str().unwrap().contains("stale=1"));
    assert_eq!(lead_total(&app).await, 1);

    // The survivor's page: both sources (with their import and line) and the merge.
    let lead_url = app.url(&format!("/leads/{}", survivor.id));
    let page = text(client.get(&lead_url).send().await.unwrap()).await;
    assert_eq!(page.matches("class=\"source\"").count(), 2, "{page}");
    assert!(page.contains(&format!("/imports/{cards}")) && page.contains("行 2"));
    assert!(page.contains(&format!("id=\"merge-{merge_id}\"")) && page.contains("class=\"undo-merge\""));

    // Undo from the queue's flash: both leads are back, the question is open again.
    let back = format!("/reviews?import={cards}");
    let undo_url = app.url(&format!("/merges/{merge_id}/undo"));
    let response = client.post(&undo_url).form(&[("_csrf", csrf.as_str()), ("back", &back)]).send().await.unwrap();
    assert_eq!(response.headers()["location"].to_str().unwrap(), format!("{back}&unmerged=1"));
    assert_eq!(lead_total(&app).await, 2);
    assert_eq!(app.store.get_review(review_id).await.unwrap().status, "open");
    // Both leads' pages say a question waits, name the other lead and lead to the question.
    for (this, other) in [(review.lead_id, review.candidate_id), (review.candidate_id, review.lead_id)] {
        let page = text(client.get(app.url(&format!("/leads/{this}"))).send().await.unwrap()).await;
        assert!(page.contains("id=\"open-questions\"") && page.contains("同一人物の可能性"), "{page}");
        assert!(page.contains(&format!(" #{other}</a>")) && page.contains(&format!("#review-{review_id}")));
    }
    // A second undo is refused with a reason.
    let response = client.post(&undo_url).form(&[("_csrf", csrf.as_str()), ("back", &back)]).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("merge_error=undone"));
    assert!(text(client.get(app.url(&location)).send().await.unwrap()).await.contains("既に元に戻されています"));

    // Merge again, then someone edits the survivor: the merge can no longer be undone, and the
    // lead's page says so in the user's language. A `back` outside the app is not followed.
    let response = client.post(&merge_url).form(&form).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let merge_id: i64 = location.rsplit('=').next().unwrap().parse().unwrap();
    let edit =
        [("_csrf", csrf.as_str()), ("family_name", "佐藤"), ("email", "taro.sato@himawari.co.jp"), ("title", "部長")];
    let response = client.post(&lead_url).form(&edit).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let undo_url = app.url(&format!("/merges/{merge_id}/undo"));
    let form = [("_csrf", csrf.as_str()), ("back", "//evil.example/")];
    let response = client.post(&undo_url).form(&form).send().await.unwrap();
    assert_eq!(response.headers()["location"].to_str().unwrap(), "/?merge_error=changed");
    let form = [("_csrf", csrf.as_str()), ("back", &format!("/leads/{}", survivor.id))];
    let location =
        client.post(&undo_url).form(&form).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    let page = text(client.get(app.url(&location)).send().await.unwrap()).await;
    assert!(page.contains("マージ後に変更されたため元に戻せません"), "{page}");
    client.post(app.url("/me/locale")).form(&[("_csrf", csrf.as_str()), ("locale", "en")]).send().await.unwrap();
    let page = text(client.get(app.url(&location)).send().await.unwrap()).await;
    assert!(page.contains("Changed since the merge; cannot be undone"));
    assert_eq!(lead_total(&app).await, 1, "the merge stands");
}

#[tokio::test]
async fn not_the_same_person_closes_the_question_and_keeps_both() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let (review_id, cards) = review_pair(&app, &client, &csrf).await;
    let queue = text(client.get(app.url("/reviews")).send().await.unwrap()).await;
    assert!(queue.contains(&format!("id=\"review-{review_id}\"")));
    // Closing a question as two people asks first (it cannot be undone).
    let form = format!("action=\"/reviews/{review_id}/distinct\"");
    let at = queue.find(&form).expect("the distinct form");
    assert!(queue[at..at + 300].contains("data-confirm=\"別人としてこの確認を閉じます。"), "asks first");
    // The dashboard shows the open questions to those who answer them, not to field sales.
    let dashboard = text(client.get(app.url("/")).send().await.unwrap()).await;
    assert!(dashboard.contains("id=\"dashboard-reviews\""));
    let (sales, _) = app.sign_in("sales@example.jp").await;
    assert!(!text(sales.get(app.url("/")).send().await.unwrap()).await.contains("id=\"dashboard-reviews\""));

    // Without the CSRF token nothing is decided (403).
    let url = app.url(&format!("/reviews/{review_id}/distinct"));
    assert_eq!(client.post(&url).form(&[("after_id", "0")]).send().await.unwrap().status(), 403);
    assert_eq!(app.store.get_review(review_id).await.unwrap().status, "open");

    let response = client.post(&url).form(&[("_csrf", csrf.as_str()), ("after_id", "0")]).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/reviews?distinct=1");
    assert_eq!(app.store.get_review(review_id).await.unwrap().status, "distinct");
    assert_eq!(lead_total(&app).await, 2, "both records stay");
    let queue = text(client.get(app.url("/reviews?distinct=1")).send().await.unwrap()).await;
    assert!(queue.contains("id=\"distinct-flash\"") && !queue.contains(&format!("id=\"review-{review_id}\"")));
    // The import's row that was left to review says it has been answered since.
    let page = text(client.get(app.url(&format!("/imports/{cards}"))).send().await.unwrap()).await;
    let row = page.find("data-outcome=\"review\"").expect("the row left to review");
    assert!(
        page[row..row + 200].contains("data-decided=\"1\"") && page.contains("→ 確認済み"),
        "{}",
        &page[row..row + 200]
    );
    // Deciding a decided question again changes nothing and says so; an unknown one is a 404.
    let response = client.post(&url).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/reviews?stale=1");
    let missing = client.post(app.url("/reviews/999999/merge")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // Once the import is undone its page and the list no longer send anyone to its questions.
    let import_url = app.url(&format!("/imports/{cards}"));
    assert!(text(client.get(&import_url).send().await.unwrap()).await.contains("id=\"import-reviews\""));
    let response = client.post(format!("{import_url}/undo")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(!text(client.get(&import_url).send().await.unwrap()).await.contains("id=\"import-reviews\""));
    let list = text(client.get(app.url("/imports")).send().await.unwrap()).await;
    assert!(!list.contains(&format!("/reviews?import={cards}")));
}

#[tokio::test]
async fn a_company_question_links_the_lead_and_answers_the_others() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut accounts = Vec::new();
    for address in ["大阪府大阪市北区1-1", "大阪府堺市2-2"] {
        let response = app
            .api(reqwest::Method::POST, "/api/v1/accounts", &app.admin_token)
            .json(&serde_json::json!({"name": "株式会社サンライズ", "prefecture": "大阪府", "address": address}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        accounts.push(response.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let file = "会社名,氏名,メールアドレス,都道府県\nサンライズ株式会社,小林 誠,kobayashi.makoto@gmail.com,大阪府\n";
    import_file(&app, &client, &csrf, "seminar.csv", file.as_bytes()).await;
    let questions: Vec<_> =
        app.store.list_reviews("open", 0, 10).await.unwrap().into_iter().filter(|r| r.kind == "account").collect();
    assert_eq!(questions.len(), 2, "two companies of that name in Osaka: a person chooses");

    // The queue shows each company against the lead, with why it asks.
    let queue = text(client.get(app.url("/reviews")).send().await.unwrap()).await;
    assert!(queue.contains("class=\"panel pair company\"") && queue.contains("同じ名前の企業が複数あります"));
    assert!(queue.contains("大阪府堺市2-2") && queue.contains(&format!("/reviews/{}/link", questions[1].id)));
    assert!(queue.contains("この企業の人ではないとして確認を閉じます"), "asks in terms of the company");

    // Not the first: said in terms of the company, not of two people.
    let url = app.url(&format!("/reviews/{}/distinct", questions[0].id));
    let response = client.post(&url).form(&[("_csrf", csrf.as_str()), ("after_id", "0")]).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/reviews?distinct=company");
    let queue = text(client.get(app.url("/reviews?distinct=company")).send().await.unwrap()).await;
    assert!(queue.contains("この企業の人ではないと記録しました。") && !queue.contains("別人として記録しました"));

    // Link to the second: the lead gets the company, the other question is answered "not this".
    let url = app.url(&format!("/reviews/{}/link", questions[1].id));
    let response = client.post(&url).form(&[("_csrf", csrf.as_str()), ("after_id", "0")]).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/reviews?linked=1");
    let lead = app.store.get_lead(questions[1].lead_id).await.unwrap();
    assert_eq!(lead.account_id, Some(accounts[1]));
    assert_eq!(app.store.get_review(questions[0].id).await.unwrap().status, "distinct");
    assert_eq!(app.store.get_review(questions[1].id).await.unwrap().status, "linked");
    let queue = text(client.get(app.url("/reviews?linked=1")).send().await.unwrap()).await;
    assert!(queue.contains("id=\"linked-flash\"") && queue.contains("id=\"no-reviews\""));
    // Linking a lead pair, or a decided question, changes nothing.
    let response = client.post(&url).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/reviews?stale=1");
}

#[tokio::test]
async fn the_queue_pages_oldest_first_by_id_and_filters_by_import() {
    const FAMILIES: [&str; 22] = [
        "佐藤",
        "鈴木",
        "高橋",
        "田中",
        "伊藤",
        "渡辺",
        "山本",
        "中村",
        "小林",
        "加藤",
        "吉田",
        "山田",
        "佐々木",
        "山口",
        "松本",
        "井上",
        "木村",
        "林",
        "斎藤",
        "清水",
        "山崎",
        "森",
    ];
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("admin@example.jp").await;
    let mut stored = String::from("会社名,氏名,メールアドレス,住所\n");
    let mut first_cards = String::from("会社名,氏名,電話番号,都道府県\n");
    let mut second_cards = first_cards.clone();
    for (i, family) in FAMILIES.iter().enumerate() {
        stored.push_str(&format!("株式会社ひまわり商事,{family} 太郎,p{i}@himawari.co.jp,東京都千代田区千代田1-{i}\n"));
        let cards = if i < 21 { &mut first_cards } else { &mut second_cards };
        cards.push_str(&format!("ひまわり商事,{family} 太朗,090-1111-{i:04},東京都\n"));
    }
    import_file(&app, &client, &csrf, "stored.csv", stored.as_bytes()).await;
    let first = import_file(&app, &client, &csrf, "cards1.csv", first_cards.as_bytes()).await;
    let second = import_file(&app, &client, &csrf, "cards2.csv", second_cards.as_bytes()).await;
    assert_eq!(app.store.count_reviews("open").await.unwrap(), 22);
    let ids = |html: &str| -> Vec<i64> {
        html.match_indices("id=\"review-")
            .map(|(at, _)| {
                let rest = &html[at + "id=\"review-".len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    };
    let next = |html: &str| -> Option<String> {
        let marker = "rel=\"next\" href=\"";
        html.find(marker).map(|at| {
            let rest = &html[at + marker.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&").replace("&#x2f;", "/")
        })
    };

    // Twenty per page, oldest first; "next" continues after the last one shown.
    let page = text(client.get(app.url("/reviews")).send().await.unwrap()).await;
    let first_page = ids(&page);
    assert_eq!(first_page.len(), 20);
    assert!(first_page.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let href = next(&page).expect("a next page");
    assert_eq!(href, format!("/reviews?after_id={}", first_page[19]));
    let page = text(client.get(app.url(&href)).send().await.unwrap()).await;
    let second_page = ids(&page);
    assert_eq!(second_page.len(), 2);
    assert!(second_page[0] > first_page[19] && next(&page).is_none());

    // Filtered to one import: only its questions, and the filter is kept across pages.
    let page = text(client.get(app.url(&format!("/reviews?import={second}"))).send().await.unwrap()).await;
    assert_eq!(ids(&page).len(), 1);
    let page = text(client.get(app.url(&format!("/reviews?import={first}"))).send().await.unwrap()).await;
    assert_eq!(ids(&page).len(), 20);
    let href = next(&page).expect("a next page");
    assert!(href.contains(&format!("import={first}")), "{href}");
    let page = text(client.get(app.url(&href)).send().await.unwrap()).await;
    assert_eq!(ids(&page).len(), 1);
    // A cursor or filter that is not a number is ignored, not an error.
    assert_eq!(client.get(app.url("/reviews?after_id=x&import=y")).send().await.unwrap().status(), 200);

    // The last pairs of the second page decided: that page shows the first, not "nothing to
    // review" next to a count of 20.
    for id in &second_page {
        let url = app.url(&format!("/reviews/{id}/distinct"));
        let after = first_page[19].to_string();
        client.post(&url).form(&[("_csrf", csrf.as_str()), ("after_id", after.as_str())]).send().await.unwrap();
    }
    let page = text(client.get(app.url(&format!("/reviews?after_id={}", first_page[19]))).send().await.unwrap()).await;
    assert_eq!(ids(&page), first_page);
    assert!(!page.contains("id=\"no-reviews\""));
}

/// A survey column of "interested products" that names no product of the organisation: the
/// preview sums the problem up once, says how to get past it, and offers no import while no
/// row can be taken; with the column left out, every row can.
#[tokio::test]
async fn a_preview_sums_up_problems_and_offers_no_import_when_no_row_can_be_taken() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let mut file = String::from("会社名,氏名,メールアドレス,興味のある製品,備考\n");
    for i in 0..25 {
        file.push_str(&format!("株式会社ひまわり商事,佐藤 太郎{i},t{i}@himawari.co.jp,勤怠管理,\n"));
    }
    file.push_str("株式会社ひまわり商事,鈴木 花子,hanako@,勤怠管理,ブースで名刺交換\n");
    let token = app.upload_token(&client, &csrf, "survey.csv", file.as_bytes()).await;
    let mapping_page = text(client.get(app.url(&format!("/imports/uploads/{token}"))).send().await.unwrap()).await;
    let guessed = selected_mapping(&mapping_page);
    assert_eq!(guessed[3], "product", "the survey column is taken for products");
    assert!(mapping_page.contains("（先頭20行は空欄）"), "the note column has no sample in the first rows");

    let preview_url = app.url(&format!("/imports/uploads/{token}/preview"));
    let mut form: Vec<(&str, String)> = vec![("_csrf", csrf.clone())];
    form.extend(guessed.iter().map(|k| ("mapping", k.clone())));
    let preview = text(client.post(&preview_url).form(&form).send().await.unwrap()).await;
    assert!(preview.contains("id=\"nothing-valid\""), "{preview}");
    assert!(preview.contains("id=\"commit\" disabled"));
    let kinds = &preview[preview.find("id=\"problem-kinds\"").expect("a summary")..];
    let kinds = &kinds[..kinds.find("</section>").unwrap()];
    assert!(kinds.contains("<strong class=\"bad-count\">26</strong>") && kinds.contains("登録されていない製品です"));
    assert!(kinds.contains("<strong class=\"bad-count\">1</strong>") && kinds.contains("href=\"#line-27\""));
    assert!(kinds.contains("「取り込まない」") && kinds.contains(&format!("/imports/uploads/{token}?")));

    // Without the product column: 25 rows can be imported, one cannot; the import is offered.
    let mut form: Vec<(&str, String)> = vec![("_csrf", csrf.clone())];
    form.extend(guessed.iter().enumerate().map(|(i, k)| ("mapping", if i == 3 { String::new() } else { k.clone() })));
    let preview = text(client.post(&preview_url).form(&form).send().await.unwrap()).await;
    assert!(preview.contains("id=\"valid-rows\">25<") && !preview.contains("id=\"nothing-valid\""));
    assert!(preview.contains("id=\"commit\">") && !preview.contains("登録されていない製品です"));
    assert!(app.store.list_imports(10).await.unwrap().is_empty(), "a preview imports nothing");
}

#[tokio::test]
async fn an_upload_may_be_larger_than_any_other_form_but_not_without_limit() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    // Over the 1 MiB every other form is held to: accepted here.
    let mut file = String::from("会社名,氏名,メールアドレス\n");
    let mut i = 0;
    while file.len() <= hatake_web::MAX_BODY_BYTES + 100_000 {
        file.push_str(&format!("株式会社テスト{i},試験 太郎{i},t{i}@example.jp\n"));
        i += 1;
    }
    let response = app.upload(&client, &csrf, "big.csv", file.as_bytes()).await;
    assert_eq!(response.status(), 303, "a large list is accepted");
    // Over the upload limit: refused with 413 and its own message; nothing is kept.
    let huge = vec![b'a'; hatake_web::MAX_UPLOAD_BYTES + 1];
    let response = app.upload(&client, &csrf, "huge.csv", &huge).await;
    assert_eq!(response.status(), 413);
    assert!(text(response).await.contains("上限50MB"));
    assert!(app.store.list_imports(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_large_file_is_imported_in_the_background_with_its_progress_on_the_import_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let mut file = String::from("会社名,氏名,メールアドレス,都道府県\n");
    for i in 0..6_000 {
        file.push_str(&format!("株式会社テスト{i},試験 太郎{i},person{i}@test{i}.co.jp,東京都\n"));
    }
    let token = app.upload_token(&client, &csrf, "large.csv", file.as_bytes()).await;
    let response = client
        .post(app.url(&format!("/imports/uploads/{token}/commit")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    // The answer comes before the import is done: straight to the import's page, which shows
    // the progress and refreshes itself while the import runs.
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains("done=1"), "{location}");
    let mut page = text(client.get(app.url(&location)).send().await.unwrap()).await;
    let started = std::time::Instant::now();
    while page.contains("id=\"import-running\"") {
        assert!(page.contains("http-equiv=\"refresh\""), "a running import's page refreshes itself");
        assert!(started.elapsed() < std::time::Duration::from_secs(120), "the import never finished");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        page = text(client.get(app.url(&location)).send().await.unwrap()).await;
    }
    assert!(!page.contains("http-equiv=\"refresh\""), "a finished import's page stays still");
    let id: i64 = location.trim_start_matches("/imports/").parse().unwrap();
    let import = app.store.get_import(id).await.unwrap();
    assert_eq!((import.status.as_str(), import.total_rows, import.created_rows), ("done", 6_000, 6_000));
    assert!(page.contains("data-count=\"created\"><span class=\"figure\">6,000<"));
}

/// Sends a file through the company master form (multipart, with these text fields).
async fn upload_companies(
    app: &TestApp,
    client: &reqwest::Client,
    fields: &[(&str, &str)],
    file_name: &str,
    file: &[u8],
) -> reqwest::Response {
    let (content_type, body) = support::multipart(fields, file_name, file);
    client.post(app.url("/imports/companies")).header("content-type", content_type).body(body).send().await.unwrap()
}

/// The figure of one count card on an import's page.
fn count_card(html: &str, key: &str) -> String {
    let marker = format!("data-count=\"{key}\"><span class=\"figure\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {key} card")) + marker.len();
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn the_company_master_is_imported_from_the_imports_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let list = text(client.get(app.url("/imports")).send().await.unwrap()).await;
    assert!(list.contains("企業マスタの取り込み"), "the form is on the page");
    assert!(list.contains("action=\"/imports/companies\""));

    // The corporate-number bulk file: 6 companies, 1 history row and 2 closed companies.
    let bulk =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../hatake-csv/tests/fixtures/corporate_sample_utf8.csv"))
            .unwrap();
    let response = upload_companies(&app, &client, &[("_csrf", &csrf)], "corporate_sample_utf8.csv", &bulk).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/imports/1?done=1&linked=0&link_reviews=0"), "{location}");
    let page = text(client.get(app.url(&location)).send().await.unwrap()).await;
    assert_eq!(count_card(&page, "created"), "6");
    assert_eq!(count_card(&page, "unchanged"), "3");
    assert!(page.contains("企業を新規登録"));
    assert!(page.contains("変更なし・対象外（履歴行・閉鎖法人）"));
    assert!(page.contains("id=\"import-links\""), "the linking counts are shown");
    assert!(!page.contains("data-count=\"review\""), "no review count for companies");
    assert!(!page.contains("id=\"undo-form\""), "a company import cannot be undone");
    assert!(!page.contains("id=\"import-leads\""), "no leads link for companies");
    assert!(page.contains("id=\"import-no-undo\""));
    let import = app.store.get_import(1).await.unwrap();
    assert_eq!((import.kind.as_str(), import.created_rows, import.unchanged_rows), ("companies", 6, 3));
    // Posting to its undo anyway is refused: undo is for lead imports.
    let response = client.post(app.url("/imports/1/undo")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 409);
    assert_eq!(app.store.get_import(1).await.unwrap().status, "done");

    // A company CSV with a broken corporate number on line 3.
    let csv = "会社名,法人番号\n株式会社こだま精工,\n株式会社やまびこ,12345\n".as_bytes();
    let response = upload_companies(&app, &client, &[("_csrf", &csrf)], "companies.csv", csv).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/imports/2?done=1"), "{location}");
    let page = text(client.get(app.url(&location)).send().await.unwrap()).await;
    assert_eq!(count_card(&page, "created"), "1");
    assert_eq!(count_card(&page, "rejected"), "1");
    assert!(page.contains("id=\"reject-3\""), "the rejected row with its line: {page}");
    assert!(page.contains("株式会社やまびこ"));

    // Field sales may not import: 403, nothing stored.
    let (field, field_csrf) = app.sign_in("sales@example.jp").await;
    let response = upload_companies(&app, &field, &[("_csrf", &field_csrf)], "companies.csv", csv).await;
    assert_eq!(response.status(), 403);
    // No CSRF token: 403.
    let response = upload_companies(&app, &client, &[], "companies.csv", csv).await;
    assert_eq!(response.status(), 403);
    // No file: 422 at the company form's file field.
    let response = upload_companies(&app, &client, &[("_csrf", &csrf)], "", b"").await;
    assert_eq!(response.status(), 422);
    let page = text(response).await;
    assert!(page.contains("data-field=\"company_file\""), "{page}");
    assert!(page.contains("企業マスタのファイルを選んでください。"));
    assert_eq!(app.store.list_imports(100).await.unwrap().len(), 2, "nothing more stored");
}

#[tokio::test]
async fn an_attendance_list_records_an_event_for_each_person() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let file = "氏名,会社名,メールアドレス\n佐藤 太郎,ひまわり商事,taro@himawari.co.jp\n鈴木 花子,ひまわり商事,hanako@himawari.co.jp\n";
    let token = app.upload_token(&client, &csrf, "seminar.csv", file.as_bytes()).await;
    let mapping = client.get(app.url(&format!("/imports/uploads/{token}"))).send().await.unwrap().text().await.unwrap();
    assert!(mapping.contains("name=\"event_kind\"") && mapping.contains("セミナー参加"));

    // A wrong event: the mapping step again with each problem by field, nothing imported.
    let preview_url = app.url(&format!("/imports/uploads/{token}/preview"));
    let wrong = [
        ("_csrf", csrf.as_str()),
        ("event_kind", "seminar_attendance"),
        ("event_name", ""),
        ("event_date", "11月20日"),
    ];
    let response = client.post(&preview_url).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("data-field=\"event_name\"") && page.contains("data-field=\"event_date\""), "{page}");
    assert!(page.contains("2026-11-20 の形"));

    let right = [
        ("_csrf", csrf.as_str()),
        ("event_kind", "seminar_attendance"),
        ("event_name", "DXセミナー"),
        ("event_date", "2026-11-20"),
    ];
    let page = client.post(&preview_url).form(&right).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("id=\"preview-event\">セミナー参加「DXセミナー」 2026-11-20 00:00"),
        "the preview says what is recorded"
    );
    assert_eq!(hidden_values(&page, "event_name"), ["DXセミナー"], "carried to the commit");
    let response = client.post(app.url(&format!("/imports/uploads/{token}/commit"))).form(&right).send().await.unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let detail = client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(detail.contains("id=\"import-event\">セミナー参加「DXセミナー」"), "{detail}");
    let leads = app.store.list_leads(&hatake_store::LeadQuery { limit: 10, ..Default::default() }).await.unwrap();
    for lead in leads.items {
        let events = app.store.lead_events(lead.id, &hatake_store::EventQuery { limit: 5, ..Default::default() }).await;
        let events = events.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "seminar_attendance");
    }
}

/// An import that stopped half-way (here: the first batch written, then the database failed)
/// shows as stopped on its page with a form to resume it; another file is refused with the
/// reason, the same file takes the rows not taken yet, and no row is taken twice.
async fn a_stopped_import_is_resumed_from_its_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let mut file = String::from("会社名,氏名,メールアドレス,都道府県\n");
    for i in 0..40 {
        file.push_str(&format!("株式会社テスト{i},試験 太郎{i},person{i}@test{i}.co.jp,東京都\n"));
    }
    // The first batch of 10 rows is written; then the import is marked failed as a database
    // error would leave it.
    let first: String = file.lines().take(11).map(|l| format!("{l}\n")).collect();
    let options = hatake_engine::import::ImportOptions { file_name: "list.csv".into(), ..Default::default() };
    let context = hatake_engine::import::RowContext::default();
    let whole = hatake_engine::import::prepare(file.as_bytes(), None, None).unwrap();
    let part = hatake_engine::import::prepare(first.as_bytes(), None, None).unwrap();
    let started = hatake_engine::import::start(&*app.store, &whole, &context, &options, 1).await.unwrap();
    let written =
        hatake_engine::import::finish(&*app.store, started.id, &part, &context, &options, || 2, |_| {}).await.unwrap();
    assert_eq!(written.total_rows, 10);
    app.store.finish_import(started.id, &written.counts(), "failed", Some("disk I/O error"), 3).await.unwrap();

    let url = app.url(&format!("/imports/{}", started.id));
    let page = text(client.get(&url).send().await.unwrap()).await;
    assert!(page.contains("id=\"import-stopped\"") && page.contains("10行目まで"), "{page}");
    assert!(page.contains("id=\"resume-form\""));
    // A field-sales user sees the import but cannot resume it.
    let (sales, _) = app.sign_in("sales@example.jp").await;
    assert!(!text(sales.get(&url).send().await.unwrap()).await.contains("id=\"resume-form\""));

    let resume = |bytes: Vec<u8>| {
        let (content_type, body) = support::multipart(&[("_csrf", csrf.as_str())], "list.csv", &bytes);
        client
            .post(app.url(&format!("/imports/{}/resume", started.id)))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let refused = resume(b"\xe6\xb0\x8f\xe5\x90\x8d\n\xe5\xb1\xb1\xe7\x94\xb0\n".to_vec()).await.unwrap();
    assert_eq!(refused.status(), 422);
    let page = text(refused).await;
    assert!(page.contains("id=\"resume-error\"") && page.contains("同じファイルを選んでください"), "{page}");
    assert_eq!(app.store.get_import(started.id).await.unwrap().total_rows, 10, "nothing was taken from it");

    let resumed = resume(file.clone().into_bytes()).await.unwrap();
    assert_eq!(resumed.status(), 303);
    let waited = std::time::Instant::now();
    loop {
        let import = app.store.get_import(started.id).await.unwrap();
        if import.status == "done" {
            assert_eq!((import.total_rows, import.created_rows, import.unchanged_rows), (40, 40, 0), "{import:?}");
            break;
        }
        assert!(waited.elapsed() < std::time::Duration::from_secs(60), "the resumed import never finished");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(lead_total(&app).await, 40, "no row was taken twice");
    let page = text(client.get(&url).send().await.unwrap()).await;
    assert!(!page.contains("id=\"resume-form\"") && !page.contains("id=\"import-stopped\""));
}

#[tokio::test]
async fn sqlite_a_stopped_import_is_resumed_from_its_page() {
    a_stopped_import_is_resumed_from_its_page(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_stopped_import_is_resumed_from_its_page() {
    a_stopped_import_is_resumed_from_its_page(Backend::Postgres).await;
}

/// Before merging, a person chooses field by field which value stays; the merge rule's choice
/// is preselected (the name as first known — 太郎, not the card's typo 太朗 — and the newer
/// phone); the company, the same one written with and without its legal form, keeps its full
/// form without a question.
async fn a_person_chooses_each_value_before_merging(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let (review_id, cards) = review_pair(&app, &client, &csrf).await;
    let review = app.store.get_review(review_id).await.unwrap();
    let queue = text(client.get(app.url(&format!("/reviews?import={cards}"))).send().await.unwrap()).await;
    let radio = |field: &str, side: &str| {
        let marker = format!("name=\"pick.{field}\" value=\"{side}\"");
        let at = queue.find(&marker).unwrap_or_else(|| panic!("{marker} missing"));
        let tag = &queue[at..];
        tag[..tag.find('>').unwrap()].contains("checked")
    };
    assert!(radio("name", "stored") && !radio("name", "newer"), "the name as first known is chosen first");
    assert!(!queue.contains("name=\"pick.company\""), "the same company (legal form aside): nothing to choose");
    assert!(radio("phone", "newer") && !radio("phone", "stored"), "the newer phone is chosen first");
    assert!(!queue.contains("name=\"pick.email\""), "the e-mail stays the stored lead's");
    assert!(
        queue.contains(&format!("form=\"merge-{review_id}\"")) && queue.contains(&format!("id=\"merge-{review_id}\""))
    );

    // The person keeps the landline instead, and takes the rest as chosen.
    let form = [("_csrf", csrf.as_str()), ("after_id", "0"), ("pick.phone", "stored"), ("pick.name", "stored")];
    let response = client.post(app.url(&format!("/reviews/{review_id}/merge"))).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let survivor = app.store.get_lead(review.candidate_id).await.unwrap();
    assert_eq!(survivor.phone.as_deref(), Some("03-1234-5678"), "chosen");
    assert_eq!(survivor.given_name.as_deref(), Some("太郎"));
    assert_eq!(survivor.company_name.as_deref(), Some("株式会社ひまわり商事"));
    assert_eq!(lead_total(&app).await, 1);
}

#[tokio::test]
async fn sqlite_a_person_chooses_each_value_before_merging() {
    a_person_chooses_each_value_before_merging(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_person_chooses_each_value_before_merging() {
    a_person_chooses_each_value_before_merging(Backend::Postgres).await;
}

/// A list whose people consented subscribes them to the topics chosen on the mapping step, with
/// the file named as how; someone who unsubscribed before stays unsubscribed; a topic that is
/// not the organisation's is named and nothing is imported. Both backends.
async fn a_consented_list_subscribes_its_people(backend: Backend) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    // 鈴木 opted out of the newsletter before.
    let suzuki = hatake_domain::LeadInput {
        family_name: Some("鈴木".into()),
        given_name: Some("花子".into()),
        email: Some("hanako@himawari.co.jp".into()),
        ..Default::default()
    };
    let suzuki = app.store.create_lead(&suzuki.validate(&[]).unwrap(), false, 0).await.unwrap().id;
    let out = hatake_store::SubscriptionChange {
        lead_id: suzuki,
        topic: "general".into(),
        status: "unsubscribed".into(),
        source: "link".into(),
        detail: None,
        by_user: None,
        at: 1,
    };
    app.store.change_subscriptions(&[out]).await.unwrap();
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let file = "氏名,会社名,メールアドレス\n佐藤 太郎,ひまわり商事,taro@himawari.co.jp\n鈴木 花子,ひまわり商事,hanako@himawari.co.jp\n";
    let token = app.upload_token(&client, &csrf, "展示会2026.csv", file.as_bytes()).await;
    let mapping = client.get(app.url(&format!("/imports/uploads/{token}"))).send().await.unwrap().text().await.unwrap();
    assert!(mapping.contains("name=\"subscribe\" value=\"general\"") && mapping.contains("value=\"product:1\""));
    let preview_url = app.url(&format!("/imports/uploads/{token}/preview"));
    let wrong = [("_csrf", csrf.as_str()), ("subscribe", "product:77")];
    let response = client.post(&preview_url).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("選ばれた配信の種類がありません。"));
    let right = [("_csrf", csrf.as_str()), ("subscribe", "general"), ("subscribe", "product:1")];
    let page = client.post(&preview_url).form(&right).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("メール配信に登録する種類: <strong>メールマガジン（全般）、ERP</strong>"), "{page}");
    assert_eq!(hidden_values(&page, "subscribe"), ["general", "product:1"], "carried to the commit");
    let response = client.post(app.url(&format!("/imports/uploads/{token}/commit"))).form(&right).send().await.unwrap();
    assert_eq!(response.status(), 303);

    let sato = app.store.lead_ids_by_email(&["taro@himawari.co.jp".to_owned()]).await.unwrap()[0].1;
    let states = |rows: Vec<hatake_store::SubscriptionRow>| -> Vec<(String, String, String, Option<String>)> {
        rows.into_iter().map(|r| (r.topic, r.status, r.source, r.detail)).collect()
    };
    let file_name = Some("展示会2026.csv".to_owned());
    assert_eq!(
        states(app.store.lead_subscriptions(sato).await.unwrap()),
        [
            ("general".to_owned(), "subscribed".to_owned(), "import".to_owned(), file_name.clone()),
            ("product:1".to_owned(), "subscribed".to_owned(), "import".to_owned(), file_name.clone()),
        ]
    );
    let hers = states(app.store.lead_subscriptions(suzuki).await.unwrap());
    assert!(
        hers.contains(&("general".to_owned(), "unsubscribed".to_owned(), "link".to_owned(), None)),
        "an opt-out stays: {hers:?}"
    );
    assert!(hers.contains(&("product:1".to_owned(), "subscribed".to_owned(), "import".to_owned(), file_name)));
    let import = app.store.list_imports(1).await.unwrap().remove(0);
    assert_eq!(import.subscribe.as_deref(), Some("[\"general\",\"product:1\"]"), "kept for a resume");
}

#[tokio::test]
async fn a_consented_list_subscribes_its_people_sqlite() {
    a_consented_list_subscribes_its_people(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_consented_list_subscribes_its_people_postgres() {
    a_consented_list_subscribes_its_people(Backend::Postgres).await;
}

/// An import's page lists what became of each row, by line, with the lead it became or joined:
/// a page at a time, and by outcome.
async fn each_row_has_its_outcome_on_the_import_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    import_file(&app, &client, &csrf, "stored.csv", STORED.as_bytes()).await;
    let stored = app.store.lead_ids_by_email(&["taro.sato@himawari.co.jp".to_owned()]).await.unwrap()[0].1;
    let mut file = String::from("会社名,氏名,メールアドレス\n");
    for i in 0..150 {
        file.push_str(&format!("東和精機,社員 {i:03},staff{i}@towa.example.jp\n"));
    }
    file.push_str("株式会社ひまわり商事,佐藤 太郎,taro.sato@himawari.co.jp\n");
    let id = import_file(&app, &client, &csrf, "list.csv", file.as_bytes()).await;
    let page = text(client.get(app.url(&format!("/imports/{id}"))).send().await.unwrap()).await;
    assert!(page.contains("id=\"import-lines\"") && page.contains("行ごとの結果"));
    assert_eq!(page.matches("<tr id=\"line-").count(), 100, "a page of rows");
    assert!(page.contains("id=\"line-2\" data-outcome=\"created\"") && page.contains("社員 000"), "line 2 first");
    let next = page.split("id=\"lines-next\" href=\"").nth(1).expect("a next page");
    let next = unescape_href(&next[..next.find('"').unwrap()]);
    let second = text(client.get(app.url(&next)).send().await.unwrap()).await;
    assert_eq!(second.matches("<tr id=\"line-").count(), 51, "the rest");
    assert!(second.contains("id=\"line-152\" data-outcome=\"unchanged\""), "the known person on the last line");
    assert!(
        second.contains(&format!("href=\"&#x2f;leads&#x2f;{stored}\""))
            || second.contains(&format!("href=\"/leads/{stored}\""))
    );
    assert!(!second.contains("id=\"lines-next\""), "no page after the last");
    let unchanged = text(client.get(app.url(&format!("/imports/{id}?outcome=unchanged"))).send().await.unwrap()).await;
    assert_eq!(unchanged.matches("<tr id=\"line-").count(), 1, "only the unchanged row");
    assert!(unchanged.contains("id=\"line-152\"") && unchanged.contains("佐藤 太郎"));
}

fn unescape_href(href: &str) -> String {
    href.replace("&#x2f;", "/").replace("&amp;", "&").replace("&#x3d;", "=")
}

#[tokio::test]
async fn sqlite_each_row_has_its_outcome_on_the_import_page() {
    each_row_has_its_outcome_on_the_import_page(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_each_row_has_its_outcome_on_the_import_page() {
    each_row_has_its_outcome_on_the_import_page(Backend::Postgres).await;
}
