//! Lexer and preprocessor: comments, quoted strings, braces, `include` with globs,
//! `@ID` / `@^ID` conditional lines and `$NAME=value` definitions. Produces logical lines of
//! tokens, each token knowing its file:line:col.

use super::diag::{Diagnostic, Location, Severity};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// Where configuration text comes from. [`OsFiles`] reads the file system; [`MemFiles`] serves
/// an in-memory map (tests, fuzzing).
pub trait FileSource {
    /// The text of the regular file at `path`; an error if it is anything else (a FIFO would
    /// block, a device may never end) or longer than `max` bytes.
    fn read(&self, path: &Path, max: usize) -> io::Result<String>;
    /// Names of the entries of `dir`.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Whether something exists at `path` (without opening it).
    fn exists(&self, path: &Path) -> bool;
    /// A stable identity for loop detection.
    fn identity(&self, path: &Path) -> PathBuf;
}

fn too_big(max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than the {max} bytes left under the configuration size limit"),
    )
}

/// The real file system.
pub struct OsFiles;

impl OsFiles {
    fn not_regular(ft: std::fs::FileType) -> io::Error {
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_dir() {
            "a directory"
        } else {
            "not a file"
        };
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}; keeplite reads only regular files"),
        )
    }
}

impl FileSource for OsFiles {
    fn read(&self, path: &Path, max: usize) -> io::Result<String> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        // Look before opening: opening some devices has effects (a watchdog arms).
        let ft = std::fs::metadata(path)?.file_type();
        if !ft.is_file() {
            return Err(Self::not_regular(ft));
        }
        // O_NONBLOCK: if the path was swapped for a FIFO since, opening must not wait.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        let ft = file.metadata()?.file_type();
        if !ft.is_file() {
            return Err(Self::not_regular(ft));
        }
        let mut bytes = Vec::new();
        file.take(max as u64 + 1).read_to_end(&mut bytes)?;
        if bytes.len() > max {
            return Err(too_big(max));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }
    fn exists(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok()
    }
    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Files held in memory, keyed by path.
#[derive(Default)]
pub struct MemFiles(pub HashMap<PathBuf, String>);

impl FileSource for MemFiles {
    fn read(&self, path: &Path, max: usize) -> io::Result<String> {
        let text = self
            .0
            .get(&normalize(path))
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if text.len() > max {
            return Err(too_big(max));
        }
        Ok(text.clone())
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        Ok(self
            .0
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }
    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(&normalize(path))
    }
    fn identity(&self, path: &Path) -> PathBuf {
        normalize(path)
    }
}

/// Resolves `.` and `..` lexically (memory files have no symlinks).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokKind {
    Word,
    /// A `"quoted string"` (text without the quotes).
    Quoted,
    Open,
    Close,
}

/// A position: index into [`Sources`], 1-based line and column (chars), width in chars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub file: u32,
    pub line: u32,
    pub col: u32,
    pub width: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokKind,
    pub text: String,
    pub pos: Pos,
}

/// The text of every file read, for diagnostics.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<(String, Vec<String>)>,
}

impl Sources {
    fn add(&mut self, name: String, text: &str) -> u32 {
        self.files
            .push((name, text.lines().map(str::to_owned).collect()));
        (self.files.len() - 1) as u32
    }

    /// Index of the file named `name` in reading order (unknown names last), for sorting.
    pub fn order(&self, name: &str) -> usize {
        self.files
            .iter()
            .position(|(n, _)| n == name)
            .unwrap_or(usize::MAX)
    }

    pub fn location(&self, pos: Pos) -> Location {
        let (file, lines) = &self.files[pos.file as usize];
        Location {
            file: file.clone(),
            line: pos.line,
            col: pos.col,
            width: pos.width,
            source: lines
                .get(pos.line as usize - 1)
                .cloned()
                .unwrap_or_default(),
        }
    }

    pub fn diag(
        &self,
        severity: Severity,
        pos: Pos,
        message: String,
        help: Option<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            location: Some(self.location(pos)),
            message,
            help,
        }
    }
}

/// Bounds on what one load may read, so a hostile or broken config cannot exhaust memory or
/// time (a glob including its own directory, `include /dev/zero`, self-doubling `$` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of all files together.
    pub total_bytes: usize,
    /// Files read, the main one included.
    pub files: usize,
    /// Nesting of `include` (keepalived's own limit is lower).
    pub include_depth: usize,
    /// Bytes `$NAME` substitution may insert in one load.
    pub expansion: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            total_bytes: 16 << 20,
            files: 1024,
            include_depth: 16,
            expansion: 1 << 20,
        }
    }
}

