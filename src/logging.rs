//! Logging through `tracing`: to stdout, or to a file in `log-dir`, at the
//! level `log-level` names (which CONFIG SET can change).

use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::{filter::LevelFilter, prelude::*, reload};

static RELOAD: OnceLock<reload::Handle<LevelFilter, tracing_subscriber::Registry>> =
    OnceLock::new();

fn level_filter(level: &str) -> LevelFilter {
    match level {
        "debug" => LevelFilter::DEBUG,
        "warning" => LevelFilter::WARN,
        "error" | "fatal" => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    }
}

/// Installs the global subscriber. `log_dir` is `stdout`, `stderr` or a
/// directory that receives `redrock.log`.
pub fn init(level: &str, log_dir: &str) -> std::io::Result<()> {
    let (filter, handle) = reload::Layer::new(level_filter(level));
    let registry = tracing_subscriber::registry().with(filter);
    match log_dir {
        "stdout" => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_writer(std::io::stdout),
            )
            .init(),
        "stderr" => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init(),
        dir => {
            std::fs::create_dir_all(dir)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(std::path::Path::new(dir).join("redrock.log"))?;
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(std::sync::Mutex::new(file)),
                )
                .init()
        }
    }
    let _ = RELOAD.set(handle);
    Ok(())
}

/// Changes the level at run time (CONFIG SET log-level).
pub fn set_level(level: &str) {
    if let Some(handle) = RELOAD.get() {
        let _ = handle.modify(|filter| *filter = level_filter(level));
    }
}
