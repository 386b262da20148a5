//! The command line: `keystep serve | migrate | user … | client …`. Every failure prints one
//! clear line to stderr and exits with code 1; nothing is written when a command fails.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use keystep_core::clock::SystemClock;
use keystep_core::config::{Config, LogFormat};
use keystep_core::Services;

use crate::commands;

/// keystep: an OpenID Connect provider with TOTP step-up.
#[derive(Debug, Parser)]
#[command(name = "keystep", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: ./keystep.toml when present; also KEYSTEP_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write logs as JSON lines (same as log.format = "json").
    #[arg(long, global = true)]
    pub log_json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server.
    Serve,
    /// Start the server with a demo person, a demo client and a relying party at /demo.
    Demo,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage relying parties (OAuth clients).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage the token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Second factors: resets for lost devices.
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// Text messages: check the SMS settings.
    #[command(subcommand)]
    Sms(SmsCommand),
}

/// `keystep mfa …`
#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Remove a person's second factors (lost device, or locked by a day of wrong codes):
    /// ends their sessions, lifts the lock (when the counters are in Redis) and mails them.
    Reset {
        /// Username.
        name: String,
    },
    /// Reset requests filed from the login page; approve or deny one.
    Requests {
        /// What to do with a request.
        #[command(subcommand)]
        action: Option<RequestAction>,
        /// List decided requests too.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `keystep sms …`
#[derive(Debug, Subcommand)]
pub enum SmsCommand {
    /// Send one text message through the configured sender (the outbox or `sms.http`), to
    /// check the settings; fails with the gateway's answer when it does not go out.
    Test {
        /// The number, in international form (`+4915112345678`).
        number: String,
    },
}

/// `keystep mfa requests approve|deny ID`
#[derive(Debug, Subcommand)]
pub enum RequestAction {
    /// Remove the person's second factors, end their sessions, mail them.
    Approve {
        /// Request id.
        id: String,
    },
    /// Decline; the person is mailed and nothing changes.
    Deny {
        /// Request id.
        id: String,
    },
}

/// `keystep keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create new signing keys and retire the current ones. The new keys are published at
    /// once and sign after tokens.signing_key_delay_seconds (default 1 hour), so relying
    /// parties that cache the JWKS know them first; the current keys sign until then and
    /// stay published until the tokens they signed have expired. Running servers pick the
    /// change up within 30 seconds.
    Rotate {
        /// Sign with the new keys at once (after a key leaked, say): relying parties that
        /// cached the JWKS refuse new tokens until they fetch it again.
        #[arg(long)]
        now: bool,
    },
    /// List the signing keys.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `keystep user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        /// Username (unique, case-insensitive).
        name: String,
        /// Mail address.
        #[arg(long)]
        email: String,
        /// Name shown on pages (default: the username).
        #[arg(long, default_value = "")]
        display_name: String,
        /// Read the password from the first line of standard input; without it a strong
        /// password is generated and printed once.
        #[arg(long)]
        password_stdin: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one user: their account and their second-factor methods (never a secret, a
    /// code or a number in full).
    Show {
        /// Username.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they can no longer sign in.
    Disable {
        /// Username.
        name: String,
    },
    /// Set a user's password and end their sessions.
    Passwd {
        /// Username.
        name: String,
        /// Read the password from the first line of standard input; without it a strong
        /// password is generated and printed once.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `keystep client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; a confidential client's secret is printed once.
    Add(ClientAdd),
    /// List clients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a client.
    Remove {
        /// Client id.
        id: String,
    },
}

/// `keystep client add`
#[derive(Debug, Args)]
pub struct ClientAdd {
    /// The client_id.
    pub id: String,
    /// Allowed redirect URI (exact match); repeat for several.
    #[arg(long = "redirect-uri", value_name = "URI", required = true)]
    pub redirect_uris: Vec<String>,
    /// Allowed post-logout redirect URI (exact match); repeat for several.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (SPA or native app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// Second-factor policy: inherit (the global mfa.policy) or required.
    #[arg(long, default_value = "inherit", value_name = "POLICY")]
    pub mfa: String,
    /// Name shown on the login page (default: the id).
    #[arg(long, default_value = "")]
    pub name: String,
    /// ID token signing algorithm: RS256 (default) or ES256.
    #[arg(long, default_value = "RS256", value_name = "ALG")]
    pub id_token_alg: String,
    /// An API scope the client may ask for with client_credentials; repeat for several.
    /// Without any, client_credentials tokens carry no scope.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Let the client ask for offline_access: refresh tokens that outlive the sign-in
    /// session (until the person revokes them in /u, changes the password or is reset).
    #[arg(long)]
    pub offline_access: bool,
    /// A resource server: may introspect the access tokens of every client (others may
    /// introspect only their own tokens).
    #[arg(long)]
    pub introspect: bool,
    /// A resource indicator (RFC 8707) naming this client's API: a token request with
    /// `resource=URI` gets an access token whose `aud` is URI. Repeat for several.
    #[arg(long = "resource", value_name = "URI")]
    pub resources: Vec<String>,
    /// Print the result (with the secret) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A command's failure: the line to print.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Configuration could not be loaded.
    #[error("{0}")]
    Config(#[from] crate::config::LoadError),
    /// A domain error.
    #[error("{0}")]
    Domain(#[from] keystep_core::Error),
    /// Reading input or writing output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Parses arguments, runs the command, and turns any failure into exit code 1.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, CliError> {
    let mut config = crate::config::load(cli.config.as_deref())?;
    if cli.log_json {
        config.log.format = LogFormat::Json;
    }
    // Operator commands print their result on stdout; their log shows only what went wrong
    // (RUST_LOG still wins).
    if !matches!(cli.command, Command::Serve | Command::Demo) {
        config.log.level = "warn".to_owned();
    }
    crate::telemetry::init(&config.log);
    Ok(config)
}

fn open(config: Config) -> Result<Services, CliError> {
    Ok(crate::app::open_services(config, Arc::new(SystemClock))?)
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let config = load_config(&cli)?;
    match cli.command {
        Command::Serve => crate::serve(open(config)?),
        Command::Demo => {
            let mut config = config;
            crate::demo::configure(&mut config);
            crate::demo(open(config)?)
        }
        Command::Migrate => operate(config, |services, stdout| {
            writeln!(stdout, "database {} is up to date", services.db.target())?;
            Ok(())
        }),
        Command::User(command) => operate(config, |services, stdout| {
            match command {
                UserCommand::Add {
                    name,
                    email,
                    display_name,
                    password_stdin,
                    json,
                } => {
                    let password = password_stdin.then(read_password_line).transpose()?;
                    commands::user_add(
                        services,
                        stdout,
                        &name,
                        &email,
                        &display_name,
                        password,
                        json,
                    )
                }
                UserCommand::List { json } => commands::user_list(services, stdout, json),
                UserCommand::Show { name, json } => {
                    commands::user_show(services, stdout, &name, json)
                }
                UserCommand::Disable { name } => commands::user_disable(services, stdout, &name),
                UserCommand::Passwd {
                    name,
                    password_stdin,
                } => {
                    // `echo pw | keystep user passwd NAME` read stdin before
                    // --password-stdin existed; say that it no longer does.
                    if !password_stdin && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                        eprintln!("note: standard input was not read (pass --password-stdin to set the password from it); a new password is generated");
                    }
                    let password = password_stdin.then(read_password_line).transpose()?;
                    commands::user_passwd(services, stdout, &name, password)
                }
            }
        }),
        Command::Keys(command) => operate(config, |services, stdout| match command {
            KeysCommand::Rotate { now } => commands::keys_rotate(services, stdout, now),
            KeysCommand::List { json } => commands::keys_list(services, stdout, json),
        }),
        Command::Mfa(command) => operate(config, |services, stdout| match command {
            MfaCommand::Reset { name } => commands::mfa_reset(services, stdout, &name),
            MfaCommand::Requests {
                action: None,
                all,
                json,
            } => commands::mfa_requests(services, stdout, all, json),
            MfaCommand::Requests {
                action: Some(RequestAction::Approve { id }),
                ..
            } => commands::mfa_decide(services, stdout, &id, true),
            MfaCommand::Requests {
                action: Some(RequestAction::Deny { id }),
                ..
            } => commands::mfa_decide(services, stdout, &id, false),
        }),
        Command::Sms(SmsCommand::Test { number }) => operate(config, |services, stdout| {
            commands::sms_test(services, stdout, &number)
        }),
        Command::Client(command) => operate(config, |services, stdout| match command {
            ClientCommand::Add(add) => commands::client_add(services, stdout, &add),
            ClientCommand::List { json } => commands::client_list(services, stdout, json),
            ClientCommand::Remove { id } => commands::client_remove(services, stdout, &id),
        }),
    }
}

/// Runs an operator command, then hands over the ephemeral writes its transactions did not
/// (see [`crate::app::Operator`]), even when it failed. When both fail, the command's error
/// is returned and the hand-over's is printed.
fn operate(
    config: Config,
    command: impl FnOnce(&Services, &mut std::io::StdoutLock<'static>) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let operator = crate::app::Operator::open(config, Arc::new(SystemClock))?;
    let done = command(&operator.services, &mut std::io::stdout().lock());
    match (done, operator.finish()) {
        (Err(e), Err(relay)) => {
            eprintln!("error: could not hand the running server what the command ended: {relay}");
            Err(e)
        }
        (done, relayed) => done.and(relayed.map(drop).map_err(CliError::from)),
    }
}

/// The first line of standard input, without its line ending. Only the line ending is
/// removed: spaces are part of a password.
fn read_password_line() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    Ok(password.to_owned())
}
