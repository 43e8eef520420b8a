//! The config text parser: statements of a Kamailio/OpenSIPS config, applied to a
//! [`Config`] through the option table.

use std::collections::HashMap;

use super::error::{ConfigError, ErrorKind, Warning, WarningKind};
use super::lexer::{tokenize, Tok, Token};
// Re-exported: `Config::set` (api) reaches `listen=` handling through this module.
pub(crate) use super::listen::apply_listen;
use super::options::{self, Kind, OptionDef};
use super::preproc::preprocess;
use crate::config::{Config, DEFAULT_CHILDREN, OPENSIPS_SEND_TIMEOUT};

/// How strictly to read a config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Refuse anything that would be a warning (statements of other subsystems, foreign
    /// listen lines, clamped values, options set twice), naming the first such line.
    pub strict: bool,
}

/// Parses `text` (named `file` in messages) into a validated config plus warnings.
pub(crate) fn parse(
    file: &str,
    text: &str,
    opts: ParseOptions,
) -> Result<(Config, Vec<Warning>), ConfigError> {
    let mut p = Parser {
        file,
        toks: Vec::new(),
        pos: 0,
        cfg: Config::default(),
        warnings: Vec::new(),
        set_at: HashMap::new(),
        children: Vec::new(),
        uses_proto_tcp: false,
    };
    let result = p.run(text);
    if opts.strict {
        let hard_line = match &result {
            Err(e) => e.line.unwrap_or(u32::MAX),
            Ok(()) => u32::MAX,
        };
        if let Some(w) = p
            .warnings
            .iter()
            .filter(|w| w.line <= hard_line)
            .min_by_key(|w| w.line)
        {
            let kind = ErrorKind::Strict {
                message: w.message.clone(),
            };
            return Err(ConfigError::new(kind).at(file, Some(w.line)));
        }
    }
    result?;
    if let Err(e) = p.cfg.validate() {
        // Point at the last line that set the option at fault or one the reason names.
        let line = match &e.kind {
            ErrorKind::Invalid { option, reason } => options::all()
                .filter(|row| row.key() == *option || reason.contains(row.name))
                .filter_map(|row| p.set_at.get(row.field).map(|(line, _)| *line))
                .max(),
            _ => None,
        };
        return Err(e.at(file, line));
    }
    let mut warnings = p.warnings;
    warnings.sort_by_key(|w| w.line);
    Ok((p.cfg, warnings))
}

/// The [`Config`] field of `tcp_children` and of both `tcp_send_timeout` spellings, as the
/// rows name them (`set_at` keys).
const CHILDREN_FIELD: &str = "tcp.children";
const SEND_TIMEOUT_FIELD: &str = "tcp.send_timeout";

/// Whether `loadmodule`'s argument is OpenSIPS's proto_tcp: `proto_tcp.so` or `proto_tcp`,
/// with or without a directory.
fn is_proto_tcp_module(arg: &str) -> bool {
    let base = arg.rsplit('/').next().unwrap_or(arg);
    base.strip_suffix(".so").unwrap_or(base) == "proto_tcp"
}

/// `tcp_*` and `sctp_*` names are ours even when unknown: a typo is an error, not a warning.
fn looks_ours(name: &str) -> bool {
    name.starts_with("tcp_") || name.starts_with("sctp_")
}

/// Text of a token as written (strings re-quoted).
fn token_text(t: &Token) -> String {
    match &t.tok {
        Tok::Word(w) => w.clone(),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Punct(c) => c.to_string(),
        Tok::Newline => " ".to_string(),
        Tok::Directive(n, a) => format!("#!{n} {a}"),
    }
}

/// Tokens joined as written, one space where the source had any.
fn join_tokens(toks: &[Token]) -> String {
    let mut out = String::new();
    let mut prev_end = None;
    for t in toks.iter().filter(|t| t.tok != Tok::Newline) {
        if prev_end.is_some_and(|e| e < t.start) {
            out.push(' ');
        }
        out.push_str(&token_text(t));
        prev_end = Some(t.end);
    }
    out
}

/// A short quote of a statement for warnings.
fn snippet(toks: &[Token]) -> String {
    let s = join_tokens(toks);
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

struct Parser<'a> {
    file: &'a str,
    toks: Vec<Token>,
    pos: usize,
    cfg: Config,
    warnings: Vec<Warning>,
    /// Field → (line, spelling) of the last statement that set it.
    set_at: HashMap<&'static str, (u32, String)>,
    /// Each `children = N` (Kamailio's UDP workers): its line, value and the statement as
    /// written. The last one gives `tcp_children` when that is not set.
    children: Vec<(u32, String, String)>,
    /// The file loads OpenSIPS's proto_tcp or sets one of its modparams.
    uses_proto_tcp: bool,
}

