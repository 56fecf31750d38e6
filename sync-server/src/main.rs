//! `labdesk-sync`: serves the sync API, and sets up who may sync.
//!
//! ```text
//! labdesk-sync setup --lab North --user ann --workstation FD1     # first run: all of it, prints a token
//! labdesk-sync serve                                               # migrates, then serves
//! labdesk-sync snapshot --lab North                                # builds North's snapshot now
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use labdesk_server_database::{Added, Role, StoreError, SyncStore};
use labdesk_server_postgres::{PgOptions, PgStore};
use labdesk_sync::config::Overrides;
use labdesk_sync::snapshot::{build_and_save_until, Built, Start};
use labdesk_sync::{AppState, Config};
use tokio_util::sync::CancellationToken;

/// mimalloc, as `labdesk` uses: pushes and pulls allocate on one tokio worker and free on
/// another, which glibc's malloc serialises on its arenas. The sync benchmark runs the server in
/// its own process, with this same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "labdesk-sync", version, about = "The LabDesk sync server, and its admin commands.")]
struct Cli {
    /// A TOML configuration file (listen, database_url, max_body_bytes, max_connections,
    /// snapshot_every, snapshot_check_secs).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// The PostgreSQL database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Brings the database schema up to date, then serves the sync API until SIGTERM or Ctrl-C.
    Serve {
        /// Where to listen, IP:PORT (default 127.0.0.1:7400).
        #[arg(long, env = "LABDESK_SYNC_LISTEN")]
        listen: Option<String>,
        /// Build a lab's snapshot once it has this many revisions more than its newest (default
        /// 10000; 0: build none).
        #[arg(long, env = "LABDESK_SYNC_SNAPSHOT_EVERY")]
        snapshot_every: Option<u64>,
        /// How often to look for labs whose snapshot is due, in seconds (default 600).
        #[arg(long, env = "LABDESK_SYNC_SNAPSHOT_CHECK_SECS")]
        snapshot_check_secs: Option<u64>,
    },
    /// Brings the database schema up to date, and exits.
    Migrate,
    /// Labs: each user and workstation belongs to one.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Users: people who sign in on workstations.
    #[command(subcommand)]
    User(UserCommand),
    /// Workstations: registered to a lab by their code (the start of every case number made there).
    #[command(subcommand)]
    Workstation(WorkstationCommand),
    /// Tokens: what a workstation signs in with.
    #[command(subcommand)]
    Token(TokenCommand),
    /// First run: creates the lab, the user and the workstation unless they exist, and issues a
    /// token for them. Safe to run again (it issues another token).
    Setup(SetupArgs),
    /// Builds a lab's snapshot now (what a fresh workstation takes instead of pulling the lab's
    /// whole history), whether or not it is due; the server builds them by itself when they are.
    Snapshot {
        /// The lab, by its name (as `labdesk-sync lab add` or `setup` made it).
        #[arg(long)]
        lab: String,
        /// Build from the central store alone, not from the lab's newest snapshot and what came
        /// after it (each build starts from the one before, so a snapshot passes on whatever the
        /// one before held: this starts the line again).
        #[arg(long)]
        from_scratch: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Creates a lab.
    Add { name: String },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Creates a user in a lab.
    Add {
        #[arg(long)]
        lab: String,
        #[arg(long)]
        name: String,
        /// admin, manager, technician (the default), dentist or staff.
        #[arg(long)]
        role: Option<Role>,
    },
    /// Stops a user from syncing (their tokens are refused), until enabled again.
    Disable { name: String },
    /// Lets a disabled user sync again.
    Enable { name: String },
}

#[derive(Debug, Subcommand)]
enum WorkstationCommand {
    /// Registers a workstation code to a lab.
    Add {
        #[arg(long)]
        lab: String,
        /// 2 to 8 capital letters or digits, e.g. FD1 (fd1 is taken as FD1).
        #[arg(long, value_parser = workstation_code)]
        code: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issues a token for a user on a workstation; prints it once (it is not stored).
    Issue {
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = workstation_code)]
        workstation: String,
    },
    /// Revokes a user's tokens, on one workstation or on all.
    Revoke {
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = workstation_code)]
        workstation: Option<String>,
    },
}

