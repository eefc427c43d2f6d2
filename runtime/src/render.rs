//! Human rendering of plans and apply results, Terraform style.

use crate::engine::{Progress, ProgressEvent};
use crate::state::{HostResult, HostStatus};
use anstyle::{AnsiColor, Style};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use mc_ir::plan::{Action, AttrChange, FindingKind, Plan, PlannedResource};
use std::io::Write;
use std::sync::{Arc, Mutex};

pub use mc_state::display::safe;

/// Styles text when colour is on (the CLI decides: `--color`, `NO_COLOR`).
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, style: Style, s: &str) -> String {
        if self.0 {
            format!("{style}{s}{style:#}")
        } else {
            s.to_string()
        }
    }
    fn fg(self, color: AnsiColor, s: &str) -> String {
        self.wrap(Style::new().fg_color(Some(color.into())), s)
    }
    fn green(self, s: &str) -> String {
        self.fg(AnsiColor::Green, s)
    }
    fn yellow(self, s: &str) -> String {
        self.fg(AnsiColor::Yellow, s)
    }
    fn red(self, s: &str) -> String {
        self.fg(AnsiColor::Red, s)
    }
    fn cyan(self, s: &str) -> String {
        self.fg(AnsiColor::Cyan, s)
    }
    fn bold(self, s: &str) -> String {
        self.wrap(Style::new().bold(), s)
    }
}

/// `1 host`, `2 hosts`, `0 resources`: a count with its noun.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with('s') || noun.ends_with("sh") || noun.ends_with("ch") {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

/// The plan as a person reads it: per host the resources that change with
/// `+ ~ -` markers, attribute changes ("mode 0644 → 0600"), unified diffs of
/// content, then summary counts. Unchanged resources are counted, not shown.
pub fn render_plan(plan: &Plan, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    for hp in &plan.hosts {
        out.push_str(&p.bold(&format!("{} ({})", hp.host.name, hp.host.address)));
        out.push('\n');
        if let Some(e) = &hp.error {
            out.push_str(&format!("  {} {}\n", p.red("!"), p.red(e)));
            continue;
        }
        let mut shown = 0;
        let refreshes = hp.refreshes_by_notifier();
        for r in &hp.resources {
            if r.error.is_none() && !r.action.is_change() && !r.refresh {
                continue;
            }
            shown += 1;
            render_resource(&mut out, r, p);
            if let Some(schedule) = cron_schedule(hp.catalog.as_ref(), r) {
                out.push_str(&format!("      schedule {schedule}\n"));
            }
            for target in refreshes.get(&r.id).into_iter().flatten() {
                let verb = refresh_verb(hp.catalog.as_ref(), &target.id, Some(&r.id));
                out.push_str(&format!(
                    "      {} {} {verb}, notified by {}\n",
                    p.cyan("↻"),
                    target.id,
                    r.id
                ));
            }
        }
        let c = hp.counts();
        if shown == 0 {
            out.push_str(&format!(
                "  no changes ({} up to date)\n",
                plural(c.unchanged, "resource")
            ));
        }
    }
    let c = plan.counts();
    out.push('\n');
    out.push_str(&p.bold(&format!(
        "Plan: {} to create, {} to update, {} to delete, {} to refresh; {} unchanged.",
        c.create, c.update, c.delete, c.refresh, c.unchanged
    )));
    if c.errors > 0 {
        out.push_str(&p.red(&format!(" {} errors.", c.errors)));
    }
    out.push('\n');
    out.push_str(&render_policy(plan, color));
    out
}

/// A cron job's five time fields as crontab shows them (`*/5 * * * 1-5`),
/// for a cron resource that changes.
fn cron_schedule(catalog: Option<&mc_ir::Catalog>, r: &PlannedResource) -> Option<String> {
    if !r.id.as_str().starts_with("cron[") || !r.action.is_change() {
        return None;
    }
    let resource = catalog?.resources.iter().find(|c| c.id == r.id)?;
    let field = |name: &str| match resource.attrs.get(name) {
        Some(mc_ir::Value::String(s)) => s.clone(),
        _ => "*".to_string(),
    };
    let fields = ["minute", "hour", "day", "month", "weekday"].map(field);
    Some(fields.join(" "))
}

