//! `redrock-server`: parses the command line, loads the configuration and
//! runs the server.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// A Redis-compatible server that keeps its data on flash through RocksDB.
///
/// With no arguments it starts with the embedded defaults (127.0.0.1:6666,
/// data under ./redrock-data). Any kvrocks.conf directive can be given on
/// the command line as `--directive value`, overriding the file.
#[derive(Parser)]
#[command(name = "redrock-server", version, trailing_var_arg = true)]
struct Cli {
    /// A kvrocks.conf-style configuration file.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Directive overrides: `--port 7000 --dir /data ...`.
    #[arg(allow_hyphen_values = true, value_name = "--DIRECTIVE VALUE")]
    overrides: Vec<String>,
}

/// Pairs `--name value` arguments (a `-c FILE` among them is taken as the
/// config file); a directive given without a value is an error that says so.
fn parse_overrides(
    args: &[String],
    config: &mut Option<PathBuf>,
) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut iter = args.iter().peekable();
    while let Some(arg) = iter.next() {
        if arg == "-c" || arg == "--config" {
            let file = iter.next().ok_or("-c needs a config file")?;
            *config = Some(PathBuf::from(file));
            continue;
        }
        let Some(name) = arg.strip_prefix("--") else {
            return Err(format!(
                "unexpected argument '{arg}': directives are given as --name value"
            ));
        };
        let mut words = Vec::new();
        while let Some(next) = iter.peek() {
            if next.starts_with("--") || *next == "-c" {
                break;
            }
            words.push(iter.next().expect("peeked").clone());
        }
        if words.is_empty() {
            return Err(format!("directive --{name} needs a value"));
        }
        pairs.push((name.to_owned(), words.join(" ")));
    }
    Ok(pairs)
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    let overrides = match parse_overrides(&cli.overrides, &mut cli.config) {
        Ok(pairs) => pairs,
        Err(e) => {
            eprintln!("redrock-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match redrock::config::load(cli.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("redrock-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    if config.daemonize {
        // SAFETY: called before any thread is started; daemon(3) forks and
        // detaches, keeping the working directory so relative paths hold.
        if unsafe { libc::daemon(1, 0) } != 0 {
            eprintln!(
                "redrock-server: cannot daemonize: {}",
                std::io::Error::last_os_error()
            );
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = redrock::logging::init(&config.log_level, &config.log_dir) {
        eprintln!(
            "redrock-server: cannot open log-dir {}: {e}",
            config.log_dir
        );
        return ExitCode::FAILURE;
    }
    // More workers than cores only adds contention; 0 means one per core.
    let workers = match config.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n as usize,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        // Room for a script's deeply nested reply (see scripting::convert).
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("redrock-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config_file = cli.config.map(|p| p.canonicalize().unwrap_or(p));
    match runtime.block_on(redrock::server::run(config, config_file)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redrock-server: {e}");
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
