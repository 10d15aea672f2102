use std::io::Write as _;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use mqtt_scan::cli::{CheckFormat, Cli, Command, DEFAULT_SERVICE_PREFIX};
use mqtt_scan::commands;
use mqtt_scan::config::{self, Connection, Scan};
use mqtt_scan::error::{Exit, UsageError};

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("mqtt-scan: internal error: {msg} (this is a bug: please report it)");
    }));
    let (cli, matches) = match Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)))
    {
        Ok(parsed) => parsed,
        Err(e) => return clap_error(&e),
    };
    let password_flag = password_on_command_line(&matches);
    // For a monitor, every failure of `check` is UNKNOWN (3), never a usage error's 2,
    // which it would read as CRITICAL.
    let check_format = match &cli.command {
        Some(Command::Check(args)) => Some((args.format, args.service_prefix.as_str())),
        _ => None,
    };
    match run(&cli, &matches, password_flag) {
        Ok(code) => code.into(),
        Err(e) => {
            let message = format!("{e:#}");
            if let Some((format, prefix)) = check_format {
                return commands::check::unknown(&message, format, prefix).into();
            }
            eprintln!("mqtt-scan: {message}");
            if e.downcast_ref::<UsageError>().is_some() {
                Exit::Usage.into()
            } else {
                Exit::Runtime.into()
            }
        }
    }
}

fn run(cli: &Cli, matches: &ArgMatches, password_flag: bool) -> anyhow::Result<Exit> {
    if matches!(cli.command, Some(Command::Presets))
        || cli.topics.presets.iter().any(|p| p == "help")
    {
        print!("{}", mqtt_scan::status::presets::listing());
        return Ok(Exit::Success);
    }
    let Some(command) = &cli.command else {
        // No subcommand: the help, as a usage error.
        eprint!("{}", Cli::command().render_help());
        return Ok(Exit::Usage);
    };
    match command {
        Command::Completions { shell } => {
            commands::to_stdout(|w| w.write_all(&commands::docs::completions(*shell)))?;
            return Ok(Exit::Success);
        }
        Command::Man(args) => {
            match &args.dir {
                Some(dir) => {
                    for page in commands::docs::write_pages(dir)? {
                        println!("{}", page.display());
                    }
                }
                None => commands::to_stdout(|w| commands::docs::main_page(w))?,
            }
            return Ok(Exit::Success);
        }
        Command::Demo(_) => reject_demo_flags(matches)?,
        _ => {}
    }
    let conn = Connection::from_args(&cli.connection)?;
    let scan = Scan::from_args(&cli.topics)?;
    // Anyone on the machine can read a command line (`ps`): say so, once, on stderr (after
    // the arguments are known to be good, so a usage error stays one line).
    if password_flag {
        eprintln!("mqtt-scan: warning: --password is visible to other users in ps; use MQTT_SCAN_PASSWORD or --password-file");
    }
    for warning in &conn.warnings {
        eprintln!("mqtt-scan: warning: {warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            Command::List(args) => {
                let color = config::use_color(cli.color, config::stdout_is_terminal());
                // Interrupted before printing: nothing half-written, exit 130.
                tokio::select! {
                    result = commands::list::run(&conn, &scan, args, color) => result,
                    _ = tokio::signal::ctrl_c() => Ok(Exit::Interrupted),
                }
            }
            // watch ends on Ctrl-C and SIGTERM by itself, cleanly, with exit 0.
            Command::Watch(args) => {
                commands::watch::run(&conn, &scan, args, config::ColorPolicy(cli.color)).await
            }
            // serve too: Ctrl-C and SIGTERM end it gracefully, exit 0.
            Command::Serve(args) => commands::serve::run(&conn, &scan, args).await,
            Command::Check(args) => commands::check::run(&conn, &scan, args).await,
            Command::Announce(args) => commands::announce::run(&conn, args).await,
            Command::Prune(args) => commands::prune::run(&conn, &scan, args).await,
            Command::Demo(args) => commands::demo::run(&conn, args, cli.color).await,
            Command::Presets | Command::Completions { .. } | Command::Man(_) => Ok(Exit::Success),
        }
    })
}

/// `demo` runs its own broker and topics: a connection or topic flag given to it would be
/// silently ignored, so it is an error (the variables, set for every command, are not).
fn reject_demo_flags(matches: &ArgMatches) -> anyhow::Result<()> {
    const IGNORED: &[(&str, &str)] = &[
        ("broker", "-b/--broker"),
        ("host", "-h/--host"),
        ("port", "-p/--port"),
        ("username", "-u/--username"),
        ("password", "--password"),
        ("password_file", "--password-file"),
        ("cafile", "--cafile"),
        ("cert", "--cert"),
        ("key", "--key"),
        ("insecure", "--insecure"),
        ("topics", "-t/--topic"),
        ("presets", "--preset"),
        ("online_values", "--online-values"),
        ("offline_values", "--offline-values"),
    ];
    for (id, flag) in IGNORED {
        if on_command_line(matches, id) {
            return Err(mqtt_scan::error::usage(format!(
                "demo does not take {flag}: it runs its own broker and fleet (to look at your broker: mqtt-scan list {flag} ...)"
            )));
        }
    }
    Ok(())
}