/// What a refresh does to a resource: what the notification from
/// `notifier` asked (`reload(svc)`), else a service's `on_notify`; a command
/// runs, anything else is refreshed.
pub fn refresh_verb(
    catalog: Option<&mc_ir::Catalog>,
    id: &mc_ir::ResourceId,
    notifier: Option<&mc_ir::ResourceId>,
) -> String {
    let Some(r) = catalog.and_then(|c| c.resource(id)) else {
        return "refresh".into();
    };
    let asked = catalog.and_then(|c| {
        c.edges
            .iter()
            .find(|e| Some(&e.from) == notifier && &e.to == id)
            .and_then(|e| e.action)
    });
    match r.type_name.as_str() {
        "service" => match asked {
            Some(a) if a != mc_ir::RefreshAction::OnNotify => a.name().to_string(),
            _ => r
                .attrs
                .get("on_notify")
                .and_then(|v| v.as_str())
                .unwrap_or("restart")
                .to_string(),
        },
        "command" => "run".into(),
        _ => "refresh".into(),
    }
}

/// Policy findings (rendered like compiler diagnostics) and the approvals
/// the plan needs; empty when the policies said nothing.
pub fn render_policy(plan: &Plan, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    for f in &plan.policy {
        out.push('\n');
        match &f.rendered {
            Some(text) => out.push_str(text),
            None => {
                let label = match f.kind {
                    FindingKind::Deny => p.red("denied"),
                    FindingKind::RequireApproval => p.yellow("needs approval"),
                    FindingKind::Warn => p.yellow("warning"),
                };
                out.push_str(&format!(
                    "{label}: {}: {}: {}\n",
                    f.host, f.resource, f.message
                ));
            }
        }
    }
    let denied = plan.denials().count();
    if denied > 0 {
        out.push('\n');
        out.push_str(&p.red(&p.bold(&format!(
            "Denied by policy ({denied} change{}): this plan cannot be applied.",
            if denied == 1 { "" } else { "s" }
        ))));
        out.push('\n');
    } else if plan.needs_approval() {
        out.push('\n');
        out.push_str(&p.yellow(&p.bold("This plan needs an approval before it is applied:")));
        out.push('\n');
        for r in &plan.required_approvals {
            out.push_str(&format!("  - {r}\n"));
        }
        let short = plan.hash.get(..12).unwrap_or(&plan.hash);
        if plan.approvers.is_empty() {
            out.push_str(&format!(
                "Approve it with `mc approve {short} --reason \"…\"`.\n"
            ));
        } else {
            // The name each approver's key is listed under (its comment).
            let names: Vec<&str> = plan
                .approvers
                .iter()
                .map(|a| a.split_whitespace().nth(2).unwrap_or("(unnamed key)"))
                .collect();
            let need = plan.approvals_required.max(1);
            let planner = if plan.forbid_self_approval {
                ", not the planner"
            } else {
                ""
            };
            out.push_str(&format!(
                "It needs {need} of these approvers{planner}: {}; each runs `mc approve {short} --reason \"…\"`.\n",
                names.join(", ")
            ));
        }
    }
    out
}

/// One planned resource as in [`render_plan`] (marker, changes, diff).
pub fn render_planned_resource(r: &PlannedResource, color: bool) -> String {
    let mut out = String::new();
    render_resource(&mut out, r, Paint(color));
    out
}

