//! Throwaway PostgreSQL: a [`Cluster`] made with `initdb`/`pg_ctl` in a temp folder, and a
//! [`TestPostgres`] database per test — in `DATABASE_URL`'s server when it is set, else in a
//! cluster shared by the whole test process.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use tokio_postgres::NoTls;

use crate::block_on;

/// The superuser every throwaway cluster is made with (trust authentication, loopback only).
pub const SUPERUSER: &str = "labdesk";

/// A PostgreSQL cluster of its own: listening on a free port of 127.0.0.1 only, trust auth,
/// no durability (fsync off: it is thrown away). Stopped and removed when dropped; a watchdog
/// process does the same if the test process dies first.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    pg_ctl: PathBuf,
    /// `runuser -u postgres --` when running as root (initdb refuses root).
    run_as: Vec<String>,
}

impl Cluster {
    pub fn start() -> Result<Cluster> {
        let bin = binaries()?;
        let run_as = if effective_uid()? == 0 {
            ensure_postgres_user()?;
            vec!["runuser".to_owned(), "-u".to_owned(), "postgres".to_owned(), "--".to_owned()]
        } else {
            Vec::new()
        };
        let dir = tempfile::Builder::new().prefix("labdesk-pg-").tempdir().context("cannot make a temp folder")?;
        if !run_as.is_empty() {
            let (uid, gid) = postgres_ids()?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .with_context(|| format!("cannot give {} to the postgres user", dir.path().display()))?;
        }
        let data = dir.path().join("data");
        let output = command(&run_as, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .context("cannot run initdb")?;
        if !output.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        let pg_ctl = bin.join("pg_ctl");
        let mut last_error = String::new();
        // A free port can be taken by someone else between our probe and the server's bind.
        for _ in 0..5 {
            let port = free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                dir.path().display()
            );
            let output = command(&run_as, &pg_ctl)
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("log"))
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .stdin(Stdio::null())
                .output()
                .context("cannot run pg_ctl")?;
            if output.status.success() {
                let cluster = Cluster { dir, port, pg_ctl, run_as };
                cluster.spawn_watchdog();
                block_on(wait_until_ready(cluster.admin_url()))?;
                return Ok(cluster);
            }
            last_error = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        }
        bail!("PostgreSQL did not start: {}", last_error.trim())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the cluster's `postgres` database, as its superuser.
    pub fn admin_url(&self) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the cluster when this process is gone, however it ended (a panic, a kill, or a
    /// static cluster that is never dropped).
    fn spawn_watchdog(&self) {
        let stop = self.stop_command_line();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.path().display()
        );
        let spawned = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no watchdog for the test cluster: it may outlive a crashed test");
        }
    }

    fn stop_command_line(&self) -> String {
        let mut words: Vec<String> = self.run_as.clone();
        words.push(self.pg_ctl.display().to_string());
        words.extend(["-D".to_owned(), self.dir.path().join("data").display().to_string()]);
        words.extend(["-m", "immediate", "stop"].map(str::to_owned));
        words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" ")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = command(&self.run_as, &self.pg_ctl)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdin(Stdio::null())
            .output();
    }
}

fn command(run_as: &[String], program: &Path) -> Command {
    match run_as.split_first() {
        Some((first, rest)) => {
            let mut command = Command::new(first);
            command.args(rest).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The folder with `initdb` and `pg_ctl`: on PATH, or the newest `/usr/lib/postgresql/*/bin`.
fn binaries() -> Result<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                // Follow the symlink to the real bin folder, so pg_ctl finds `postgres` beside it.
                let initdb = std::fs::canonicalize(dir.join("initdb")).unwrap_or_else(|_| dir.join("initdb"));
                let real = initdb.parent().map(Path::to_path_buf).unwrap_or(dir);
                if has_both(&real) {
                    return Ok(real);
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.split('.').next()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "PostgreSQL's initdb and pg_ctl are not on PATH nor in /usr/lib/postgresql/*/bin: install the `postgresql` \
             package (apt-get install postgresql), or set DATABASE_URL to a PostgreSQL server the tests may create \
             databases in"
        )
    })
}

