//! The plan viewer: the changes of a plan (from `mc tui plan.json`, or a
//! pending plan opened from Approvals), with each one's diff.

use super::{navigate, Component};
use crate::action::Action;
use crate::data::short_hash;
use crate::widgets::{
    action_style, cell, change_lines, empty_state, matches, risk_name, risk_style, text_pane,
    Cursor, ListTable,
};
use mc_ir::plan::Plan;
use mc_state::format_time;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row};
use ratatui::Frame;

pub struct PlanView {
    plan: Plan,
    /// (host index, resource index) of every change, error and refresh.
    rows: Vec<(usize, usize)>,
    /// Hosts that could not be planned.
    host_errors: Vec<(String, String)>,
    shown: Vec<usize>,
    filter: String,
    cursor: Cursor,
}

impl PlanView {
    pub fn new(plan: Plan) -> PlanView {
        let mut rows = Vec::new();
        let mut host_errors = Vec::new();
        for (h, hp) in plan.hosts.iter().enumerate() {
            if let Some(e) = &hp.error {
                host_errors.push((hp.host.name.clone(), e.clone()));
            }
            for (r, p) in hp.resources.iter().enumerate() {
                if p.action.is_change() || p.refresh || p.error.is_some() {
                    rows.push((h, r));
                }
            }
        }
        // Riskiest first, then errors, then plan order.
        rows.sort_by_key(|&(h, r)| {
            let p = &plan.hosts[h].resources[r];
            (std::cmp::Reverse(p.risk), p.error.is_none())
        });
        let mut view = PlanView {
            plan,
            rows,
            host_errors,
            shown: Vec::new(),
            filter: String::new(),
            cursor: Cursor::default(),
        };
        view.refilter();
        view
    }

    pub fn hash(&self) -> &str {
        &self.plan.hash
    }

    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        self.shown = (0..self.rows.len())
            .filter(|&i| {
                let (h, r) = self.rows[i];
                let hp = &self.plan.hosts[h];
                let p = &hp.resources[r];
                matches(&needle, &[&hp.host.name, p.id.as_str(), risk_name(p.risk)])
            })
            .collect();
        self.cursor.clamp(self.shown.len());
    }

    fn header(&self) -> Vec<Line<'static>> {
        let c = self.plan.counts();
        let verified = if self.plan.verify() {
            Span::styled("sealed", Style::new().fg(ratatui::style::Color::Green))
        } else {
            Span::styled(
                "HASH MISMATCH (edited?)",
                crate::widgets::status_style("failed"),
            )
        };
        vec![
            Line::from(vec![
                Span::styled(
                    format!("plan {} ", short_hash(&self.plan.hash)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                verified,
                Span::raw(format!(
                    "  created {}  {} hosts",
                    format_time(self.plan.created_at),
                    self.plan.hosts.len()
                )),
            ]),
            Line::from(vec![
                Span::styled(
                    format!("+{} create", c.create),
                    action_style(mc_ir::plan::Action::Create),
                ),
                Span::raw("  "),
                Span::styled(
                    format!("~{} update", c.update),
                    action_style(mc_ir::plan::Action::Update),
                ),
                Span::raw("  "),
                Span::styled(
                    format!("-{} delete", c.delete),
                    action_style(mc_ir::plan::Action::Delete),
                ),
                Span::raw(format!(
                    "  {} refresh  {} unchanged  {} errors",
                    c.refresh, c.unchanged, c.errors
                )),
            ]),
        ]
    }
}

/// Every change of a plan with its risk and diff, for the Approvals pane.
pub fn plan_summary_lines(plan: &Plan) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for hp in &plan.hosts {
        if let Some(e) = &hp.error {
            lines.push(Line::styled(
                format!("{}: {e}", hp.host.name),
                crate::widgets::status_style("failed"),
            ));
        }
        for p in hp
            .resources
            .iter()
            .filter(|p| p.action.is_change() || p.refresh)
        {
            lines.push(Line::from(vec![
                Span::styled(format!("{} ", p.action.marker()), action_style(p.action)),
                Span::raw(format!("{} {}  ", hp.host.name, p.id)),
                Span::styled(risk_name(p.risk), risk_style(p.risk)),
            ]));
            for l in change_lines(p) {
                let mut spans = vec![Span::raw("    ")];
                spans.extend(l.spans);
                lines.push(Line::from(spans));
            }
        }
    }
    lines
}

impl Component for PlanView {
    fn update(&mut self, action: &Action) -> Option<Action> {
        navigate(&mut self.cursor, action, self.shown.len());
        None
    }

    fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_string();
        self.refilter();
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let [head, body] =
            Layout::vertical([Constraint::Length(2), Constraint::Fill(1)]).areas(area);
        frame.render_widget(Paragraph::new(self.header()), head);
        if self.rows.is_empty() {
            let mut lines = vec!["no changes: the hosts already match"];
            if !self.host_errors.is_empty() {
                lines = vec!["no resource changes; some hosts could not be planned"];
            }
            empty_state(frame, body, " Plan ", &lines);
            return;
        }
        let [list, pane] = Layout::vertical([Constraint::Fill(1), Constraint::Fill(1)]).areas(body);
        let table = ListTable {
            title: format!(" Changes ({}) ", self.shown.len()),
            header: vec!["", "HOST", "RESOURCE", "RISK"],
            widths: vec![
                Constraint::Length(1),
                Constraint::Length(14),
                Constraint::Fill(1),
                Constraint::Length(6),
            ],
            len: self.shown.len(),
            focused: true,
        };
        let plan = &self.plan;
        let rows = &self.rows;
        let shown = &self.shown;
        table.draw(frame, list, &mut self.cursor, |i| {
            let (h, r) = rows[shown[i]];
            let hp = &plan.hosts[h];
            let p = &hp.resources[r];
            let marker = if p.error.is_some() {
                "!"
            } else {
                p.action.marker()
            };
            Row::new(vec![
                cell(marker, action_style(p.action)),
                cell(hp.host.name.clone(), Style::new()),
                cell(p.id.to_string(), Style::new()),
                cell(risk_name(p.risk), risk_style(p.risk)),
            ])
        });
        let selected = self.shown.get(self.cursor.selected).map(|&i| self.rows[i]);
        let (title, lines) = match selected {
            Some((h, r)) => {
                let p = &self.plan.hosts[h].resources[r];
                (format!(" {} ", p.id), change_lines(p))
            }
            None => (" diff ".to_string(), vec![]),
        };
        text_pane(frame, pane, &title, lines, &mut self.cursor.pane);
    }
}
