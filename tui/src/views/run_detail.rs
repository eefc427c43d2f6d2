//! One run: every host × resource with its status, failures first, and the
//! selected resource's message, diff, stored output and events.

use super::{navigate, Component};
use crate::action::Action;
use crate::data::RunDetail;
use crate::widgets::{
    cell, change_lines, empty_state, matches, status_rank, status_style, text_pane, Cursor,
    ListTable,
};
use mc_state::display::safe;
use mc_state::{format_time, RunStatus};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row};
use ratatui::Frame;

/// One line of the table: a resource result, or a host with no resource
/// results (unreachable, or not started yet).
#[derive(Clone, Debug)]
struct Entry {
    host: String,
    resource: String,
    action: String,
    status: String,
    duration_ms: Option<u64>,
    message: Option<String>,
    /// What the resource printed (stdout and stderr), as stored.
    output: Option<String>,
}

pub struct RunDetailView {
    run_id: i64,
    detail: RunDetail,
    error: Option<String>,
    loaded: bool,
    entries: Vec<Entry>,
    shown: Vec<usize>,
    filter: String,
    cursor: Cursor,
    /// What the last detail looked like, to skip re-sorting a large run
    /// when a poll brings nothing new.
    fingerprint: Option<Fingerprint>,
}

type Fingerprint = (
    Option<(RunStatus, Option<i64>)>,
    usize,
    usize,
    Option<i64>,
    bool,
);

fn fingerprint(d: &RunDetail) -> Fingerprint {
    (
        d.run.as_ref().map(|r| (r.status, r.finished_at)),
        d.resources.len(),
        d.hosts.len(),
        d.events.last().map(|e| e.id),
        d.plan.is_some(),
    )
}

impl RunDetailView {
    pub fn new(run_id: i64) -> RunDetailView {
        RunDetailView {
            run_id,
            detail: RunDetail::default(),
            error: None,
            loaded: false,
            entries: Vec::new(),
            shown: Vec::new(),
            filter: String::new(),
            cursor: Cursor::default(),
            fingerprint: None,
        }
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    pub fn set_detail(&mut self, detail: Result<RunDetail, String>) {
        match detail {
            Ok(d) => {
                let print = fingerprint(&d);
                if self.loaded && self.fingerprint.as_ref() == Some(&print) {
                    self.error = None;
                    return;
                }
                self.fingerprint = Some(print);
                self.detail = d;
                self.error = None;
                self.loaded = true;
                self.rebuild();
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn selected_key(&self) -> Option<(String, String)> {
        let e = self.entries.get(*self.shown.get(self.cursor.selected)?)?;
        Some((e.host.clone(), e.resource.clone()))
    }

    fn rebuild(&mut self) {
        let keep = self.selected_key();
        let d = &self.detail;
        let mut entries: Vec<Entry> = d
            .resources
            .iter()
            .map(|r| Entry {
                host: r.host.clone(),
                resource: r.resource.clone(),
                action: r.action.clone(),
                status: r.status.to_string(),
                duration_ms: Some(r.duration_ms),
                message: r.message.clone(),
                output: r.output.clone(),
            })
            .collect();
        let with_resources: std::collections::HashSet<&str> =
            d.resources.iter().map(|r| r.host.as_str()).collect();
        let mut bare_hosts: Vec<Entry> = Vec::new();
        if let Some(run) = &d.run {
            for host in &run.hosts {
                if with_resources.contains(host.as_str()) {
                    continue;
                }
                let result = d.hosts.iter().find(|h| &h.host == host);
                let status = match (result, run.status) {
                    (Some(h), _) => h.status.to_string(),
                    (None, RunStatus::Running) => "pending".to_string(),
                    (None, _) => "skipped".to_string(),
                };
                bare_hosts.push(Entry {
                    host: host.clone(),
                    resource: "(host)".into(),
                    action: "-".into(),
                    status,
                    duration_ms: None,
                    message: result.and_then(|h| h.error.clone()),
                    output: None,
                });
            }
        }
        entries.extend(bare_hosts);
        // Stable: within a status, hosts and resources keep store order.
        entries.sort_by(|a, b| {
            status_rank(&a.status)
                .cmp(&status_rank(&b.status))
                .then_with(|| a.host.cmp(&b.host))
        });
        self.entries = entries;
        self.refilter();
        if let Some((host, resource)) = keep {
            if let Some(pos) = self
                .shown
                .iter()
                .position(|&i| self.entries[i].host == host && self.entries[i].resource == resource)
            {
                self.cursor.selected = pos;
            }
        }
    }

    fn refilter(&mut self) {
        let needle = self.filter.to_lowercase();
        self.shown = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                matches(&needle, &[&e.host, &e.resource, &e.status, &e.action])
            })
            .collect();
        self.cursor.clamp(self.shown.len());
    }

    fn header_lines(&self) -> Vec<Line<'static>> {
        let Some(run) = &self.detail.run else {
            return vec![Line::raw(format!("run #{} not found", self.run_id))];
        };
        let failed = self.entries.iter().filter(|e| status_rank(&e.status) == 0);
        let changed = self
            .entries
            .iter()
            .filter(|e| e.status == "changed")
            .count();
        let failed_hosts = {
            let mut hosts: Vec<&str> = failed.clone().map(|e| e.host.as_str()).collect();
            hosts.dedup();
            hosts.len()
        };
        let mut first = vec![
            Span::styled(
                format!("run #{} {} ", run.id, run.kind),
                super::runs::kind_style(&run.kind).add_modifier(Modifier::BOLD),
            ),
            Span::styled(run.status.as_str(), status_style(run.status.as_str())),
            Span::raw(format!("  started {}", format_time(run.started_at))),
        ];
        if let Some(plan) = &run.plan_hash {
            first.push(Span::raw(format!(
                "  plan {}",
                crate::data::short_hash(plan)
            )));
        }
        let second = Line::from(vec![
            Span::raw(format!(
                "{} hosts ({failed_hosts} failing), {} resources: ",
                run.hosts.len(),
                self.detail.resources.len()
            )),
            Span::styled(format!("{} failed", failed.count()), status_style("failed")),
            Span::raw(", "),
            Span::styled(format!("{changed} changed"), status_style("changed")),
            Span::raw(format!("  by {}", run.actor)),
        ]);
        vec![Line::from(first), second]
    }

    fn selected_lines(&self) -> Vec<Line<'static>> {
        let Some(e) = self
            .shown
            .get(self.cursor.selected)
            .and_then(|&i| self.entries.get(i))
        else {
            return vec![];
        };
        let mut lines = vec![Line::from(vec![
            Span::styled(e.status.clone(), status_style(&e.status)),
            Span::raw(format!("  {}  action {}", e.host, e.action)),
            Span::raw(
                e.duration_ms
                    .map(|ms| format!("  {ms} ms"))
                    .unwrap_or_default(),
            ),
        ])];
        if let Some(m) = &e.message {
            lines.extend(m.lines().map(|l| Line::raw(safe(l).into_owned())));
        }
        let planned = self.detail.plan.as_ref().and_then(|p| {
            p.hosts
                .iter()
                .find(|h| h.host.name == e.host)
                .and_then(|h| h.resources.iter().find(|r| r.id.as_str() == e.resource))
        });
        if let Some(p) = planned {
            lines.extend(change_lines(p));
        }
        if let Some(output) = &e.output {
            lines.push(Line::styled(
                "output:",
                Style::new().add_modifier(Modifier::BOLD),
            ));
            lines.extend(output.lines().map(|l| Line::raw(format!("  {}", safe(l)))));
        }
        for ev in
            self.detail.events.iter().filter(|ev| {
                ev.host == e.host && ev.resource.as_deref() == Some(e.resource.as_str())
            })
        {
            if let Some(m) = &ev.message {
                if Some(m) != e.message.as_ref() {
                    lines.push(Line::styled(
                        format!("{}: {}", ev.kind, safe(m)),
                        Style::new().add_modifier(Modifier::DIM),
                    ));
                }
            }
        }
        lines
    }
}

