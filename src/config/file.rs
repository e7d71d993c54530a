//! kvrocks.conf syntax: one `directive value` per line, `#` comments,
//! values optionally in double quotes. Command-line `--directive value`
//! pairs are applied after the file, as redis-server and kvrocks do.

use super::directives::{is_kvrocks_only, Config, Directive, DIRECTIVES};
use std::fmt;
use std::path::Path;

/// Why the configuration was refused; the text names where and what.
#[derive(Debug, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Builds the configuration from the embedded defaults, then `file` (if
/// any), then the command-line overrides.
pub fn load(file: Option<&Path>, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        for (index, line) in text.lines().enumerate() {
            let Some((name, value)) = split_line(line) else {
                continue;
            };
            apply(&mut config, &name, &value).map_err(|reason| {
                ConfigError(format!(
                    "{}:{}: directive '{name}': {reason}",
                    path.display(),
                    index + 1
                ))
            })?;
        }
    }
    for (name, value) in overrides {
        apply(&mut config, name, value)
            .map_err(|reason| ConfigError(format!("command line: directive '{name}': {reason}")))?;
    }
    config
        .check()
        .map_err(|(name, reason)| ConfigError(format!("directive '{name}': {reason}")))?;
    Ok(config)
}

fn apply(config: &mut Config, name: &str, value: &str) -> Result<(), String> {
    let Some(directive) = Directive::find(name) else {
        if is_kvrocks_only(name) {
            config.ignored_kvrocks_directives.push(name.to_string());
            return Ok(());
        }
        return Err("unknown directive".to_string());
    };
    (directive.set)(config, value).map_err(|reason| format!("bad value '{value}': {reason}"))
}

/// The directive name and value of a config line, or `None` for a blank or
/// comment line.
fn split_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, value) = match line.split_once(char::is_whitespace) {
        Some((name, value)) => (name, value.trim()),
        None => (line, ""),
    };
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Some((name.to_ascii_lowercase(), value.to_owned()))
}

/// Rewrites `path` so it holds the current values: lines of directives
/// whose value changed are replaced in place, comments and order are kept,
/// and directives that differ from their default but had no line are
/// appended.
pub fn rewrite(path: &Path, config: &Config) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
    let mut seen = Vec::new();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match split_line(line).and_then(|(name, _)| Directive::find(&name)) {
            Some(directive) if !seen.contains(&directive.name) => {
                seen.push(directive.name);
                out.push_str(&format_line(directive, config));
            }
            // A repeated directive: the first line now carries the value.
            Some(_) => continue,
            None => out.push_str(line),
        }
        out.push('\n');
    }
    // A line under either name of a directive carries its value; an older
    // name is never added (Redis's CONFIG REWRITE writes one line).
    let covered: Vec<&str> = seen
        .iter()
        .filter_map(|name| Directive::find(name))
        .map(Directive::primary_name)
        .collect();
    for directive in DIRECTIVES {
        let primary = directive.primary_name();
        if primary == directive.name
            && !covered.contains(&primary)
            && (directive.get)(config) != directive.default
        {
            out.push_str(&format_line(directive, config));
            out.push('\n');
        }
    }
    replace_file(path, out.as_bytes())
        .map_err(|e| ConfigError(format!("cannot write {}: {e}", path.display())))
}

/// Replaces `path` with `contents` whole: written to a temp file in the
/// same directory with the file's mode (and owner, where the process may
/// set it), then renamed over it. A config holding requirepass that only
/// its owner may read stays that way, and a crash mid-write leaves the old
/// file.
fn replace_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let meta = std::fs::metadata(path)?;
    let tmp = path.with_extension("rewrite.tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    // Created with the mode from the start, so the contents are never
    // readable by more than the old file allowed.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(meta.mode() & 0o7777)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    // The umask may have cleared bits of the mode.
    file.set_permissions(meta.permissions())?;
    // Only root may give a file away; otherwise it stays the writer's.
    let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
    drop(file);
    std::fs::rename(&tmp, path)
}

fn format_line(directive: &Directive, config: &Config) -> String {
    let value = (directive.get)(config);
    if value.is_empty() || value.contains('#') {
        format!("{} \"{value}\"", directive.name)
    } else {
        format!("{} {value}", directive.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_and_directive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.conf");
        std::fs::write(&path, "# comment\nport 7000\n\nbogus 1\n").unwrap();
        let err = load(Some(&path), &[]).unwrap_err();
        assert_eq!(
            err.0,
            format!("{}:4: directive 'bogus': unknown directive", path.display())
        );
        std::fs::write(&path, "port nope\n").unwrap();
        let err = load(Some(&path), &[]).unwrap_err();
        assert!(
            err.0.contains(":1: directive 'port': bad value 'nope'"),
            "{}",
            err.0
        );
    }

    #[test]
    fn overrides_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.conf");
        std::fs::write(&path, "port 7000\nbind \"127.0.0.1 ::1\"\n").unwrap();
        let config = load(Some(&path), &[("port".into(), "7001".into())]).unwrap();
        assert_eq!(config.port, 7001);
        assert_eq!(config.bind, vec!["127.0.0.1", "::1"]);
    }

    #[test]
    fn rewrite_keeps_the_file_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.conf");
        std::fs::write(&path, "requirepass secret\n").unwrap();
        for mode in [0o600, 0o640, 0o664] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let mut config = load(Some(&path), &[]).unwrap();
            config.timeout += 1;
            rewrite(&path, &config).unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, mode);
            assert_eq!(load(Some(&path), &[]).unwrap(), config);
        }
        assert!(!path.with_extension("rewrite.tmp").exists());
    }

    #[test]
    fn rewrite_adds_a_directive_once_under_its_primary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.conf");
        std::fs::write(&path, "slave-read-only yes\n").unwrap();
        let mut config = load(Some(&path), &[]).unwrap();
        config.replicaof = "127.0.0.1 7000".into();
        config.replica_priority = 7;
        rewrite(&path, &config).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "slave-read-only yes\nreplicaof 127.0.0.1 7000\nreplica-priority 7\n"
        );
        assert_eq!(load(Some(&path), &[]).unwrap(), config);
        // A line under the older name carries the value.
        std::fs::write(&path, "slave-priority 5\n").unwrap();
        rewrite(&path, &config).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "slave-priority 7\nreplicaof 127.0.0.1 7000\n");
    }

    #[test]
    fn rewrite_keeps_comments_and_updates_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.conf");
        std::fs::write(&path, "# my server\ntimeout 5\n# end\n").unwrap();
        let mut config = load(Some(&path), &[]).unwrap();
        config.timeout = 30;
        config.maxclients = 50;
        rewrite(&path, &config).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "# my server\ntimeout 30\n# end\nmaxclients 50\n");
        assert_eq!(load(Some(&path), &[]).unwrap(), config);
    }
}
