//! Pieces shared by the views: a scrolling cursor, status colours, diff
//! lines and a table that only builds the rows it shows.

use mc_ir::plan::{Action as PlanAction, PlannedResource};
use mc_ir::Risk;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};
use ratatui::Frame;

/// A selection in a list plus the first visible row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub selected: usize,
    pub offset: usize,
    /// How far the detail pane of the selected entry is scrolled.
    pub pane: u16,
}

impl Cursor {
    pub fn up(&mut self, n: usize) {
        self.selected = self.selected.saturating_sub(n);
        self.pane = 0;
    }

    pub fn down(&mut self, n: usize, len: usize) {
        self.selected = (self.selected + n).min(len.saturating_sub(1));
        self.pane = 0;
    }

    pub fn top(&mut self) {
        self.selected = 0;
        self.pane = 0;
    }

    pub fn bottom(&mut self, len: usize) {
        self.selected = len.saturating_sub(1);
        self.pane = 0;
    }

    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
    }

    /// Scrolls so the selection is visible in `height` rows; returns the
    /// visible range.
    pub fn window(&mut self, len: usize, height: usize) -> std::ops::Range<usize> {
        self.clamp(len);
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
        self.offset..(self.offset + height).min(len)
    }
}

/// Rows a page moves.
pub const PAGE: usize = 10;

pub fn status_style(status: &str) -> Style {
    match status {
        "failed" | "crashed" | "refused" | "error" | "unreachable" => {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        }
        "changed" | "pending" | "drifted" => Style::new().fg(Color::Yellow),
        "ok" | "approved" | "applied" => Style::new().fg(Color::Green),
        "running" => Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        "skipped" | "stale" => Style::new().fg(Color::DarkGray),
        _ => Style::new(),
    }
}

/// Failures first, then what changed, then the rest.
pub fn status_rank(status: &str) -> u8 {
    match status {
        "failed" | "crashed" | "refused" | "error" | "unreachable" => 0,
        "running" | "pending" => 1,
        "changed" => 2,
        "skipped" => 3,
        _ => 4,
    }
}

pub fn risk_style(risk: Risk) -> Style {
    match risk {
        Risk::High => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Risk::Medium => Style::new().fg(Color::Yellow),
        Risk::Low => Style::new().fg(Color::DarkGray),
    }
}

pub fn risk_name(risk: Risk) -> &'static str {
    match risk {
        Risk::High => "high",
        Risk::Medium => "medium",
        Risk::Low => "low",
    }
}

pub fn action_style(action: PlanAction) -> Style {
    match action {
        PlanAction::Create => Style::new().fg(Color::Green),
        PlanAction::Update => Style::new().fg(Color::Yellow),
        PlanAction::Delete => Style::new().fg(Color::Red),
        PlanAction::Check | PlanAction::None => Style::new().fg(Color::Cyan),
    }
}

/// One line per changed attribute (`attr: from → to`), then the content
/// diff, coloured.
pub fn change_lines(p: &PlannedResource) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if let Some(err) = &p.error {
        out.push(Line::styled(
            format!("error: {}", mc_state::display::safe(err)),
            Style::new().fg(Color::Red),
        ));
    }
    if p.refresh {
        out.push(Line::styled(
            "refresh (a notification is pending)",
            Style::new().fg(Color::Cyan),
        ));
    }
    for c in &p.changes {
        out.push(Line::from(vec![
            Span::styled(
                format!("{}: ", c.attr),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::styled(short_json(&c.from), Style::new().fg(Color::Red)),
            Span::raw(" → "),
            Span::styled(short_json(&c.to), Style::new().fg(Color::Green)),
        ]));
    }
    if let Some(diff) = &p.content_diff {
        out.extend(diff_lines(diff));
    }
    out
}

pub fn diff_lines(diff: &str) -> Vec<Line<'static>> {
    diff.lines()
        .map(|l| {
            let style = if l.starts_with("+++") || l.starts_with("---") {
                Style::new().add_modifier(Modifier::BOLD)
            } else if l.starts_with('+') {
                Style::new().fg(Color::Green)
            } else if l.starts_with('-') {
                Style::new().fg(Color::Red)
            } else if l.starts_with("@@") {
                Style::new().fg(Color::Cyan)
            } else {
                Style::new()
            };
            Line::styled(mc_state::display::safe(l).into_owned(), style)
        })
        .collect()
}

fn short_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("{s:?}"),
        serde_json::Value::Null => "(absent)".into(),
        other => other.to_string(),
    }
}

