//! Test support: a real hatake server on port 0 over a fresh database (SQLite in a temp dir,
//! or a new database on the shared throwaway PostgreSQL cluster), with users of each role.

#![allow(dead_code)]

use hatake_domain::NewUser;
use hatake_store::{Store, UserRow};
use std::sync::Arc;

pub const PASSWORD: &str = "test-password-123";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub store: Arc<dyn Store>,
    pub admin: UserRow,
    pub field_sales: UserRow,
    pub marketer: UserRow,
    pub inside_sales: UserRow,
    /// An API token acting as the admin.
    pub admin_token: String,
    /// An API token acting as a field-sales user.
    pub field_token: String,
    /// The server's background work (its clock, signals, workers).
    pub runtime: Arc<hatake_engine::runtime::Runtime>,
    _dir: Option<tempfile::TempDir>,
    server: Option<tokio::task::JoinHandle<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub async fn open(backend: Backend) -> (Arc<dyn Store>, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open sqlite");
            (Arc::new(store), Some(dir))
        }
        Backend::Postgres => {
            let url = hatake_testkit::PgCluster::shared().fresh_database();
            let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect postgres");
            (Arc::new(store), None)
        }
    }
}

pub async fn add_user(store: &dyn Store, email: &str, name: &str, role: &str) -> UserRow {
    let user = NewUser::parse(email, name, role, PASSWORD).expect("valid user");
    let hash = hatake_web::auth::hash_password(PASSWORD).expect("hash");
    store.create_user(&user, &hash, hatake_web::now_millis()).await.expect("create user")
}

pub async fn add_token(store: &dyn Store, user: &UserRow) -> String {
    let token = format!("{}{}", hatake_web::auth::API_TOKEN_PREFIX, hatake_web::auth::random_token());
    store
        .create_api_token(
            "test",
            &hatake_web::auth::token_hash(&token),
            &token[..10],
            user.id,
            hatake_web::now_millis(),
        )
        .await
        .expect("token");
    token
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with_clock(backend, hatake_engine::runtime::Clock::system()).await
}

/// A server whose background work reads `clock` (a manual one: tests move time).
pub async fn spawn_app_with_clock(backend: Backend, clock: hatake_engine::runtime::Clock) -> TestApp {
    let (store, dir) = open(backend).await;
    let admin = add_user(store.as_ref(), "admin@example.jp", "管理 太郎", "admin").await;
    let field_sales = add_user(store.as_ref(), "sales@example.jp", "営業 次郎", "field_sales").await;
    let marketer = add_user(store.as_ref(), "marketing@example.jp", "真家 花子", "marketer").await;
    let inside_sales = add_user(store.as_ref(), "is@example.jp", "内田 三郎", "inside_sales").await;
    let admin_token = add_token(store.as_ref(), &admin).await;
    let field_token = add_token(store.as_ref(), &field_sales).await;
    let config = hatake_web::WebConfig { secure_cookies: false, time_zone: "Asia/Tokyo".into(), ..Default::default() };
    let served = hatake::serve::Server::start(store.clone(), config, clock, Default::default()).expect("templates");
    let runtime = served.runtime.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = stopped.await;
        };
        served.serve(listener, stopped).await.expect("server");
    });
    TestApp {
        base,
        store,
        admin,
        field_sales,
        marketer,
        inside_sales,
        admin_token,
        field_token,
        runtime,
        _dir: dir,
        server: Some(server),
        shutdown: Some(shutdown),
    }
}

impl TestApp {
    /// Shuts the server down as `hatake serve` does on a signal, and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(std::time::Duration::from_secs(40), server)
                .await
                .expect("the server stops within 40 s")
                .expect("server task");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client that keeps cookies and does not follow redirects (so tests see them).
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Signs in through the real form (fetching its CSRF token first) and returns the client
    /// and the session's CSRF token for later forms.
    pub async fn sign_in(&self, email: &str) -> (reqwest::Client, String) {
        let client = self.browser();
        let page = client.get(self.url("/login")).send().await.expect("login page").text().await.expect("body");
        let csrf = hidden_value(&page, "_csrf").expect("csrf on login form");
        let response = client
            .post(self.url("/login"))
            .form(&[("email", email), ("password", PASSWORD), ("_csrf", &csrf), ("next", "/")])
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status(), 303, "sign-in should redirect");
        let home = client.get(self.url("/leads")).send().await.expect("leads").text().await.expect("body");
        let csrf = hidden_value(&home, "_csrf").expect("csrf in layout");
        (client, csrf)
    }

    pub fn api(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().request(method, self.url(path)).bearer_auth(token)
    }
}

/// A `multipart/form-data` body as a browser sends it: the text fields, then one file in the
/// field `file`. Returns the content type (with its boundary) and the body.
pub fn multipart(fields: &[(&str, &str)], file_name: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----hatakeTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl TestApp {
    /// Sends a file through the import upload form (multipart, with the CSRF token).
    pub async fn upload(
        &self,
        client: &reqwest::Client,
        csrf: &str,
        file_name: &str,
        file: &[u8],
    ) -> reqwest::Response {
        let (content_type, body) = multipart(&[("_csrf", csrf)], file_name, file);
        client.post(self.url("/imports")).header("content-type", content_type).body(body).send().await.expect("upload")
    }

    /// Uploads a file and returns the token of the pending upload (from the redirect to its
    /// mapping step).
    pub async fn upload_token(&self, client: &reqwest::Client, csrf: &str, file_name: &str, file: &[u8]) -> String {
        let response = self.upload(client, csrf, file_name, file).await;
        assert_eq!(response.status(), 303, "the upload is accepted");
        let location = response.headers()["location"].to_str().expect("location").to_owned();
        location.strip_prefix("/imports/uploads/").expect("redirect to the mapping step").to_owned()
    }
}

/// The value of the first hidden input with this name.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}
