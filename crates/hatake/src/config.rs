//! Settings, layered: command-line flags, then `HATAKE_*` environment variables (clap reads
//! both, flags first), then an optional TOML file, then defaults. Secrets (the database
//! URL's password) are never printed: see [`redact_url`].

use anyhow::{bail, Context};
use hatake_engine::mail::config::{parse_smtp_url, MailConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "hatake-data";
pub const DEFAULT_TIME_ZONE: &str = "Asia/Tokyo";

/// Options every command that opens the database shares.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite database (ignored with --database-url).
    #[arg(long, env = "HATAKE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL instead of the embedded SQLite: postgres://user:password@host:port/db
    #[arg(long, env = "HATAKE_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A TOML file with any of: data_dir, database_url, listen, time_zone, secure_cookies,
    /// smtp_url, mail_dir.
    #[arg(long, env = "HATAKE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Options of the commands that serve HTTP.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; 127.0.0.1 keeps hatake private to this machine.
    #[arg(long, env = "HATAKE_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// The organisation's time zone for showing times.
    #[arg(long, env = "HATAKE_TIME_ZONE", value_name = "IANA_NAME")]
    pub time_zone: Option<String>,
    /// Mark cookies Secure (use when hatake is reached over HTTPS, e.g. behind a proxy).
    #[arg(long, env = "HATAKE_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
    /// Where mail goes: smtp://user:password@host:587 (STARTTLS; ?tls=none for a trusted relay,
    /// smtps:// for TLS from the start). Overrides the mail settings page.
    #[arg(long, env = "HATAKE_SMTP_URL", value_name = "URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Write mail as .eml files into this directory instead of sending it (development).
    #[arg(long, env = "HATAKE_MAIL_DIR", value_name = "DIR")]
    pub mail_dir: Option<PathBuf>,
    /// A PEM file of certificate authorities to trust besides the usual ones, for an SMTP server
    /// whose certificate comes from the company's own CA (with --smtp-url).
    #[arg(long, env = "HATAKE_SMTP_CA_FILE", value_name = "FILE")]
    pub smtp_ca_file: Option<PathBuf>,
}

/// What the TOML file may contain.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<String>,
    time_zone: Option<String>,
    secure_cookies: Option<bool>,
    smtp_url: Option<String>,
    smtp_ca_file: Option<PathBuf>,
    mail_dir: Option<PathBuf>,
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite { data_dir: PathBuf },
    Postgres { url: String },
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite { data_dir } => write!(f, "SQLite in {}", data_dir.display()),
            Database::Postgres { url } => write!(f, "PostgreSQL at {}", redact_url(url)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: Database,
    pub listen: SocketAddr,
    pub time_zone: String,
    pub secure_cookies: bool,
    /// Where mail goes, when the configuration says (else the mail settings page decides).
    pub mail: Option<MailConfig>,
}

fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else { return Ok(FileConfig::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

/// Resolves the settings; `default_data_dir` differs between `serve` and `demo`.
///
/// # Errors
/// An unreadable or invalid config file, a database URL that is not PostgreSQL, an address
/// that does not parse, or an unknown time zone.
pub fn resolve(store: &StoreArgs, serve: &ServeArgs, default_data_dir: &str) -> anyhow::Result<Settings> {
    let file = read_file(store.config.as_deref())?;
    let database = match store.database_url.clone().or(file.database_url) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Database::Postgres { url },
        Some(url) => bail!("--database-url must start with postgres:// (got {})", redact_url(&url)),
        None => Database::Sqlite {
            data_dir: store.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(default_data_dir)),
        },
    };
    let listen_text = serve.listen.clone().or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen: SocketAddr = listen_text
        .parse()
        .with_context(|| format!("--listen must be ADDR:PORT such as 127.0.0.1:8080 (got {listen_text})"))?;
    let time_zone = serve.time_zone.clone().or(file.time_zone).unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
    if !hatake_web::valid_time_zone(&time_zone) {
        bail!("unknown time zone {time_zone}; use an IANA name such as Asia/Tokyo");
    }
    let secure_cookies = serve.secure_cookies.or(file.secure_cookies).unwrap_or(false);
    let mail = match (serve.smtp_url.clone().or(file.smtp_url), serve.mail_dir.clone().or(file.mail_dir)) {
        (Some(_), Some(_)) => bail!("give either --smtp-url or --mail-dir, not both"),
        (Some(url), None) => {
            let mut settings = parse_smtp_url(&url).map_err(|e| anyhow::anyhow!("--smtp-url is not valid: {e}"))?;
            if let Some(path) = serve.smtp_ca_file.clone().or(file.smtp_ca_file) {
                let pem = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("--smtp-ca-file {}: {e}", path.display()))?;
                hatake_engine::mail::smtp::tls_config(Some(&pem))
                    .map_err(|e| anyhow::anyhow!("--smtp-ca-file {}: {e}", path.display()))?;
                settings.tls_roots = Some(pem);
            }
            Some(MailConfig::Smtp(settings))
        }
        (None, Some(dir)) => Some(MailConfig::File { dir }),
        (None, None) => None,
    };
    Ok(Settings { database, listen, time_zone, secure_cookies, mail })
}

