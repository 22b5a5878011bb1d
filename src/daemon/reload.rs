//! Reloads off the loop's critical path: the new configuration is read, parsed and validated
//! in a forked child ([`Worker`]) that hands the model back with postcard, so an include that
//! hangs or a huge file never delays an advert. At most one child runs; reloads asked for
//! meanwhile are folded into one more run after it (the file may have changed after the
//! running child read it), and every client asking is answered by the run that covers it.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cli::{self, Options};
use crate::config::{self, Config};
use crate::sys::event::{Interest, Poller};
use crate::sys::worker::Worker;

/// A reload taking longer is abandoned (the running configuration stays). Below the 10 s a
/// `keeplite reload` client waits, so it hears why.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What the child sends back.
#[derive(Debug, Serialize, Deserialize)]
pub struct Loaded {
    /// The new configuration, or the errors refusing it (compiler-style lines).
    pub config: Result<Config, Vec<String>>,
    pub warnings: Vec<String>,
    /// The main file as parsed, for the last-known-good copy.
    pub text: Vec<u8>,
}

/// Loads the configuration as the daemon does at startup.
pub fn load(opts: &Options) -> Loaded {
    match config::load(&opts.config_file, &cli::load_options(opts)) {
        Ok((cfg, warnings)) => Loaded {
            config: Ok(cfg),
            warnings: warnings.iter().map(ToString::to_string).collect(),
            text: std::fs::read(&opts.config_file).unwrap_or_default(),
        },
        Err(diags) => Loaded {
            config: Err(diags.iter().map(ToString::to_string).collect()),
            warnings: Vec::new(),
            text: Vec::new(),
        },
    }
}

/// The startup load, done like a reload in a forked child: the parse's transient trees
/// (several times the model: 6 KiB per VRRP instance, ~29 MB with 10,000 real servers) live
/// and die there, so the daemon's heap only ever holds the decoded model (glibc would keep
/// the freed peak's pages). Waits as long as the load takes, as an in-process load would;
/// loads in-process if no child can be forked.
pub fn load_at_startup(opts: &Options) -> Result<Loaded, String> {
    let child = opts.clone();
    let work = move || Loaded {
        // Startup reads the file again for the last-known-good copy once it runs.
        text: Vec::new(),
        ..load(&child)
    };
    match Worker::spawn(work, TIMEOUT, Instant::now()) {
        Ok(w) => w.wait(),
        Err(_) => Ok(load(opts)),
    }
}

/// A finished reload and the control clients waiting for it.
pub struct Done {
    pub loaded: Result<Loaded, String>,
    pub clients: Vec<u64>,
}

pub struct Reloads {
    opts: Options,
    token: u64,
    job: Option<Worker<Loaded>>,
    /// Clients of the running child.
    clients: Vec<u64>,
    /// Asked for while a child ran: the clients of the next run.
    queued: Option<Vec<u64>>,
}

impl Reloads {
    /// Children's pipes are registered in epoll under `token`.
    pub fn new(opts: &Options, token: u64) -> Self {
        Reloads {
            opts: opts.clone(),
            token,
            job: None,
            clients: Vec::new(),
            queued: None,
        }
    }

    /// Asks for a reload (for control connection `client`, or SIGHUP). Returns a finished
    /// reload only when no child could be started.
    pub fn request(&mut self, client: Option<u64>, poller: &Poller, now: Instant) -> Option<Done> {
        if self.job.is_some() {
            self.queued.get_or_insert_with(Vec::new).extend(client);
            return None;
        }
        self.clients.extend(client);
        self.start(poller, now)
    }

    fn start(&mut self, poller: &Poller, now: Instant) -> Option<Done> {
        let opts = self.opts.clone();
        let started = Worker::spawn(move || load(&opts), TIMEOUT, now).and_then(|w| {
            poller.add(w.fd(), Interest::Read, self.token)?;
            Ok(w)
        });
        match started {
            Ok(w) => {
                self.job = Some(w);
                None
            }
            Err(e) => Some(self.done(Err(format!("cannot start the reload: {e}")))),
        }
    }

    /// The child's pipe is readable: the reloads that finished (this one, and the next if it
    /// could not start).
    pub fn ready(&mut self, poller: &Poller, now: Instant) -> Vec<Done> {
        let r = self.job.as_mut().and_then(Worker::ready);
        self.finished(r, poller, now)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.job.as_ref().map(Worker::deadline)
    }

    pub fn handle_timeout(&mut self, poller: &Poller, now: Instant) -> Vec<Done> {
        let r = self.job.as_mut().and_then(|w| w.handle_timeout(now));
        self.finished(r, poller, now)
    }

    fn finished(
        &mut self,
        r: Option<Result<Loaded, String>>,
        poller: &Poller,
        now: Instant,
    ) -> Vec<Done> {
        let Some(r) = r else {
            return Vec::new();
        };
        if let Some(w) = self.job.take() {
            let _ = poller.delete(w.fd());
        }
        let mut out = vec![self.done(r)];
        if let Some(clients) = self.queued.take() {
            self.clients = clients;
            out.extend(self.start(poller, now));
        }
        out
    }

    fn done(&mut self, loaded: Result<Loaded, String>) -> Done {
        Done {
            loaded,
            clients: std::mem::take(&mut self.clients),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadOptions;

    /// Every model of the corpus crosses the pipe unchanged.
    #[test]
    fn models_survive_postcard() {
        let mut n = 0;
        for dir in ["tests/corpus/seed", "tests/corpus/samples"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_none_or(|e| e != "conf") {
                    continue;
                }
                let Ok((cfg, _)) = config::load(&path, &LoadOptions::default()) else {
                    continue;
                };
                let sent = Loaded {
                    config: Ok(cfg),
                    warnings: vec!["w".into()],
                    text: b"text".to_vec(),
                };
                let bytes = postcard::to_stdvec(&sent).unwrap();
                let got: Loaded = postcard::from_bytes(&bytes).unwrap();
                assert_eq!(got.config, sent.config, "{}", path.display());
                assert_eq!((got.warnings, got.text), (sent.warnings, sent.text));
                n += 1;
            }
        }
        assert!(n >= 10, "only {n} corpus models");
    }
}
