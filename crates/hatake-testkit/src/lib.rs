//! Test support for hatake: free TCP ports and throwaway PostgreSQL clusters.
//!
//! [`PgCluster`] runs `initdb` into a temporary directory and starts a private server on a
//! free port, tuned for tests (no fsync). [`PgCluster::shared`] starts one per test process
//! and [`PgCluster::fresh_database`] hands each test its own empty database on it.
//!
//! PostgreSQL refuses to run as root. When the tests run as root, the server binaries are run
//! as the unprivileged user `nobody` (override with `HATAKE_PG_USER`) through `runuser` or
//! `setpriv`, and the cluster's directory is handed to that user.
//!
//! A shared cluster lives in a static, which is never dropped. A small watchdog shell process
//! holds the read end of a pipe whose write end only the test process holds; when the test
//! process exits for any reason (even `SIGKILL`), the pipe closes and the watchdog stops the
//! server with `pg_ctl stop -m immediate` and removes the directory.
//!
//! [`smtp::SmtpSink`] is a real SMTP server on a free port that records the mail it is sent.

pub mod smtp;

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, released).
///
/// # Panics
/// If no socket can be bound on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
    listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("cannot read the bound port: {e}"))
}

const INSTALL_HINT: &str = "PostgreSQL 15 server binaries (initdb, pg_ctl, postgres) are needed for the PostgreSQL \
tests and were not found on PATH, in HATAKE_PG_BIN, or under /usr/lib/postgresql/*/bin. Install them: \
Debian/Ubuntu `apt-get install postgresql` (or `postgresql-15`), Fedora `dnf install postgresql-server`, \
macOS `brew install postgresql@15`; then put the directory holding `initdb` on PATH (on Debian \
/usr/lib/postgresql/15/bin) or set HATAKE_PG_BIN to it.";

/// The PostgreSQL programs to run.
#[derive(Debug, Clone)]
struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    psql: PathBuf,
}

impl Binaries {
    fn find() -> Result<Self, String> {
        let initdb = find_initdb().ok_or_else(|| INSTALL_HINT.to_owned())?;
        // The directory initdb is in, and the directory it really lives in (PATH often holds
        // symlinks, and distribution wrappers such as Debian's /usr/bin/psql need Perl).
        let mut dirs: Vec<PathBuf> = Vec::new();
        if let Some(dir) = initdb.parent() {
            dirs.push(dir.to_owned());
        }
        if let Some(dir) = std::fs::canonicalize(&initdb).ok().and_then(|p| p.parent().map(Path::to_owned)) {
            dirs.insert(0, dir);
        }
        let pick = |name: &str| -> Option<PathBuf> {
            dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)).or_else(|| search_path(name))
        };
        let pg_ctl =
            pick("pg_ctl").ok_or_else(|| format!("found {} but no pg_ctl. {INSTALL_HINT}", initdb.display()))?;
        let psql = pick("psql").ok_or_else(|| {
            format!(
                "found {} but no psql (Debian: apt-get install postgresql-client). {INSTALL_HINT}",
                initdb.display()
            )
        })?;
        Ok(Self { initdb, pg_ctl, psql })
    }
}

fn find_initdb() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HATAKE_PG_BIN").filter(|d| !d.is_empty()) {
        let candidate = Path::new(&dir).join("initdb");
        return is_executable(&candidate).then_some(candidate);
    }
    if let Some(found) = search_path("initdb") {
        return Some(found);
    }
    // Debian and Ubuntu keep the server binaries off PATH.
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let candidate = entry.path().join("bin/initdb");
            is_executable(&candidate).then_some((version, candidate))
        })
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, path)| path)
}

fn search_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How the server programs are run: directly, or as an unprivileged user when we are root.
#[derive(Debug, Clone)]
enum Runner {
    Direct,
    Runuser { runuser: PathBuf, user: String },
    Setpriv { setpriv: PathBuf, uid: u32, gid: u32 },
}

