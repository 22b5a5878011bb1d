//! Logging: one short line per event. With `-l` to stderr (the appliance's serial console);
//! otherwise to syslog through /dev/log, falling back to stderr when there is none.

use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

static SYSLOG: OnceLock<Option<UnixDatagram>> = OnceLock::new();

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
}

/// Chooses the sink; later calls keep the first choice.
pub fn init(console: bool) {
    SYSLOG.get_or_init(|| {
        if console {
            return None;
        }
        let s = UnixDatagram::unbound().ok()?;
        s.connect("/dev/log").ok()?;
        Some(s)
    });
}

pub fn log(level: Level, msg: &str) {
    match SYSLOG.get().and_then(Option::as_ref) {
        Some(s) => {
            // LOG_DAEMON (3 << 3) with the severity.
            let pri = 24
                + match level {
                    Level::Error => 3,
                    Level::Warning => 4,
                    Level::Info => 6,
                };
            let line = format!("<{pri}>keeplite[{}]: {msg}", std::process::id());
            if s.send(line.as_bytes()).is_err() {
                eprintln!("{msg}");
            }
        }
        None => eprintln!("{msg}"),
    }
}

pub fn info(msg: &str) {
    log(Level::Info, msg)
}

pub fn warn(msg: &str) {
    log(Level::Warning, msg)
}

pub fn error(msg: &str) {
    log(Level::Error, msg)
}