impl Component for RunDetailView {
    fn update(&mut self, action: &Action) -> Option<Action> {
        match action {
            Action::Data(snapshot) => {
                if let Some((id, detail)) = &snapshot.detail {
                    if *id == self.run_id {
                        self.set_detail(detail.clone());
                    }
                }
            }
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
        let title = format!(" Run #{} ", self.run_id);
        if let Some(e) = &self.error {
            empty_state(frame, area, &title, &["cannot read the run", e]);
            return;
        }
        if !self.loaded {
            empty_state(frame, area, &title, &["loading…"]);
            return;
        }
        let [head, list, pane] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Fill(3),
            Constraint::Fill(2),
        ])
        .areas(area);
        frame.render_widget(Paragraph::new(self.header_lines()), head);
        let table_title = if self.filter.is_empty() {
            format!("{title}({}) ", self.entries.len())
        } else {
            format!("{title}({} of {}) ", self.shown.len(), self.entries.len())
        };
        let table = ListTable {
            title: table_title,
            header: vec!["STATUS", "HOST", "RESOURCE", "ACTION", "MS"],
            widths: vec![
                Constraint::Length(8),
                Constraint::Length(14),
                Constraint::Fill(1),
                Constraint::Length(7),
                Constraint::Length(6),
            ],
            len: self.shown.len(),
            focused: true,
        };
        let entries = &self.entries;
        let shown = &self.shown;
        table.draw(frame, list, &mut self.cursor, |i| {
            let e = &entries[shown[i]];
            Row::new(vec![
                cell(e.status.clone(), status_style(&e.status)),
                cell(e.host.clone(), Style::new()),
                cell(e.resource.clone(), Style::new()),
                cell(e.action.clone(), Style::new()),
                cell(
                    e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
                    Style::new(),
                ),
            ])
        });
        let pane_title = self
            .shown
            .get(self.cursor.selected)
            .and_then(|&i| self.entries.get(i))
            .map(|e| format!(" {} ", e.resource))
            .unwrap_or_else(|| " output ".into());
        let lines = self.selected_lines();
        text_pane(frame, pane, &pane_title, lines, &mut self.cursor.pane);
    }
}
