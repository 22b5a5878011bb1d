//! keepalived-compatible command line (hand-written: no argument-parsing crate, for footprint)
//! and the configuration front end (`-t`, `-d`).

use crate::config::{self, exit_status, LoadOptions, Severity};
use std::path::{Path, PathBuf};

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the daemon.
    Run,
    /// `-t`: check the configuration and exit 0 / 4 / 1.
    ConfigTest,
    /// `-d`: print the normalised configuration.
    Dump,
    /// `keeplite status [--json]`: ask the running daemon.
    Status {
        json: bool,
    },
    /// `keeplite reload`: ask the running daemon to reload.
    Reload,
    Version,
    Help,
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub command: Command,
    /// `-f/--use-file` (default /etc/keepalived/keepalived.conf).
    pub config_file: PathBuf,
    /// `-i/--config-id` (default: the short host name).
    pub config_id: Option<String>,
    /// `-n/--dont-fork`.
    pub dont_fork: bool,
    /// `-l/--log-console`.
    pub log_console: bool,
    /// `-D/--log-detail`.
    pub log_detail: bool,
    /// `-p/--pid`.
    pub pid_file: Option<PathBuf>,
    /// `--control`: control socket path (overrides `global_defs control_socket`).
    pub control: Option<PathBuf>,
    /// `-I/--dont-release-ipvs`: leave keeplite's IPVS services in place at exit.
    pub dont_release_ipvs: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            command: Command::Run,
            config_file: PathBuf::from(config::DEFAULT_CONFIG),
            config_id: None,
            dont_fork: false,
            log_console: false,
            log_detail: false,
            pid_file: None,
            control: None,
            dont_release_ipvs: false,
        }
    }
}

pub const USAGE: &str = "\
Usage: keeplite [OPTION...]
       keeplite status [--json]
       keeplite reload
       keeplite upgrade FILE|- [--reboot] [--allow-downgrade]   (appliance; upgrade --help)

  -f, --use-file=FILE      configuration file (default /etc/keepalived/keepalived.conf)
  -t, --config-test[=FILE] check the configuration and exit: 0 runs as written,
                           4 runs but something is ignored or absent, 1 would not run
  -d, --dump-conf          print the normalised configuration in keepalived syntax
  -n, --dont-fork          stay in the foreground
  -l, --log-console        log to the console
  -D, --log-detail         detailed logging
  -p, --pid=FILE           pid file
  -I, --dont-release-ipvs  leave the IPVS services in place at exit
  -i, --config-id=ID       select `@ID` configuration lines (default: short host name)
      --control=PATH       control socket (default from global_defs, /run/keeplite.sock)
  -v, --version            print the version
  -h, --help               this help

Accepted for keepalived compatibility and ignored:
  -P -C -R -x -X -m -M -G, -S N, -r FILE, -c FILE and their long forms.
";

/// keepalived flags keeplite accepts and ignores: (short, long, takes a value).
const COMPAT: &[(char, &str, bool)] = &[
    ('P', "vrrp", false),
    ('C', "check", false),
    ('R', "dont-respawn", false),
    ('x', "snmp", false),
    ('X', "release-vips", false),
    ('m', "core-dump", false),
    ('M', "core-dump-pattern", false),
    ('G', "no-syslog", false),
    ('S', "log-facility", true),
    ('r', "vrrp_pid", true),
    ('c', "checkers_pid", true),
];

/// Options taking a value: (short, long).
const WITH_VALUE: &[(char, &str)] = &[
    ('f', "use-file"),
    ('p', "pid"),
    ('i', "config-id"),
    ('\0', "control"),
];