/// Output of preprocessing: the logical lines (never empty) and everything needed for messages.
pub struct Preprocessed {
    pub sources: Sources,
    pub lines: Vec<Vec<Token>>,
    pub diags: Vec<Diagnostic>,
}

/// Preprocesses `text`, read from `path`, and everything it includes, within `limits`
/// (`text` counts as the first file).
pub fn preprocess(
    fs: &dyn FileSource,
    path: &Path,
    text: &str,
    config_id: &str,
    limits: Limits,
) -> Preprocessed {
    let mut pre = Pre {
        fs,
        config_id,
        defs: HashMap::new(),
        limits,
        budget: limits.expansion,
        bytes_left: limits.total_bytes.saturating_sub(text.len()),
        files_left: limits.files.saturating_sub(1),
        stack: vec![fs.identity(path)],
        out: Preprocessed {
            sources: Sources::default(),
            lines: Vec::new(),
            diags: Vec::new(),
        },
    };
    pre.file(path, text);
    pre.out
}

struct Pre<'a> {
    fs: &'a dyn FileSource,
    config_id: &'a str,
    defs: HashMap<String, String>,
    limits: Limits,
    /// Bytes `$` expansion may still insert (bounds self-doubling definitions).
    budget: usize,
    /// Bytes and files that may still be read.
    bytes_left: usize,
    files_left: usize,
    /// Identities of the files being read, outermost first (include loop detection).
    stack: Vec<PathBuf>,
    out: Preprocessed,
}

