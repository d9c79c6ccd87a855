//! Command-line arguments (clap derive). The help texts are the CLI's reference documentation.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rf",
    version,
    about = "ResolutionFlow: guided troubleshooting sessions and ticket notes, offline"
)]
pub struct Cli {
    /// Where the replica keeps its database and attachments [default: the platform's data directory]
    #[arg(long, global = true, env = "RF_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import, find and inspect flows
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// Run troubleshooting sessions and export ticket notes
    Session {
        #[command(subcommand)]
        command: SessionCommandArgs,
    },
    /// What this replica holds that the team's server does not have yet, and how sync stands
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Log in to the team's sync server (password from RF_PASSWORD, else prompted)
    Login {
        /// The sync server's address, like https://sync.example.com
        #[arg(long, value_name = "URL")]
        server: String,
        #[arg(long, value_name = "EMAIL")]
        email: String,
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// Change your password on the sync server (the current one from RF_PASSWORD, the new one
    /// from RF_NEW_PASSWORD, else both prompted). Your other devices must log in again
    Password {
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// Forget this device's login (pending work stays here and syncs after the next login)
    Logout {
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// One full sync round: push everything pending, pull the team's changes. Exit code 0 only
    /// when everything pending was acknowledged
    Sync {
        #[arg(long)]
        json: bool,
        /// Keep syncing: after each round wait for the server's poke (a teammate's change) or
        /// --period, then sync again; back off with jitter while offline. Stop with Ctrl-C
        #[arg(long)]
        watch: bool,
        /// With --watch: sync at least this often, in seconds, pokes or not
        #[arg(long, default_value_t = 300, value_name = "SECONDS")]
        period: u64,
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// Flow edits that clashed with a teammate's, kept for an author to decide
    Conflicts {
        #[command(subcommand)]
        command: ConflictsCommand,
    },
    /// FlowPilot, through the sync server: suggestions for a session's current step, or its
    /// ticket summary and next steps (the session is redacted on the server first)
    Ai {
        #[command(subcommand)]
        command: AiCommand,
    },
    /// The team's ConnectWise Manage, through the sync server (which keeps the keys)
    Psa {
        #[command(subcommand)]
        command: PsaCommand,
    },
    /// Maintenance batches: one checklist run across many targets, one session per target
    Batch {
        #[command(subcommand)]
        command: BatchCommand,
    },
    /// Saved target lists per client (servers, sites, users), synced to the team
    Targets {
        #[command(subcommand)]
        command: TargetsCommand,
    },
    /// Recurring maintenance: a flow that recurs for a client by an RFC 5545 rule
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Scheduled runs overdue, due today and coming up within a week
    Due {
        #[arg(long)]
        json: bool,
    },
}

/// Where a new batch's targets come from: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct TargetsArg {
    /// The targets, comma-separated
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub targets: Vec<String>,
    /// A file of targets, one per line (blank lines and lines starting with # are skipped)
    #[arg(long, value_name = "FILE")]
    pub targets_file: Option<PathBuf>,
    /// A saved target list, by name (`rf targets list`)
    #[arg(long, value_name = "NAME")]
    pub target_list: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Start a batch of a maintenance or procedural flow over targets; prints the batch id
    /// alone on its last line. No session starts until someone starts a target
    Start {
        /// Flow id prefix or exact title
        flow: String,
        #[command(flatten)]
        targets: TargetsArg,
        #[arg(long, default_value = "")]
        ticket: String,
        /// The client (with --target-list: the list's client unless given)
        #[arg(long, default_value = "")]
        client: String,
        /// An intake value asked once for the whole batch, repeatable
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Start the due run of this schedule (id prefix); the targets default to its list
        #[arg(long, value_name = "SCHEDULE")]
        schedule: Option<String>,
        /// With --schedule: the run's day (YYYY-MM-DD) [default: the oldest waiting run]
        #[arg(long, value_name = "DATE", requires = "schedule")]
        occurrence: Option<String>,
        /// Who starts it [default: $RF_ENGINEER, else the login name]
        #[arg(long, env = "RF_ENGINEER")]
        engineer: Option<String>,
    },
    /// Start or resume a target's session; prints the session id alone on its last line.
    /// Drive the session with the `rf session` commands
    Run {
        batch: String,
        target: String,
        #[arg(long, env = "RF_ENGINEER")]
        engineer: Option<String>,
    },
    /// Every batch with its progress
    List {
        #[arg(long)]
        json: bool,
    },
    /// A batch and each target's state
    Show {
        batch: String,
        #[arg(long)]
        json: bool,
    },
    /// The batch's ticket note: a results table per target and the exceptions in detail
    Export {
        batch: String,
        /// md, txt or html
        #[arg(long, default_value = "md")]
        format: String,
        /// Mask secrets, addresses and paths first
        #[arg(long)]
        redact: bool,
        /// Write to this file instead of standard output
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TargetsCommand {
    /// Save (or replace) a client's target list; batches already started keep their targets
    Set {
        name: String,
        #[arg(long)]
        client: String,
        /// The targets; or --file
        targets: Vec<String>,
        /// A file of targets, one per line
        #[arg(long, value_name = "FILE", conflicts_with = "targets")]
        file: Option<PathBuf>,
    },
    /// The saved target lists
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Make a maintenance flow recur for a client
    Add {
        /// Flow id prefix or exact title
        flow: String,
        #[arg(long)]
        client: String,
        /// An RFC 5545 recurrence rule, such as FREQ=MONTHLY;BYDAY=2TU (the second Tuesday)
        /// or FREQ=DAILY;INTERVAL=90 (every 90 days)
        #[arg(long, value_name = "RRULE")]
        rule: String,
        /// The client's time zone, an IANA name [default: this computer's]
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// The first day the rule may fall on (YYYY-MM-DD) [default: today]
        #[arg(long, value_name = "DATE")]
        start: Option<String>,
        /// The saved target list each run's batch covers
        #[arg(long, value_name = "NAME")]
        target_list: Option<String>,
        #[arg(long, env = "RF_ENGINEER")]
        engineer: Option<String>,
    },
    /// The schedules and their next runs
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a schedule (its batches stay)
    Remove { schedule: String },
}

#[derive(Debug, Subcommand)]
pub enum AiCommand {
    /// The current step's answers ranked, or a next action, each with a one-line reason
    Suggest {
        session: String,
        /// Print the whole answer as JSON once it is complete, rather than as it streams
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// A draft of the ticket summary and next steps
    Summarize {
        session: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: TokenStoreArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum PsaCommand {
    /// Connect the team to ConnectWise (team admins). The private key comes from
    /// RF_PSA_PRIVATE_KEY, else it is prompted for; the server checks the keys with
    /// ConnectWise, seals them and never gives them back
    Connect {
        /// The REST API's address, ending in /apis/3.0/
        #[arg(
            long,
            value_name = "URL",
            required_unless_present = "site",
            conflicts_with = "site"
        )]
        api_url: Option<String>,
        /// The ConnectWise site's host name (na.myconnectwise.net): the API is found from it
        #[arg(long, value_name = "HOST")]
        site: Option<String>,
        /// The company id you sign in to ConnectWise with
        #[arg(long, value_name = "ID")]
        company: String,
        /// The API member's public key
        #[arg(long, value_name = "KEY")]
        public_key: String,
        /// The integration's client id, when the team uses its own rather than the server's
        #[arg(long, value_name = "ID")]
        client_id: Option<String>,
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// The team's connection (never its keys)
    Show {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// A ticket: summary, company, contact, board, status, priority
    Ticket {
        /// The ticket number
        id: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// ConnectWise's active members and the team accounts they map to (by e-mail, or as a team
    /// admin mapped them)
    Members {
        #[arg(long)]
        json: bool,
        /// Team admins: map a team account to a member where their e-mails differ
        #[arg(long, value_name = "EMAIL=MEMBER")]
        map: Option<String>,
        /// Team admins: back to matching this account by e-mail
        #[arg(long, value_name = "EMAIL", conflicts_with = "map")]
        unmap: Option<String>,
        #[command(flatten)]
        store: TokenStoreArg,
    },
}

/// Where the login tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenStoreKind {
    /// The OS keyring (Secret Service)
    Keyring,
    /// A file in the data directory readable only by you (mode 0600)
    File,
}

#[derive(Debug, clap::Args)]
pub struct TokenStoreArg {
    /// Where to keep the login tokens
    #[arg(
        long = "token-store",
        env = "RF_TOKEN_STORE",
        value_enum,
        default_value = "keyring"
    )]
    pub kind: TokenStoreKind,
}

#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// Unresolved conflicts (with --all, resolved ones too)
    List {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        all: bool,
    },
    /// Decide a conflict: keep your value (mine, published as a new version) or the team's (theirs)
    Resolve {
        /// Conflict id (or a unique prefix)
        id: String,
        #[arg(long, value_enum)]
        keep: KeepArg,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeepArg {
    Mine,
    Theirs,
}

#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// Import *.flow.json files or folders; prints "<id>\t<title>" per flow. Invalid files are
    /// reported as "<file>: <node id>: <problem>", imported not at all, and the exit code is 2
    Import {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Print the import outcomes as JSON instead
        #[arg(long)]
        json: bool,
    },
    /// Check flow files without importing them (exit code 2 when any is invalid)
    Validate {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// List the library
    List {
        #[arg(long)]
        json: bool,
    },
    /// Full-text search over titles, steps, commands and tags
    Search {
        #[arg(required = true, value_name = "QUERY")]
        query: Vec<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show a flow (id prefix or exact title)
    Show {
        flow: String,
        #[arg(long)]
        json: bool,
    },
    /// Write a flow's latest version as a resolutionflow/v1 file
    Export {
        flow: String,
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The path most traveled: answer shares and resolution rates per step
    Stats {
        flow: String,
        #[arg(long)]
        json: bool,
    },
    /// Pin a flow to the quick-launch list
    Pin { flow: String },
    /// Remove a flow from the quick-launch list
    Unpin { flow: String },
    /// List pinned flows
    Pinned {
        #[arg(long)]
        json: bool,
    },
    /// List recently used flows
    Recent {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCommandArgs {
    /// Start a session; prints the first step, then the session id on the last line
    Start {
        /// Flow id prefix or exact title
        flow: String,
        #[arg(long)]
        ticket: String,
        #[arg(long)]
        client: String,
        /// Intake value, repeatable
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Who is doing the work [default: $RF_ENGINEER, else the login name]
        #[arg(long, env = "RF_ENGINEER")]
        engineer: Option<String>,
    },
    /// Hand the session to a teammate (an engineer or admin of the team), with a note: from
    /// then only their device continues it
    Handoff {
        session: String,
        /// The teammate's e-mail
        #[arg(long, value_name = "EMAIL")]
        to: String,
        /// What was tried and what is needed ("tried X, need domain admin")
        #[arg(long)]
        note: Option<String>,
    },
    /// Answer the current step: a label (any case) or a 1-based number
    Answer {
        session: String,
        choice: String,
        /// A note recorded on this step before moving on
        #[arg(long)]
        note: Option<String>,
    },
    /// Add a note to the current step
    Note { session: String, text: String },
    /// Paste command output onto the current step (reads standard input when TEXT is - or absent)
    Output {
        session: String,
        text: Option<String>,
    },
    /// Attach a file to the current step
    Attach { session: String, file: PathBuf },
    /// Go back to the previous step
    Back { session: String },
    /// Record something you did that the flow does not describe
    CustomStep {
        session: String,
        title: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Tick a checklist step (procedural and maintenance flows)
    Tick {
        session: String,
        step: String,
        /// The value a step asks you to record
        #[arg(long)]
        value: Option<String>,
    },
    /// Finish the session
    Finish {
        session: String,
        /// resolved, workaround, escalated or unresolved
        #[arg(long)]
        outcome: String,
        #[arg(long)]
        summary: Option<String>,
        #[arg(long)]
        next_steps: Option<String>,
    },
    /// Show a session and its current step
    Show {
        session: String,
        #[arg(long)]
        json: bool,
    },
    /// List sessions, newest first
    List {
        #[arg(long)]
        json: bool,
    },
    /// Write the ticket note
    Export {
        session: String,
        /// md, txt or html
        #[arg(long)]
        format: String,
        /// Mask passwords, keys, addresses and paths first
        #[arg(long)]
        redact: bool,
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Post the session's note to a ConnectWise ticket through the sync server, exactly once:
    /// now when the server can be reached, else queued and posted by the next rf sync
    Post {
        session: String,
        /// The ticket number
        #[arg(long, value_name = "ID")]
        ticket: i64,
        /// How the note shows: internal (the default), discussion, resolution; comma-separated
        #[arg(
            long,
            value_name = "FLAGS",
            value_delimiter = ',',
            default_value = "internal"
        )]
        flags: Vec<String>,
        /// A status to set on the ticket once the note is on it (a name from its board)
        #[arg(long, value_name = "NAME")]
        status: Option<String>,
        /// Post this text (an edited preview) rather than the session's note
        #[arg(long, value_name = "FILE")]
        text_file: Option<PathBuf>,
        /// Post the note as it is, without masking passwords, keys, addresses and paths
        #[arg(long)]
        no_redact: bool,
        /// Print the note that would be posted, and post nothing
        #[arg(long)]
        preview: bool,
        /// Post even though this session's note is already posted or queued for this ticket
        #[arg(long)]
        again: bool,
        /// Record the session's time (its start to its end) as a time entry on the ticket, for
        /// the ConnectWise member your account maps to
        #[arg(long)]
        time: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: TokenStoreArg,
    },
    /// Notes posted or queued for tickets, of one session or all
    Posts {
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
}
