//! The command line of `sn`, as clap derive structs: global options, subcommands and their flags.
// The doc comments here are the `--help` text clap prints in a terminal, where markdown link
// syntax (`<https://…>`, `\[::1\]`) would show as typed; rustdoc's link lints do not apply.
#![allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::untrusted::CsvFormulas;

/// The exit codes, in `sn --help` and in `docs/servicenow-setup.md`.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  an unexpected failure (a bug: please report it)
  2  usage: a flag, value or query is wrong
  3  authentication: not logged in, login denied, failed or timed out, or the refresh token was refused (run `sn login`)
  4  ServiceNow refused the request (not found or hidden by an ACL, forbidden, bad request, rate limited, server error)
  5  the instance could not be reached (network, TLS, timeout)
  6  a local problem: the config file, the token store or an output file

Start with `sn demo`: it runs the whole flow against a built-in emulator and needs nothing installed.";

/// `sn`: ServiceNow from a terminal, with tokens kept encrypted and refreshed for you.
#[derive(Debug, Parser)]
#[command(name = "sn", version, about, after_long_help = EXIT_CODES)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command understands.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// The profile to use: an instance, client id and redirect URI saved by `sn login`.
    #[arg(long, global = true, env = "SN_PROFILE", default_value = "default")]
    pub(crate) profile: String,
    /// The config file holding the profiles (default: config.toml in the user's config
    /// directory, e.g. ~/.config/servicenow-rs/config.toml).
    #[arg(long, global = true, env = "SN_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The directory of the encrypted token store (default: the user's data directory, e.g.
    /// ~/.local/share/servicenow-rs).
    #[arg(long, global = true, env = "SN_STORE_DIR", value_name = "DIR")]
    pub(crate) store_dir: Option<PathBuf>,
    /// Where the store's sealing key lives: keyring (the OS keyring: Secret Service, Keychain,
    /// Credential Manager), env (a key set in SN_STORE_KEY), file:PATH (a key file from your
    /// secret manager) or colocated (tokens.key beside the database: protects a copy of the
    /// database alone, and says so on every use). Default: SN_STORE_KEY or SN_STORE_KEY_FILE
    /// when set, else keyring.
    #[arg(long, global = true, env = "SN_KEY_SOURCE", value_name = "SOURCE")]
    pub(crate) key_source: Option<crate::keys::KeyChoice>,
    /// CSV cells starting with =, +, -, @, tab or carriage return: `neutralise` prefixes them with
    /// ' so spreadsheets do not run them as formulas (the default); `keep` writes them as sent.
    #[arg(
        long,
        global = true,
        env = "SN_CSV_FORMULAS",
        value_enum,
        default_value_t = CsvFormulas::Neutralise,
        value_name = "MODE"
    )]
    pub(crate) csv_formulas: CsvFormulas,
    /// Log what happens (repeat for more detail); secrets are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Trust, client certificate and proxy.
    #[command(
        flatten,
        next_help_heading = "Network (company CA, client certificate, proxy)"
    )]
    pub(crate) network: crate::network::NetworkArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Log in with your browser (authorization code + PKCE, loopback redirect), or without one
    /// (--client-credentials, --jwt, --refresh-token-stdin), and keep the tokens.
    Login(LoginArgs),
    /// Revoke the profile's tokens at the instance and delete them here.
    Logout,
    /// Show the profile's instance, login, token expiry and scope.
    Status(StatusArgs),
    /// Read and write records with the Table API.
    #[command(subcommand)]
    Table(TableCommand),
    /// Write every record of a table (matching the filters) as JSON Lines or CSV.
    Export(Box<ExportArgs>),
    /// Counts, averages, minima and maxima of a table with the Aggregate API, optionally grouped.
    Stats(Box<StatsArgs>),
    /// List, download, upload and delete attachments with the Attachment API (streamed, with a
    /// progress bar on transfers over a second).
    #[command(subcommand)]
    Attachment(AttachmentCommand),
    /// Call any REST endpoint of the profile's instance with its tokens, e.g. `sn api GET
    /// /api/now/table/sys_user?sysparm_limit=1` (the instance's origin only).
    Api(ApiArgs),
    /// Run a ServiceNow emulator on localhost (OAuth login pages and the Table API).
    Emulator(Box<EmulatorCommandArgs>),
    /// Run the whole flow against an in-process emulator and explain each step.
    Demo(DemoArgs),
    /// The token store's sealing key: where it is, rotating it, making one for a deployment.
    #[command(subcommand)]
    Store(StoreCommand),
}

