//! Zero-configuration database for `sizegate serve`: without
//! `DATABASE_URL`, find a PostgreSQL server that lets us in (the local
//! socket as the OS user, then `postgres@127.0.0.1:5432`), else start a
//! private cluster under `<data dir>/postgres` with the PostgreSQL server
//! programs installed on this machine, and stop it again on shutdown.
//!
//! `SIZEGATE_DB_PROBES` replaces the list of URLs tried first
//! (comma-separated; empty: try none), for machines (and tests) where the
//! usual places must not be used; `SIZEGATE_PG_BIN` names the directory of
//! `initdb` and `pg_ctl` (one without them: start no cluster).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use sqlx::Connection as _;

/// The URLs tried, in order, before starting a private cluster.
const DEFAULT_PROBES: [&str; 2] = [
    "postgres:///sizegate",
    "postgres://postgres@127.0.0.1:5432/sizegate",
];

/// The env var that replaces [`DEFAULT_PROBES`].
pub const PROBES_ENV: &str = "SIZEGATE_DB_PROBES";

/// The env var naming the directory of the PostgreSQL server programs.
pub const BIN_ENV: &str = "SIZEGATE_PG_BIN";

/// Port of the private cluster's socket (only the socket file's name: the
/// cluster listens on no TCP port unless its folder's path is too long).
const SOCKET_PORT: u16 = 5432;

/// Longest socket directory path (the socket file's full path must fit in
/// `sun_path`, 108 bytes, with `/.s.PGSQL.5432` after it).
const MAX_SOCKET_DIR: usize = 90;

/// The database chosen, and the private cluster to stop, if one was started.
#[derive(Debug)]
pub struct LocalDatabase {
    /// The URL to connect to.
    pub url: String,
    /// The cluster started by this process, stopped on drop.
    pub cluster: Option<PrivateCluster>,
}

/// Find or start a database; `data_dir` is `--data-dir`.
pub async fn find_or_start(data_dir: &Path) -> anyhow::Result<LocalDatabase> {
    let probes: Vec<String> = match std::env::var(PROBES_ENV) {
        Ok(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(_) => DEFAULT_PROBES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut tried = Vec::new();
    for url in probes {
        match probe(&url).await {
            Ok(()) => {
                tracing::info!(
                    database = %sizegate_store::redact_database_url(&url),
                    "using the PostgreSQL server found at {}",
                    sizegate_store::redact_database_url(&url)
                );
                return Ok(LocalDatabase { url, cluster: None });
            }
            Err(why) => tried.push(format!(
                "{}: {why}",
                sizegate_store::redact_database_url(&url)
            )),
        }
    }
    let Some(bin) = find_server_programs() else {
        anyhow::bail!("{}", no_database_message(&tried));
    };
    let folder = absolute(&data_dir.join("postgres"))?;
    let cluster = PrivateCluster::start(bin, folder).await.context(
        "starting a private PostgreSQL cluster (set DATABASE_URL to use another server)",
    )?;
    let url = cluster.url();
    tracing::info!(
        folder = %cluster.folder.display(),
        "using a private PostgreSQL cluster in {} (stopped on shutdown)",
        cluster.folder.display()
    );
    Ok(LocalDatabase {
        url,
        cluster: Some(cluster),
    })
}

/// The error shown when no database can be found or started.
fn no_database_message(tried: &[String]) -> String {
    let mut message = String::from(
        "no PostgreSQL database: set DATABASE_URL, e.g.\n  \
         DATABASE_URL=postgres://USER:PASSWORD@localhost:5432/sizegate sizegate serve\n\
         or install PostgreSQL's server programs (Debian/Ubuntu: `apt install postgresql`; \
         Fedora: `dnf install postgresql-server`; macOS: `brew install postgresql`) and run \
         `sizegate serve` again: it then starts a private cluster under ./sizegate-data/postgres.",
    );
    if !tried.is_empty() {
        message.push_str("\nTried:");
        for line in tried {
            message.push_str("\n  ");
            message.push_str(line);
        }
    }
    message
}

/// Whether `url` takes us in: the server answers and the role exists. A
/// missing database is fine (it is created).
async fn probe(url: &str) -> Result<(), String> {
    let options: sqlx::postgres::PgConnectOptions = url.parse().map_err(|e| format!("{e}"))?;
    let attempt = tokio::time::timeout(
        Duration::from_secs(3),
        sqlx::PgConnection::connect_with(&options),
    )
    .await;
    match attempt {
        Err(_) => Err("no answer within 3 s".into()),
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(sqlx::Error::Database(e))) if e.code().as_deref() == Some("3D000") => Ok(()),
        Ok(Err(sqlx::Error::Database(e))) => Err(e.message().to_owned()),
        Ok(Err(sqlx::Error::Io(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
    }
}

/// A directory holding `initdb` and `pg_ctl`: PATH first, then the
/// newest of Debian's `/usr/lib/postgresql/*/bin`, then Homebrew's.
fn find_server_programs() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(BIN_ENV) {
        let dir = PathBuf::from(dir);
        return has_both(&dir).then_some(dir);
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_both(d))
    {
        return Some(dir);
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    for parent in ["/usr/lib/postgresql", "/opt/homebrew/opt", "/usr/local/opt"] {
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        let mut found: Vec<(u32, PathBuf)> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name().to_str()?.to_owned();
                // Debian: `15`; Homebrew: `postgresql@16` or `postgresql`.
                let version = name
                    .strip_prefix("postgresql@")
                    .or_else(|| (name == "postgresql").then_some("0"))
                    .unwrap_or(&name)
                    .parse()
                    .ok()?;
                let bin = entry.path().join("bin");
                has_both(&bin).then_some((version, bin))
            })
            .collect();
        found.sort();
        candidates.extend(found.into_iter().rev().map(|(_, bin)| bin));
    }
    candidates.extend(["/opt/homebrew/bin", "/usr/local/bin"].map(PathBuf::from));
    candidates.into_iter().find(|d| has_both(d))
}

/// `path` made absolute, without `.` components.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    let full = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .context("reading the current directory")?
            .join(path)
    };
    Ok(full
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect())
}