fn render_resource(out: &mut String, r: &PlannedResource, p: Paint) {
    if let Some(e) = &r.error {
        let (id, e) = (r.id.to_string(), safe(e));
        out.push_str(&format!("  {} {}: {}\n", p.red("!"), safe(&id), p.red(&e)));
        return;
    }
    let (marker, suffix) = match r.action {
        Action::Create => (p.green("+"), ""),
        Action::Update => (p.yellow("~"), ""),
        Action::Delete => (p.red("-"), ""),
        Action::None | Action::Check => (p.cyan("↻"), " (refresh)"),
    };
    let suffix = if r.refresh && r.action.is_change() {
        " (and refresh)"
    } else {
        suffix
    };
    let risk = match r.risk {
        mc_ir::Risk::Low => String::new(),
        mc_ir::Risk::Medium => format!(" {}", p.yellow("[risk: medium]")),
        mc_ir::Risk::High => format!(" {}", p.red("[risk: high]")),
    };
    let id = r.id.to_string();
    out.push_str(&format!("  {marker} {}{suffix}{risk}\n", safe(&id)));
    for c in &r.changes {
        out.push_str(&format!(
            "      {}\n",
            render_change(c, r.content_diff.is_some())
        ));
    }
    if let Some(diff) = &r.content_diff {
        for line in diff.lines() {
            let line = &*safe(line);
            let painted = if line.starts_with("+++") || line.starts_with("---") {
                p.bold(line)
            } else if line.starts_with('+') {
                p.green(line)
            } else if line.starts_with('-') {
                p.red(line)
            } else if line.starts_with("@@") {
                p.cyan(line)
            } else {
                line.to_string()
            };
            out.push_str(&format!("      {painted}\n"));
        }
    }
}

/// `mode 0644 → 0600`, `owner "root" → "app"`, `content (12 bytes) → (30 bytes)`.
pub fn render_change(c: &AttrChange, has_diff: bool) -> String {
    let show = |v: &serde_json::Value| -> String {
        match v {
            serde_json::Value::Null => "(none)".into(),
            serde_json::Value::Number(n) if c.attr == "mode" => match n.as_i64() {
                Some(m) => format!("{m:04o}"),
                None => n.to_string(),
            },
            serde_json::Value::String(s) if s == mc_runner::protocol::SECRET_PLACEHOLDER => {
                s.clone()
            }
            serde_json::Value::String(s) if c.attr == "mode" => s.clone(),
            // The runner describes old content it does not echo by digest.
            serde_json::Value::String(s) if s.starts_with("sha256:") && s.len() > 19 => {
                format!("{}…", s.get(..19).unwrap_or(s))
            }
            serde_json::Value::String(s) if has_diff && c.attr == "content" => {
                format!("({} bytes)", s.len())
            }
            serde_json::Value::String(s) if s.contains('\n') || s.chars().count() > 60 => {
                format!("({} bytes)", s.len())
            }
            other => other.to_string(),
        }
    };
    let text = format!("{} {} → {}", c.attr, show(&c.from), show(&c.to));
    safe(&text).into_owned()
}

/// One line per host after an apply.
pub fn render_summary(hosts: &[HostResult], color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    for h in hosts {
        let status = match h.status {
            HostStatus::Ok => p.green("ok"),
            HostStatus::Skipped => p.yellow("skipped"),
            other => p.red(other.as_str()),
        };
        out.push_str(&format!(
            "{}: {status}: {} changed, {} unchanged, {} failed, {} skipped",
            h.host, h.changed, h.unchanged, h.failed, h.skipped
        ));
        if let Some(e) = &h.error {
            out.push_str(&format!(" ({})", safe(e)));
        }
        out.push('\n');
    }
    out
}

/// Progress as plain lines on stderr: one line per resource that changed,
/// failed or was skipped, command output, and uploads. Colours on a TTY.
pub struct LineProgress {
    color: bool,
    out: Mutex<Box<dyn Write + Send>>,
}

impl LineProgress {
    pub fn new(color: bool, out: Box<dyn Write + Send>) -> LineProgress {
        LineProgress {
            color,
            out: Mutex::new(out),
        }
    }
}

impl Progress for LineProgress {
    fn event(&self, host: &str, event: ProgressEvent<'_>) {
        let p = Paint(self.color);
        let line = match event {
            ProgressEvent::Connected { uploaded: true } => format!("{host}: runner uploaded"),
            ProgressEvent::Connected { uploaded: false } => return,
            ProgressEvent::Applying { .. } => return,
            ProgressEvent::ResourceStarted(_) => return,
            ProgressEvent::Output(id, text) => safe(&format!("{host}: {id} | {text}")).into_owned(),
            ProgressEvent::ResourceDone {
                id,
                status,
                message,
            } => {
                let status = match status {
                    "changed" => p.yellow("changed"),
                    "failed" => p.red("failed"),
                    "skipped" => p.cyan("skipped"),
                    _ => return,
                };
                let (id, message) = (id.to_string(), safe(message));
                if message.is_empty() {
                    format!("{host}: {} {status}", safe(&id))
                } else {
                    format!("{host}: {} {status}: {message}", safe(&id))
                }
            }
            ProgressEvent::HostDone(_) => return,
            // Drift and facts print their own report at the end.
            ProgressEvent::Phase(_) | ProgressEvent::Checked { .. } => return,
        };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{line}");
    }
}