/// `sn attachment …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AttachmentCommand {
    /// List the attachments of one record (sys_id, file name, size, type).
    List {
        /// The record's table, e.g. `incident`.
        table: String,
        /// The record's sys_id.
        sys_id: String,
        /// The most attachments listed.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
        format: StatsFormat,
    },
    /// Download an attachment to a file, its SHA-256 checked against the instance's hash.
    Get {
        /// The attachment's sys_id.
        sys_id: String,
        /// Where to write it (default: its file name, in the current directory); `-` for stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Progress bar (bytes/s, ETA) on transfers over a second.
        #[arg(long, value_enum, default_value_t = Progress::Auto)]
        progress: Progress,
    },
    /// Upload a file as an attachment of a record.
    Put {
        /// The record's table, e.g. `incident`.
        table: String,
        /// The record's sys_id.
        sys_id: String,
        /// The file to upload.
        file: PathBuf,
        /// The attachment's name (default: the file's name).
        #[arg(long)]
        name: Option<String>,
        /// The file's type (default: application/octet-stream).
        #[arg(long, default_value = "application/octet-stream")]
        content_type: String,
        /// Use the multipart upload (`/attachment/upload`) instead of the raw one.
        #[arg(long)]
        multipart: bool,
        /// Progress bar (bytes/s, ETA) on transfers over a second.
        #[arg(long, value_enum, default_value_t = Progress::Auto)]
        progress: Progress,
    },
    /// Delete an attachment.
    Rm {
        /// The attachment's sys_id.
        sys_id: String,
    },
}

/// `sn store …`.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Say where the sealing key is and which key ids seal the stored values.
    Status,
    /// Re-seal every stored value under a new key; the old key is kept until all are re-sealed,
    /// so an interrupted rotation loses nothing (run it again to finish).
    RotateKey,
    /// Print a fresh key set for SN_STORE_KEY or a key file of your secret manager.
    NewKey,
}

/// `sn login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// The instance, e.g. https://dev12345.service-now.com (saved in the profile).
    #[arg(long, value_name = "URL")]
    pub(crate) instance: Option<String>,
    /// The client id of the instance's OAuth application registry entry (saved in the profile).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// The redirect URI registered for that client; it must be http on 127.0.0.1, [::1] or
    /// localhost with an explicit port (saved in the profile).
    #[arg(long, value_name = "URI")]
    pub(crate) redirect_uri: Option<String>,
    /// The client is public (PKCE, no secret). Otherwise the secret is read from
    /// SN_CLIENT_SECRET or asked for; it is never a flag.
    #[arg(long)]
    pub(crate) public_client: bool,
    /// Keep the client secret in the OS keyring, so later commands can refresh tokens without
    /// SN_CLIENT_SECRET. Without it the secret is kept nowhere.
    #[arg(long)]
    pub(crate) remember_secret: bool,
    /// Print the authorization URL (alone on one line) instead of opening a browser.
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// How long to wait for the browser to come back, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub(crate) timeout: u64,
    /// No browser: the client credentials grant (the client acts as itself; the instance must
    /// enable it). For cron jobs and CI.
    #[arg(long, conflicts_with_all = ["jwt", "refresh_token_stdin", "public_client"])]
    pub(crate) client_credentials: bool,
    /// No browser: the JWT bearer grant, assertions signed with --key for --subject.
    #[arg(long, requires_all = ["key", "subject"], conflicts_with = "refresh_token_stdin")]
    pub(crate) jwt: bool,
    /// With --jwt: the PEM private key file (RSA or EC P-256); SN_JWT_KEY (PEM text) wins
    /// when set. Only the path is saved in the profile.
    #[arg(long, value_name = "FILE", requires = "jwt")]
    pub(crate) key: Option<PathBuf>,
    /// With --jwt: the user to act for, as the instance's JWT endpoint "User Field" names it.
    #[arg(long, value_name = "USER", requires = "jwt")]
    pub(crate) subject: Option<String>,
    /// With --jwt: the key id (kid) of the instance's JWT verifier map.
    #[arg(long, value_name = "KID", requires = "jwt")]
    pub(crate) kid: Option<String>,
    /// No browser: import a refresh token obtained elsewhere, read from standard input (never
    /// a flag); the first access token comes from a normal refresh.
    #[arg(long)]
    pub(crate) refresh_token_stdin: bool,
    /// Read the client secret from this file (else SN_CLIENT_SECRET, else a prompt on a
    /// terminal).
    #[arg(long, value_name = "FILE")]
    pub(crate) client_secret_file: Option<PathBuf>,
}

