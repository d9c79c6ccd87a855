//! `rf-sync-server`: serve the API, or manage users, on an embedded SQLite data directory.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rf_sync_server::domain::users::{Actor, NewUser, User, UserUpdate};
use rf_sync_server::rules::auth::hash_password;
use rf_sync_server::vendors::secrets::SecretsKeys;
use rf_sync_server::{
    ApiConfig, AppState, Attachments, PostgresStore, Role, SqliteStore, Store, serve,
};

#[derive(Debug, Parser)]
#[command(name = "rf-sync-server", version, about = "ResolutionFlow sync server")]
struct Cli {
    /// Where the embedded SQLite database lives
    #[arg(
        long,
        global = true,
        env = "RF_SERVER_DATA_DIR",
        default_value = "data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Where session attachments are kept (default: DIR/attachments under --data-dir). Servers
    /// sharing one PostgreSQL database must share this directory too, or use --attachments-url
    #[arg(long, global = true, env = "RF_ATTACHMENTS_DIR", value_name = "DIR")]
    attachments_dir: Option<PathBuf>,
    /// Keep session attachments in an S3-compatible bucket instead (s3://bucket/prefix); the
    /// endpoint, region and keys come from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY (AWS_ALLOW_HTTP=true for a plain-HTTP endpoint)
    #[arg(
        long,
        global = true,
        env = "RF_ATTACHMENTS_URL",
        value_name = "URL",
        conflicts_with = "attachments_dir"
    )]
    attachments_url: Option<String>,
    /// Use PostgreSQL instead of the embedded SQLite (postgres://user:password@host/database)
    #[arg(long, global = true, env = "RF_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// The file holding the key team secrets (a ConnectWise private key) are sealed with: 64
    /// hex digits, readable by the server's user only. The embedded store makes
    /// DIR/secrets.key under --data-dir when this is left out; servers sharing a PostgreSQL
    /// database must all be given the same file
    #[arg(long, global = true, env = "RF_SECRETS_KEY_FILE", value_name = "FILE")]
    secrets_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API
    Serve {
        #[arg(long, default_value = "127.0.0.1:8787", env = "RF_LISTEN")]
        listen: SocketAddr,
        #[command(flatten)]
        limits: Box<LimitFlags>,
        #[command(flatten)]
        vendors: VendorFlags,
    },
    /// Print the OpenAPI document that `serve` publishes at /api/v1/openapi.json
    Openapi,
    /// Manage accounts
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Mark the database as restored from a backup (run it once, after restoring and before
    /// serving): every replica then pulls everything again and sends again what the restore
    /// lost and it still holds
    NewEpoch,
    /// Seal every team secret with a new secrets key and replace the key file with it (run it
    /// with the servers stopped, then give every server the new file)
    RotateSecretsKey,
}

/// How `serve` reaches the vendors' APIs (ConnectWise Manage) for teams.
#[derive(Debug, clap::Args)]
struct VendorFlags {
    /// The integration's ConnectWise client id (from ConnectWise's developer portal), sent on
    /// every call of a team that gives none of its own
    #[arg(long, env = "RF_CONNECTWISE_CLIENT_ID", value_name = "ID")]
    connectwise_client_id: Option<String>,
    /// Let vendor addresses be this machine, over plain HTTP (local stand-ins and tests only;
    /// never on a server teams use)
    #[arg(long, env = "RF_ALLOW_LOOPBACK_UPSTREAMS")]
    allow_loopback_upstreams: bool,
    /// Longest time one call to a vendor may take, in seconds [default: 30]
    #[arg(long, env = "RF_VENDOR_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    vendor_timeout: Option<Duration>,
    /// Anthropic's API address, for FlowPilot (https, or http to this machine); the key comes
    /// from RF_ANTHROPIC_API_KEY only, never a flag
    #[arg(
        long,
        env = "RF_ANTHROPIC_BASE_URL",
        value_name = "URL",
        default_value = rf_sync_server::vendors::anthropic::DEFAULT_BASE_URL
    )]
    anthropic_base_url: String,
    /// The model FlowPilot suggests next steps with
    #[arg(
        long,
        env = "RF_AI_FAST_MODEL",
        value_name = "MODEL",
        default_value = rf_sync_server::vendors::anthropic::DEFAULT_FAST_MODEL
    )]
    ai_fast_model: String,
    /// The model FlowPilot writes ticket summaries with
    #[arg(
        long,
        env = "RF_AI_STRONG_MODEL",
        value_name = "MODEL",
        default_value = rf_sync_server::vendors::anthropic::DEFAULT_STRONG_MODEL
    )]
    ai_strong_model: String,
    /// The most tokens one FlowPilot answer may take (at most 4096) [default: 1024]
    #[arg(long, env = "RF_AI_MAX_TOKENS", value_name = "N")]
    ai_max_tokens: Option<u32>,
}