impl Runner {
    /// The runner for this process, and the (uid, gid) the cluster's files must belong to
    /// (`None` when no change of owner is needed).
    fn detect() -> Result<(Self, Option<(u32, u32)>), String> {
        if effective_uid() != Some(0) {
            return Ok((Runner::Direct, None));
        }
        let user = std::env::var("HATAKE_PG_USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "nobody".into());
        let (uid, gid) = lookup_user(&user).ok_or_else(|| {
            format!("running as root, and PostgreSQL refuses to; no user `{user}` to run it as (set HATAKE_PG_USER)")
        })?;
        if uid == 0 {
            return Err(format!("HATAKE_PG_USER `{user}` is root; PostgreSQL needs an unprivileged user"));
        }
        let tool = |name: &str| {
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| is_executable(p))
                .or_else(|| search_path(name))
        };
        let runner = if let Some(runuser) = tool("runuser") {
            Runner::Runuser { runuser, user }
        } else if let Some(setpriv) = tool("setpriv") {
            Runner::Setpriv { setpriv, uid, gid }
        } else {
            return Err("running as root, and PostgreSQL refuses to; neither `runuser` nor `setpriv` (util-linux) \
                        is available to run it as an unprivileged user"
                .into());
        };
        Ok((runner, Some((uid, gid))))
    }

    /// The words that run `program` under this runner.
    fn argv(&self, program: &Path) -> Vec<String> {
        let program = program.display().to_string();
        match self {
            Runner::Direct => vec![program],
            Runner::Runuser { runuser, user } => {
                vec![runuser.display().to_string(), "-u".into(), user.clone(), "--".into(), program]
            }
            Runner::Setpriv { setpriv, uid, gid } => vec![
                setpriv.display().to_string(),
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".into(),
                "--".into(),
                program,
            ],
        }
    }

    fn command(&self, program: &Path, cwd: &Path) -> Command {
        let argv = self.argv(program);
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).current_dir(cwd).stdin(Stdio::null());
        command
    }
}

/// The effective uid, from /proc (std has no geteuid, and this crate forbids unsafe code).
fn effective_uid() -> Option<u32> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        // "Uid:\treal\teffective\tsaved\tfilesystem"
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            return line.split_whitespace().nth(2).and_then(|v| v.parse().ok());
        }
    }
    let output = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let from_file = passwd.as_deref().and_then(|text| {
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() >= 4 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))?
        })
    });
    from_file.or_else(|| {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, name]).output().ok().filter(|o| o.status.success())?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        Some((id("-u")?, id("-g")?))
    })
}

