//! The document IR and its printer (Wadler/Prettier style).
//!
//! A [`Doc`] describes text with optional line breaks; a [`Doc::Group`] is
//! printed on one line when everything up to the next possible break fits in
//! the width, and with all its direct [`Doc::Line`]s broken otherwise.

use std::borrow::Cow;
use std::rc::Rc;

/// Spaces per indentation level.
pub const INDENT: usize = 2;

#[derive(Clone, Debug, PartialEq)]
pub enum Doc<'a> {
    Nil,
    /// Text printed as is. It may hold newlines (multi-line strings and block
    /// comments, kept verbatim); the column after it is the width of its
    /// last line.
    Text(Cow<'a, str>),
    /// A space when flat, a newline when broken.
    Line,
    /// Nothing when flat, a newline when broken.
    SoftLine,
    /// Always a newline; forces every enclosing group to break.
    HardLine,
    /// Prints nothing; forces every enclosing group to break (after a `//`
    /// comment, which must end its line).
    BreakParent,
    /// Its content's line breaks are indented one more level.
    Indent(Box<Doc<'a>>),
    Group(Box<Doc<'a>>),
    Concat(Vec<Doc<'a>>),
    /// The first document when the enclosing group is broken, the second
    /// when it is flat.
    IfBreak(Box<Doc<'a>>, Box<Doc<'a>>),
    /// Layouts from most to least compact: the first that fits (the first
    /// one flat, the others up to their first line break), else the last.
    Choice(Vec<Doc<'a>>),
    /// A document used in several places of a [`Doc::Choice`].
    Shared(Rc<Doc<'a>>),
}

impl<'a> Doc<'a> {
    pub fn text(s: impl Into<Cow<'a, str>>) -> Doc<'a> {
        Doc::Text(s.into())
    }

    pub fn concat(docs: Vec<Doc<'a>>) -> Doc<'a> {
        Doc::Concat(docs)
    }

    pub fn group(doc: Doc<'a>) -> Doc<'a> {
        Doc::Group(Box::new(doc))
    }

    pub fn indent(doc: Doc<'a>) -> Doc<'a> {
        Doc::Indent(Box::new(doc))
    }

    pub fn if_break(broken: Doc<'a>, flat: Doc<'a>) -> Doc<'a> {
        Doc::IfBreak(Box::new(broken), Box::new(flat))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

#[derive(Clone, Copy)]
struct Cmd<'d, 'a> {
    indent: usize,
    mode: Mode,
    doc: &'d Doc<'a>,
}

fn width_of(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Prints `doc` within `width` columns. Trailing spaces are never left at
/// the end of a line.
pub fn print(doc: &Doc<'_>, width: usize) -> String {
    print_into(doc, width, String::new())
}

/// [`print`] appending to `out`; a buffer sized up front saves the large
/// reallocations that dominate printing big files.
pub fn print_into(doc: &Doc<'_>, width: usize, mut out: String) -> String {
    let mut col = 0usize;
    let mut stack: Vec<Cmd<'_, '_>> = vec![Cmd {
        indent: 0,
        mode: Mode::Break,
        doc,
    }];
    // Reused by every fit test, which would otherwise allocate.
    let mut scratch: Vec<(Mode, &Doc<'_>)> = Vec::new();
    while let Some(cmd) = stack.pop() {
        match cmd.doc {
            Doc::Nil | Doc::BreakParent => {}
            Doc::Text(s) => {
                out.push_str(s);
                col = match s.rfind('\n') {
                    Some(i) => width_of(&s[i + 1..]),
                    None => col + width_of(s),
                };
            }
            Doc::Concat(docs) => {
                for d in docs.iter().rev() {
                    stack.push(Cmd { doc: d, ..cmd });
                }
            }
            Doc::Indent(d) => stack.push(Cmd {
                indent: cmd.indent + INDENT,
                doc: d,
                ..cmd
            }),
            Doc::Group(d) => {
                let mode = match cmd.mode {
                    Mode::Flat => Mode::Flat,
                    Mode::Break => {
                        let flat = Cmd {
                            mode: Mode::Flat,
                            doc: d,
                            ..cmd
                        };
                        let remaining = width.saturating_sub(col);
                        if col <= width && fits(flat, &stack, remaining, width, &mut scratch) {
                            Mode::Flat
                        } else {
                            Mode::Break
                        }
                    }
                };
                stack.push(Cmd {
                    mode,
                    doc: d,
                    ..cmd
                });
            }
            Doc::Line | Doc::SoftLine if cmd.mode == Mode::Flat => {
                if matches!(cmd.doc, Doc::Line) {
                    out.push(' ');
                    col += 1;
                }
            }
            Doc::Line | Doc::SoftLine | Doc::HardLine => {
                newline(&mut out, cmd.indent);
                col = cmd.indent;
            }
            Doc::IfBreak(broken, flat) => {
                let d = if cmd.mode == Mode::Break {
                    broken
                } else {
                    flat
                };
                stack.push(Cmd { doc: d, ..cmd });
            }
            Doc::Shared(d) => stack.push(Cmd { doc: d, ..cmd }),
            Doc::Choice(options) => {
                let Some((last, rest)) = options.split_last() else {
                    continue;
                };
                if cmd.mode == Mode::Flat {
                    stack.push(Cmd {
                        doc: options.first().unwrap_or(last),
                        ..cmd
                    });
                    continue;
                }
                let remaining = width.saturating_sub(col);
                let mut chosen = Cmd { doc: last, ..cmd };
                for (i, option) in rest.iter().enumerate() {
                    let mode = if i == 0 { Mode::Flat } else { Mode::Break };
                    let try_cmd = Cmd {
                        mode,
                        doc: option,
                        ..cmd
                    };
                    if col <= width && fits(try_cmd, &stack, remaining, width, &mut scratch) {
                        chosen = try_cmd;
                        break;
                    }
                }
                stack.push(chosen);
            }
        }
    }
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    out
}

fn newline(out: &mut String, indent: usize) {
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Whether `next`, printed flat, and what follows it up to the next line
/// break fit in `remaining` columns.
fn fits<'d, 'a>(
    next: Cmd<'d, 'a>,
    rest: &[Cmd<'d, 'a>],
    remaining: usize,
    width: usize,
    stack: &mut Vec<(Mode, &'d Doc<'a>)>,
) -> bool {
    let mut remaining = remaining as isize;
    let mut rest_idx = rest.len();
    stack.clear();
    stack.push((next.mode, next.doc));
    loop {
        let (mode, doc) = match stack.pop() {
            Some(x) => x,
            None => {
                if rest_idx == 0 {
                    return true;
                }
                rest_idx -= 1;
                (rest[rest_idx].mode, rest[rest_idx].doc)
            }
        };
        match doc {
            Doc::Nil => {}
            Doc::Text(s) => {
                if let Some(i) = s.find('\n') {
                    // A verbatim multi-line text: its first line must fit, and
                    // what follows is measured from the end of its last line
                    // (a later hard break must still break the group).
                    if remaining < width_of(&s[..i]) as isize {
                        return false;
                    }
                    let last = s.rfind('\n').map_or(&s[..], |j| &s[j + 1..]);
                    remaining = width as isize - width_of(last) as isize;
                } else {
                    remaining -= width_of(s) as isize;
                }
            }
            Doc::Line => match mode {
                Mode::Break => return true,
                Mode::Flat => remaining -= 1,
            },
            Doc::SoftLine => {
                if mode == Mode::Break {
                    return true;
                }
            }
            Doc::HardLine | Doc::BreakParent => {
                if mode == Mode::Flat {
                    return false;
                }
                if matches!(doc, Doc::HardLine) {
                    return true;
                }
            }
            Doc::Indent(d) => stack.push((mode, d)),
            Doc::Group(d) => stack.push((mode, d)),
            Doc::Concat(docs) => {
                for d in docs.iter().rev() {
                    stack.push((mode, d));
                }
            }
            Doc::IfBreak(broken, flat) => {
                stack.push((mode, if mode == Mode::Break { broken } else { flat }));
            }
            Doc::Shared(d) => stack.push((mode, d)),
            Doc::Choice(options) => {
                let option = if mode == Mode::Flat {
                    options.first()
                } else {
                    options.last()
                };
                if let Some(d) = option {
                    stack.push((mode, d));
                }
            }
        }
        if remaining < 0 {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&'static str]) -> Doc<'static> {
        let mut inner = vec![Doc::SoftLine];
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                inner.push(Doc::text(","));
                inner.push(Doc::Line);
            }
            inner.push(Doc::text(*item));
        }
        Doc::group(Doc::concat(vec![
            Doc::text("["),
            Doc::indent(Doc::concat(inner)),
            Doc::SoftLine,
            Doc::text("]"),
        ]))
    }

    #[test]
    fn group_is_flat_when_it_fits() {
        assert_eq!(print(&list(&["a", "b"]), 10), "[a, b]");
    }

    #[test]
    fn group_breaks_when_too_wide() {
        assert_eq!(print(&list(&["aaaa", "bbbb"]), 10), "[\n  aaaa,\n  bbbb\n]");
    }

    #[test]
    fn text_after_group_counts_towards_fit() {
        let doc = Doc::concat(vec![list(&["a", "b"]), Doc::text(" + something")]);
        assert_eq!(print(&doc, 10), "[\n  a,\n  b\n] + something");
    }

    #[test]
    fn break_parent_forces_break_and_no_trailing_spaces() {
        let doc = Doc::group(Doc::concat(vec![
            Doc::text("a"),
            Doc::Line,
            Doc::text("// c"),
            Doc::BreakParent,
            Doc::Line,
            Doc::text("b"),
        ]));
        assert_eq!(print(&doc, 80), "a\n// c\nb");
        let blank = Doc::concat(vec![
            Doc::indent(Doc::concat(vec![
                Doc::text("x"),
                Doc::HardLine,
                Doc::HardLine,
            ])),
            Doc::text("y"),
        ]);
        assert_eq!(print(&blank, 80), "x\n\n  y");
    }

    #[test]
    fn if_break_follows_group_mode() {
        let doc = |w| {
            print(
                &Doc::group(Doc::concat(vec![
                    Doc::text("x"),
                    Doc::if_break(Doc::text("!"), Doc::text("?")),
                    Doc::SoftLine,
                ])),
                w,
            )
        };
        assert_eq!(doc(5), "x?");
        assert_eq!(doc(1), "x!\n");
    }
}