/// `sn status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Also print the access token (it grants your access: keep it out of logs and screens).
    #[arg(long)]
    pub(crate) show_token: bool,
}

/// `sn table …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TableCommand {
    /// List records (one page of at most --limit).
    List(Box<ListArgs>),
    /// Read one record by sys_id.
    Get(GetArgs),
    /// Create a record from --set FIELD=VALUE pairs or --data JSON.
    Create(CreateArgs),
    /// Change fields of a record (PATCH).
    Update(UpdateArgs),
    /// Delete a record.
    Delete(DeleteArgs),
}

/// Conditions from flags, AND-ed in the order: equals, not equals, … (see each flag).
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct FilterArgs {
    /// FIELD=VALUE: the field equals the value (repeatable; all conditions are AND-ed).
    #[arg(long = "eq", value_name = "FIELD=VALUE")]
    pub(crate) equals: Vec<String>,
    /// FIELD=VALUE: the field does not equal the value.
    #[arg(long = "ne", value_name = "FIELD=VALUE")]
    pub(crate) not_equals: Vec<String>,
    /// FIELD=VALUE: the field is less than the value.
    #[arg(long = "lt", value_name = "FIELD=VALUE")]
    pub(crate) less_than: Vec<String>,
    /// FIELD=VALUE: the field is at most the value.
    #[arg(long = "le", value_name = "FIELD=VALUE")]
    pub(crate) at_most: Vec<String>,
    /// FIELD=VALUE: the field is greater than the value.
    #[arg(long = "gt", value_name = "FIELD=VALUE")]
    pub(crate) greater_than: Vec<String>,
    /// FIELD=VALUE: the field is at least the value.
    #[arg(long = "ge", value_name = "FIELD=VALUE")]
    pub(crate) at_least: Vec<String>,
    /// FIELD=TEXT: the field contains the text.
    #[arg(long = "like", value_name = "FIELD=TEXT")]
    pub(crate) contains: Vec<String>,
    /// FIELD=TEXT: the field does not contain the text.
    #[arg(long = "not-like", value_name = "FIELD=TEXT")]
    pub(crate) not_contains: Vec<String>,
    /// FIELD=TEXT: the field starts with the text.
    #[arg(long = "starts-with", value_name = "FIELD=TEXT")]
    pub(crate) starts_with: Vec<String>,
    /// FIELD=TEXT: the field ends with the text.
    #[arg(long = "ends-with", value_name = "FIELD=TEXT")]
    pub(crate) ends_with: Vec<String>,
    /// FIELD=A,B,C: the field is one of the values.
    #[arg(long = "in", value_name = "FIELD=A,B,C")]
    pub(crate) one_of: Vec<String>,
    /// FIELD: the field is empty.
    #[arg(long = "empty", value_name = "FIELD")]
    pub(crate) empty: Vec<String>,
    /// FIELD: the field is not empty.
    #[arg(long = "not-empty", value_name = "FIELD")]
    pub(crate) not_empty: Vec<String>,
    /// Sort by this field, ascending (repeatable).
    #[arg(long = "order-by", value_name = "FIELD")]
    pub(crate) order_by: Vec<String>,
    /// Sort by this field, descending (repeatable).
    #[arg(long = "order-by-desc", value_name = "FIELD")]
    pub(crate) order_by_desc: Vec<String>,
    /// A raw encoded query (sysparm_query), sent as written, instead of the flags above.
    #[arg(long, value_name = "ENCODED_QUERY")]
    pub(crate) query: Option<String>,
}

