//! keepalived.conf parsing, the typed model, validation, diagnostics and dumping.
//!
//! Pipeline: [`lexer`] (comments, quotes, includes, `@ID` lines, `$VAR`s) -> [`parser`]
//! (statement tree) -> [`build`] (keyword tables, defaults, semantic checks) -> [`Config`].
//! Pure: the only OS access is reading the config files (through [`FileSource`]); whether an
//! interface exists is asked of a callback the caller provides.

pub mod build;
pub mod diag;
pub mod dump;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod schema;

pub use build::reference_table;
pub use diag::{exit_status, Diagnostic, Location, Severity};
pub use dump::dump;
pub use lexer::{FileSource, Limits, MemFiles, OsFiles};
pub use model::*;

use std::path::Path;

/// keepalived's default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

/// Options for [`load`].
#[derive(Default)]
pub struct LoadOptions<'a> {
    /// Selects `@ID` lines (keepalived's `-i`; default: the short host name).
    pub config_id: String,
    /// Whether a network interface exists. `None` skips the check.
    pub interface_exists: Option<&'a dyn Fn(&str) -> bool>,
    /// Bounds on the input read (sizes, file count, include depth, `$` expansion).
    pub limits: Limits,
    /// The script checks (`-t`): findings, each with the commands (and `track_script NAME`
    /// entries) it is about; it is placed on the first of them, with a note on the others.
    pub vet_scripts: Option<&'a VetScripts<'a>>,
}

/// A diagnostic and the commands (or `track_script NAME` entries) that place it.
pub type Placed = (Diagnostic, Vec<String>);
/// The script checks as [`LoadOptions`] runs them.
pub type VetScripts<'a> = dyn Fn(&Config) -> Vec<Placed> + 'a;

/// The outcome of a load: `Ok` with warnings, or `Err` with every diagnostic (at least one
/// error).
pub type LoadResult = Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>>;

/// Reads, parses and validates the configuration at `path` (and what it includes).
pub fn load(path: &Path, opts: &LoadOptions) -> LoadResult {
    load_from(&OsFiles, path, opts)
}

/// Like [`load`], for text already in memory: `name` is used in messages and includes resolve
/// against its directory, read through `fs` (use [`MemFiles`] to stay off the file system).
pub fn load_str(fs: &dyn FileSource, name: &Path, text: &str, opts: &LoadOptions) -> LoadResult {
    let pre = lexer::preprocess(fs, name, text, &opts.config_id, opts.limits);
    let mut diags = pre.diags;
    let nodes = parser::parse(&pre.lines, &pre.sources, &mut diags);
    let mut ctx = schema::Ctx::new(&pre.sources);
    let cfg = build::build(&mut ctx, &nodes);
    diags.append(&mut ctx.diags);
    if let Some(exists) = opts.interface_exists {
        let mut checked: Vec<&str> = Vec::new();
        for (name, pos) in &ctx.interfaces {
            if checked.contains(&name.as_str()) {
                continue;
            }
            checked.push(name);
            if !exists(name) {
                diags.push(pre.sources.diag(
                    Severity::Warning,
                    *pos,
                    format!("interface `{name}` does not exist"),
                    Some("keeplite waits for it to appear; check the name with `ip link`".into()),
                ));
            }
        }
    }
    let vet = opts
        .vet_scripts
        .filter(|_| !diags.iter().any(Diagnostic::is_error));
    // Those about the whole configuration come last.
    let mut lineless = Vec::new();
    for (d, about) in vet.map(|v| v(&cfg)).unwrap_or_default() {
        let mut at = ctx.scripts.iter().filter(|(k, _)| about.contains(k));
        let Some((_, first)) = at.next() else {
            lineless.push(d);
            continue;
        };
        let here = pre.sources.diag(d.severity, *first, d.message, d.help);
        let loc = here
            .location
            .as_ref()
            .map(|l| format!("{}:{}", l.file, l.line));
        let msg = format!(
            "the warning at {} applies here too",
            loc.unwrap_or_default()
        );
        for (_, pos) in at {
            diags.push(pre.sources.diag(Severity::Note, *pos, msg.clone(), None));
        }
        diags.push(here);
    }
    // In file order, then line and column, as a compiler prints them.
    diags.sort_by_key(|d| {
        d.location
            .as_ref()
            .map(|l| (pre.sources.order(&l.file), l.line, l.col))
    });
    diags.append(&mut lineless);
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok((cfg, diags))
    }
}

/// Reads `path` through `fs` and loads it.
pub fn load_from(fs: &dyn FileSource, path: &Path, opts: &LoadOptions) -> LoadResult {
    match fs.read(path, opts.limits.total_bytes) {
        Ok(text) => load_str(fs, path, &text, opts),
        Err(e) => Err(vec![Diagnostic {
            severity: Severity::Error,
            location: None,
            message: format!("cannot read configuration file `{}`: {e}", path.display()),
            help: Some(match e.kind() {
                std::io::ErrorKind::InvalidInput => {
                    "save the configuration to a file first (`keeplite -d > FILE`)".into()
                }
                _ => "give the file with `-f FILE`".into(),
            }),
        }]),
    }
}
