//! The command line: clap derive. Connection flags are global (before or after the
//! subcommand) and each has an environment variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::status::{SortKey, State};

#[derive(Debug, Parser)]
#[command(
    name = "mqtt-scan",
    version,
    about = "Which MQTT clients are connected right now, and since when",
    long_about = "Which MQTT clients are connected right now, and since when.\n\n\
        Clients publish a retained status on their own topic (online when they connect, \
        a Last Will with offline when they die). mqtt-scan subscribes to those topics and \
        folds what the broker holds into one table keyed by client name.",
    after_help = "Examples:\n  mqtt-scan list -b mqtt://broker:1883\n  mqtt-scan list -h 10.0.0.5 -p 1884\n  mqtt-scan list --json | jq -r '.clients[] | select(.state==\"offline\") | .name'\n  mqtt-scan list -t 'tele/{name}/LWT' --only offline",
    propagate_version = true,
    // `-h` is the broker host, as in mosquitto_sub; `-V` the MQTT version. Help and version
    // stay on `--help` and `--version`.
    disable_help_flag = true,
    disable_version_flag = true
)]
pub struct Cli {
    /// Print help.
    #[arg(long, action = ArgAction::Help, global = true)]
    pub help: Option<bool>,
    /// Print the version.
    #[arg(long, action = ArgAction::Version)]
    pub version: Option<bool>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub topics: TopicArgs,
    /// When to colour output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN", help_heading = "Output")]
    pub color: ColorChoice,
    /// None: only `--preset help` may stand alone (it lists the presets).
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per run: the size of the biggest variant costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the status table once and exit.
    #[command(disable_help_flag = true)]
    List(ListArgs),
    /// Keep the table live: full screen on a terminal, one event per line in a pipe.
    #[command(disable_help_flag = true)]
    Watch(WatchArgs),
    /// Keep watching and serve it over HTTP: a JSON API, Server-Sent Events, /metrics for
    /// Prometheus, health and readiness.
    #[command(disable_help_flag = true)]
    Serve(ServeArgs),
    /// A monitoring verdict (Nagios plugin format): exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    #[command(disable_help_flag = true)]
    Check(CheckArgs),
    /// Be a status client: a Will, a retained online status, offline on the way out.
    #[command(disable_help_flag = true)]
    Announce(AnnounceArgs),
    /// Clear the retained statuses of offline (or unknown) clients. A dry run unless --yes.
    #[command(disable_help_flag = true)]
    Prune(PruneArgs),
    /// List the presets (--preset NAME): the conventions mqtt-scan knows, with their topics.
    #[command(disable_help_flag = true)]
    Presets,
    /// The whole tool with nothing installed: an embedded broker, a simulated fleet, `watch`.
    #[command(disable_help_flag = true)]
    Demo(DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(disable_help_flag = true)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `mqtt-scan man | man -l -`; `--dir DIR` writes one page
    /// per subcommand.
    #[command(disable_help_flag = true)]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write mqtt-scan.1 and one page per subcommand (mqtt-scan-list.1, ...) into DIR.
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MqttVersion {
    // mosquitto_sub's `-V` spellings too: mqttv311, mqttv5.
    #[value(
        name = "3.1.1",
        alias = "3",
        alias = "4",
        alias = "311",
        alias = "mqttv311"
    )]
    V311,
    #[value(name = "5", alias = "5.0", alias = "mqttv5")]
    V5,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// Broker URL: mqtt://host[:port], mqtts://, ws://host[:port][/path], wss://, or host[:port].
    #[arg(
        short = 'b',
        long,
        env = "MQTT_SCAN_BROKER",
        hide_env_values = true,
        global = true,
        default_value = "mqtt://localhost:1883",
        value_name = "URL"
    )]
    // Parsed in config, not by clap: clap's error would repeat the value, password and all.
    pub broker: String,
    /// Broker host, as mosquitto_sub's -h: replaces the host of --broker.
    #[arg(
        short = 'h',
        long,
        short_alias = 'H',
        global = true,
        value_name = "HOST",
        value_hint = clap::ValueHint::Hostname
    )]
    pub host: Option<String>,
    /// Broker port, as mosquitto_sub's -p: replaces the port of --broker.
    #[arg(short = 'p', long, global = true, value_name = "PORT")]
    pub port: Option<u16>,
    /// User name for the broker.
    #[arg(
        short = 'u',
        long,
        env = "MQTT_SCAN_USERNAME",
        global = true,
        value_name = "USER"
    )]
    pub username: Option<String>,
    /// Password (prefer MQTT_SCAN_PASSWORD or --password-file: a flag shows in `ps`).
    #[arg(
        long,
        env = "MQTT_SCAN_PASSWORD",
        hide_env_values = true,
        global = true,
        value_name = "PASSWORD"
    )]
    pub password: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long, global = true, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// CA certificate (PEM) to trust instead of the system roots.
    #[arg(long, global = true, value_name = "PATH")]
    pub cafile: Option<PathBuf>,
    /// Client certificate (PEM); needs --key.
    #[arg(long, global = true, value_name = "PATH")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM); needs --cert.
    #[arg(long, global = true, value_name = "PATH")]
    pub key: Option<PathBuf>,
    /// Do not verify the broker's certificate (insecure: for tests only).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Client id [default: mqtt-scan-<random hex>].
    #[arg(long, env = "MQTT_SCAN_CLIENT_ID", global = true, value_name = "ID")]
    pub client_id: Option<String>,
    /// MQTT protocol version (also mosquitto_sub's mqttv311, mqttv5).
    #[arg(
        short = 'V',
        long,
        env = "MQTT_SCAN_MQTT_VERSION",
        value_enum,
        default_value = "3.1.1",
        global = true,
        value_name = "VERSION"
    )]
    pub mqtt_version: MqttVersion,
    /// Keepalive interval in seconds (0 turns it off).
    #[arg(long, default_value_t = 60, global = true, value_name = "SECS")]
    pub keepalive: u16,
    /// How long to wait for TCP, TLS and the broker's CONNACK.
    #[arg(long, default_value = "5s", value_parser = parse_duration, global = true, value_name = "DUR")]
    pub connect_timeout: Duration,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Status topics")]