impl Pre<'_> {
    fn error(&mut self, pos: Pos, msg: String, help: Option<String>) {
        let d = self.out.sources.diag(Severity::Error, pos, msg, help);
        self.out.diags.push(d);
    }

    fn file(&mut self, path: &Path, text: &str) {
        // Editors on other systems may leave a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let file = self.out.sources.add(path.display().to_string(), text);
        for (n, raw) in text.lines().enumerate() {
            let line = n as u32 + 1;
            let mut toks = match tokenize(raw, file, line) {
                Ok(t) => t,
                Err(pos) => {
                    self.error(
                        pos,
                        "unterminated quoted string".into(),
                        Some("close the string with `\"` on the same line".into()),
                    );
                    continue;
                }
            };
            let Some(first) = toks.first() else { continue };
            // `@ID line` keeps the line only with `-i ID`; `@^ID line` only without it.
            if first.kind == TokKind::Word && first.text.starts_with('@') {
                let id = &first.text[1..];
                let (neg, id) = match id.strip_prefix('^') {
                    Some(rest) => (true, rest),
                    None => (false, id),
                };
                if (id == self.config_id) == neg {
                    continue;
                }
                toks.remove(0);
                if toks.is_empty() {
                    continue;
                }
            }
            let first = &toks[0];
            if first.kind == TokKind::Word && first.text.starts_with('$') {
                if let Some((name, value)) = first.text[1..].split_once('=') {
                    let mut value = value.to_owned();
                    for t in &toks[1..] {
                        if !value.is_empty() {
                            value.push(' ');
                        }
                        value.push_str(&t.text);
                    }
                    match self.substitute_str(&value) {
                        Some(value) => {
                            self.defs.insert(name.to_owned(), value);
                        }
                        None => self.expansion_error(first.pos),
                    }
                    continue;
                }
            }
            let toks = self.substitute(toks);
            if toks.is_empty() {
                continue;
            }
            if toks[0].kind == TokKind::Word && toks[0].text == "include" {
                self.include(path, &toks);
                continue;
            }
            self.out.lines.push(toks);
        }
    }

    fn expansion_error(&mut self, pos: Pos) {
        self.error(
            pos,
            format!(
                "`$` definitions expand to more than {} bytes",
                self.limits.expansion
            ),
            Some("definitions that refer to themselves grow exponentially".into()),
        );
    }

    /// Expands `$NAME` / `${NAME}`; None once the expansion budget is spent. Linear in `s`:
    /// once a `${` has no closing `}`, later ones cannot have one either.
    fn substitute_str(&mut self, s: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = s;
        let mut unclosed = false;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, len) = if let Some(inner) = after.strip_prefix('{') {
                match (!unclosed).then(|| inner.find('}')).flatten() {
                    Some(end) => (&inner[..end], end + 2),
                    None => {
                        unclosed = true;
                        ("", 0)
                    }
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            match self.defs.get(name) {
                Some(v) if !name.is_empty() => {
                    if v.len() > self.budget {
                        return None;
                    }
                    self.budget -= v.len();
                    out.push_str(v);
                    rest = &after[len..];
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Some(out)
    }

    /// Expands `$NAME` / `${NAME}` in words, where a value with spaces becomes several tokens,
    /// and inside quoted strings, which stay one token (keepalived substitutes before it splits
    /// a line, so `script "/bin/chk ${ARGS}"` gets the value).
    fn substitute(&mut self, toks: Vec<Token>) -> Vec<Token> {
        let mut out = Vec::with_capacity(toks.len());
        for t in toks {
            let expandable = matches!(t.kind, TokKind::Word | TokKind::Quoted);
            if !expandable || !t.text.contains('$') || self.defs.is_empty() {
                out.push(t);
                continue;
            }
            let Some(expanded) = self.substitute_str(&t.text) else {
                self.expansion_error(t.pos);
                out.push(t);
                continue;
            };
            if t.kind == TokKind::Quoted {
                out.push(Token {
                    text: expanded,
                    ..t
                });
                continue;
            }
            out.extend(expanded.split_whitespace().map(|w| Token {
                kind: match w {
                    "{" => TokKind::Open,
                    "}" => TokKind::Close,
                    _ => TokKind::Word,
                },
                text: w.to_owned(),
                pos: t.pos,
            }));
        }
        out
    }

    fn include(&mut self, from: &Path, toks: &[Token]) {
        if toks.len() < 2 {
            self.error(
                toks[0].pos,
                "`include` needs a file name or glob".into(),
                Some("write `include /etc/keepalived/conf.d/*.conf`".into()),
            );
            return;
        }
        let base = from.parent().unwrap_or(Path::new(""));
        for pat in &toks[1..] {
            let pattern = base.join(&pat.text);
            let mut matches = glob(self.fs, &pattern);
            matches.sort();
            if matches.is_empty() {
                let d = self.out.sources.diag(
                    Severity::Warning,
                    pat.pos,
                    format!(
                        "included file `{}` not found; skipped, as keepalived does",
                        pattern.display()
                    ),
                    Some("include paths are relative to the including file".into()),
                );
                self.out.diags.push(d);
                continue;
            }
            for m in matches {
                self.include_one(pat.pos, &m);
            }
        }
    }

    fn include_one(&mut self, at: Pos, m: &Path) {
        let id = self.fs.identity(m);
        if self.stack.contains(&id) {
            let d = self.out.sources.diag(
                Severity::Warning,
                at,
                format!(
                    "include loop: `{}` is already being read; skipped, as keepalived does",
                    m.display()
                ),
                Some("remove one of the `include` lines forming the cycle".into()),
            );
            self.out.diags.push(d);
            return;
        }
        if self.stack.len() >= self.limits.include_depth {
            let max = self.limits.include_depth;
            let help = format!("keeplite follows includes {max} levels deep");
            self.error(at, "includes nested too deeply".into(), Some(help));
            return;
        }
        if self.files_left == 0 {
            let msg = format!(
                "more than {} configuration files; `{}` not read",
                self.limits.files,
                m.display()
            );
            let help = "check the include globs: one may match the directory it is in";
            self.error(at, msg, Some(help.into()));
            return;
        }
        self.files_left -= 1;
        match self.fs.read(m, self.bytes_left) {
            Ok(text) => {
                self.bytes_left -= text.len();
                self.stack.push(id);
                self.file(m, &text);
                self.stack.pop();
            }
            Err(e) => self.error(
                at,
                format!("cannot read included file `{}`: {e}", m.display()),
                None,
            ),
        }
    }
}

/// Paths matching `pattern` (`*`, `?`, `[...]` in any component).
fn glob(fs: &dyn FileSource, pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let c = comp.as_os_str().to_string_lossy();
        let wild = c.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for dir in found {
            if !wild {
                next.push(dir.join(comp));
                continue;
            }
            let list_from = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &dir
            };
            for name in fs.list_dir(list_from).unwrap_or_default() {
                if (!name.starts_with('.') || c.starts_with('.')) && glob_match(&c, &name) {
                    next.push(dir.join(name));
                }
            }
        }
        found = next;
    }
    found.into_iter().filter(|p| fs.exists(p)).collect()
}

