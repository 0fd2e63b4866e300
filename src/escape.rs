//! The one escaping function for text from outside (server banners, config lines, file
//! names, `ssh -vvv` output): nothing a terminal would act on gets through.
//!
//! Control characters (C0, DEL, C1) and invisible formatting characters (bidi overrides
//! and isolates, zero-width characters, the BOM) are shown visibly as `\x1b` or
//! `\u{202e}`. Tab and newline are kept only by [`multiline`], where they are structure.
//! Escaping is idempotent: its output contains none of the characters it escapes.

use std::fmt::Write;

/// True for a character a terminal or a text viewer could act on or hide.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061c}'                      // Arabic letter mark
            | '\u{200b}'..='\u{200f}'       // zero-width, LRM, RLM
            | '\u{2028}' | '\u{2029}'       // line and paragraph separators
            | '\u{202a}'..='\u{202e}'       // bidi embeddings and overrides
            | '\u{2060}'..='\u{2069}'       // word joiner … bidi isolates
            | '\u{feff}'                    // BOM / zero-width no-break space
            | '\u{fff9}'..='\u{fffb}'       // interlinear annotations
        )
}

fn push_escaped(out: &mut String, c: char) {
    let n = c as u32;
    if n < 0x100 {
        let _ = write!(out, "\\x{n:02x}");
    } else {
        let _ = write!(out, "\\u{{{n:x}}}");
    }
}

/// One line of text: every unsafe character, tab and newline included, made visible.
pub fn text(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Text whose lines and tabs are structure (a file, a transcript): newline and tab stay,
/// a CR before a newline is dropped, everything else unsafe is made visible.
pub fn multiline(s: &str) -> String {
    if !s.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        if c == '\n' || c == '\t' || !is_unsafe(c) {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
    }
    out
}

/// Bytes from outside as text: invalid UTF-8 becomes `\xNN`, then as [`multiline`].
pub fn bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(&multiline(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// True when [`text`] would change `s`: such a name is never pasted into a command or
/// a config block.
pub fn needs(s: &str) -> bool {
    s.chars().any(is_unsafe)
}

/// True when `s` carries the visible form of an escaped character (`\x1b`, `\u{202e}`):
/// text that was escaped on its way in and so must not be run as a command. Only the
/// forms [`text`] writes count (`\x00`–`\x1f`, `\x7f`, `\x80`–`\x9f`, `\u{…}`), so a
/// command's own `\xEF` stays a command.
pub fn carries_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(4).any(|w| {
        w[0] == b'\\'
            && ((w[1] == b'x'
                && w[3].is_ascii_hexdigit()
                && (matches!(w[2], b'0' | b'1' | b'8' | b'9') || (w[2] == b'7' && w[3] == b'f')))
                || (w[1] == b'u' && w[2] == b'{'))
    })
}

/// Like [`json`], but line breaks and tabs in strings stay (JSON writes them as `\n`
/// and `\t`): for a document whose strings were escaped for their use already.
pub fn json_keeping_lines(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = multiline(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(json_keeping_lines),
        serde_json::Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut val) in old {
                json_keeping_lines(&mut val);
                o.insert(text(&k), val);
            }
        }
        _ => {}
    }
}

/// Escapes every string inside a JSON value (keys too), in place.
pub fn json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if needs(s) => *s = text(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(json),
        serde_json::Value::Object(o) => {
            if o.keys().any(|k| needs(k)) {
                let old = std::mem::take(o);
                for (k, mut val) in old {
                    json(&mut val);
                    o.insert(text(&k), val);
                }
            } else {
                o.values_mut().for_each(json);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_and_bidi_become_visible() {
        let hostile = "SSH-2.0-x\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{202e}gnp.exe\u{2066}";
        let out = text(hostile);
        assert_eq!(
            out,
            "SSH-2.0-x\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u{202e}gnp.exe\\u{2066}"
        );
        assert!(!out.chars().any(is_unsafe));
        assert_eq!(text(&out), out, "idempotent");
        assert!(carries_escape(&out));
        assert!(!carries_escape("chmod 600 ~/.ssh/id_ed25519"));
        assert!(!carries_escape("sed '1s/^\\xEF\\xBB\\xBF//'"));
        assert!(carries_escape("chmod 600 ~/.ssh/id\\x0a"));
    }

    #[test]
    fn multiline_keeps_structure_only() {
        assert_eq!(multiline("a\tb\r\nc\rd\n"), "a\tb\nc\\x0dd\n");
        assert_eq!(text("a\nb\tc"), "a\\x0ab\\x09c");
        assert_eq!(bytes(b"ok\xff\x1b\n"), "ok\\xff\\x1b\n");
    }

    #[test]
    fn json_strings_and_keys_are_escaped() {
        let mut v = serde_json::json!({"k\u{1b}": ["\u{202e}x", 1], "b": "fine"});
        json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"k\\x1b": ["\\u{202e}x", 1], "b": "fine"})
        );
    }
}