impl Parser<'_> {
    fn err(&self, line: u32, kind: ErrorKind) -> ConfigError {
        ConfigError::new(kind).at(self.file, Some(line))
    }

    fn syntax(&self, line: u32, reason: impl Into<String>) -> ConfigError {
        self.err(
            line,
            ErrorKind::Syntax {
                reason: reason.into(),
            },
        )
    }

    fn warn(&mut self, line: u32, kind: WarningKind, message: String) {
        self.warnings.push(Warning {
            file: self.file.to_string(),
            line,
            kind,
            message,
        });
    }

    fn run(&mut self, text: &str) -> Result<(), ConfigError> {
        let raw = tokenize(text).map_err(|(line, reason)| self.syntax(line, reason))?;
        let pre = preprocess(raw).map_err(|(line, reason)| self.syntax(line, reason))?;
        for (line, msg) in pre.notes {
            self.warn(line, WarningKind::NotTransportOption, msg);
        }
        self.toks = pre.tokens;
        while self.pos < self.toks.len() {
            let t = &self.toks[self.pos];
            match &t.tok {
                Tok::Newline | Tok::Punct(';') => self.pos += 1,
                Tok::Punct('}') => {
                    return Err(self.syntax(t.line, "`}` without a matching `{`"));
                }
                Tok::Word(_) => self.word_statement()?,
                _ => self.other_statement(self.pos)?,
            }
        }
        self.implied_defaults()
    }

    /// Defaults that depend on the rest of the file, applied once it is read:
    /// - `tcp_children` not set: Kamailio's rule, the number of UDP `children` (`children`
    ///   when the file sets it, 0 or less meaning Kamailio's default 8). With `tcp_children`
    ///   set, `children` is another subsystem's option and gets the usual warning.
    /// - a file that uses OpenSIPS's proto_tcp (`loadmodule "proto_tcp.so"` or any
    ///   `modparam("proto_tcp", ...)`) and sets no send timeout in either spelling gets
    ///   proto_tcp's default `tcp_send_timeout`, 100 ms, instead of Kamailio's 10 s.
    fn implied_defaults(&mut self) -> Result<(), ConfigError> {
        let children = std::mem::take(&mut self.children);
        if self.set_at.contains_key(CHILDREN_FIELD) {
            for (line, _, text) in children {
                let msg = format!(
                    "not a transport option: `{text}` (sipwire has no UDP workers, and \
                     tcp_children is set)"
                );
                self.warn(line, WarningKind::NotTransportOption, msg);
            }
        } else if let Some((last, earlier)) = children.split_last() {
            for (line, ..) in earlier {
                let msg = format!(
                    "children is set again (line {line}, then line {}); the last value wins",
                    last.0
                );
                self.warn(*line, WarningKind::Overridden, msg);
            }
            self.cfg.tcp.children = self.children_value(last.0, &last.1)?;
        }
        if self.uses_proto_tcp && !self.set_at.contains_key(SEND_TIMEOUT_FIELD) {
            self.cfg.tcp.send_timeout = OPENSIPS_SEND_TIMEOUT;
        }
        Ok(())
    }

    /// The reader count `children = value` gives `tcp_children`: Kamailio turns 0 or less
    /// into its default (8); more than `tcp_children` takes is an error.
    fn children_value(&self, line: u32, value: &str) -> Result<usize, ConfigError> {
        let invalid = |reason: String| {
            self.err(
                line,
                ErrorKind::Invalid {
                    option: "children".to_string(),
                    reason,
                },
            )
        };
        let Ok(n) = value.trim().parse::<i64>() else {
            return Err(invalid(format!(
                "{value:?} is not an integer (tcp_children is not set, so it follows children)"
            )));
        };
        if n <= 0 {
            return Ok(DEFAULT_CHILDREN);
        }
        let row = options::by_core_name("tcp_children");
        let max = match row.map(|r| r.kind) {
            Some(Kind::Int(spec)) => spec.max,
            _ => i64::MAX,
        };
        if n > max {
            return Err(invalid(format!(
                "{n} is above tcp_children's limit {max} (tcp_children is not set, so it \
                 follows children); set tcp_children"
            )));
        }
        Ok(usize::try_from(n).unwrap_or(DEFAULT_CHILDREN))
    }

    fn peek_punct(&self, at: usize, c: char) -> bool {
        self.toks.get(at).is_some_and(|t| t.tok == Tok::Punct(c))
    }

    fn word_statement(&mut self) -> Result<(), ConfigError> {
        let start = self.pos;
        let (word, line) = match &self.toks[start].tok {
            Tok::Word(w) => (w.clone(), self.toks[start].line),
            _ => return self.other_statement(start),
        };
        if self.peek_punct(start + 1, '=') {
            return self.assignment(start, &word, line);
        }
        if word == "modparam" && self.peek_punct(start + 1, '(') {
            return self.modparam(start, line);
        }
        if word == "loadmodule" {
            let arg = self.toks.get(start + 1).map(|t| &t.tok);
            if let Some(Tok::Str(m) | Tok::Word(m)) = arg {
                self.uses_proto_tcp |= is_proto_tcp_module(m);
            }
        }
        if looks_ours(&word) || options::by_core_name(&word).is_some() {
            return Err(self.syntax(line, format!("expected `=` after {word}")));
        }
        self.other_statement(start)
    }

    /// Index after the statement's value: up to a line end or `;` outside parentheses.
    fn statement_end(&self, from: usize) -> usize {
        let mut depth = 0usize;
        let mut i = from;
        while let Some(t) = self.toks.get(i) {
            match t.tok {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => depth = depth.saturating_sub(1),
                Tok::Newline | Tok::Punct(';') if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        i
    }

    fn assignment(&mut self, start: usize, name: &str, line: u32) -> Result<(), ConfigError> {
        let end = self.statement_end(start + 2);
        self.pos = end;
        let value: Vec<Token> = self.toks[start + 2..end].to_vec();
        if let Some(row) = options::by_core_name(name) {
            return self.apply(row, name.to_string(), &value, line);
        }
        if name == "children" {
            let text = snippet(&self.toks[start..end]);
            let written = match value.as_slice() {
                [Token {
                    tok: Tok::Str(s) | Tok::Word(s),
                    ..
                }] => s.clone(),
                _ => join_tokens(&value),
            };
            self.children.push((line, written, text));
            return Ok(());
        }
        if looks_ours(name) {
            let suggestion = options::suggest_core(name);
            let kind = ErrorKind::UnknownOption {
                name: name.to_string(),
                suggestion,
            };
            return Err(self.err(line, kind));
        }
        let text = snippet(&self.toks[start..end]);
        let msg = if name == "port" {
            format!(
                "not a transport option: `{text}` (sipwire gives listen lines without a port \
                 tcp_port, now {})",
                self.cfg.tcp.port
            )
        } else {
            format!("not a transport option: `{text}`")
        };
        self.warn(line, WarningKind::NotTransportOption, msg);
        Ok(())
    }

    /// The arguments of the `modparam(` at token `start`: the tokens between its parentheses,
    /// split at top-level commas (newlines dropped), and the index of the closing `)`.
    fn modparam_args(
        &self,
        start: usize,
        line: u32,
    ) -> Result<(Vec<Vec<Token>>, usize), ConfigError> {
        let mut depth = 0usize;
        let mut i = start + 1;
        let mut args: Vec<Vec<Token>> = vec![Vec::new()];
        loop {
            let Some(t) = self.toks.get(i) else {
                return Err(self.syntax(line, "modparam( is not closed"));
            };
            match t.tok {
                Tok::Punct('(') => {
                    depth += 1;
                    if depth == 1 {
                        i += 1;
                        continue;
                    }
                }
                Tok::Punct(')') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                Tok::Punct(',') if depth == 1 => {
                    args.push(Vec::new());
                    i += 1;
                    continue;
                }
                Tok::Newline => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            if let Some(last) = args.last_mut() {
                last.push(t.clone());
            }
            i += 1;
        }
        Ok((args, i))
    }

    /// `modparam("module", "param", value)` starting at token `start`: ours are applied
    /// through the option table, other modules' get a warning.
    fn modparam(&mut self, start: usize, line: u32) -> Result<(), ConfigError> {
        let (args, close) = self.modparam_args(start, line)?;
        self.pos = close + 1;
        let one = |a: &Vec<Token>| match a.as_slice() {
            [Token {
                tok: Tok::Str(s), ..
            }]
            | [Token {
                tok: Tok::Word(s), ..
            }] => Some(s.clone()),
            _ => None,
        };
        let module = args.first().and_then(one);
        let ours = module
            .as_deref()
            .is_some_and(|m| options::MODULES.contains(&m));
        if !ours {
            let text = snippet(&self.toks[start..self.pos]);
            let msg = format!("not a transport option: `{text}`");
            self.warn(line, WarningKind::NotTransportOption, msg);
            return Ok(());
        }
        let module = module.unwrap_or_default();
        self.uses_proto_tcp |= module == "proto_tcp";
        let (Some(param), 3) = (args.get(1).and_then(one), args.len()) else {
            let reason = format!("modparam(\"{module}\", ...) needs a parameter name and a value");
            return Err(self.syntax(line, reason));
        };
        let Some(row) = options::by_modparam(&module, &param) else {
            let suggestion = options::suggest_modparam(&module, &param);
            let kind = ErrorKind::UnknownModparam {
                module,
                param,
                suggestion,
            };
            return Err(self.err(line, kind));
        };
        let label = format!("modparam(\"{module}\", \"{param}\")");
        let value = args[2].clone();
        self.apply(row, label, &value, line)
    }

    /// Applies one value to a row: checks, clamps with a warning, and records who set the
    /// field so a later spelling of the same option warns.
    fn apply(
        &mut self,
        row: &'static OptionDef,
        label: String,
        value: &[Token],
        line: u32,
    ) -> Result<(), ConfigError> {
        let text = match value {
            [] => {
                return Err(self.syntax(line, format!("{label}: missing value")));
            }
            [t] => match &t.tok {
                Tok::Str(s) | Tok::Word(s) => s.clone(),
                _ => {
                    let reason = format!("{label}: expected a value, found `{}`", token_text(t));
                    return Err(self.syntax(line, reason));
                }
            },
            _ if row.kind == Kind::Listen => join_tokens(value),
            [_, extra, ..] => {
                let reason = format!(
                    "{label}: unexpected `{}` after the value",
                    token_text(extra)
                );
                return Err(self.syntax(line, reason));
            }
        };
        if row.kind == Kind::Listen {
            let warnings = apply_listen(&mut self.cfg, &text).map_err(|k| self.err(line, k))?;
            for (kind, msg) in warnings {
                self.warn(line, kind, msg);
            }
            return Ok(());
        }
        let parsed = row
            .parse_text(&label, &text, true)
            .map_err(|k| self.err(line, k))?;
        if let Some(msg) = parsed.warning {
            self.warn(line, WarningKind::Clamped, msg);
        }
        if let Some((prev_line, prev)) = self.set_at.get(row.field) {
            let msg = if *prev == label {
                format!("{label} is set again (first at line {prev_line}); the last value wins")
            } else {
                format!(
                    "{label} (line {line}) and {prev} (line {prev_line}) set the same option; \
                     the last one ({label}) wins"
                )
            };
            self.warn(line, WarningKind::Overridden, msg);
        }
        self.set_at.insert(row.field, (line, label.clone()));
        if !(row.set)(&mut self.cfg, &parsed.value) {
            let kind = ErrorKind::Invalid {
                option: label,
                reason: format!("value {text:?} cannot be stored"),
            };
            return Err(self.err(line, kind));
        }
        Ok(())
    }

    /// Reads over a statement of another subsystem (one warning): a route block
    /// `name[...] { ... }` (brace possibly on the next line), or anything up to the end of
    /// the line / `;`, continuing into a `{ ... }` block if one opens.
    fn other_statement(&mut self, start: usize) -> Result<(), ConfigError> {
        let line = self.toks[start].line;
        let mut i = start + 1;
        if matches!(self.toks[start].tok, Tok::Word(_)) && self.peek_punct(i, '[') {
            while i < self.toks.len() && !self.peek_punct(i, ']') {
                i += 1;
            }
            i += 1;
        }
        let mut j = i;
        while self.toks.get(j).is_some_and(|t| t.tok == Tok::Newline) {
            j += 1;
        }
        let brace = if self.peek_punct(j, '{') || self.peek_punct(start, '{') {
            Some(if self.peek_punct(start, '{') {
                start
            } else {
                j
            })
        } else {
            let end = self.statement_end(start);
            let open = (start..end).find(|&k| self.peek_punct(k, '{'));
            if open.is_none() {
                self.pos = end.max(start + 1);
                let text = snippet(&self.toks[start..self.pos]);
                let include = matches!(&self.toks[start].tok,
                    Tok::Word(w) if w == "include_file" || w == "import_file");
                let msg = if include {
                    format!(
                        "not a transport option: `{text}` (sipwire does not follow includes; \
                         put transport options of that file here)"
                    )
                } else {
                    format!("not a transport option: `{text}`")
                };
                self.warn(line, WarningKind::NotTransportOption, msg);
                return Ok(());
            }
            open
        };
        let open = brace.unwrap_or(start);
        let mut depth = 0usize;
        let mut k = open;
        loop {
            let Some(t) = self.toks.get(k) else {
                return Err(self.syntax(line, "block opened here is not closed (missing `}`)"));
            };
            match t.tok {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        let last_line = self.toks[k].line;
        self.pos = k + 1;
        let head = snippet(&self.toks[start..open]);
        let msg = format!("not a transport option: block `{head}` (lines {line}-{last_line})");
        self.warn(line, WarningKind::NotTransportOption, msg);
        Ok(())
    }
}
