//! The latest drift per host and resource, with its diff.

use super::{navigate, Component};
use crate::action::Action;
use crate::data::DriftEntry;
use crate::widgets::{cell, diff_lines, empty_state, matches, text_pane, Cursor, ListTable};
use mc_state::format_time;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Row;
use ratatui::Frame;

#[derive(Default)]
pub struct DriftView {
    entries: Vec<DriftEntry>,
    error: Option<String>,
    shown: Vec<usize>,
    filter: String,
    cursor: Cursor,
}

impl DriftView {
    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        self.shown = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                matches(&needle, &[&e.host, &e.resource, &e.summary])
            })
            .collect();
        self.cursor.clamp(self.shown.len());
    }
}

impl Component for DriftView {
    fn update(&mut self, action: &Action) -> Option<Action> {
        match action {
            Action::Data(snapshot) => match &snapshot.drift {
                Some(Ok(entries)) => {
                    self.entries = entries.clone();
                    self.error = None;
                    self.refilter();
                }
                Some(Err(e)) => self.error = Some(e.clone()),
                None => {}
            },
            other => {
                navigate(&mut self.cursor, other, self.shown.len());
            }
        }
        None
    }

    fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_string();
        self.refilter();
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        if let Some(e) = &self.error {
            empty_state(frame, area, " Drift ", &["cannot read drift reports", e]);
            return;
        }
        if self.entries.is_empty() {
            empty_state(
                frame,
                area,
                " Drift ",
                &[
                    "no drift reports yet",
                    "`mc drift` reports changes made outside mc",
                ],
            );
            return;
        }
        let [list, pane] = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(area);
        let table = ListTable {
            title: format!(" Drift ({}) ", self.shown.len()),
            header: vec!["HOST", "RESOURCE", "DETECTED (UTC)", "WHAT"],
            widths: vec![
                Constraint::Length(14),
                Constraint::Fill(2),
                Constraint::Length(19),
                Constraint::Fill(1),
            ],
            len: self.shown.len(),
            focused: true,
        };
        let entries = &self.entries;
        let shown = &self.shown;
        table.draw(frame, list, &mut self.cursor, |i| {
            let e = &entries[shown[i]];
            Row::new(vec![
                cell(e.host.clone(), Style::new()),
                cell(e.resource.clone(), Style::new()),
                cell(format_time(e.detected_at), Style::new()),
                match e.resolved_at {
                    Some(at) => cell(
                        format!("resolved {}", format_time(at)),
                        crate::widgets::status_style("ok"),
                    ),
                    None => cell(e.summary.clone(), crate::widgets::status_style("drifted")),
                },
            ])
        });
        let selected = self.shown.get(self.cursor.selected).map(|&i| &entries[i]);
        let lines: Vec<Line<'static>> = match selected {
            Some(e) => match &e.diff {
                Some(d) => diff_lines(d),
                None => vec![Line::raw(e.summary.clone())],
            },
            None => vec![],
        };
        text_pane(frame, pane, " diff ", lines, &mut self.cursor.pane);
    }
}