/// Whether `--password` came from the command line (not MQTT_SCAN_PASSWORD), before or
/// after the subcommand.
fn password_on_command_line(matches: &ArgMatches) -> bool {
    on_command_line(matches, "password")
}

/// Whether the argument `id` was given on the command line (not by its variable or
/// default), before or after the subcommand.
fn on_command_line(matches: &ArgMatches, id: &str) -> bool {
    let mut m = Some(matches);
    while let Some(cur) = m {
        if cur.value_source(id) == Some(ValueSource::CommandLine) {
            return true;
        }
        m = cur.subcommand().map(|(_, sub)| sub);
    }
    false
}

/// Help and version print as usual; a usage error becomes one `mqtt-scan: ` line, exit 2
/// (for `check`, the UNKNOWN plugin line and exit 3).
fn clap_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            Exit::Usage.into()
        }
        _ => {
            let line = mosquitto_habit(e).unwrap_or_else(|| {
                let text = e.render().to_string();
                let parts: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.starts_with("Usage:"))
                    .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                    .collect();
                let line = parts.join(" ");
                line.strip_prefix("error: ").unwrap_or(&line).to_owned()
            });
            let message = format!("{line} (see mqtt-scan --help)");
            if let Some(format) = rejected_check_format() {
                return commands::check::unknown(&message, format, DEFAULT_SERVICE_PREFIX).into();
            }
            eprintln!("mqtt-scan: {message}");
            Exit::Usage.into()
        }
    }
}

/// mosquitto_sub's flags that mqtt-scan spells differently (or does not need): an unknown
/// flag among them gets an error naming ours.
const MOSQUITTO_FLAGS: &[(&[&str], &str)] = &[
    (
        &["-P", "--pw"],
        "use --password (or MQTT_SCAN_PASSWORD, --password-file)",
    ),
    (&["-i", "--id", "-I", "--id-prefix"], "use --client-id"),
    (&["-k"], "use --keepalive"),
    (
        &["-W"],
        "use --wait (the longest to wait for the retained snapshot)",
    ),
    (&["-L", "--url"], "use -b/--broker URL"),
    (
        &["-q", "--qos"],
        "not needed: the snapshot is taken at QoS 0 (see the README), watch --session uses QoS 1",
    ),
    (
        &["-v", "--verbose"],
        "not needed: every row shows its topic",
    ),
    (
        &["--retained-only", "-R"],
        "not needed: list shows the retained statuses; watch follows live changes",
    ),
    (
        &["-C"],
        "not needed: list ends by itself once the retained snapshot is complete",
    ),
    (
        &["-N"],
        "not needed: use --format (table, json, jsonl, csv)",
    ),
    (&["-F"], "use --format (table, json, jsonl, csv)"),
    (&["--pretty"], "use --format json"),
    (&["-d", "--debug"], "not available: errors say what failed"),
    (
        &["--quiet"],
        "not needed: mqtt-scan prints only the table and real warnings",
    ),
    (&["--capath"], "use --cafile with a PEM file"),
    (&["-x"], "use watch --session NAME --session-expiry DUR"),
    (&["--disable-clean-session"], "use watch --session NAME"),
    (
        &["-U", "--unsubscribe"],
        "use prune (it clears offline clients' retained statuses)",
    ),
    (
        &["--will-topic", "--will-payload"],
        "use announce (it registers the Will for you)",
    ),
    (
        &["-T", "--filter-out"],
        "not available: narrow the status topics with -t instead",
    ),
];

fn mosquitto_habit(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split('=').next().unwrap_or(arg);
    let (_, hint) = MOSQUITTO_FLAGS
        .iter()
        .find(|(flags, _)| flags.contains(&flag))?;
    Some(format!(
        "unexpected argument '{flag}' (mosquitto_sub's {flag}?): {hint}"
    ))
}

/// For a command line clap rejected: when it names `check` (the first word that is neither
/// a flag nor a top-level flag's value), the `--format` it asks for, so that a Checkmk agent
/// still gets its `3 "MQTT fleet"` line for a bad flag.
fn rejected_check_format() -> Option<CheckFormat> {
    use clap::ValueEnum as _;
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The top-level flags that take a value, as clap knows them: `-b HOST check` names check.
    let cmd = Cli::command();
    let takes_value: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.get_action().takes_values())
        .flat_map(|a| {
            let shorts = a
                .get_short()
                .into_iter()
                .chain(a.get_all_short_aliases().unwrap_or_default());
            let longs = a
                .get_long()
                .into_iter()
                .chain(a.get_all_aliases().unwrap_or_default());
            shorts
                .map(|c| format!("-{c}"))
                .chain(longs.map(|l| format!("--{l}")))
        })
        .collect();
    let mut i = 0;
    let subcommand = loop {
        let arg = args.get(i)?;
        if takes_value.contains(arg) {
            i += 2;
        } else if arg.starts_with('-') {
            i += 1;
        } else {
            break arg;
        }
    };
    if subcommand != "check" {
        return None;
    }
    let value = args.iter().enumerate().find_map(|(i, a)| {
        if a == "--format" {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix("--format=")
        }
    });
    Some(
        value
            .and_then(|v| CheckFormat::from_str(v, false).ok())
            .unwrap_or(CheckFormat::Text),
    )
}