pub struct TopicArgs {
    /// Status topic pattern: an MQTT filter or a template with {name}; repeatable [default:
    /// sensors/connected/#] [env: MQTT_SCAN_TOPIC, several separated by commas]
    #[arg(short = 't', long = "topic", global = true, value_name = "PATTERN")]
    pub topics: Vec<String>,
    /// A known convention's topics and rules (repeatable): smarthome, homie, tasmota,
    /// esphome, zigbee2mqtt, shelly, sparkplug; a broker's client events: emqx, rmqtt,
    /// nanomq, aedes, aws-iot; `help` lists them.
    #[arg(long = "preset", global = true, value_name = "NAME", value_parser = PresetName, hide_possible_values = true)]
    pub presets: Vec<String>,
    /// Extra payload words that mean online (comma-separated).
    #[arg(long, global = true, value_delimiter = ',', value_name = "WORDS")]
    pub online_values: Vec<String>,
    /// Extra payload words that mean offline (comma-separated).
    #[arg(long, global = true, value_delimiter = ',', value_name = "WORDS")]
    pub offline_values: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The longest to wait for the retained snapshot.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DUR")]
    pub wait: Duration,
    /// Quiet time with no retained message that ends the snapshot (skipped on mosquitto).
    #[arg(long, default_value = "300ms", value_parser = parse_duration, value_name = "DUR")]
    pub settle: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Jsonl,
    Csv,
}

