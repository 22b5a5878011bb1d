//! Turns logical lines into a tree of statements: `keyword args... [{ children }]`.
//! A `{` may follow on the same line or start the next one; `{`/`}` also split a line into
//! statements, so `url { path / }` works on one line.

use super::diag::{Diagnostic, Severity};
use super::lexer::{Sources, TokKind, Token};

/// One statement.
#[derive(Debug, Clone)]
pub struct Node {
    pub kw: Token,
    pub args: Vec<Token>,
    pub block: Option<Vec<Node>>,
}

/// Deeper nesting than any keepalived block; bounds recursion on hostile input.
const MAX_DEPTH: usize = 12;

enum Item<'a> {
    Tok(&'a Token),
    Eol,
}

/// Parses the preprocessed lines; syntax errors are appended to `diags`.
pub fn parse(lines: &[Vec<Token>], sources: &Sources, diags: &mut Vec<Diagnostic>) -> Vec<Node> {
    let mut items = Vec::new();
    for l in lines {
        items.extend(l.iter().map(Item::Tok));
        items.push(Item::Eol);
    }
    let mut p = Parser {
        items,
        at: 0,
        sources,
        diags,
    };
    p.block(None, 0)
}

struct Parser<'a, 'd> {
    items: Vec<Item<'a>>,
    at: usize,
    sources: &'a Sources,
    diags: &'d mut Vec<Diagnostic>,
}

impl<'a> Parser<'a, '_> {
    fn peek(&self) -> Option<&Item<'a>> {
        self.items.get(self.at)
    }

    fn peek_tok(&self) -> Option<&'a Token> {
        match self.peek() {
            Some(Item::Tok(t)) => Some(t),
            _ => None,
        }
    }

    fn skip_eols(&mut self) {
        while matches!(self.peek(), Some(Item::Eol)) {
            self.at += 1;
        }
    }

    fn error(&mut self, tok: &Token, msg: &str, help: &str) {
        self.report(Severity::Error, tok, msg, help);
    }

    /// What keepalived recovers from with a message: keeplite recovers the same way and warns.
    fn warn(&mut self, tok: &Token, msg: &str, help: &str) {
        self.report(Severity::Warning, tok, msg, help);
    }

    fn report(&mut self, sev: Severity, tok: &Token, msg: &str, help: &str) {
        let d = self.sources.diag(
            sev,
            tok.pos,
            msg.into(),
            (!help.is_empty()).then(|| help.into()),
        );
        self.diags.push(d);
    }

    /// Statements up to the `}` matching `open` (or end of input at top level).
    fn block(&mut self, open: Option<&'a Token>, depth: usize) -> Vec<Node> {
        let mut nodes = Vec::new();
        loop {
            self.skip_eols();
            let Some(tok) = self.peek_tok() else {
                if let Some(open) = open {
                    self.warn(
                        open,
                        "unclosed `{`: end of file reached inside this block; closed there, as keepalived does",
                        "add the missing `}`",
                    );
                }
                return nodes;
            };
            self.at += 1;
            match tok.kind {
                TokKind::Close => {
                    if open.is_some() {
                        return nodes;
                    }
                    self.warn(
                        tok,
                        "unmatched `}`; ignored, as keepalived does",
                        "remove it or add the missing `{`",
                    );
                }
                TokKind::Open => {
                    self.error(
                        tok,
                        "`{` without a keyword",
                        "a block follows a keyword, as in `vrrp_instance VI_1 {`",
                    );
                    self.sub_block(tok, depth);
                }
                TokKind::Word | TokKind::Quoted => {
                    let mut args = Vec::new();
                    while let Some(t) = self.peek_tok() {
                        if matches!(t.kind, TokKind::Open | TokKind::Close) {
                            break;
                        }
                        args.push(t.clone());
                        self.at += 1;
                    }
                    // A `{` at the start of the next line opens this statement's block.
                    let save = self.at;
                    self.skip_eols();
                    let block = match self.peek_tok() {
                        Some(t) if t.kind == TokKind::Open => {
                            self.at += 1;
                            Some(self.sub_block(t, depth))
                        }
                        _ => {
                            self.at = save;
                            None
                        }
                    };
                    nodes.push(Node {
                        kw: tok.clone(),
                        args,
                        block,
                    });
                }
            }
        }
    }

    fn sub_block(&mut self, open: &'a Token, depth: usize) -> Vec<Node> {
        if depth >= MAX_DEPTH {
            self.error(open, "blocks nested too deeply", "");
            // Skip to the matching brace so the rest of the file still parses.
            let mut level = 1;
            while self.at < self.items.len() {
                let item = &self.items[self.at];
                self.at += 1;
                if let Item::Tok(t) = item {
                    match t.kind {
                        TokKind::Open => level += 1,
                        TokKind::Close => level -= 1,
                        _ => {}
                    }
                    if level == 0 {
                        break;
                    }
                }
            }
            return Vec::new();
        }
        self.block(Some(open), depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lexer::{preprocess, Limits, MemFiles};
    use std::path::Path;

    fn tree(text: &str) -> (Vec<Node>, Vec<Diagnostic>) {
        let pre = preprocess(
            &MemFiles::default(),
            Path::new("t.conf"),
            text,
            "",
            Limits::default(),
        );
        let mut diags = pre.diags;
        let nodes = parse(&pre.lines, &pre.sources, &mut diags);
        (nodes, diags)
    }

    fn shape(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let mut s = n.kw.text.clone();
                for a in &n.args {
                    s += &format!(" {}", a.text);
                }
                if let Some(b) = &n.block {
                    s += &format!(" {{{}}}", shape(b));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn brace_styles() {
        let (n, d) = tree("a x\n{\n b 1\n c { d } e\n}\nf");
        assert!(d.is_empty());
        assert_eq!(shape(&n), "a x {b 1; c {d}; e}; f");
    }

    /// keepalived closes open blocks at the end of the file and skips a stray `}` (wild
    /// corpus W3, W4): the same tree, with warnings.
    #[test]
    fn unclosed_and_unmatched() {
        let (n, d) = tree("a {\n b\n");
        assert_eq!(shape(&n), "a {b}");
        assert_eq!(d.len(), 1);
        assert!(d[0]
            .to_string()
            .starts_with("t.conf:1:3: warning: unclosed `{`: end of file reached inside this block; closed there"));
        let (n, d) = tree("a\n}\nb\n");
        assert_eq!(shape(&n), "a; b");
        assert!(d[0]
            .to_string()
            .starts_with("t.conf:2:1: warning: unmatched `}`; ignored"));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = "a {".repeat(100) + &"}".repeat(100);
        let (n, d) = tree(&text);
        assert_eq!(n.len(), 1);
        assert_eq!(d.len(), 1);
    }
}