/// A live view for terminals, drawn by `indicatif`: changed and failed
/// resources and command output scroll above one bar per host, which shows
/// its progress through its resources, the time it has taken, its counts and
/// what it is doing now, cut to the terminal's width.
pub struct LiveProgress {
    multi: MultiProgress,
    color: bool,
    hosts: Mutex<Vec<(String, HostBar)>>,
}

struct HostBar {
    bar: ProgressBar,
    changed: usize,
    failed: usize,
    skipped: usize,
    current: String,
}

impl HostBar {
    fn counts(&self) -> String {
        format!(
            "{} changed, {} failed, {} skipped",
            self.changed, self.failed, self.skipped
        )
    }

    /// The bar's message: counts, then what runs now.
    fn show(&self) {
        let mut msg = self.counts();
        if !self.current.is_empty() {
            msg.push_str("  ▸ ");
            msg.push_str(&self.current);
        }
        self.bar.set_message(msg);
    }
}

impl LiveProgress {
    pub fn new(target: ProgressDrawTarget, color: bool) -> LiveProgress {
        LiveProgress {
            multi: MultiProgress::with_draw_target(target),
            color,
            hosts: Mutex::new(Vec::new()),
        }
    }

    fn style(&self, finished: bool) -> ProgressStyle {
        let template = match (self.color, finished) {
            (true, false) => {
                "{prefix:16.bold} {bar:16.cyan/blue} {pos:>4}/{len:<4} {elapsed:>4} {wide_msg}"
            }
            (true, true) => {
                "{prefix:16.bold} {bar:16.green/blue} {pos:>4}/{len:<4} {elapsed:>4} {wide_msg}"
            }
            (false, _) => "{prefix:16} {bar:16} {pos:>4}/{len:<4} {elapsed:>4} {wide_msg}",
        };
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }

    /// Runs `f` on the host's bar, adding the bar on first sight.
    fn with_host(&self, host: &str, f: impl FnOnce(&mut HostBar)) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let i = match hosts.iter().position(|(h, _)| h == host) {
            Some(i) => i,
            None => {
                let bar = self.multi.add(ProgressBar::new(0));
                bar.set_style(self.style(false));
                bar.set_prefix(host.to_string());
                bar.enable_steady_tick(std::time::Duration::from_millis(250));
                hosts.push((
                    host.to_string(),
                    HostBar {
                        bar,
                        changed: 0,
                        failed: 0,
                        skipped: 0,
                        current: "connecting".into(),
                    },
                ));
                hosts.len() - 1
            }
        };
        let hb = &mut hosts[i].1;
        f(hb);
    }

    fn println(&self, line: String) {
        let _ = self.multi.println(line);
    }

    fn finish_host(&self, host: &str, outcome: &str) {
        let style = self.style(true);
        self.with_host(host, |hb| {
            hb.current.clear();
            hb.bar.set_style(style);
            hb.bar
                .finish_with_message(format!("{outcome}: {}", hb.counts()));
        });
    }
}