impl VendorFlags {
    fn apply(&self, config: &mut ApiConfig) -> anyhow::Result<()> {
        let ai = &mut config.ai;
        ai.base_url.clone_from(&self.anthropic_base_url);
        ai.fast_model.clone_from(&self.ai_fast_model);
        ai.strong_model.clone_from(&self.ai_strong_model);
        if let Some(max_tokens) = self.ai_max_tokens {
            ai.max_tokens = max_tokens;
        }
        ai.api_key = std::env::var("RF_ANTHROPIC_API_KEY")
            .ok()
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty())
            .map(rf_sync_server::vendors::anthropic::ApiKey);
        if let Err(problem) = ai.check() {
            bail!("FlowPilot's settings: {problem}");
        }
        if ai.api_key.is_none() {
            tracing::info!("FlowPilot is off: no RF_ANTHROPIC_API_KEY");
        }
        let psa = &mut config.psa;
        psa.client_id = self
            .connectwise_client_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        psa.allow_loopback = self.allow_loopback_upstreams;
        if let Some(timeout) = self.vendor_timeout {
            psa.timeout = timeout;
        }
        Ok(())
    }
}

/// Resource and login limits of `serve`; each left out keeps its default (shown).
#[derive(Debug, clap::Args)]
struct LimitFlags {
    /// Connections served at once; more wait, connected, until one closes [default: 1024]
    #[arg(long, env = "RF_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds a client has to send a request's headers, from when the server starts waiting
    /// for them; also how long an idle kept-alive connection stays open [default: 10]
    #[arg(long, env = "RF_HEADER_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    header_timeout: Option<Duration>,
    /// Longest pause, in seconds, while a request body arrives [default: 30]
    #[arg(long, env = "RF_BODY_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    body_timeout: Option<Duration>,
    /// Seconds to answer a request, reading its body included; streamed answers (poke stream,
    /// snapshot, attachment download) are not cut [default: 60]
    #[arg(long, env = "RF_REQUEST_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    request_timeout: Option<Duration>,
    /// The same for an attachment upload or a push (bodies that take minutes on a slow link)
    /// [default: 900]
    #[arg(long, env = "RF_UPLOAD_TIMEOUT", value_name = "SECONDS", value_parser = seconds)]
    upload_timeout: Option<Duration>,
    /// Longest request path and query, in bytes (longer: 414) [default: 8192]
    #[arg(long, env = "RF_MAX_URI_BYTES", value_name = "BYTES")]
    max_uri_bytes: Option<usize>,
    /// Most bytes of request header names and values (more: 431) [default: 16384]
    #[arg(long, env = "RF_MAX_HEADER_BYTES", value_name = "BYTES")]
    max_header_bytes: Option<usize>,
    /// Password hashes run at once, 19 MiB of memory each [default: the number of CPUs]
    #[arg(long, env = "RF_PASSWORD_PERMITS", value_name = "N")]
    password_permits: Option<usize>,
    /// Requests that may wait for a password hash; more get 503 [default: 4 per CPU]
    #[arg(long, env = "RF_PASSWORD_QUEUE", value_name = "N")]
    password_queue: Option<usize>,
    /// A reverse proxy whose X-Forwarded-For names the client (repeat, or separate with
    /// commas); without one the header is ignored and the client is the connection's peer
    #[arg(
        long = "trusted-proxy",
        env = "RF_TRUSTED_PROXIES",
        value_name = "IP",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Failed logins of an account from one address before each further one doubles the
    /// wait [default: 3]
    #[arg(long, env = "RF_LOGIN_FREE_FAILURES", value_name = "N")]
    login_free_failures: Option<u32>,
    /// Longest wait, in seconds, after failed logins of an account from one address
    /// [default: 4]
    #[arg(long, env = "RF_LOGIN_MAX_DELAY", value_name = "SECONDS", value_parser = seconds)]
    login_max_delay: Option<Duration>,
    /// Logins one address may try at once, before it gets one more every
    /// --login-address-refill seconds [default: 20]
    #[arg(long, env = "RF_LOGIN_ADDRESS_BURST", value_name = "N")]
    login_address_burst: Option<u32>,
    /// Seconds for one address to get back one login attempt [default: 3]
    #[arg(long, env = "RF_LOGIN_ADDRESS_REFILL", value_name = "SECONDS", value_parser = seconds)]
    login_address_refill: Option<Duration>,
}