/// `--display-values`: stored values, display values, or both (sysparm_display_value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum DisplayValuesArg {
    /// Stored values (sys_ids, choice values).
    #[default]
    False,
    /// Display values (names, choice labels).
    True,
    /// Both, as {"display_value", "value"} objects.
    All,
}

/// How records are read: display values and reference links.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct ValueArgs {
    /// Display values instead of stored values: false, true or all; the flag alone means true.
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_name = "false|true|all"
    )]
    pub(crate) display_values: DisplayValuesArg,
    /// References without their API link (sysparm_exclude_reference_link=true).
    #[arg(long)]
    pub(crate) exclude_reference_link: bool,
}

/// Output formats of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// One JSON array, pretty-printed.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header line.
    Csv,
    /// Aligned columns for reading.
    Table,
}

/// `sn table list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The table, e.g. incident.
    pub(crate) table: String,
    #[command(flatten)]
    pub(crate) filters: FilterArgs,
    /// Only these fields, comma-separated (sysparm_fields).
    #[arg(long, value_delimiter = ',', value_name = "FIELD,…")]
    pub(crate) fields: Vec<String>,
    /// At most this many records.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: u32,
    /// Skip this many records first.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: u64,
    #[command(flatten)]
    pub(crate) values: ValueArgs,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
}

/// `sn table get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The table.
    pub(crate) table: String,
    /// The record's sys_id.
    pub(crate) sys_id: String,
    /// Only these fields, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "FIELD,…")]
    pub(crate) fields: Vec<String>,
    #[command(flatten)]
    pub(crate) values: ValueArgs,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub(crate) format: Format,
}

/// Field values of a write.
#[derive(Debug, Args)]
pub(crate) struct ValuesArgs {
    /// FIELD=VALUE (repeatable).
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub(crate) set: Vec<String>,
    /// A JSON object of fields (merged under the --set values).
    #[arg(long, value_name = "JSON")]
    pub(crate) data: Option<String>,
    /// The output format of the record the instance returns.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub(crate) format: Format,
}

/// `sn table create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The table.
    pub(crate) table: String,
    #[command(flatten)]
    pub(crate) values: ValuesArgs,
}

/// `sn table update`.
#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// The table.
    pub(crate) table: String,
    /// The record's sys_id.
    pub(crate) sys_id: String,
    #[command(flatten)]
    pub(crate) values: ValuesArgs,
}

/// `sn table delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The table.
    pub(crate) table: String,
    /// The record's sys_id.
    pub(crate) sys_id: String,
}

/// Formats `sn export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header line.
    Csv,
}

/// `--partition-by`: what a parallel export's ranges are cut along.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PartitionBy {
    /// Even ranges of sys_id.
    #[value(name = "sys_id")]
    SysId,
    /// Even windows of creation time, each read by sys_id.
    #[value(name = "sys_created_on")]
    SysCreatedOn,
}

/// When to show export progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Progress {
    /// A progress bar when stderr is a terminal, nothing otherwise.
    Auto,
    /// A bar on a terminal, otherwise a progress line every few thousand rows (for logs).
    Always,
    /// Never.
    Never,
}