impl Progress for LiveProgress {
    fn event(&self, host: &str, event: ProgressEvent<'_>) {
        let p = Paint(self.color);
        match event {
            ProgressEvent::Connected { uploaded } => {
                self.with_host(host, |hb| {
                    hb.current = "planning".into();
                    hb.show();
                });
                if uploaded {
                    self.println(format!("{host}: runner uploaded"));
                }
            }
            ProgressEvent::Applying { total } => self.with_host(host, |hb| {
                hb.bar.set_length(total as u64);
                hb.bar.set_position(0);
                hb.current = "applying".into();
                hb.show();
            }),
            ProgressEvent::ResourceStarted(id) => self.with_host(host, |hb| {
                hb.current = safe(&id.to_string()).into_owned();
                hb.show();
            }),
            ProgressEvent::Output(id, text) => {
                self.println(safe(&format!("{host}: {id} | {text}")).into_owned())
            }
            ProgressEvent::ResourceDone {
                id,
                status,
                message,
            } => {
                let mut shown = None;
                self.with_host(host, |hb| {
                    hb.bar.inc(1);
                    shown = match status {
                        "changed" => {
                            hb.changed += 1;
                            Some(p.yellow("changed"))
                        }
                        "failed" => {
                            hb.failed += 1;
                            Some(p.red("failed"))
                        }
                        "skipped" => {
                            hb.skipped += 1;
                            Some(p.cyan("skipped"))
                        }
                        _ => None,
                    };
                    hb.show();
                });
                if let Some(s) = shown {
                    let tail = if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", safe(message))
                    };
                    let id = id.to_string();
                    self.println(format!("{host}: {} {s}{tail}", safe(&id)));
                }
            }
            ProgressEvent::HostDone(r) => {
                let outcome = match r.status {
                    HostStatus::Ok => "done",
                    other => other.as_str(),
                };
                self.finish_host(host, outcome);
            }
            ProgressEvent::Phase(what) => self.with_host(host, |hb| {
                hb.current = what.to_string();
                hb.show();
            }),
            ProgressEvent::Checked { error } => {
                if let Some(e) = error {
                    self.println(format!("{host}: {}: {}", p.red("error"), safe(e)));
                }
                self.finish_host(host, if error.is_some() { "error" } else { "done" });
            }
        }
    }

    fn finish(&self) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        for (_, hb) in hosts.drain(..) {
            hb.bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    fn notice(&self, text: &str) {
        self.println(text.to_string());
    }
}