impl LimitFlags {
    fn apply(&self, config: &mut ApiConfig) {
        let (limits, login) = (&mut config.limits, &mut config.login);
        let set = |target: &mut Duration, value: Option<Duration>| {
            if let Some(value) = value {
                *target = value;
            }
        };
        limits.max_connections = self.max_connections.unwrap_or(limits.max_connections);
        set(&mut limits.header_timeout, self.header_timeout);
        set(&mut limits.body_timeout, self.body_timeout);
        set(&mut limits.request_timeout, self.request_timeout);
        set(&mut limits.upload_timeout, self.upload_timeout);
        limits.max_uri_bytes = self.max_uri_bytes.unwrap_or(limits.max_uri_bytes);
        limits.max_header_bytes = self.max_header_bytes.unwrap_or(limits.max_header_bytes);
        limits.password_permits = self.password_permits.unwrap_or(limits.password_permits);
        limits.password_queue = self.password_queue.unwrap_or(limits.password_queue);
        limits.trusted_proxies.clone_from(&self.trusted_proxies);
        login.free_failures = self.login_free_failures.unwrap_or(login.free_failures);
        set(&mut login.max_delay, self.login_max_delay);
        login.address_burst = self.login_address_burst.unwrap_or(login.address_burst);
        set(&mut login.address_refill, self.login_address_refill);
    }
}

/// A duration given in seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(value).map_err(|_| format!("{text:?} is not a usable duration"))
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user (password from RF_PASSWORD, else prompted); creates the team if it is new
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        team: String,
        /// super_admin, team_admin, engineer or viewer
        #[arg(long)]
        role: String,
    },
    /// List users (removed accounts are not listed)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Change a user's role
    SetRole {
        #[arg(long)]
        email: String,
        /// super_admin, team_admin, engineer or viewer
        #[arg(long)]
        role: String,
    },
    /// Remove a user's access: they can no longer log in and their tokens stop working; their
    /// sessions, events, devices and flows stay as the team's records
    Remove {
        #[arg(long)]
        email: String,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RF_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi = cli.command {
        // Needs no database: the document is made from the handlers alone.
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            rf_sync_server::http::api::openapi().to_pretty_json()?
        )?;
        return Ok(());
    }
    let mut config = ApiConfig {
        attachments: Attachments::in_directory(
            cli.attachments_dir
                .clone()
                .unwrap_or_else(|| cli.data_dir.join("attachments")),
        ),
        ..ApiConfig::default()
    };
    if let Command::Serve {
        limits, vendors, ..
    } = &cli.command
    {
        limits.apply(&mut config);
        vendors.apply(&mut config)?;
        // Only a server needs the bucket; it is checked before anything is served.
        if let Some(url) = &cli.attachments_url {
            config.attachments = Attachments::in_bucket(url)
                .await
                .context("cannot use the bucket given by --attachments-url")?;
            tracing::info!(%url, "attachments in an S3-compatible bucket");
        }
    }
    let command = cli.command;
    match &cli.database_url {
        Some(url) => {
            let store = PostgresStore::connect(url)
                .await
                .context("cannot open the PostgreSQL database given by --database-url")?;
            if let (Command::Serve { .. }, Some(path)) = (&command, &cli.secrets_key_file) {
                config.psa.keys = Some(Arc::new(SecretsKeys::load(path)?));
            }
            let key_file = cli.secrets_key_file.clone();
            run_with(store, command, config.clone(), key_file).await
        }
        None => {
            let store = SqliteStore::open(&cli.data_dir).with_context(|| {
                format!("cannot open the data directory {}", cli.data_dir.display())
            })?;
            let key_file = cli
                .secrets_key_file
                .clone()
                .unwrap_or_else(|| cli.data_dir.join("secrets.key"));
            if let Command::Serve { .. } = &command {
                config.psa.keys = Some(Arc::new(SecretsKeys::load_or_create(&key_file)?));
            }
            run_with(store, command, config.clone(), Some(key_file)).await
        }
    }
}

