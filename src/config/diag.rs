//! Compiler-grade diagnostics: `file:line:col: severity: message`, the source line, a caret
//! under the offending token and an optional `help:` suggestion (rustc style).

use std::fmt;

/// How bad a diagnostic is. Ordering: `Note < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// keeplite runs exactly as written; worth knowing (a deprecated spelling, a default
    /// keepalived also applies). `-t` still exits 0.
    Note,
    /// keeplite runs, but something in the file is ignored or absent (`-t` exits 4).
    Warning,
    /// keeplite would not run with this file (`-t` exits 1).
    Error,
}

/// A position in a configuration file. Lines and columns are 1-based; columns count chars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub col: u32,
    /// Width of the offending token in chars (for the caret line).
    pub width: u32,
    /// The physical source line, for display.
    pub source: String,
}

/// One error or warning about a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where the problem is; `None` for problems without a place (e.g. unreadable main file).
    pub location: Option<Location>,
    pub message: String,
    /// A suggestion: "did you mean `auth_pass`?", "use `state BACKUP`", ...
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        match &self.location {
            None => write!(f, "keeplite: {sev}: {}", self.message)?,
            Some(loc) => {
                write!(
                    f,
                    "{}:{}:{}: {sev}: {}",
                    loc.file, loc.line, loc.col, self.message
                )?;
                let num = loc.line.to_string();
                let pad = " ".repeat(num.len());
                // Tabs would misalign the caret; show them as one space each.
                let src: Vec<char> = loc
                    .source
                    .chars()
                    .map(|c| if c == '\t' { ' ' } else { c })
                    .collect();
                let line: String = src.iter().collect();
                write!(f, "\n{pad} |\n{num} | {}", line.trim_end())?;
                let start = (loc.col.saturating_sub(1) as usize).min(src.len());
                let end = (start + loc.width as usize).min(src.len());
                let lead: usize = src[..start].iter().map(|&c| columns(c)).sum();
                let width: usize = src[start..end].iter().map(|&c| columns(c)).sum();
                let (lead, carets) = (" ".repeat(lead), "^".repeat(width.max(1)));
                write!(f, "\n{pad} | {lead}{carets}")?;
            }
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

/// Terminal columns of a char: 2 for East Asian wide characters (CJK comments are common in
/// real configs), else 1.
fn columns(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// Exit status of `keeplite -t`: 0 runs as written, 4 runs with warnings, 1 would not run.
pub fn exit_status(diags: &[Diagnostic]) -> i32 {
    match diags.iter().map(|d| d.severity).max() {
        None | Some(Severity::Note) => 0,
        Some(Severity::Warning) => 4,
        Some(Severity::Error) => 1,
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if close enough to be a plausible typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            (
                edit_distance(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_and_suggestion() {
        assert_eq!(edit_distance("uth_pass", "auth_pass"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            suggest("uth_pass", ["auth_type", "auth_pass"]),
            Some("auth_pass")
        );
        assert_eq!(suggest("zzzzzz", ["auth_type", "auth_pass"]), None);
    }

    #[test]
    fn renders_rustc_style() {
        let d = Diagnostic {
            severity: Severity::Warning,
            location: Some(Location {
                file: "k.conf".into(),
                line: 12,
                col: 9,
                width: 8,
                source: "\tauth_type uth_pass 1".into(),
            }),
            message: "unknown keyword `uth_pass`".into(),
            help: Some("did you mean `auth_pass`?".into()),
        };
        assert_eq!(
            d.to_string(),
            "k.conf:12:9: warning: unknown keyword `uth_pass`\n   |\n12 |  auth_type uth_pass 1\n   |         ^^^^^^^^\n  = help: did you mean `auth_pass`?"
        );
        assert_eq!(exit_status(std::slice::from_ref(&d)), 4);
        let wide = Diagnostic {
            location: Some(Location {
                col: 4,
                width: 2,
                source: "名字 主机".into(),
                ..d.location.clone().unwrap()
            }),
            help: None,
            ..d
        };
        assert!(wide
            .to_string()
            .ends_with("\n12 | 名字 主机\n   |      ^^^^"));
        assert_eq!(exit_status(&[]), 0);
    }
}
