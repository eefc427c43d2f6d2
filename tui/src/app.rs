//! The application state: which view is showing, the input mode, and the
//! mapping from keys to actions. Drawing and updating only; the terminal
//! and the event loop are in `term.rs`.

use crate::action::{Action, Snapshot};
use crate::data::{short_hash, DataSource, Decision};
use crate::views::{ApprovalsView, Component, DriftView, PlanView, RunDetailView, RunsView};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use mc_ir::plan::Plan;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Runs,
    Drift,
    Approvals,
    Plan,
}

impl Tab {
    fn label(self) -> &'static str {
        match self {
            Tab::Runs => "Runs",
            Tab::Drift => "Drift",
            Tab::Approvals => "Approvals",
            Tab::Plan => "Plan",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Filter,
    /// Typing the reason for a decision on the plan `hash`.
    Reason {
        decision: Decision,
        hash: String,
        text: String,
    },
}

/// A view opened on top of a tab with Enter, closed with Esc.
enum Opened {
    Run(Box<RunDetailView>),
    Plan(Box<PlanView>),
}

pub struct App {
    tabs: Vec<Tab>,
    tab: usize,
    runs: RunsView,
    drift: DriftView,
    approvals: ApprovalsView,
    /// The plan of `mc tui plan.json`.
    plan: Option<PlanView>,
    opened: Option<Opened>,
    mode: Mode,
    filter: String,
    help: bool,
    message: Option<(String, bool)>,
    title: String,
    source: Option<Arc<dyn DataSource>>,
    /// The run whose detail the poller loads (0: none).
    watched: Arc<AtomicI64>,
    pub should_quit: bool,
}

impl App {
    /// The app over a state store.
    pub fn new(source: Arc<dyn DataSource>, title: String) -> App {
        App {
            tabs: vec![Tab::Runs, Tab::Drift, Tab::Approvals],
            source: Some(source),
            ..App::empty(title)
        }
    }

    /// The plan viewer of `mc tui plan.json`: no state store.
    pub fn for_plan(plan: Plan, title: String) -> App {
        App {
            tabs: vec![Tab::Plan],
            plan: Some(PlanView::new(plan)),
            ..App::empty(title)
        }
    }

    fn empty(title: String) -> App {
        App {
            tabs: Vec::new(),
            tab: 0,
            runs: RunsView::default(),
            drift: DriftView::default(),
            approvals: ApprovalsView::default(),
            plan: None,
            opened: None,
            mode: Mode::Normal,
            filter: String::new(),
            help: false,
            message: None,
            title,
            source: None,
            watched: Arc::new(AtomicI64::new(0)),
            should_quit: false,
        }
    }

    pub fn watched(&self) -> Arc<AtomicI64> {
        self.watched.clone()
    }

    pub fn source(&self) -> Option<Arc<dyn DataSource>> {
        self.source.clone()
    }

    pub fn tab(&self) -> Tab {
        self.tabs.get(self.tab).copied().unwrap_or(Tab::Runs)
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|(m, _)| m.as_str())
    }

    /// Handles one key press.
    pub fn handle_key(&mut self, key: KeyEvent) {
        // Terminals deliver Esc and a key typed right after it as one
        // Alt-key: treat that as the two keys the user pressed.
        if let KeyCode::Char(c) = key.code {
            if key.modifiers.contains(KeyModifiers::ALT) && key.kind != KeyEventKind::Release {
                self.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
                let rest = key.modifiers.difference(KeyModifiers::ALT);
                self.handle_key(KeyEvent::new(KeyCode::Char(c), rest));
                return;
            }
        }
        if let Some(action) = self.key_action(key) {
            self.update(action);
        }
    }

