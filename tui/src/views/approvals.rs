//! Plans waiting for a decision: why they need an approval (the plan's
//! `required_approvals`), what the policies said, and every change with its
//! risk. `a` approves, `r` rejects, both with a reason; a denied plan can
//! only be rejected.

use super::plan::plan_summary_lines;
use super::{navigate, Component};
use crate::action::Action;
use crate::data::{short_hash, PendingPlan};
use crate::widgets::{
    cell, empty_state, matches, risk_name, risk_style, status_style, text_pane, Cursor, ListTable,
};
use mc_ir::plan::{FindingKind, Plan};
use mc_state::format_time;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
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
        // The list takes only the rows it needs (up to five) so the reasons
        // below get the room.
        let list_height = u16::try_from(self.shown.len())
            .unwrap_or(u16::MAX)
            .clamp(1, 5)
            + 3;
        let [list, pane] =
            Layout::vertical([Constraint::Length(list_height), Constraint::Fill(1)]).areas(area);
        let table = ListTable {
            title: format!(" Approvals ({}) ", self.shown.len()),
            header: vec![
                "PLAN",
                "CREATED (UTC)",
                "CHANGES",
                "RISK",
                "STATUS",
                "HOSTS",
            ],
            widths: vec![
                Constraint::Length(12),
                Constraint::Length(19),
                Constraint::Length(10),
                Constraint::Length(6),
                Constraint::Length(8),
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
                    let (status, style) = if p.denied() {
                        ("denied", status_style("failed"))
                    } else {
                        ("pending", Style::new().fg(Color::Yellow))
                    };
                    Row::new(vec![
                        cell(short_hash(&p.hash), Style::new()),
                        cell(format_time(plan.created_at), Style::new()),
                        cell(change_counts(plan), Style::new()),
                        cell(risk_name(risk), risk_style(risk)),
                        cell(status, style),
                        cell(p.hosts.join(","), Style::new()),
                    ])
                }
                Err(_) => Row::new(vec![
                    cell(short_hash(&p.hash), Style::new()),
                    cell("unreadable", status_style("failed")),
                    cell("", Style::new()),
                    cell("", Style::new()),
                    cell("", Style::new()),
                    cell(p.hosts.join(","), Style::new()),
                ]),
            }
        });
        let (title, lines) = match self.selected() {
            Some(p) => (
                format!(" plan {} ", short_hash(&p.hash)),
                match &p.plan {
                    Ok(plan) => {
                        let mut lines = approval_lines(plan);
                        lines.extend(quorum_lines(p.quorum.as_ref()));
                        lines.extend(plan_summary_lines(plan));
                        lines
                    }
                    Err(e) => vec![Line::styled(e.clone(), status_style("failed"))],
                },
            ),
            None => (" plan ".to_string(), vec![]),
        };
        text_pane(frame, pane, &title, lines, &mut self.cursor.pane);
    }
}

/// `+1 ~2 -1` (and `r1` for refreshes): what the plan would do.
fn change_counts(plan: &Plan) -> String {
    let c = plan.counts();
    let mut out = format!("+{} ~{} -{}", c.create, c.update, c.delete);
    if c.refresh > 0 {
        out.push_str(&format!(" r{}", c.refresh));
    }
    out
}

/// With approvers named: who approved so far, how many are needed, and
/// approvals that do not count.
fn quorum_lines(quorum: Option<&mc_state::policy::Tally>) -> Vec<Line<'static>> {
    let Some(t) = quorum else {
        return Vec::new();
    };
    let who = if t.counted.is_empty() {
        String::new()
    } else {
        format!(" ({})", t.counted.join(", "))
    };
    let mut lines = vec![heading(&format!(
        "approvals: {} of {}{who}",
        t.counted.len(),
        t.required
    ))];
    for n in &t.not_counted {
        lines.push(Line::raw(format!("  not counted: {n}")));
    }
    lines
}

fn heading(text: &str) -> Line<'static> {
    Line::styled(text.to_string(), Style::new().add_modifier(Modifier::BOLD))
}

/// Why the plan is waiting: a denial first (it cannot be approved), then
/// the plan's `required_approvals` as sealed in it, then every policy
/// finding with the policy, host and resource it is about.
pub fn approval_lines(plan: &Plan) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let denials = plan.denials().count();
    if denials > 0 {
        lines.push(Line::styled(
            format!(
                "DENIED by policy ({denials} change{}): reject it; it cannot be approved",
                if denials == 1 { "" } else { "s" }
            ),
            status_style("failed").add_modifier(Modifier::BOLD),
        ));
    }
    if !plan.required_approvals.is_empty() {
        lines.push(heading("needs approval because:"));
        for reason in &plan.required_approvals {
            lines.push(Line::from(vec![
                Span::styled("  - ", risk_style(mc_ir::Risk::High)),
                Span::raw(reason.clone()),
            ]));
        }
    }
    if !plan.policy.is_empty() {
        lines.push(heading("policy findings:"));
        // Denials first: they decide the plan's fate.
        let mut findings: Vec<_> = plan.policy.iter().collect();
        findings.sort_by_key(|f| match f.kind {
            FindingKind::Deny => 0,
            FindingKind::RequireApproval => 1,
            FindingKind::Warn => 2,
        });
        for f in findings {
            let (kind, style) = match f.kind {
                FindingKind::Deny => ("deny    ", status_style("failed")),
                FindingKind::RequireApproval => ("approval", risk_style(mc_ir::Risk::High)),
                FindingKind::Warn => ("warn    ", Style::new().fg(Color::Yellow)),
            };
            let source = if f.policy.is_empty() {
                "approval_risk".to_string()
            } else {
                format!("policy \"{}\"", f.policy)
            };
            // One line each: resource paths and messages are long enough
            // to push anything after them off an 80-column pane.
            lines.push(Line::from(vec![
                Span::raw("  "),
                Span::styled(kind, style),
                Span::raw(format!(" {}  ", f.host)),
                Span::styled(source, Style::new().fg(Color::DarkGray)),
            ]));
            lines.push(Line::raw(format!("           {}", f.resource)));
            lines.push(Line::raw(format!("           {}", f.message)));
        }
    }
    if !lines.is_empty() {
        lines.push(heading("changes:"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quorum_shows_who_approved_and_what_did_not_count() {
        let tally = mc_state::policy::Tally {
            counted: vec!["alice".into()],
            not_counted: vec!["carol@ops (SHA256:x): not one of the project's approvers".into()],
            required: 2,
        };
        let text: Vec<String> = quorum_lines(Some(&tally))
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.to_string()).collect())
            .collect();
        assert_eq!(text[0], "approvals: 1 of 2 (alice)");
        assert!(text[1].contains("not counted: carol@ops"), "{text:?}");
        assert!(quorum_lines(None).is_empty());
    }
}