/// `--db FILE` for `list`, `watch` and `check`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Fill `since` from serve's history database (read-only) where the broker's retained
    /// payload gives no time and the status is the one recorded there.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Sort order.
    #[arg(long, value_enum, default_value_t = SortKey::Name)]
    pub sort: SortKey,
    /// Show only clients in this state.
    #[arg(long, value_enum, value_name = "STATE")]
    pub only: Option<State>,
    /// Table columns to show, in this order, comma-separated: name, state, detail, since,
    /// for, ip, topic, source [default: those that fit the terminal]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "COLS")]
    pub columns: Option<Vec<crate::render::columns::Column>>,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventFormat {
    /// `TIME NAME FROM -> TO TOPIC (retained=BOOL)`
    Text,
    /// One JSON object per event.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// One line per change even on a terminal (the default when stdout is not one).
    #[arg(long)]
    pub events: bool,
    /// Event line format (jsonl implies --events).
    #[arg(long, value_enum, default_value_t = EventFormat::Text)]
    pub format: EventFormat,
    /// Sort order of the terminal view (`s` cycles it).
    #[arg(long, value_enum, default_value_t = SortKey::Name)]
    pub sort: SortKey,
    /// Start the terminal view showing offline clients only (`o` toggles it).
    #[arg(long)]
    pub offline_only: bool,
    /// Table columns to show, in this order, comma-separated: name, state, detail, since,
    /// for, ip, topic, source [default: those that fit the terminal]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "COLS")]
    pub columns: Option<Vec<crate::render::columns::Column>>,
    /// A persistent session with this client id: changes published while the watcher was
    /// away arrive when it comes back.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// How long the broker keeps the --session while nobody is connected (MQTT 5; on 3.1.1
    /// the broker decides).
    #[arg(long, default_value = "1d", value_parser = parse_duration, value_name = "DUR", requires = "session")]
    pub session_expiry: Duration,
    /// Append every state change to FILE as a JSON line (synced to disk per batch).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

/// `serve --listen`'s default: loopback, and a port of its own (MQTT's 1883 in the 9xxx
/// range where Prometheus exporters live).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9883";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to serve HTTP on (host:port; 0.0.0.0:9883 for every interface).
    #[arg(long, default_value = DEFAULT_LISTEN, value_name = "ADDR")]
    pub listen: String,
    /// The most clients with series of their own on /metrics (the first seen); beyond it
    /// only the totals, and a count of the clients left out.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub metrics_max_clients: usize,
    /// How many recent transitions to keep per client in memory for /api/clients/NAME
    /// when there is no history database (--no-db).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub keep_transitions: usize,
    /// The history database (SQLite): every transition, and the table with each row's
    /// since, kept across restarts [default: $XDG_STATE_HOME/mqtt-scan/history.sqlite3]
    #[arg(long, value_name = "FILE", conflicts_with = "no_db")]
    pub db: Option<PathBuf>,
    /// No history database: transitions are kept in memory only and lost on restart.
    #[arg(long)]
    pub no_db: bool,
    /// How long the history database keeps transitions (older ones are deleted).
    #[arg(long, default_value = "30d", value_parser = parse_duration, value_name = "DUR")]
    pub keep: Duration,
    /// A persistent session with this client id: changes published while serve was away
    /// arrive when it comes back.
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// How long the broker keeps the --session while nobody is connected (MQTT 5; on 3.1.1
    /// the broker decides).
    #[arg(long, default_value = "1d", value_parser = parse_duration, value_name = "DUR", requires = "session")]
    pub session_expiry: Duration,
    /// Append every state change to FILE as a JSON line (synced to disk per batch).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// The status line with perfdata, then one long-output line per judged client
    /// (problems first, at most 50 lines).
    Text,
    Json,
    /// Checkmk local checks: a `MQTT fleet` service and one service per judged client.
    Checkmk,
    /// Icinga/Nagios external commands: one PROCESS_SERVICE_CHECK_RESULT per judged client
    /// (needs --host-name or --per-client-host).
    IcingaPassive,
}

/// `check --service-prefix`'s default (also for the UNKNOWN line of a rejected command line).
pub const DEFAULT_SERVICE_PREFIX: &str = "MQTT ";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// An expected client (repeatable): only expected clients are judged, a missing one
    /// counts as offline.
    #[arg(long, value_name = "NAME")]
    pub expect: Vec<String>,
    /// Expected clients, one name per line (`#` starts a comment, blank lines are skipped).
    #[arg(long, value_name = "FILE")]
    pub expect_file: Option<PathBuf>,
    /// WARNING when at least N judged clients are offline [default: 1 with --expect].
    #[arg(long, value_name = "N")]
    pub warn_offline: Option<usize>,
    /// CRITICAL when at least N judged clients are offline.
    #[arg(long, value_name = "N")]
    pub crit_offline: Option<usize>,
    /// WARNING when the number of offline clients is outside RANGE (Nagios syntax: 10, 10:,
    /// ~:10, 10:20, @10:20; `-w 0` warns on any offline client).
    #[arg(short = 'w', long, value_name = "RANGE", value_parser = crate::check::Range::parse, conflicts_with = "warn_offline")]
    pub warning: Option<crate::check::Range>,
    /// CRITICAL when the number of offline clients is outside RANGE (as --warning).
    #[arg(short = 'c', long, value_name = "RANGE", value_parser = crate::check::Range::parse, conflicts_with = "crit_offline")]
    pub critical: Option<crate::check::Range>,
    /// Bound the whole run (connect and snapshot): UNKNOWN, naming the stage, when it ends.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Option<Duration>,
    /// CRITICAL when fewer than N judged clients are online.
    #[arg(long, value_name = "N")]
    pub min_online: Option<usize>,
    /// A client whose payload timestamp is older than this is stale, and counts as offline.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub max_age: Option<Duration>,
    /// Remember across runs when each client was first seen offline (for --grace).
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,
    /// Forgive an offline client until it has been offline this long (needs --state-file).
    #[arg(long, value_parser = parse_duration, value_name = "DUR", requires = "state_file")]
    pub grace: Option<Duration>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// The per-client service names start with this (checkmk, icinga-passive).
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_SERVICE_PREFIX)]
    pub service_prefix: String,
    /// --format checkmk: each client's service on a piggyback host of the client's name.
    #[arg(long)]
    pub piggyback: bool,
    /// --format icinga-passive: the host every client's service belongs to.
    #[arg(long, value_name = "HOST", conflicts_with = "per_client_host")]
    pub host_name: Option<String>,
    /// --format icinga-passive: each client is a host of its own name, with a service
    /// `<prefix>status`.
    #[arg(long)]
    pub per_client_host: bool,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PayloadStyle {
    /// `1` and `0`.
    Plain,
    /// `{"status":1,"ts":...,"ip":...,"client":NAME}`.
    Json,
}