/// `sn export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The table, e.g. incident.
    pub(crate) table: String,
    #[command(flatten)]
    pub(crate) filters: FilterArgs,
    /// Only these fields, comma-separated (CSV columns in this order).
    #[arg(long, value_delimiter = ',', value_name = "FIELD,…")]
    pub(crate) fields: Vec<String>,
    #[command(flatten)]
    pub(crate) values: ValueArgs,
    /// The output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub(crate) format: ExportFormat,
    /// Write to this file instead of standard output: created new with mode 0600, never through
    /// a symbolic link; an existing file is refused unless --overwrite.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace an existing --output file (a symbolic link there is replaced, not followed).
    #[arg(long, requires = "output")]
    pub(crate) overwrite: bool,
    /// Records per request (default 2000 for a parallel export, 1000 for an ordered one;
    /// lower it if the instance cancels long transactions).
    #[arg(long, value_name = "N")]
    pub(crate) page_size: Option<u32>,
    /// How many requests at once: `auto` (the default) reads sys_id ranges in parallel and adapts
    /// to the instance (grows while latency holds, backs off on 429 and queueing), a number fixes
    /// it, `off` reads one ordered stream. An --order-by needs `off` (auto falls back to it).
    #[arg(long, default_value = "auto", value_name = "auto|N|off", value_parser = parse_parallel)]
    pub(crate) parallel: Parallel,
    /// Before a parallel export reads, count each sys_id range with the Aggregate API and
    /// split one holding more than N records (ranges are otherwise split while they are read).
    #[arg(long, value_name = "N")]
    pub(crate) split_ranges_above: Option<u64>,
    /// How a parallel export cuts the table into ranges: even sys_id ranges, or even windows of
    /// creation time (sys_created_on, as sndml3's partitioned loads), each read by sys_id. A
    /// --resume needs the partitioning of its checkpoint.
    #[arg(long, value_enum, default_value = "sys_id", value_name = "FIELD")]
    pub(crate) partition_by: PartitionBy,
    /// Record after every page written where each range of the export stands (needs --output
    /// and a parallel export), so that --resume can continue after a crash.
    #[arg(long, value_name = "FILE")]
    pub(crate) checkpoint: Option<PathBuf>,
    /// Continue the export recorded in --checkpoint: the output file is cut back to what the
    /// checkpoint covers and the export goes on, without a repeated or missing row.
    #[arg(long, requires = "checkpoint")]
    pub(crate) resume: bool,
    /// When to show progress on stderr.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub(crate) progress: Progress,
}

/// Output formats of `sn stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatsFormat {
    /// Aligned columns: one row per group.
    Table,
    /// The groups as a JSON array, numbers as numbers.
    Json,
}

/// `sn stats`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// The table, e.g. incident.
    pub(crate) table: String,
    #[command(flatten)]
    pub(crate) filters: FilterArgs,
    /// Count the records (per group).
    #[arg(long)]
    pub(crate) count: bool,
    /// Group by this field (repeatable, or comma-separated).
    #[arg(long = "group-by", value_delimiter = ',', value_name = "FIELD")]
    pub(crate) group_by: Vec<String>,
    /// The average of this field (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "FIELD")]
    pub(crate) avg: Vec<String>,
    /// The smallest value of this field (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "FIELD")]
    pub(crate) min: Vec<String>,
    /// The largest value of this field (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "FIELD")]
    pub(crate) max: Vec<String>,
    /// The sum of this field (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "FIELD")]
    pub(crate) sum: Vec<String>,
    /// Group values as display values: false, true or all; the flag alone means true.
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_name = "false|true|all"
    )]
    pub(crate) display_values: DisplayValuesArg,
    /// The output format.
    #[arg(long, value_enum, default_value_t = StatsFormat::Table)]
    pub(crate) format: StatsFormat,
}

/// `sn api`.
#[derive(Debug, Args)]
pub(crate) struct ApiArgs {
    /// The HTTP method: GET, POST, PUT, PATCH, DELETE or HEAD.
    pub(crate) method: String,
    /// The path (and query) on the instance, starting with /, e.g. /api/now/stats/incident?sysparm_count=true.
    pub(crate) path: String,
    /// Send this file as the JSON body; `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub(crate) data: Option<PathBuf>,
}

/// `sn export --parallel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parallel {
    /// Adaptive concurrency.
    Auto,
    /// This many requests at once.
    Fixed(usize),
    /// One ordered stream.
    Off,
}

fn parse_parallel(text: &str) -> Result<Parallel, String> {
    match text {
        "auto" => Ok(Parallel::Auto),
        "off" => Ok(Parallel::Off),
        number => match number.parse::<usize>() {
            Ok(requests @ 1..=64) => Ok(Parallel::Fixed(requests)),
            _ => Err("expected auto, off or a number of requests from 1 to 64".to_owned()),
        },
    }
}

/// `sn emulator`: the emulator binary's options.
#[derive(Debug, Args)]
pub(crate) struct EmulatorCommandArgs {
    #[command(flatten)]
    pub(crate) emulator: servicenow_emulator::EmulatorArgs,
}

/// `sn demo` (with `--store-dir`, the token store is kept there instead of in a temporary
/// directory).
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Log in with your own browser instead of the scripted user agent.
    #[arg(long)]
    pub(crate) browser: bool,
}
