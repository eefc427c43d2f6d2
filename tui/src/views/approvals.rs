//! Plans waiting for a decision: their changes, risk and why they need
//! approval. `a` approves, `r` rejects, both with a reason.

use super::plan::plan_summary_lines;
use super::{navigate, Component};
use crate::action::Action;
use crate::data::{short_hash, PendingPlan};
use crate::widgets::{
    cell, empty_state, matches, risk_name, risk_style, status_style, text_pane, Cursor, ListTable,
};
use mc_runtime::state::format_time;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Row;
use ratatui::Frame;

#[derive(Default)]
pub struct ApprovalsView {
    plans: Vec<PendingPlan>,
    error: Option<String>,
    loaded: bool,
    shown: Vec<usize>,
    filter: String,
    cursor: Cursor,
}

impl ApprovalsView {
    pub fn selected(&self) -> Option<&PendingPlan> {
        self.shown
            .get(self.cursor.selected)
            .and_then(|&i| self.plans.get(i))
    }

    pub fn count(&self) -> usize {
        self.plans.len()
    }

    fn refilter(&mut self) {
        let keep = self.selected().map(|p| p.hash.clone());
        self.refilter_keeping(keep);
    }

    fn refilter_keeping(&mut self, keep: Option<String>) {
        let needle = self.filter.to_lowercase();
        self.shown = (0..self.plans.len())
            .filter(|&i| {
                let p = &self.plans[i];
                matches(&needle, &[&p.hash, &p.hosts.join(" ")])
            })
            .collect();
        if let Some(hash) = keep {
            if let Some(pos) = self.shown.iter().position(|&i| self.plans[i].hash == hash) {
                self.cursor.selected = pos;
            }
        }
        self.cursor.clamp(self.shown.len());
    }
}

impl Component for ApprovalsView {
    fn update(&mut self, action: &Action) -> Option<Action> {
        match action {
            Action::Data(snapshot) => {
                let keep = self.selected().map(|p| p.hash.clone());
                match &snapshot.pending {
                    Some(Ok(plans)) => {
                        self.plans = plans.clone();
                        self.error = None;
                        self.loaded = true;
                    }
                    Some(Err(e)) => self.error = Some(e.clone()),
                    None => return None,
                }
                self.refilter_keeping(keep);
                None
            }
            Action::Open => self.selected().map(|p| Action::OpenPlan(p.hash.clone())),
            other => {
                navigate(&mut self.cursor, other, self.shown.len());
                None
            }
        }
    }

    fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_string();
        self.refilter();
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        if let Some(e) = &self.error {
            empty_state(frame, area, " Approvals ", &["cannot read plans", e]);
            return;
        }
        if self.plans.is_empty() {
            let first = if self.loaded {
                "no plans waiting for approval"
            } else {
                "loading…"
            };
            empty_state(
                frame,
                area,
                " Approvals ",
                &[first, "plans from `mc plan` that change hosts appear here"],
            );
            return;
        }
        let [list, pane] =
            Layout::vertical([Constraint::Length(8), Constraint::Fill(1)]).areas(area);
        let table = ListTable {
            title: format!(" Approvals ({}) ", self.shown.len()),
            header: vec!["PLAN", "CREATED (UTC)", "HOSTS", "CHANGES", "RISK"],
            widths: vec![
                Constraint::Length(12),
                Constraint::Length(19),
                Constraint::Length(5),
                Constraint::Length(7),
                Constraint::Fill(1),
            ],
            len: self.shown.len(),
            focused: true,
        };
        let plans = &self.plans;
        let shown = &self.shown;
        table.draw(frame, list, &mut self.cursor, |i| {
            let p = &plans[shown[i]];
            match &p.plan {
                Ok(plan) => {
                    let risk = plan
                        .hosts
                        .iter()
                        .flat_map(|h| &h.resources)
                        .filter(|r| r.action.is_change())
                        .map(|r| r.risk)
                        .max()
                        .unwrap_or_default();
                    Row::new(vec![
                        cell(short_hash(&p.hash), Style::new()),
                        cell(format_time(plan.created_at), Style::new()),
                        cell(p.hosts.len().to_string(), Style::new()),
                        cell(plan.counts().changes().to_string(), Style::new()),
                        cell(risk_name(risk), risk_style(risk)),
                    ])
                }
                Err(_) => Row::new(vec![
                    cell(short_hash(&p.hash), Style::new()),
                    cell("unreadable", status_style("failed")),
                    cell(p.hosts.len().to_string(), Style::new()),
                ]),
            }
        });
        let (title, lines) = match self.selected() {
            Some(p) => (
                format!(" plan {} ", short_hash(&p.hash)),
                match &p.plan {
                    Ok(plan) => plan_summary_lines(plan),
                    Err(e) => vec![Line::styled(e.clone(), status_style("failed"))],
                },
            ),
            None => (" plan ".to_string(), vec![]),
        };
        text_pane(frame, pane, &title, lines, &mut self.cursor.pane);
    }
}