/// The unprivileged OS user a cluster runs as when we are root (PostgreSQL
/// refuses to run as root).
#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

impl RunAs {
    /// `None` when not root; else `postgres`, or `nobody`.
    fn choose() -> anyhow::Result<Option<RunAs>> {
        if id(&["-u"])? != 0 {
            return Ok(None);
        }
        for name in ["postgres", "nobody"] {
            if let (Ok(uid), Ok(gid)) = (id(&["-u", name]), id(&["-g", name])) {
                return Ok(Some(RunAs {
                    name: name.to_owned(),
                    uid,
                    gid,
                }));
            }
        }
        anyhow::bail!(
            "running as root, and neither a `postgres` nor a `nobody` OS user exists to run \
             PostgreSQL as (it refuses to run as root); set DATABASE_URL instead"
        )
    }
}

/// A number printed by `id ARGS`.
fn id(args: &[&str]) -> anyhow::Result<u32> {
    let output = Command::new("id")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .context("running `id`")?;
    anyhow::ensure!(output.status.success(), "`id {}` failed", args.join(" "));
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .context("reading the output of `id`")
}

/// A cluster this process initialised (if needed) and started.
#[derive(Debug)]
pub struct PrivateCluster {
    bin: PathBuf,
    /// `<data dir>/postgres`: the cluster's `data/`, its log, its socket.
    folder: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<RunAs>,
    stopped: bool,
}