/// Parses arguments (without the program name).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    let mut positional = Vec::new();
    while let Some(a) = args.next() {
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            if name == "config-test" {
                o.command = Command::ConfigTest;
                if let Some(f) = inline {
                    o.config_file = f.into();
                }
                continue;
            }
            if name == "json" {
                positional.push(a.clone());
                continue;
            }
            let short = WITH_VALUE
                .iter()
                .find(|(_, l)| *l == name)
                .map(|(s, _)| *s)
                .or_else(|| long_flag(name))
                .or_else(|| COMPAT.iter().find(|c| c.1 == name).map(|c| c.0))
                .ok_or_else(|| format!("unknown option `--{name}`"))?;
            let value = if takes_value(short, name) {
                Some(match inline {
                    Some(v) => v,
                    None => args
                        .next()
                        .ok_or_else(|| format!("option `--{name}` needs a value"))?,
                })
            } else {
                None
            };
            apply(&mut o, short, name, value)?;
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                k += 1;
                if c == 't' {
                    o.command = Command::ConfigTest;
                    if k < chars.len() {
                        o.config_file = chars[k..].iter().collect::<String>().into();
                    }
                    break;
                }
                if takes_value(c, "") {
                    let v = if k < chars.len() {
                        chars[k..].iter().collect()
                    } else {
                        args.next()
                            .ok_or_else(|| format!("option `-{c}` needs a value"))?
                    };
                    apply(&mut o, c, "", Some(v))?;
                    break;
                }
                apply(&mut o, c, "", None)?;
            }
        } else {
            positional.push(a);
        }
    }
    let mut pos = positional.into_iter();
    match pos.next().as_deref() {
        None => {}
        Some("status") => {
            let mut json = false;
            for p in pos.by_ref() {
                if p != "--json" {
                    return Err(format!("unexpected argument `{p}` to `status`"));
                }
                json = true;
            }
            o.command = Command::Status { json };
        }
        Some("reload") => o.command = Command::Reload,
        Some(other) => return Err(format!("unexpected argument `{other}`")),
    }
    if let Some(extra) = pos.next() {
        return Err(format!("unexpected argument `{extra}`"));
    }
    Ok(o)
}

fn long_flag(name: &str) -> Option<char> {
    Some(match name {
        "dump-conf" => 'd',
        "dont-fork" => 'n',
        "log-console" => 'l',
        "log-detail" => 'D',
        "dont-release-ipvs" => 'I',
        "version" => 'v',
        "help" => 'h',
        _ => return None,
    })
}

fn takes_value(short: char, long: &str) -> bool {
    WITH_VALUE
        .iter()
        .any(|&(s, l)| s == short && (s != '\0' || l == long))
        || COMPAT.iter().any(|&(s, _, v)| s == short && v)
}

fn apply(o: &mut Options, short: char, long: &str, value: Option<String>) -> Result<(), String> {
    match short {
        'f' => o.config_file = value.unwrap_or_default().into(),
        'p' => o.pid_file = value.map(Into::into),
        'i' => o.config_id = value,
        '\0' if long == "control" => o.control = value.map(Into::into),
        'd' => {
            if o.command == Command::Run {
                o.command = Command::Dump;
            }
        }
        'n' => o.dont_fork = true,
        'l' => o.log_console = true,
        'D' => o.log_detail = true,
        'I' => o.dont_release_ipvs = true,
        'v' => o.command = Command::Version,
        'h' => o.command = Command::Help,
        c if COMPAT.iter().any(|x| x.0 == c) => {}
        c => return Err(format!("unknown option `-{c}`")),
    }
    Ok(())
}

/// The short host name, keepalived's default `-i`.
fn short_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Whether a network interface exists in this process's network namespace.
pub fn interface_exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

/// Load options for `opts`: config id and the real interface check.
pub fn load_options(opts: &Options) -> LoadOptions<'static> {
    LoadOptions {
        config_id: opts.config_id.clone().unwrap_or_else(short_hostname),
        interface_exists: Some(&interface_exists),
        ..Default::default()
    }
}