/// A bordered table that builds only the visible rows, so a list of ten
/// thousand entries costs no more to draw than a screenful.
pub struct ListTable<'a> {
    pub title: String,
    pub header: Vec<&'a str>,
    pub widths: Vec<Constraint>,
    pub len: usize,
    pub focused: bool,
}

impl ListTable<'_> {
    pub fn draw<F>(self, frame: &mut Frame, area: Rect, cursor: &mut Cursor, mut row: F)
    where
        F: FnMut(usize) -> Row<'static>,
    {
        let border = if self.focused {
            Style::new().fg(Color::Cyan)
        } else {
            Style::new().fg(Color::DarkGray)
        };
        let block = Block::bordered().title(self.title).border_style(border);
        // Borders and the header row.
        let height = area.height.saturating_sub(3) as usize;
        let range = cursor.window(self.len, height);
        let selected = cursor.selected;
        let rows: Vec<Row> = range
            .map(|i| {
                let r = row(i);
                if i == selected && self.len > 0 {
                    r.style(Style::new().add_modifier(Modifier::REVERSED))
                } else {
                    r
                }
            })
            .collect();
        let header = Row::new(self.header.into_iter().map(Cell::from))
            .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
        let table = Table::new(rows, self.widths)
            .header(header)
            .block(block)
            .column_spacing(1);
        frame.render_widget(table, area);
    }
}

/// A bordered pane of text lines, scrolled by `scroll` (clamped so the
/// last line stays in view). Says so in its title when there is more.
pub fn text_pane(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    scroll: &mut u16,
) {
    let inner = area.height.saturating_sub(2) as usize;
    let max = lines.len().saturating_sub(inner);
    *scroll = (*scroll).min(u16::try_from(max).unwrap_or(u16::MAX));
    let title = if max > 0 {
        format!("{title}[{}/{} J/K] ", *scroll as usize + inner, lines.len())
    } else {
        title.to_string()
    };
    let block = Block::bordered()
        .title(title)
        .border_style(Style::new().fg(Color::DarkGray));
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((*scroll, 0)),
        area,
    );
}

/// A message centred in `area`, for empty views.
pub fn empty_state(frame: &mut Frame, area: Rect, title: &str, lines: &[&str]) {
    let block = Block::bordered()
        .title(title.to_string())
        .border_style(Style::new().fg(Color::DarkGray));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let top = inner.height.saturating_sub(lines.len() as u16) / 2;
    let text: Vec<Line> = std::iter::repeat_n(Line::raw(""), top as usize)
        .chain(lines.iter().enumerate().map(|(i, l)| {
            let style = if i == 0 {
                Style::new().add_modifier(Modifier::BOLD)
            } else {
                Style::new().fg(Color::DarkGray)
            };
            Line::styled(l.to_string(), style).centered()
        }))
        .collect();
    frame.render_widget(Paragraph::new(text), inner);
}

/// True when `needle` (lower-case) occurs in any of `fields`.
pub fn matches(needle: &str, fields: &[&str]) -> bool {
    needle.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(needle))
}

pub fn cell(text: impl Into<String>, style: Style) -> Cell<'static> {
    Cell::from(Span::styled(text.into(), style))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_follows_the_selection() {
        let mut c = Cursor::default();
        assert_eq!(c.window(100, 10), 0..10);
        c.down(15, 100);
        assert_eq!(c.window(100, 10), 6..16);
        c.up(3);
        assert_eq!(c.window(100, 10), 6..16, "no scroll while visible");
        c.up(100);
        assert_eq!(c.window(100, 10), 0..10);
        c.bottom(100);
        assert_eq!(c.window(100, 10), 90..100);
        // The list shrank under the cursor (a filter, a live update).
        assert_eq!(c.window(5, 10), 0..5);
        assert_eq!(c.selected, 4);
        assert_eq!(c.window(0, 10), 0..0);
        assert_eq!(
            c.window(3, 0),
            0..1,
            "a zero-height area still shows one row"
        );
    }

    #[test]
    fn failures_sort_first() {
        let mut statuses = vec!["ok", "skipped", "changed", "failed", "running"];
        statuses.sort_by_key(|s| status_rank(s));
        assert_eq!(statuses, ["failed", "running", "changed", "skipped", "ok"]);
    }

    #[test]
    fn diff_lines_are_coloured_by_kind() {
        let lines = diff_lines("--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n same");
        let fg = |i: usize| lines[i].style.fg;
        assert_eq!(fg(2), Some(Color::Cyan));
        assert_eq!(fg(3), Some(Color::Red));
        assert_eq!(fg(4), Some(Color::Green));
        assert_eq!(fg(5), None);
        assert!(lines[0].style.add_modifier.contains(Modifier::BOLD));
    }
}