async fn run_with<S: Store>(
    store: S,
    command: Command,
    config: ApiConfig,
    key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    match command {
        Command::Serve { listen, .. } => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(address = %listener.local_addr()?, "serving");
            serve(listener, AppState::new(store, config), shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Command::Openapi => {}
        Command::RotateSecretsKey => {
            let path = key_file.context(
                "give the key file to rotate with --secrets-key-file (every server sharing the database uses it)",
            )?;
            let rotated = rf_sync_server::vendors::secrets::rotate(&path, &store).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "sealed {} team secret(s) with the new key {} now in {}; give every server this file",
                rotated.resealed,
                rotated.new_key_id,
                path.display()
            )?;
        }
        Command::NewEpoch => {
            let epoch = store.new_epoch(unix_now()).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "new epoch {epoch}: replicas will pull everything again and send again what they hold"
            )?;
        }
        Command::User {
            command: UserCommand::Add { email, team, role },
        } => {
            let role = parse_role(&role)?;
            let email = match rf_sync_server::rules::accounts::checked_email(&email) {
                Ok(email) => email,
                Err(reason) => bail!("{email:?} is not an e-mail address: {reason}"),
            };
            if team.trim().is_empty() {
                bail!("the team name is empty");
            }
            let password = match std::env::var("RF_PASSWORD") {
                Ok(password) => password,
                Err(_) => rpassword::prompt_password(format!("Password for {email}: "))
                    .context("no RF_PASSWORD and no terminal to ask for a password")?,
            };
            let password_hash =
                tokio::task::spawn_blocking(move || hash_password(&password)).await??;
            let user = store
                .create_user(NewUser {
                    email,
                    team: team.trim().to_owned(),
                    role,
                    password_hash,
                })
                .await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", user_line(&user))?;
        }
        Command::User {
            command: UserCommand::List { json },
        } => {
            let users = store.users().await?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &users)?;
                writeln!(out)?;
            } else {
                for user in users {
                    writeln!(out, "{}", user_line(&user))?;
                }
            }
        }
        Command::User {
            command: UserCommand::SetRole { email, role },
        } => {
            let role = parse_role(&role)?;
            let user = active_user(&store, &email).await?;
            let update = UserUpdate {
                role: Some(role),
                password_hash: None,
            };
            let changed = store
                .update_user(Actor::Operator, user.id, update, unix_now())
                .await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", user_line(&changed))?;
        }
        Command::User {
            command: UserCommand::Remove { email },
        } => {
            let user = active_user(&store, &email).await?;
            store
                .remove_user(Actor::Operator, user.id, unix_now())
                .await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", user_line(&user))?;
        }
    }
    Ok(())
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn parse_role(role: &str) -> anyhow::Result<Role> {
    Role::parse(role).with_context(|| {
        format!("unknown role {role:?}; use super_admin, team_admin, engineer or viewer")
    })
}

/// The active account with this e-mail (any case).
async fn active_user<S: Store>(store: &S, email: &str) -> anyhow::Result<User> {
    let email = email.trim().to_lowercase();
    store
        .users()
        .await?
        .into_iter()
        .find(|user| user.email == email)
        .with_context(|| {
            format!("there is no account with the e-mail {email:?} (or it was removed)")
        })
}

/// One user as a tab-separated line: id, e-mail, team, role.
fn user_line(user: &User) -> String {
    format!(
        "{}\t{}\t{}\t{}",
        user.id,
        user.email,
        user.team,
        user.role.as_str()
    )
}

/// Ctrl-C or SIGTERM: stop accepting, finish what is in flight.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
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
        () = interrupt => {},
        () = terminate => {},
    }
}