impl PrivateCluster {
    async fn start(bin: PathBuf, folder: PathBuf) -> anyhow::Result<PrivateCluster> {
        let run_as = RunAs::choose()?;
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        // A short socket path: the folder itself, or a private one in /tmp.
        let socket_dir = if folder.as_os_str().len() <= MAX_SOCKET_DIR {
            folder.clone()
        } else {
            let dir = std::env::temp_dir().join(format!("sizegate-pg-{}", std::process::id()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            dir
        };
        if let Some(user) = &run_as {
            for dir in [&folder, &socket_dir] {
                chown_recursive(dir, user)?;
            }
        }
        set_mode(&folder, 0o700)?;
        let mut cluster = PrivateCluster {
            bin,
            folder,
            socket_dir,
            run_as,
            stopped: true,
        };
        let data = cluster.folder.join("data");
        if !data.join("PG_VERSION").exists() {
            cluster.run(
                "initdb",
                &[
                    "-D".into(),
                    data.display().to_string(),
                    "-U".into(),
                    "postgres".into(),
                    "-A".into(),
                    "trust".into(),
                    "-E".into(),
                    "UTF8".into(),
                    "--no-instructions".into(),
                ],
            )?;
        }
        let options = format!(
            "-k {} -p {SOCKET_PORT} -c listen_addresses=''",
            shell_quote(&cluster.socket_dir.display().to_string())
        );
        cluster.stopped = false;
        cluster.run(
            "pg_ctl",
            &[
                "-D".into(),
                data.display().to_string(),
                "-l".into(),
                cluster.folder.join("postgres.log").display().to_string(),
                "-o".into(),
                options,
                "-w".into(),
                "-t".into(),
                "60".into(),
                "start".into(),
            ],
        )?;
        Ok(cluster)
    }

    /// The URL of the `sizegate` database on the cluster's socket.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse("postgres://postgres@localhost/sizegate")
            .expect("a constant URL parses");
        url.query_pairs_mut()
            .append_pair("host", &self.socket_dir.display().to_string())
            .append_pair("port", &SOCKET_PORT.to_string());
        url.to_string()
    }

    /// Run a PostgreSQL program as the cluster's user, in its folder, in a
    /// process group of its own (a ctrl-c in the terminal reaches sizegate,
    /// which then stops the cluster itself).
    fn run(&self, program: &str, args: &[String]) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt as _;
        let mut command = Command::new(self.bin.join(program));
        command
            .args(args)
            .current_dir(&self.folder)
            .stdin(Stdio::null())
            .process_group(0);
        if let Some(user) = &self.run_as {
            // std drops root's supplementary groups when it changes the uid.
            command
                .uid(user.uid)
                .gid(user.gid)
                .env("USER", &user.name)
                .env("LOGNAME", &user.name);
        }
        let output = command
            .output()
            .with_context(|| format!("running {}", self.bin.join(program).display()))?;
        if !output.status.success() {
            let log = std::fs::read_to_string(self.folder.join("postgres.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            anyhow::bail!(
                "{program} failed ({}): {}{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim(),
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\nlast lines of {}:\n{}",
                        self.folder.join("postgres.log").display(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    )
                }
            );
        }
        Ok(())
    }

    /// Stop the cluster (fast shutdown: open connections are closed).
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let data = self.folder.join("data").display().to_string();
        let args = ["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"].map(String::from);
        match self.run("pg_ctl", &args) {
            Ok(()) => tracing::info!("private PostgreSQL cluster stopped"),
            Err(e) => tracing::warn!(error = %e, "stopping the private PostgreSQL cluster"),
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Quote a path for the postmaster's option string (pg_ctl passes `-o`
/// through a shell).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// Give `dir` and everything in it to `user`.
fn chown_recursive(dir: &Path, user: &RunAs) -> anyhow::Result<()> {
    std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
        .with_context(|| format!("giving {} to the OS user {}", dir.display(), user.name))?;
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let kind = entry.file_type().context("reading a file type")?;
        if kind.is_dir() {
            chown_recursive(&entry.path(), user)?;
        } else if !kind.is_symlink() {
            std::os::unix::fs::chown(entry.path(), Some(user.uid), Some(user.gid))
                .with_context(|| format!("giving {} to {}", entry.path().display(), user.name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_database_url_and_the_package() {
        let text =
            no_database_message(&["postgres:///sizegate: role \"root\" does not exist".into()]);
        assert!(text.contains("DATABASE_URL=postgres://"));
        assert!(text.contains("apt install postgresql"));
        assert!(text.contains("role \"root\" does not exist"));
    }

    #[test]
    fn the_cluster_url_points_at_its_socket() {
        let cluster = PrivateCluster {
            bin: PathBuf::from("/nonexistent"),
            folder: PathBuf::from("/srv/x/postgres"),
            socket_dir: PathBuf::from("/srv/x/postgres"),
            run_as: None,
            stopped: true,
        };
        let options: sqlx::postgres::PgConnectOptions = cluster.url().parse().unwrap();
        assert_eq!(
            options.get_socket(),
            Some(&PathBuf::from("/srv/x/postgres"))
        );
        assert_eq!(options.get_port(), SOCKET_PORT);
        assert_eq!(options.get_database(), Some("sizegate"));
    }
}