/// Where to make the cluster's directory: the system temporary directory, unless the server's
/// user could not reach it or the socket path would be too long, then /tmp.
fn temp_base(foreign_owner: bool) -> PathBuf {
    let base = std::env::temp_dir();
    // Unix socket paths are limited to ~107 bytes; ours adds ~30 to the base.
    let short_enough = base.as_os_str().len() <= 70;
    let reachable =
        !foreign_owner || base.ancestors().all(|dir| std::fs::metadata(dir).is_ok_and(|m| m.mode() & 0o001 != 0));
    if short_enough && reachable {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

fn describe(output: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end()
    )
}

fn run(mut command: Command, what: &str) -> Result<Output, String> {
    let output = command.output().map_err(|e| format!("{what}: cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!("{what} failed: {command:?}\n{}", describe(&output)))
    }
}

/// Stops the server when the test process goes away (see the crate documentation).
/// Arguments: `$1` the cluster directory, `$2` the data directory, the rest the command
/// that runs `pg_ctl`.
const WATCHDOG: &str = r#"
trap '' INT HUP TERM
while read -r _line; do :; done
dir="$1"; data="$2"; shift 2
cd /
# An initdb or pg_ctl start the test process left running may still (re)create files: keep
# stopping and removing until the directory has stayed gone for a few seconds.
tries=0; gone=0
while [ "$tries" -lt 60 ] && [ "$gone" -lt 3 ]; do
  if [ -f "$data/postmaster.pid" ]; then
    "$@" -D "$data" stop -m immediate -w -t 30 >/dev/null 2>&1
  fi
  if [ -e "$dir" ]; then gone=0; rm -rf "$dir"; else gone=$((gone + 1)); fi
  sleep 1; tries=$((tries + 1))
done
"#;

/// A throwaway PostgreSQL cluster on 127.0.0.1, stopped and deleted when dropped (or, for
/// [`PgCluster::shared`], when the test process exits).
pub struct PgCluster {
    port: u16,
    data: PathBuf,
    bins: Binaries,
    runner: Runner,
    watchdog: Mutex<Option<Child>>,
    databases: AtomicU64,
    /// Last, so the directory is removed after the server is stopped.
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster").field("port", &self.port).field("data", &self.data).finish_non_exhaustive()
    }
}

static SHARED: OnceLock<PgCluster> = OnceLock::new();

impl PgCluster {
    /// The cluster shared by every test in this process, started on first use.
    ///
    /// # Panics
    /// See [`PgCluster::start`].
    pub fn shared() -> &'static PgCluster {
        SHARED.get_or_init(PgCluster::start)
    }

    /// Creates and starts a new cluster.
    ///
    /// # Panics
    /// When PostgreSQL is not installed (the message says how to install it) or the cluster
    /// cannot be created or started (the message holds the server's log).
    pub fn start() -> PgCluster {
        match Self::try_start() {
            Ok(cluster) => cluster,
            Err(message) => panic!("cannot start a throwaway PostgreSQL cluster: {message}"),
        }
    }

    /// [`PgCluster::start`], returning what went wrong instead of panicking.
    ///
    /// # Errors
    /// A description of the failure.
    pub fn try_start() -> Result<PgCluster, String> {
        let bins = Binaries::find()?;
        let (runner, owner) = Runner::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("hatake-pg-")
            .tempdir_in(temp_base(owner.is_some()))
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("cannot hand {} to uid {uid}: {e}", dir.path().display()))?;
        }
        let data = dir.path().join("data");
        // The watchdog comes first, so a cluster is never left running without one.
        let watchdog = spawn_watchdog(dir.path(), &data, &runner, &bins)?;
        let mut cluster = PgCluster {
            port: 0,
            data,
            bins,
            runner,
            watchdog: Mutex::new(Some(watchdog)),
            databases: AtomicU64::new(0),
            dir,
        };
        cluster.initdb()?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn initdb(&self) -> Result<(), String> {
        let common = ["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"];
        let mut command = self.runner.command(&self.bins.initdb, self.dir.path());
        command.arg("-D").arg(&self.data).args(common).arg("--locale=C.UTF-8");
        let first = match run(command, "initdb") {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // No C.UTF-8 locale on this system: fall back to plain C.
        let _ = std::fs::remove_dir_all(&self.data);
        let mut command = self.runner.command(&self.bins.initdb, self.dir.path());
        command.arg("-D").arg(&self.data).args(common).arg("--no-locale");
        run(command, "initdb --no-locale").map(drop).map_err(|second| format!("{first}\n\n{second}"))
    }

    fn start_server(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("server.log");
        let mut errors = Vec::new();
        // The port may be taken between finding it and binding it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200",
                self.dir.path().display()
            );
            let mut command = self.runner.command(&self.bins.pg_ctl, self.dir.path());
            command.arg("-D").arg(&self.data).arg("-l").arg(&log).arg("-o").arg(options).args(["-w", "-t", "60"]);
            command.arg("start");
            match run(command, "pg_ctl start") {
                Ok(_) => {
                    self.port = port;
                    return Ok(());
                }
                Err(e) => {
                    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
                    errors.push(format!("{e}\n--- server log\n{server_log}"));
                }
            }
        }
        Err(errors.join("\n\n"))
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a new, empty, uniquely named database and returns its URL
    /// (`postgres://postgres@127.0.0.1:PORT/NAME`).
    ///
    /// # Panics
    /// When the database cannot be created.
    pub fn fresh_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("hatake_test_{}_{n}", std::process::id());
        self.psql(&format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("{e}"));
        self.url(&name)
    }

    /// Runs one SQL statement as the superuser in the `postgres` database; returns its
    /// unaligned, tuples-only output.
    ///
    /// # Errors
    /// The statement's error with psql's output.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let mut command = Command::new(&self.bins.psql);
        command
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d"])
            .arg("postgres")
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg(sql)
            .env("PGCONNECT_TIMEOUT", "30")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .stdin(Stdio::null());
        let output = run(command, "psql")?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Whether something accepts TCP connections on the cluster's port.
    pub fn is_listening(&self) -> bool {
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port).into();
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
    }

    /// Stops the server now (`pg_ctl stop -m immediate`); idempotent.
    pub fn stop(&self) {
        if !self.data.join("postmaster.pid").exists() {
            return;
        }
        let mut command = self.runner.command(&self.bins.pg_ctl, self.dir.path());
        command.arg("-D").arg(&self.data).args(["stop", "-m", "immediate", "-w", "-t", "30"]);
        if let Err(e) = run(command, "pg_ctl stop") {
            eprintln!("hatake-testkit: {e}");
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
        let watchdog = self.watchdog.get_mut().map_or_else(|p| p.into_inner().take(), Option::take);
        if let Some(mut child) = watchdog {
            // Our own child, by handle: it must not remove the directory TempDir is removing.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn_watchdog(dir: &Path, data: &Path, runner: &Runner, bins: &Binaries) -> Result<Child, String> {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(WATCHDOG)
        .arg("hatake-pg-watchdog")
        .arg(dir)
        .arg(data)
        .args(runner.argv(&bins.pg_ctl))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().map_err(|e| format!("cannot start the cluster watchdog (/bin/sh): {e}"))?;
    // The watchdog must still be waiting; fail early if the shell could not run the script.
    std::thread::sleep(Duration::from_millis(10));
    if let Ok(Some(status)) = child.try_wait() {
        return Err(format!("the cluster watchdog (/bin/sh) exited at once: {status}"));
    }
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).expect("the port should be free");
    }

    #[test]
    fn shared_cluster_serves_distinct_fresh_databases() {
        let cluster = PgCluster::shared();
        assert!(std::ptr::eq(cluster, PgCluster::shared()), "one cluster per process");
        assert!(cluster.is_listening(), "nothing listens on 127.0.0.1:{}", cluster.port());
        let a = cluster.fresh_database();
        let b = cluster.fresh_database();
        assert_ne!(a, b);
        let prefix = format!("postgres://postgres@127.0.0.1:{}/", cluster.port());
        assert!(a.starts_with(&prefix) && b.starts_with(&prefix), "{a} {b}");
        let names = cluster.psql("SELECT datname FROM pg_database ORDER BY datname").unwrap();
        for url in [&a, &b] {
            let name = url.rsplit('/').next().unwrap();
            assert!(names.lines().any(|l| l == name), "{name} not in {names:?}");
        }
        let encoding = cluster.psql("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'postgres'");
        assert_eq!(encoding.unwrap(), "UTF8");
        assert_eq!(cluster.psql("SHOW fsync").unwrap(), "off");
    }

    #[test]
    fn own_cluster_stops_and_is_removed_on_drop() {
        let cluster = PgCluster::start();
        let port = cluster.port();
        let dir = cluster.dir.path().to_owned();
        assert!(cluster.is_listening());
        assert_ne!(port, PgCluster::shared().port());
        drop(cluster);
        let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into();
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(), "still listening on {port}");
        assert!(!dir.exists(), "{} not removed", dir.display());
    }

    #[test]
    fn watchdog_stops_the_server_when_its_pipe_closes() {
        let cluster = PgCluster::start();
        let pid_file = cluster.data_dir().join("postmaster.pid");
        assert!(pid_file.exists());
        // What happens when the test process exits: the pipe's write end closes.
        let mut child = cluster.watchdog.lock().unwrap().take().unwrap();
        drop(child.stdin.take());
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert!(!cluster.is_listening(), "the watchdog left the server running");
        assert!(!cluster.dir.path().exists(), "the watchdog left the directory");
        drop(cluster);
    }
}