#[derive(Debug, Args)]
struct SetupArgs {
    #[arg(long)]
    lab: String,
    #[arg(long)]
    user: String,
    #[arg(long, value_parser = workstation_code)]
    workstation: String,
    /// The user's role when the user is created (default technician).
    #[arg(long)]
    role: Option<Role>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Admin commands speak for themselves on stderr; the server logs what it does. RUST_LOG wins.
    let default_filter = match cli.command {
        Command::Serve { .. } => "info,refinery_core=warn,tokio_postgres=warn",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("labdesk-sync: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("labdesk-sync: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut overrides = Overrides { database_url: cli.database_url, ..Overrides::default() };
    if let Command::Serve { listen, snapshot_every, snapshot_check_secs } = &cli.command {
        overrides.listen = listen.clone();
        overrides.snapshot_every = *snapshot_every;
        overrides.snapshot_check_secs = *snapshot_check_secs;
    }
    let config = Config::load(cli.config.as_deref(), overrides)?;
    let options = PgOptions { max_connections: config.max_connections, ..PgOptions::default() };
    let store = PgStore::new(config.database_url()?, options)?.with_rules(labdesk_sync::record_rules());
    match cli.command {
        Command::Serve { .. } => serve(config, store).await,
        Command::Migrate => {
            let applied = store.migrate().await?;
            if applied.is_empty() {
                eprintln!("the database schema is up to date");
            } else {
                eprintln!("applied {}", applied.join(", "));
            }
            Ok(())
        }
        Command::Lab(LabCommand::Add { name }) => {
            store.migrate().await?;
            report("lab", &name, &store.add_lab(&name).await?.map_name(|l| l.name.clone()));
            Ok(())
        }
        Command::User(UserCommand::Add { lab, name, role }) => {
            store.migrate().await?;
            let user = store.add_user(&lab, &name, role).await?;
            report("user", &format!("{name} ({}, lab {lab})", user.value().role), &user.map_name(|u| u.name.clone()));
            Ok(())
        }
        Command::User(UserCommand::Disable { name }) => {
            store.set_user_disabled(&name, true).await?;
            eprintln!("user {name} is disabled: their workstations can no longer sync as them");
            Ok(())
        }
        Command::User(UserCommand::Enable { name }) => {
            store.set_user_disabled(&name, false).await?;
            eprintln!("user {name} may sync again");
            Ok(())
        }
        Command::Workstation(WorkstationCommand::Add { lab, code }) => {
            store.migrate().await?;
            let workstation = store.add_workstation(&lab, &code).await?;
            report("workstation", &format!("{code} (lab {lab})"), &workstation.map_name(|w| w.code.clone()));
            Ok(())
        }
        Command::Token(TokenCommand::Issue { user, workstation }) => {
            let issued = store.issue_token(&user, &workstation).await?;
            print_token(&issued.user, &issued.workstation, &issued.token);
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { user, workstation }) => {
            let revoked = store.revoke_tokens(&user, workstation.as_deref()).await?;
            eprintln!("revoked {revoked} token(s) of {user}");
            Ok(())
        }
        Command::Setup(args) => setup(&store, args).await,
        Command::Snapshot { lab, from_scratch } => {
            snapshot(store, &lab, if from_scratch { Start::Scratch } else { Start::Newest }).await
        }
    }
}

trait NameOf<T> {
    fn map_name(&self, name: impl Fn(&T) -> String) -> Added<String>;
}

impl<T> NameOf<T> for Added<T> {
    fn map_name(&self, name: impl Fn(&T) -> String) -> Added<String> {
        match self {
            Added::New(v) => Added::New(name(v)),
            Added::Existing(v) => Added::Existing(name(v)),
        }
    }
}

fn report(what: &str, described: &str, added: &Added<String>) {
    if added.is_new() {
        eprintln!("created {what} {described}");
    } else {
        eprintln!("{what} {described} exists already");
    }
}

/// A workstation code as typed: taken in capitals, as `labdesk init --workstation fd1` takes it.
fn workstation_code(text: &str) -> Result<String, String> {
    Ok(text.trim().to_ascii_uppercase())
}

/// The token alone on stdout (for scripts), the explanation on stderr.
fn print_token(user: &str, workstation: &str, token: &str) {
    eprintln!("token for {user} on workstation {workstation} (shown this once; it is not stored, keep it safe):");
    println!("{token}");
    eprintln!("on workstation {workstation}, sign in with it using `labdesk login`");
}

async fn setup(store: &PgStore, args: SetupArgs) -> Result<()> {
    let applied = store.migrate().await?;
    if !applied.is_empty() {
        eprintln!("database schema: applied {}", applied.join(", "));
    }
    let lab = store.add_lab(&args.lab).await?;
    report("lab", &args.lab, &lab.map_name(|l| l.name.clone()));
    let user = store.add_user(&args.lab, &args.user, args.role).await?;
    report(
        "user",
        &format!("{} ({}, lab {})", args.user, user.value().role, args.lab),
        &user.map_name(|u| u.name.clone()),
    );
    let workstation = store.add_workstation(&args.lab, &args.workstation).await?;
    report(
        "workstation",
        &format!("{} (lab {})", args.workstation, args.lab),
        &workstation.map_name(|w| w.code.clone()),
    );
    let issued = store.issue_token(&args.user, &args.workstation).await?;
    print_token(&issued.user, &issued.workstation, &issued.token);
    Ok(())
}

async fn snapshot(store: PgStore, name: &str, start: Start) -> Result<()> {
    store.migrate().await?;
    let lab = match store.lab(name).await {
        Ok(lab) => lab,
        Err(StoreError::NoLab(_)) => {
            let labs: Vec<String> = store.labs().await?.into_iter().map(|l| l.name).collect();
            if labs.is_empty() {
                bail!(
                    "there is no lab named {name}, nor any other lab yet: add one with `labdesk-sync lab add {name}`"
                );
            }
            bail!(
                "there is no lab named {name}; the labs are: {} (a new one is added with `labdesk-sync lab add NAME`)",
                labs.join(", ")
            );
        }
        Err(e) => return Err(e.into()),
    };
    let store: Arc<dyn SyncStore> = Arc::new(store);
    // Ctrl-C stops the build, which then removes what it had written, rather than the process.
    let stop = CancellationToken::new();
    let on_interrupt = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("stopping the build…");
                stop.cancel();
            }
        })
    };
    eprintln!("Building the snapshot of {}…", lab.name);
    let started = std::time::Instant::now();
    let built = build_and_save_until(&store, &lab, start, &stop).await;
    on_interrupt.abort();
    if stop.is_cancelled() {
        bail!("the snapshot of {} was not built: stopped", lab.name);
    }
    match built? {
        Built::Snapshot(info) => eprintln!(
            "Built the snapshot of {}: {} revisions up to {}, a {} store sent as {}, in {:.1} s.",
            lab.name,
            thousands(info.revisions),
            info.seq,
            size(info.store_size),
            size(info.size),
            started.elapsed().as_secs_f64()
        ),
        Built::Empty => eprintln!("{} has no revisions yet: there is nothing to snapshot.", lab.name),
        Built::Busy => bail!(
            "the snapshot of {} is being built right now by a running labdesk-sync (or another `labdesk-sync \
             snapshot`): it is kept when that build ends; run this again afterwards for a newer one",
            lab.name
        ),
    }
    Ok(())
}

/// A size in bytes, for people: "8.7 KB", "278.4 MB".
fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}

/// 1100002 → "1,100,002".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

async fn serve(config: Config, store: PgStore) -> Result<()> {
    let applied = store.migrate().await.context("cannot bring the database schema up to date")?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database schema migrated");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!(listen = %config.listen, "labdesk-sync serving");
    let state = AppState::with_snapshots(Arc::new(store), config.max_body_bytes, config.snapshot_policy());
    labdesk_sync::serve(listener, state, shutdown_signal()).await.context("the server stopped")?;
    tracing::info!("labdesk-sync stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM (what `systemctl stop` and container runtimes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    // A second signal while draining ends the process at once.
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(130);
    });
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn counts_are_written_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_100_002), "1,100,002");
    }
}