    /// Translates a key into an action, given the current mode.
    pub fn key_action(&self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        match &self.mode {
            Mode::Filter => {
                return match key.code {
                    KeyCode::Enter => Some(Action::FilterDone),
                    KeyCode::Esc => Some(Action::FilterCancel),
                    KeyCode::Backspace => Some(Action::FilterBackspace),
                    KeyCode::Char(c) if !ctrl => Some(Action::FilterChar(c)),
                    _ => None,
                }
            }
            Mode::Reason { .. } => {
                return match key.code {
                    KeyCode::Enter => Some(Action::SubmitInput),
                    KeyCode::Esc => Some(Action::CancelInput),
                    KeyCode::Backspace => Some(Action::InputBackspace),
                    KeyCode::Char(c) if !ctrl => Some(Action::InputChar(c)),
                    _ => None,
                }
            }
            Mode::Normal => {}
        }
        if self.help {
            return match key.code {
                KeyCode::Char('q') => Some(Action::Quit),
                _ => Some(Action::ToggleHelp),
            };
        }
        let on_approvals = self.tab() == Tab::Approvals;
        Some(match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Tab => Action::NextTab,
            KeyCode::BackTab => Action::PrevTab,
            KeyCode::Up | KeyCode::Char('k') => Action::Up,
            KeyCode::Down | KeyCode::Char('j') => Action::Down,
            KeyCode::Char('u') if ctrl => Action::PageUp,
            KeyCode::Char('d') if ctrl => Action::PageDown,
            KeyCode::PageUp => Action::PageUp,
            KeyCode::PageDown => Action::PageDown,
            KeyCode::Char('J') => Action::PaneDown,
            KeyCode::Char('K') => Action::PaneUp,
            KeyCode::Home | KeyCode::Char('g') => Action::Top,
            KeyCode::End | KeyCode::Char('G') => Action::Bottom,
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => Action::Open,
            KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') | KeyCode::Backspace => Action::Back,
            KeyCode::Char('?') => Action::ToggleHelp,
            KeyCode::Char('/') => Action::StartFilter,
            KeyCode::Char('a') if on_approvals => Action::StartDecision(Decision::Approve),
            KeyCode::Char('r') if on_approvals => Action::StartDecision(Decision::Reject),
            _ => return None,
        })
    }

    fn active(&mut self) -> &mut dyn Component {
        let tab = self.tab();
        match &mut self.opened {
            Some(Opened::Run(v)) => return v.as_mut(),
            Some(Opened::Plan(v)) => return v.as_mut(),
            None => {}
        }
        match tab {
            Tab::Runs => &mut self.runs,
            Tab::Drift => &mut self.drift,
            Tab::Approvals => &mut self.approvals,
            Tab::Plan => match &mut self.plan {
                Some(p) => p,
                None => &mut self.runs,
            },
        }
    }

    /// Applies an action and any follow-ups it leads to.
    pub fn update(&mut self, action: Action) {
        let mut next = Some(action);
        while let Some(action) = next.take() {
            next = self.step(action);
        }
    }

    fn step(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::Quit => self.should_quit = true,
            Action::NextTab | Action::PrevTab => {
                self.close_opened();
                let n = self.tabs.len().max(1);
                self.tab = if matches!(action, Action::NextTab) {
                    (self.tab + 1) % n
                } else {
                    (self.tab + n - 1) % n
                };
                self.apply_filter();
            }
            Action::ToggleHelp => self.help = !self.help,
            Action::StartFilter => {
                self.mode = Mode::Filter;
                self.message = None;
            }
            Action::FilterChar(c) => {
                self.filter.push(c);
                self.apply_filter();
            }
            Action::FilterBackspace => {
                self.filter.pop();
                self.apply_filter();
            }
            Action::FilterDone => self.mode = Mode::Normal,
            Action::FilterCancel => {
                self.mode = Mode::Normal;
                self.filter.clear();
                self.apply_filter();
            }
            Action::Back => {
                if self.opened.is_some() {
                    self.close_opened();
                    self.apply_filter();
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                    self.apply_filter();
                }
            }
            Action::StartDecision(decision) => match self.approvals.selected() {
                // Checked here too so no reason is typed for nothing; the
                // store call refuses it as well.
                Some(p) if decision == Decision::Approve && p.denied() => {
                    self.message = Some((
                        format!(
                            "plan {} is denied by policy and cannot be approved; `r` rejects it",
                            short_hash(&p.hash)
                        ),
                        true,
                    ))
                }
                Some(p) => {
                    self.mode = Mode::Reason {
                        decision,
                        hash: p.hash.clone(),
                        text: String::new(),
                    }
                }
                None => self.message = Some(("no plan selected".into(), true)),
            },
            Action::InputChar(c) => {
                if let Mode::Reason { text, .. } = &mut self.mode {
                    text.push(c);
                }
            }
            Action::InputBackspace => {
                if let Mode::Reason { text, .. } = &mut self.mode {
                    text.pop();
                }
            }
            Action::CancelInput => self.mode = Mode::Normal,
            Action::SubmitInput => {
                if let Mode::Reason {
                    decision,
                    hash,
                    text,
                } = std::mem::replace(&mut self.mode, Mode::Normal)
                {
                    return self.decide(decision, &hash, &text);
                }
            }
            Action::OpenRun(id) => {
                let mut view = RunDetailView::new(id);
                self.watched.store(id, Ordering::Relaxed);
                if let Some(source) = &self.source {
                    view.set_detail(source.run_detail(id));
                }
                self.filter.clear();
                self.opened = Some(Opened::Run(Box::new(view)));
            }
            Action::OpenPlan(hash) => {
                let plan = self
                    .approvals
                    .selected()
                    .filter(|p| p.hash == hash)
                    .and_then(|p| p.plan.clone().ok());
                match plan {
                    Some(plan) => {
                        self.filter.clear();
                        self.opened = Some(Opened::Plan(Box::new(PlanView::new(plan))));
                    }
                    None => {
                        self.message =
                            Some((format!("plan {} is unreadable", short_hash(&hash)), true))
                    }
                }
            }
            Action::Data(snapshot) => {
                let action = Action::Data(snapshot);
                self.runs.update(&action);
                self.drift.update(&action);
                self.approvals.update(&action);
                if let Some(Opened::Run(v)) = &mut self.opened {
                    v.update(&action);
                }
            }
            other => return self.active().update(&other),
        }
        None
    }

    fn decide(&mut self, decision: Decision, hash: &str, reason: &str) -> Option<Action> {
        let source = self.source.clone()?;
        match source.decide(hash, decision, reason) {
            Ok(()) => {
                let past = match decision {
                    Decision::Approve => "approved",
                    Decision::Reject => "rejected",
                };
                self.message = Some((format!("plan {} {past}", short_hash(hash)), false));
                // Show the result now rather than at the next poll.
                Some(Action::Data(Box::new(Snapshot {
                    pending: Some(source.pending_plans()),
                    ..Snapshot::default()
                })))
            }
            Err(e) => {
                self.message = Some((format!("cannot {}: {e}", decision.verb()), true));
                None
            }
        }
    }

    fn close_opened(&mut self) {
        self.opened = None;
        self.watched.store(0, Ordering::Relaxed);
    }

    fn apply_filter(&mut self) {
        let filter = self.filter.clone();
        self.active().set_filter(&filter);
    }

    pub fn draw(&mut self, frame: &mut Frame) {
        let [top, body, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        self.draw_tabs(frame, top);
        self.active().draw(frame, body);
        self.draw_footer(frame, bottom);
        if self.help {
            draw_help(frame, body);
        }
    }

    fn draw_tabs(&self, frame: &mut Frame, area: Rect) {
        let mut spans = vec![Span::styled(
            " mc ",
            Style::new().add_modifier(Modifier::BOLD).fg(Color::Cyan),
        )];
        for (i, tab) in self.tabs.iter().enumerate() {
            let label = match tab {
                Tab::Approvals if self.approvals.count() > 0 => {
                    format!(" {} ({}) ", tab.label(), self.approvals.count())
                }
                _ => format!(" {} ", tab.label()),
            };
            let style = if i == self.tab {
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
            } else {
                Style::new()
            };
            spans.push(Span::styled(label, style));
            spans.push(Span::raw(" "));
        }
        let used: usize = spans.iter().map(|s| s.width()).sum();
        let room = (area.width as usize).saturating_sub(used + 1);
        let title = if self.title.chars().count() > room {
            let tail: String = self
                .title
                .chars()
                .rev()
                .take(room.saturating_sub(1))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        } else {
            self.title.clone()
        };
        let pad = room.saturating_sub(title.chars().count());
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(title, Style::new().fg(Color::DarkGray)));
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_footer(&self, frame: &mut Frame, area: Rect) {
        let line = match &self.mode {
            Mode::Filter => Line::from(vec![
                Span::styled("/", Style::new().fg(Color::Cyan)),
                Span::raw(self.filter.clone()),
                Span::styled("_", Style::new().add_modifier(Modifier::SLOW_BLINK)),
                Span::styled("   Enter keep  Esc clear", Style::new().fg(Color::DarkGray)),
            ]),
            Mode::Reason {
                decision,
                hash,
                text,
            } => Line::from(vec![
                Span::styled(
                    format!("{} {} - reason: ", decision.verb(), short_hash(hash)),
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                ),
                Span::raw(text.clone()),
                Span::styled("_", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            ]),
            Mode::Normal => match &self.message {
                Some((m, error)) => Line::styled(
                    m.clone(),
                    if *error {
                        Style::new().fg(Color::Red)
                    } else {
                        Style::new().fg(Color::Green)
                    },
                ),
                None => {
                    let mut hints = String::from(" j/k move");
                    match (&self.opened, self.tab()) {
                        (Some(_), _) => hints.push_str("  Esc back"),
                        (None, Tab::Approvals) => {
                            if self.approvals.selected().is_some_and(|p| p.denied()) {
                                hints.push_str("  Enter view  r reject (denied)")
                            } else {
                                hints.push_str("  Enter view  a approve  r reject")
                            }
                        }
                        (None, Tab::Runs) => hints.push_str("  Enter open"),
                        _ => {}
                    }
                    if self.tabs.len() > 1 {
                        hints.push_str("  Tab view");
                    }
                    hints.push_str("  / filter  ? help  q quit");
                    let mut spans = vec![Span::styled(hints, Style::new().fg(Color::DarkGray))];
                    if !self.filter.is_empty() {
                        spans.push(Span::styled(
                            format!("  [/{}]", self.filter),
                            Style::new().fg(Color::Cyan),
                        ));
                    }
                    Line::from(spans)
                }
            },
        };
        frame.render_widget(Paragraph::new(line), area);
    }
}

const HELP: &[(&str, &str)] = &[
    ("j k, Down Up", "move"),
    ("Ctrl-d Ctrl-u", "page down, up"),
    ("g G, Home End", "first, last"),
    ("J K", "scroll the lower pane"),
    ("Enter l", "open run or plan"),
    ("Esc h", "back, clear filter"),
    ("Tab, Shift-Tab", "next, previous view"),
    ("/", "filter the list"),
    ("a, r", "approve, reject plan"),
    ("?", "this help"),
    ("q, Ctrl-c", "quit"),
];

fn draw_help(frame: &mut Frame, area: Rect) {
    let width = 44.min(area.width);
    let height = (HELP.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:>15}  "), Style::new().fg(Color::Cyan)),
                Span::raw(*v),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys ")),
        popup,
    );
}