#[derive(Debug, Args)]
pub struct AnnounceArgs {
    /// The client name to announce.
    pub name: String,
    /// The status topic; `{name}` stands for NAME.
    #[arg(
        long,
        default_value = "sensors/connected/{name}",
        value_name = "TEMPLATE"
    )]
    pub topic_template: String,
    /// The payloads' style.
    #[arg(long, value_enum, default_value_t = PayloadStyle::Plain)]
    pub payload: PayloadStyle,
    /// The online payload, instead of the style's.
    #[arg(long, value_name = "TEXT")]
    pub online_payload: Option<String>,
    /// The offline payload (clean exit and Will), instead of the style's.
    #[arg(long, value_name = "TEXT")]
    pub offline_payload: Option<String>,
    /// Run COMMAND after `--`: online while it runs, offline when it ends; exit with its status.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PruneState {
    /// Offline clients' statuses.
    Offline,
    /// Offline and unknown clients' statuses.
    Unknown,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Which statuses to clear: offline ones, or offline and unknown ones.
    #[arg(long, value_enum, default_value_t = PruneState::Offline)]
    pub state: PruneState,
    /// Only statuses whose payload timestamp is older than this (statuses without one are kept).
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub older_than: Option<Duration>,
    /// Clear them (without it, a dry run lists what would be cleared).
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many simulated devices.
    #[arg(long, default_value_t = 12, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub devices: u16,
    /// End by itself after this long.
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub duration: Option<Duration>,
    /// One line per change even on a terminal.
    #[arg(long)]
    pub events: bool,
    /// Event line format (jsonl implies --events).
    #[arg(long, value_enum, default_value_t = EventFormat::Text)]
    pub format: EventFormat,
}

/// `--preset`: any text (config says what is wrong with an unknown name, listing the known
/// ones), with the preset names as possible values, so shell completion offers them.
#[derive(Debug, Clone, Copy)]
pub struct PresetName;

impl TypedValueParser for PresetName {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            crate::status::presets::PRESETS
                .iter()
                .map(|p| PossibleValue::new(p.name).help(p.about))
                .chain(std::iter::once(
                    PossibleValue::new("help").help("list the presets"),
                )),
        ))
    }
}

impl ListArgs {
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.format
        }
    }
}

/// The longest duration any flag takes: enough for anything, small enough to add to a clock.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// humantime durations: `500ms`, `5s`, `10m`, `2h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e} (use e.g. 500ms, 5s, 10m, 2h)"))?;
    if d > MAX_DURATION {
        return Err("too long: at most 100 years".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "mqtt-scan",
            "list",
            "-b",
            "h:1",
            "--json",
            "-t",
            "a/#",
            "-t",
            "b/+",
        ])
        .unwrap();
        assert_eq!(cli.connection.broker, "h:1");
        assert_eq!(cli.topics.topics, ["a/#", "b/+"]);
        let Some(Command::List(list)) = cli.command else {
            panic!("not list");
        };
        assert_eq!(list.format(), Format::Json);
    }

    #[test]
    fn durations_are_humantime() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("soon").unwrap_err().contains("5s"));
        assert!(parse_duration("500000000000y").is_err());
        assert!(parse_duration("18446744073709551615s").is_err());
    }
}