/// Shell-style wildcard match.
fn glob_match(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with single-star backtracking.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, len)) = class_match(&p[pi..], n[ni]) {
                        if ok {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `[abc]`, `[a-z]`, `[!x]`; returns (matched, pattern length) or None if unclosed.
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let end = p.iter().skip(2).position(|&x| x == ']')? + 2;
    let mut body = &p[1..end];
    let neg = matches!(body.first(), Some('!' | '^'));
    if neg {
        body = &body[1..];
    }
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    Some((hit != neg, end + 1))
}

/// Splits one physical line into tokens. `!` or `#` starting a token begins a comment.
/// Returns the position of an unterminated quote as error.
fn tokenize(raw: &str, file: u32, line: u32) -> Result<Vec<Token>, Pos> {
    let chars: Vec<char> = raw.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let mut unclosed = false;
    let pos = |start: usize, end: usize| Pos {
        file,
        line,
        col: start as u32 + 1,
        width: (end - start) as u32,
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '!' || c == '#' {
            break;
        }
        let start = i;
        let (kind, text) = match c {
            '{' | '}' => {
                i += 1;
                let kind = if c == '{' {
                    TokKind::Open
                } else {
                    TokKind::Close
                };
                (kind, c.to_string())
            }
            '"' => {
                let Some(len) = chars[i + 1..].iter().position(|&x| x == '"') else {
                    return Err(pos(start, chars.len()));
                };
                i += len + 2;
                (TokKind::Quoted, chars[start + 1..i - 1].iter().collect())
            }
            _ => {
                while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '{' | '}')
                {
                    // `${NAME}` stays inside the word. Once a `${` finds no `}`, no later
                    // one can: remembering that keeps a line of `${` linear.
                    if chars[i] == '$' && chars.get(i + 1) == Some(&'{') && !unclosed {
                        match chars[i..].iter().position(|&x| x == '}') {
                            Some(end) => i += end,
                            None => unclosed = true,
                        }
                    }
                    i += 1;
                }
                (TokKind::Word, chars[start..i].iter().collect())
            }
        };
        toks.push(Token {
            kind,
            text,
            pos: pos(start, i),
        });
    }
    Ok(toks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(pre: &Preprocessed) -> Vec<Vec<String>> {
        pre.lines
            .iter()
            .map(|l| l.iter().map(|t| t.text.clone()).collect())
            .collect()
    }

    fn mem(files: &[(&str, &str)]) -> MemFiles {
        MemFiles(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect(),
        )
    }

    #[test]
    fn comments_quotes_braces_positions() {
        let t = tokenize("  a{b \"x y\" # c", 0, 3).unwrap();
        let got: Vec<_> = t
            .iter()
            .map(|t| (t.kind, t.text.as_str(), t.pos.col))
            .collect();
        assert_eq!(
            got,
            [
                (TokKind::Word, "a", 3),
                (TokKind::Open, "{", 4),
                (TokKind::Word, "b", 5),
                (TokKind::Quoted, "x y", 7),
            ]
        );
        assert_eq!(t[3].pos.width, 5);
        assert!(tokenize("x \"open", 0, 1).is_err());
        assert!(tokenize("!全部 comment", 0, 1).unwrap().is_empty());
    }

    #[test]
    fn conditionals_and_definitions() {
        let fs = MemFiles::default();
        let text = "@high priority 170\n@^high priority 85\n$IF=eth0\n$V=10 20\ninterface $IF ${IF}x\nw $V";
        let pre = preprocess(&fs, Path::new("k.conf"), text, "high", Limits::default());
        assert_eq!(
            words(&pre),
            [
                vec!["priority", "170"],
                vec!["interface", "eth0", "eth0x"],
                vec!["w", "10", "20"],
            ]
        );
        let pre = preprocess(
            &fs,
            Path::new("k.conf"),
            &format!("\u{feff}{text}"),
            "low",
            Limits::default(),
        );
        assert_eq!(words(&pre)[0], ["priority", "85"]);
    }

    #[test]
    fn self_doubling_definitions_are_bounded() {
        let text = "$A=xx\n".to_owned() + &"$A=$A$A\n".repeat(40) + "v $A";
        let pre = preprocess(
            &MemFiles::default(),
            Path::new("k.conf"),
            &text,
            "",
            Limits::default(),
        );
        assert!(pre.diags[0].message.contains("expand to more than"));
        assert!(
            pre.lines
                .iter()
                .flatten()
                .map(|t| t.text.len())
                .sum::<usize>()
                <= Limits::default().expansion + text.len()
        );
    }

    #[test]
    fn definitions_expand_inside_quoted_strings() {
        let text = "$CNF=/etc/my.cnf\nscript \"/bin/chk --defaults-file ${CNF} $CNF\" $NOPE";
        let pre = preprocess(
            &MemFiles::default(),
            Path::new("k.conf"),
            text,
            "",
            Limits::default(),
        );
        assert_eq!(
            words(&pre),
            [vec![
                "script",
                "/bin/chk --defaults-file /etc/my.cnf /etc/my.cnf",
                "$NOPE"
            ]]
        );
        assert_eq!(pre.lines[0][1].kind, TokKind::Quoted);
        // Quoted expansion draws on the same budget as words.
        let bomb = "$A=xx\n".to_owned() + &"$A=$A$A\n".repeat(40) + "v \"$A\"";
        let pre = preprocess(
            &MemFiles::default(),
            Path::new("k.conf"),
            &bomb,
            "",
            Limits::default(),
        );
        assert!(pre.diags[0].message.contains("expand to more than"));
    }

    /// Before the scan remembered an unclosed `${`, each one searched the rest of the line: a
    /// 2 MB line of `${` took hours; now it is one pass.
    #[test]
    fn a_line_of_unclosed_braces_is_linear() {
        let n = 1 << 18;
        let line = format!("$X=1\nw {} \"{}\"\n", "${".repeat(n), "${".repeat(n));
        let pre = preprocess(
            &MemFiles::default(),
            Path::new("k.conf"),
            &line,
            "",
            Limits::default(),
        );
        let toks = &pre.lines[0];
        // `$`, `{` pairs from the word, then the quoted string unchanged.
        assert_eq!(toks.len(), 1 + 2 * n + 1);
        assert_eq!(toks[2 * n + 1].text, "${".repeat(n));
    }

    #[test]
    fn limits_bound_files_bytes_and_depth() {
        // Every file includes the whole directory: without a file count this is 8^16 reads.
        let files: Vec<(String, String)> = (0..8)
            .map(|i| (format!("/c/f{i}.conf"), "include *.conf\nx".to_string()))
            .collect();
        let fs = MemFiles(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.clone()))
                .collect(),
        );
        let limits = Limits {
            files: 100,
            ..Limits::default()
        };
        let pre = preprocess(
            &fs,
            Path::new("/c/f0.conf"),
            &fs.0[Path::new("/c/f0.conf")],
            "",
            limits,
        );
        assert_eq!(pre.sources.files.len(), 100);
        assert!(
            pre.diags.iter().any(|d| d
                .to_string()
                .contains(":1:9: error: more than 100 configuration files; `/c/f")),
            "{:?}",
            pre.diags
        );
        let fs = mem(&[("/c/big.conf", &"x\n".repeat(600))]);
        let limits = Limits {
            total_bytes: 1000,
            ..Limits::default()
        };
        let pre = preprocess(&fs, Path::new("/c/m.conf"), "include big.conf", "", limits);
        assert!(pre.diags[0].to_string().starts_with(
            "/c/m.conf:1:9: error: cannot read included file `/c/big.conf`: larger than the 984 bytes left"
        ), "{}", pre.diags[0]);
        let chain: Vec<(String, String)> = (0..20)
            .map(|i| (format!("/c/d{i}.conf"), format!("include d{}.conf", i + 1)))
            .collect();
        let fs = MemFiles(
            chain
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.clone()))
                .collect(),
        );
        let pre = preprocess(
            &fs,
            Path::new("/c/d0.conf"),
            "include d1.conf",
            "",
            Limits::default(),
        );
        assert!(pre.diags[0].message.contains("includes nested too deeply"));
    }

    #[test]
    fn include_glob_loop_missing() {
        let fs = mem(&[
            ("/c/main.conf", "include conf.d/*.conf\na"),
            ("/c/conf.d/b.conf", "b"),
            ("/c/conf.d/a.conf", "x\ninclude ../main.conf"),
            ("/c/conf.d/skip.txt", "no"),
        ]);
        let pre = preprocess(
            &fs,
            Path::new("/c/main.conf"),
            &fs.0[Path::new("/c/main.conf")],
            "",
            Limits::default(),
        );
        assert_eq!(words(&pre), [vec!["x"], vec!["b"], vec!["a"]]);
        assert_eq!(pre.diags.len(), 1);
        assert!(pre.diags[0].to_string().starts_with(
            "/c/conf.d/a.conf:2:9: warning: include loop: `/c/conf.d/../main.conf` is already being read; skipped"
        ));
        let pre = preprocess(
            &fs,
            Path::new("/c/x.conf"),
            "include nope.conf",
            "",
            Limits::default(),
        );
        assert!(pre.diags[0].message.contains("not found"));
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match("*.conf", "a.conf"));
        assert!(!glob_match("*.conf", "a.conf.bak"));
        assert!(glob_match("a?[0-9]*", "ab7xyz"));
        assert!(!glob_match("[!a]x", "ax"));
        assert!(glob_match("*a*b", "xaxxb"));
    }
}