/// The URL with any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return url.to_owned() };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
    let slash = if rest.contains('/') { "/" } else { "" };
    format!("{scheme}://{masked}@{host}{slash}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/hatake"), "postgres://app:***@db:5432/hatake");
        assert_eq!(redact_url("postgres://app@db/hatake"), "postgres://app@db/hatake");
        assert_eq!(redact_url("postgres://db/hatake"), "postgres://db/hatake");
    }

    #[test]
    fn precedence_is_flags_then_file_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hatake.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9999\"\ndata_dir = \"from-file\"\n").unwrap();
        let store = StoreArgs { config: Some(file.clone()), ..Default::default() };
        let settings = resolve(&store, &ServeArgs::default(), "default").unwrap();
        assert_eq!(settings.listen.port(), 9999);
        assert_eq!(settings.database, Database::Sqlite { data_dir: "from-file".into() });
        let serve = ServeArgs { listen: Some("127.0.0.1:7777".into()), ..Default::default() };
        let store = StoreArgs { config: Some(file), data_dir: Some("flag".into()), ..Default::default() };
        let settings = resolve(&store, &serve, "default").unwrap();
        assert_eq!(settings.listen.port(), 7777);
        assert_eq!(settings.database, Database::Sqlite { data_dir: "flag".into() });
        let settings = resolve(&StoreArgs::default(), &ServeArgs::default(), "default").unwrap();
        assert_eq!(settings.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(settings.time_zone, "Asia/Tokyo");
    }

    #[test]
    fn bad_settings_are_explained() {
        let store = StoreArgs { database_url: Some("mysql://u:pw@h/db".into()), ..Default::default() };
        let error = resolve(&store, &ServeArgs::default(), "d").unwrap_err().to_string();
        assert!(error.contains("postgres://") && !error.contains("pw"), "{error}");
        let serve = ServeArgs { listen: Some("localhost".into()), ..Default::default() };
        assert!(resolve(&StoreArgs::default(), &serve, "d").unwrap_err().to_string().contains("ADDR:PORT"));
        let serve = ServeArgs { time_zone: Some("Mars/Olympus".into()), ..Default::default() };
        assert!(resolve(&StoreArgs::default(), &serve, "d").is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "colour = 1\n").unwrap();
        let store = StoreArgs { config: Some(file), ..Default::default() };
        assert!(resolve(&store, &ServeArgs::default(), "d").unwrap_err().to_string().contains("not valid"));
    }

    #[test]
    fn a_company_authority_is_read_for_smtp() {
        let dir = tempfile::tempdir().unwrap();
        let sink =
            hatake_testkit::smtp::SmtpSink::builder().tls(hatake_testkit::smtp::SinkTls::StartTls).start().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(&pem, sink.authority_pem().unwrap()).unwrap();
        let serve = ServeArgs {
            smtp_url: Some("smtp://relay.example.co.jp".into()),
            smtp_ca_file: Some(pem),
            ..Default::default()
        };
        let settings = resolve(&StoreArgs::default(), &serve, "d").unwrap();
        let Some(MailConfig::Smtp(smtp)) = settings.mail else { panic!("SMTP") };
        assert!(smtp.tls_roots.unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "hello").unwrap();
        let serve = ServeArgs { smtp_ca_file: Some(bad), ..serve };
        let error = resolve(&StoreArgs::default(), &serve, "d").unwrap_err().to_string();
        assert!(error.contains("--smtp-ca-file") && error.contains("no certificate"), "{error}");
    }
}