/// `-t` and `-d`: prints diagnostics to stderr (and the dump to stdout); returns the exit
/// status (0 runs as written, 4 runs with warnings, 1 would not run).
pub fn check_config(opts: &Options, path: &Path) -> i32 {
    // The scripts, as the daemon judges them at every load (keepalived's rules), shown where
    // the configuration names them.
    let vet =
        |cfg: &config::Config| crate::check::script::located(crate::sys::process::vet_scripts(cfg));
    let load_opts = LoadOptions {
        vet_scripts: Some(&vet),
        ..load_options(opts)
    };
    let diags = match config::load(path, &load_opts) {
        Ok((cfg, diags)) => {
            if opts.command == Command::Dump {
                print!("{}", config::dump(&cfg));
            }
            diags
        }
        Err(diags) => diags,
    };
    for d in &diags {
        eprintln!("{d}\n");
    }
    let status = exit_status(&diags);
    let count = |s| diags.iter().filter(|d| d.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    match status {
        0 => eprintln!("{}: configuration OK", path.display()),
        4 => eprintln!(
            "{}: configuration usable with {warnings} warning(s): something is ignored or absent",
            path.display()
        ),
        _ => eprintln!(
            "{}: configuration invalid: {errors} error(s), {warnings} warning(s)",
            path.display()
        ),
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn keepalived_flags() {
        let o = p(&[
            "-D",
            "-n",
            "-l",
            "-f",
            "/x.conf",
            "-p",
            "/run/k.pid",
            "-i",
            "high",
        ])
        .unwrap();
        assert_eq!(o.command, Command::Run);
        assert!(o.dont_fork && o.log_console && o.log_detail);
        assert_eq!(o.config_file, PathBuf::from("/x.conf"));
        assert_eq!(o.pid_file, Some(PathBuf::from("/run/k.pid")));
        assert_eq!(o.config_id.as_deref(), Some("high"));
        let o = p(&["-nlDf/y.conf", "-P", "-S", "7", "--vrrp_pid=/r"]).unwrap();
        assert_eq!(o.config_file, PathBuf::from("/y.conf"));
        assert!(o.dont_fork && o.log_detail);
        assert!(!o.dont_release_ipvs);
        assert!(p(&["-I"]).unwrap().dont_release_ipvs);
        assert!(p(&["--dont-release-ipvs"]).unwrap().dont_release_ipvs);
    }

    #[test]
    fn test_and_dump_forms() {
        assert_eq!(p(&["-t"]).unwrap().command, Command::ConfigTest);
        let o = p(&["--config-test=/a"]).unwrap();
        assert_eq!(
            (o.command, o.config_file),
            (Command::ConfigTest, "/a".into())
        );
        let o = p(&["-t/b"]).unwrap();
        assert_eq!(o.config_file, PathBuf::from("/b"));
        let o = p(&["--use-file", "/c", "--dump-conf", "--control=/s"]).unwrap();
        assert_eq!(o.command, Command::Dump);
        assert_eq!(o.control, Some("/s".into()));
        assert_eq!(p(&["-d", "-t"]).unwrap().command, Command::ConfigTest);
    }

    #[test]
    fn subcommands_and_errors() {
        assert_eq!(
            p(&["status"]).unwrap().command,
            Command::Status { json: false }
        );
        assert_eq!(
            p(&["status", "--json"]).unwrap().command,
            Command::Status { json: true }
        );
        assert_eq!(p(&["reload"]).unwrap().command, Command::Reload);
        assert_eq!(p(&["-v"]).unwrap().command, Command::Version);
        assert_eq!(p(&["--help"]).unwrap().command, Command::Help);
        assert!(p(&["-q"]).unwrap_err().contains("unknown option `-q`"));
        assert!(p(&["--frob"]).is_err());
        assert!(p(&["-f"]).unwrap_err().contains("needs a value"));
        assert!(p(&["frob"]).is_err());
        assert!(p(&["reload", "x"]).is_err());
    }
}