/// The effective user id, read from `/proc/self` (owned by it), else from `id -u`.
fn effective_uid() -> Result<u32> {
    if let Ok(meta) = std::fs::metadata("/proc/self") {
        return Ok(meta.uid());
    }
    let output = Command::new("id").arg("-u").output().context("cannot run `id -u`")?;
    String::from_utf8_lossy(&output.stdout).trim().parse().context("`id -u` did not print a number")
}

fn ensure_postgres_user() -> Result<()> {
    if Command::new("id").arg("postgres").stdout(Stdio::null()).stderr(Stdio::null()).status()?.success() {
        return Ok(());
    }
    let status = Command::new("useradd").args(["--system", "postgres"]).status().context("cannot run useradd")?;
    if !status.success() {
        bail!("initdb refuses to run as root and there is no postgres user; `useradd --system postgres` failed");
    }
    Ok(())
}

fn postgres_ids() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let output = Command::new("id").args([flag, "postgres"]).output()?;
        String::from_utf8_lossy(&output.stdout).trim().parse().with_context(|| format!("`id {flag} postgres`"))
    };
    Ok((id("-u")?, id("-g")?))
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?.local_addr()?.port())
}

/// Polls a connection until the server answers (pg_ctl -w waits too, but on the socket).
async fn wait_until_ready(url: String) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match tokio_postgres::connect(&url, NoTls).await {
            Ok((client, connection)) => {
                let driver = tokio::spawn(connection);
                client.simple_query("SELECT 1").await?;
                drop(client);
                let _ = driver.await;
                return Ok(());
            }
            Err(e) if Instant::now() > deadline => return Err(e).context("PostgreSQL did not become ready"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// A fresh, empty database, dropped when this is dropped.
#[derive(Debug)]
pub struct TestPostgres {
    /// Connect here: `postgres://USER@HOST:PORT/DATABASE`.
    pub url: String,
    admin_url: String,
    name: String,
}

static SHARED: OnceLock<std::result::Result<Cluster, String>> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestPostgres {
    /// A new database in `DATABASE_URL`'s server when it is set, else in this process's shared
    /// throwaway cluster (started on first use; a database per test is much cheaper than a
    /// cluster per test).
    pub fn start() -> Result<TestPostgres> {
        let admin_url = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => url,
            _ => match SHARED.get_or_init(|| Cluster::start().map_err(|e| format!("{e:#}"))) {
                Ok(cluster) => cluster.admin_url(),
                Err(e) => bail!("{e}"),
            },
        };
        Self::create_in(&admin_url)
    }

    /// A new database in the server that `admin_url` connects to (as a user that may create
    /// databases).
    pub fn create_in(admin_url: &str) -> Result<TestPostgres> {
        let mut url = url::Url::parse(admin_url)
            .map_err(|e| anyhow!("the database URL is not a postgres:// URL ({e}); the tests need one"))?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("labdesk_test_{}_{}_{nanos:x}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let admin = admin_url.to_owned();
        let create = format!("CREATE DATABASE \"{name}\"");
        block_on(async move { execute(&admin, &create).await })?;
        url.set_path(&format!("/{name}"));
        Ok(TestPostgres { url: url.to_string(), admin_url: admin_url.to_owned(), name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = block_on(async move { execute(&admin, &drop).await }) {
            eprintln!("could not drop the test database {}: {e:#}", self.name);
        }
    }
}

async fn execute(url: &str, sql: &str) -> Result<()> {
    let (client, connection) =
        tokio_postgres::connect(url, NoTls).await.with_context(|| format!("cannot connect to {}", redact(url)))?;
    let driver = tokio::spawn(connection);
    let outcome = client.batch_execute(sql).await.with_context(|| format!("`{sql}` failed"));
    drop(client);
    let _ = driver.await;
    outcome
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
