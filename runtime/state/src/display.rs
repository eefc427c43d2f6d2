//! Text for a terminal, shared by everything that shows what hosts sent:
//! the CLI's output and the TUI.

/// Text from a host (content, output, messages, titles) made safe for a
/// terminal: control characters other than newline and tab, and the
/// bidirectional overrides that reorder what is shown, are printed as
/// escapes (`\x1b`, `\u{202e}`), so a host cannot move the cursor, retitle
/// the window or hide text.
pub fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    let hostile = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !hostile(c) => out.push(c),
            c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_overrides_are_escaped() {
        assert!(matches!(safe("ok\n\tdone"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(safe("a\x1b[2Jb"), "a\\x1b[2Jb");
        assert_eq!(safe("x\u{202e}y"), "x\\u{202e}y");
    }
}