/// The progress reporter the CLI uses: a live view when stderr is a
/// terminal (`live`), plain lines otherwise; coloured when `color`.
pub fn progress_for_stderr(live: bool, color: bool) -> Arc<dyn Progress> {
    if live {
        Arc::new(LiveProgress::new(ProgressDrawTarget::stderr(), color))
    } else {
        Arc::new(LineProgress::new(color, Box::new(std::io::stderr())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mc_ir::plan::HostPlan;
    use mc_ir::{HostInfo, ResourceId, Risk, Transport};

    fn plan() -> Plan {
        Plan::new(
            0,
            "d".into(),
            vec![HostPlan {
                host: HostInfo {
                    name: "web1".into(),
                    address: "10.0.0.1".into(),
                    user: None,
                    port: None,
                    transport: Transport::Ssh,
                    r#become: false,
                    groups: vec![],
                    ssh_key: None,
                },
                catalog: None,
                resources: vec![
                    PlannedResource {
                        id: ResourceId::new("file", "/etc/app.conf"),
                        action: Action::Update,
                        changes: vec![
                            AttrChange {
                                attr: "mode".into(),
                                from: "0644".into(),
                                to: 384.into(),
                            },
                            AttrChange {
                                attr: "content".into(),
                                from: "a\n".into(),
                                to: "b\n".into(),
                            },
                        ],
                        content_diff: Some(
                            "--- /etc/app.conf\n+++ /etc/app.conf\n@@ -1 +1 @@\n-a\n+b\n".into(),
                        ),
                        observed_digest: "x".into(),
                        risk: Risk::High,
                        refresh: false,
                        notified_by: vec![],
                        refresh_action: None,
                        error: None,
                    },
                    PlannedResource {
                        id: ResourceId::new("file", "/etc/ok"),
                        action: Action::None,
                        changes: vec![],
                        content_diff: None,
                        observed_digest: "y".into(),
                        risk: Risk::Low,
                        refresh: false,
                        notified_by: vec![],
                        refresh_action: None,
                        error: None,
                    },
                ],
                error: None,
            }],
        )
    }

    #[test]
    fn summary_shows_hosts_not_started() {
        let hosts = vec![
            HostResult {
                host: "web1".into(),
                status: HostStatus::Failed,
                failed: 1,
                ..Default::default()
            },
            HostResult {
                host: "web2".into(),
                status: HostStatus::Skipped,
                skipped: 3,
                error: Some("not started: max_fail exceeded".into()),
                ..Default::default()
            },
        ];
        let text = render_summary(&hosts, false);
        assert_eq!(
            text,
            "web1: failed: 0 changed, 0 unchanged, 1 failed, 0 skipped\n\
             web2: skipped: 0 changed, 0 unchanged, 0 failed, 3 skipped (not started: max_fail exceeded)\n"
        );
    }

    #[test]
    fn renders_markers_modes_diffs_and_counts() {
        let text = render_plan(&plan(), false);
        assert!(text.contains("web1 (10.0.0.1)"), "{text}");
        assert!(
            text.contains("  ~ file[/etc/app.conf] [risk: high]"),
            "{text}"
        );
        assert!(text.contains("mode 0644 → 0600"), "{text}");
        assert!(text.contains("content (2 bytes) → (2 bytes)"), "{text}");
        assert!(text.contains("      -a\n      +b\n"), "{text}");
        assert!(
            !text.contains("/etc/ok"),
            "unchanged resources are not listed: {text}"
        );
        assert!(
            text.contains(
                "Plan: 0 to create, 1 to update, 0 to delete, 0 to refresh; 1 unchanged."
            ),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
        assert!(render_plan(&plan(), true).contains('\x1b'));
    }

    #[test]
    fn a_change_shows_the_refreshes_it_triggers_and_they_are_counted() {
        let mut plan = plan();
        let conf = ResourceId::new("file", "/etc/app.conf");
        let svc = ResourceId::new("service", "app");
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert(
            "on_notify".to_string(),
            mc_ir::Value::String("reload".into()),
        );
        let hp = &mut plan.hosts[0];
        hp.catalog = Some(mc_ir::Catalog {
            schema: mc_ir::CATALOG_SCHEMA,
            host: hp.host.clone(),
            resources: vec![mc_ir::Resource {
                id: svc.clone(),
                type_name: "service".into(),
                title: "app".into(),
                attrs,
                meta: Default::default(),
                source: None,
            }],
            edges: vec![mc_ir::Edge {
                from: conf.clone(),
                to: svc.clone(),
                kind: mc_ir::EdgeKind::Notify,
                action: None,
            }],
        });
        let mut target = hp.resources[1].clone();
        target.id = svc;
        hp.resources.push(target);
        hp.link_refreshes();
        let text = render_plan(&plan, false);
        assert!(
            text.contains(
                "  ~ file[/etc/app.conf] [risk: high]\n      mode 0644 → 0600\n      content (2 bytes) → (2 bytes)\n      --- /etc/app.conf\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("      ↻ service[app] reload, notified by file[/etc/app.conf]\n"),
            "{text}"
        );
        assert!(
            text.contains("1 to update, 0 to delete, 1 to refresh; 1 unchanged."),
            "{text}"
        );
    }

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The live view on an in-memory terminal `cols` wide, and the terminal.
    fn live(cols: u16) -> (LiveProgress, indicatif::InMemoryTerm) {
        let term = indicatif::InMemoryTerm::new(20, cols);
        let target = ProgressDrawTarget::term_like_with_hz(Box::new(term.clone()), 100);
        (LiveProgress::new(target, false), term)
    }

    fn done<'a>(id: &'a ResourceId, status: &'a str, message: &'a str) -> ProgressEvent<'a> {
        ProgressEvent::ResourceDone {
            id,
            status,
            message,
        }
    }

    #[test]
    fn live_view_shows_each_result_as_it_finishes_with_per_host_counts() {
        let (live, term) = live(100);
        let (a, b) = (ResourceId::new("file", "/a"), ResourceId::new("file", "/b"));
        live.event("web1", ProgressEvent::Applying { total: 3 });
        live.event("web2", ProgressEvent::Applying { total: 2 });
        live.event("web1", ProgressEvent::ResourceStarted(&a));
        live.event("web1", done(&a, "changed", "created"));
        live.event("web1", ProgressEvent::ResourceStarted(&b));
        let screen = term.contents();
        assert!(
            screen.contains("web1: file[/a] changed: created"),
            "{screen}"
        );
        let web1 = screen.lines().find(|l| l.starts_with("web1 ")).unwrap();
        assert!(web1.contains("1/3"), "{screen}");
        assert!(web1.contains("1 changed, 0 failed, 0 skipped"), "{screen}");
        assert!(web1.contains("▸ file[/b]"), "{screen}");
        assert!(web1.contains("0s"), "elapsed time: {screen}");
        let web2 = screen.lines().find(|l| l.starts_with("web2 ")).unwrap();
        assert!(web2.contains("0/2"), "{screen}");

        live.event("web2", done(&a, "failed", "boom"));
        let screen = term.contents();
        assert!(screen.contains("web2: file[/a] failed: boom"), "{screen}");
        live.finish();
        let screen = term.contents();
        assert!(
            !screen.contains("web1 "),
            "bars are cleared at the end: {screen}"
        );
        assert!(screen.contains("web1: file[/a] changed"), "{screen}");
    }

    #[test]
    fn live_lines_fit_the_terminal_width() {
        let (live, term) = live(60);
        let long = ResourceId::new("file", &format!("/srv/{}", "x".repeat(200)));
        live.event("web1", ProgressEvent::Applying { total: 1 });
        live.event("web1", ProgressEvent::ResourceStarted(&long));
        let screen = term.contents();
        let web1 = screen.lines().find(|l| l.starts_with("web1 ")).unwrap();
        assert!(web1.chars().count() <= 60, "{web1:?}");
        assert!(web1.contains("0/1"), "{web1:?}");

        let (live, term) = self::live(120);
        live.event("web1", ProgressEvent::Applying { total: 1 });
        live.event("web1", ProgressEvent::ResourceStarted(&long));
        let screen = term.contents();
        let web1 = screen.lines().find(|l| l.starts_with("web1 ")).unwrap();
        assert!(web1.chars().count() <= 120, "{web1:?}");
        assert!(web1.contains("▸ file[/srv/xxx"), "{web1:?}");
    }

    #[test]
    fn drift_and_facts_show_each_host_until_it_is_checked() {
        let (live, term) = live(100);
        live.event("db1", ProgressEvent::Phase("checking for drift"));
        live.event("db2", ProgressEvent::Phase("checking for drift"));
        live.event("db1", ProgressEvent::Checked { error: None });
        live.event(
            "db2",
            ProgressEvent::Checked {
                error: Some("connection refused"),
            },
        );
        let screen = term.contents();
        let db2 = screen.lines().find(|l| l.starts_with("db2 ")).unwrap();
        assert!(db2.contains("error"), "{screen}");
        let db1 = screen.lines().find(|l| l.starts_with("db1 ")).unwrap();
        assert!(db1.contains("done"), "{screen}");
        assert!(
            screen.contains("db2: error: connection refused"),
            "{screen}"
        );
    }

    #[test]
    fn plain_lines_report_changes_and_failures_only() {
        let buf = Shared::default();
        let lines = LineProgress::new(false, Box::new(buf.clone()));
        let id = ResourceId::new("file", "/a");
        lines.event(
            "h",
            ProgressEvent::ResourceDone {
                id: &id,
                status: "ok",
                message: "",
            },
        );
        lines.event(
            "h",
            ProgressEvent::ResourceDone {
                id: &id,
                status: "failed",
                message: "boom",
            },
        );
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "h: file[/a] failed: boom\n");
    }

    #[test]
    fn digests_are_shortened() {
        let c = AttrChange {
            attr: "content".into(),
            from: format!("sha256:{}", "ab".repeat(32)).into(),
            to: "new\n".into(),
        };
        assert_eq!(
            render_change(&c, true),
            "content sha256:abababababab… → (4 bytes)"
        );
    }

    #[test]
    fn secrets_stay_hidden() {
        let c = AttrChange {
            attr: "content".into(),
            from: "(secret)".into(),
            to: "(secret)".into(),
        };
        assert_eq!(render_change(&c, false), "content (secret) → (secret)");
    }
}
