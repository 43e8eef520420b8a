//! Kamailio's config preprocessor, as far as a transport config needs it: `#!define` and
//! friends track names, `#!ifdef`/`#!ifndef`/`#!else`/`#!endif` select branches, and a word
//! that is a defined name with a one-token value is replaced by that value.

use std::collections::HashMap;

use super::lexer::{tokenize, LexError, Tok, Token};

/// One open `#!ifdef`/`#!ifndef`.
struct Cond {
    taken: bool,
    parent_active: bool,
    seen_else: bool,
    line: u32,
}

/// Tokens of the taken branches, and one note per directive line (reported as warnings).
pub(crate) struct Preprocessed {
    pub tokens: Vec<Token>,
    pub notes: Vec<(u32, String)>,
}

/// Evaluates `#!ifdef`/`#!ifndef`/`#!else`/`#!endif` over `#!define`d names, drops the
/// tokens of untaken branches and substitutes one-token define values for words.
pub(crate) fn preprocess(raw: Vec<Token>) -> Result<Preprocessed, LexError> {
    let mut defines: HashMap<String, Option<Tok>> = HashMap::new();
    let mut notes = Vec::new();
    let mut out = Vec::with_capacity(raw.len());
    let mut stack: Vec<Cond> = Vec::new();
    for mut t in raw {
        let active = stack.iter().all(|c| c.taken && c.parent_active);
        let (name, args) = match &t.tok {
            Tok::Directive(n, a) => (n.clone(), a.clone()),
            Tok::Newline => {
                out.push(t);
                continue;
            }
            _ if !active => continue,
            Tok::Word(w) => {
                if let Some(Some(v)) = defines.get(w) {
                    t.tok = v.clone();
                }
                out.push(t);
                continue;
            }
            _ => {
                out.push(t);
                continue;
            }
        };
        let line = t.line;
        let id = args.split_whitespace().next().unwrap_or("").to_string();
        let mut visible = active;
        let note = match name.as_str() {
            "ifdef" | "ifndef" => {
                let defined = defines.contains_key(&id);
                let taken = defined == (name == "ifdef");
                stack.push(Cond {
                    taken,
                    parent_active: active,
                    seen_else: false,
                    line,
                });
                let state = if defined { "defined" } else { "not defined" };
                let what = if taken { "read" } else { "skipped" };
                format!("{id} is {state}: the block is {what}")
            }
            "else" => {
                let Some(top) = stack.last_mut() else {
                    return Err((line, "#!else without #!ifdef".to_string()));
                };
                if top.seen_else {
                    return Err((line, "second #!else for one #!ifdef".to_string()));
                }
                top.seen_else = true;
                top.taken = !top.taken;
                visible = top.parent_active;
                let what = if top.taken { "read" } else { "skipped" };
                format!("the #!else branch is {what}")
            }
            "endif" => {
                let Some(top) = stack.pop() else {
                    return Err((line, "#!endif without #!ifdef".to_string()));
                };
                visible = top.parent_active;
                "end of conditional block".to_string()
            }
            "ifexp" if active => {
                let reason = "#!ifexp is not supported by sipwire; use #!ifdef";
                return Err((line, reason.to_string()));
            }
            _ if !active => continue,
            "define" | "trydef" | "redefine" => {
                if name != "trydef" || !defines.contains_key(&id) {
                    let value = args[id.len()..].trim();
                    let tok = match tokenize(value) {
                        Ok(v) if v.len() == 1 => Some(v[0].tok.clone()),
                        _ => None,
                    };
                    defines.insert(id.clone(), tok);
                }
                format!("{id} is now defined")
            }
            "undef" => {
                defines.remove(&id);
                format!("{id} is no longer defined")
            }
            _ => "ignored".to_string(),
        };
        if visible {
            let sep = if args.is_empty() { "" } else { " " };
            let msg =
                format!("not a transport option: preprocessor line #!{name}{sep}{args} ({note})");
            notes.push((line, msg));
        }
    }
    if let Some(open) = stack.last() {
        return Err((open.line, "#!ifdef/#!ifndef without #!endif".to_string()));
    }
    Ok(Preprocessed { tokens: out, notes })
}
