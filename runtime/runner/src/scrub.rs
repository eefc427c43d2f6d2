//! Removing secret values from free text before it leaves a process.
//!
//! A [`Scrubber`] holds the resolved values of secrets and replaces each
//! occurrence in text with [`SECRET_PLACEHOLDER`]. It touches only free text
//! (messages, output, diffs, observed values), never protocol fields such as
//! `type`, `status` or ids, so a secret that happens to equal a protocol word
//! cannot break a message.

use crate::protocol::{ApplyResult, AttrChange, Event, ProbeResult, Response, SECRET_PLACEHOLDER};

/// Values shorter than this (in characters) are not scrubbed: replacing
/// every `a` or `42` in output would mangle it and still hint at the value.
/// `mc secret set` refuses such values.
pub const MIN_SCRUB_CHARS: usize = 4;

/// The secret values to remove from text, longest first so a value that
/// contains another is replaced whole.
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    terms: Vec<String>,
}

impl Scrubber {
    /// Adds a value; too short or already known values are ignored.
    pub fn add(&mut self, value: &str) {
        if value.chars().count() < MIN_SCRUB_CHARS || self.terms.iter().any(|t| t == value) {
            return;
        }
        let at = self.terms.partition_point(|t| t.len() >= value.len());
        self.terms.insert(at, value.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether `text` holds any of the values.
    pub fn finds(&self, text: &str) -> bool {
        self.terms.iter().any(|t| text.contains(t.as_str()))
    }

    /// `text` with every value replaced by the placeholder.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        self.in_place(&mut out);
        out
    }

    pub fn in_place(&self, text: &mut String) {
        for term in &self.terms {
            if text.contains(term.as_str()) {
                *text = text.replace(term.as_str(), SECRET_PLACEHOLDER);
            }
        }
    }

    fn opt(&self, text: &mut Option<String>) {
        if let Some(t) = text {
            self.in_place(t);
        }
    }

    /// Scrubs the string values of a JSON document (never its keys).
    pub fn json(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => self.in_place(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.json(x)),
            serde_json::Value::Object(m) => m.values_mut().for_each(|x| self.json(x)),
            _ => {}
        }
    }

    /// Scrubs a response's free text: messages, output, changes, diffs and
    /// observed values. Tags, ids, kinds and statuses stay as they are.
    pub fn response(&self, resp: &mut Response) {
        if self.is_empty() {
            return;
        }
        match resp {
            Response::Facts { facts } => self.json(facts),
            Response::Probed { results } => results.iter_mut().for_each(|r| self.probed(r)),
            Response::Event(e) => self.event(e),
            Response::Applied { results } => results.iter_mut().for_each(|r| self.applied(r)),
            Response::Error { message, .. } => self.in_place(message),
            Response::Hello { .. } | Response::Backups { .. } | Response::Bye => {}
        }
    }

    pub fn event(&self, e: &mut Event) {
        self.opt(&mut e.line);
    }

    fn probed(&self, r: &mut ProbeResult) {
        self.json(&mut r.observed);
        r.changes.iter_mut().for_each(|c| self.change(c));
        self.opt(&mut r.content_diff);
        self.opt(&mut r.error);
    }

    fn change(&self, c: &mut AttrChange) {
        self.json(&mut c.from);
        self.json(&mut c.to);
    }

    fn applied(&self, r: &mut ApplyResult) {
        self.in_place(&mut r.message);
        self.opt(&mut r.output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EventKind, Status};
    use mc_ir::ResourceId;

    fn scrubber(terms: &[&str]) -> Scrubber {
        let mut s = Scrubber::default();
        terms.iter().for_each(|t| s.add(t));
        s
    }

    #[test]
    fn replaces_values_inside_longer_text_longest_first() {
        let s = scrubber(&["s3cret", "pre-s3cret-post"]);
        assert_eq!(
            s.text("x pre-s3cret-post y s3cret"),
            "x (secret) y (secret)"
        );
    }

    #[test]
    fn short_values_are_ignored() {
        let s = scrubber(&["a", "ok", "abc"]);
        assert!(s.is_empty());
        assert_eq!(s.text("a status ok abc"), "a status ok abc");
    }

    #[test]
    fn protocol_fields_are_never_rewritten() {
        // Values equal to protocol words: only free text changes.
        let s = scrubber(&["event", "changed", "file[/etc/x]", "done!"]);
        let mut resp = Response::Applied {
            results: vec![ApplyResult {
                id: ResourceId::new("file", "/etc/x"),
                status: Status::Changed,
                message: "changed file[/etc/x]: done!".into(),
                observed_digest: None,
                output: Some("event".into()),
                attempts: 1,
            }],
        };
        s.response(&mut resp);
        let line = resp.to_line();
        let back: Response = serde_json::from_str(&line).unwrap();
        let Response::Applied { results } = back else {
            panic!("{line}")
        };
        assert_eq!(results[0].status, Status::Changed);
        assert_eq!(results[0].id, ResourceId::new("file", "/etc/x"));
        assert_eq!(results[0].message, "(secret) (secret): (secret)");
        assert_eq!(results[0].output.as_deref(), Some("(secret)"));

        let mut ev = Response::Event(Event {
            id: ResourceId::new("command", "event"),
            kind: EventKind::Output,
            stream: None,
            line: Some("an event".into()),
            status: None,
            attempt: None,
        });
        s.response(&mut ev);
        assert!(
            ev.to_line().contains(r#""kind":"output""#),
            "{}",
            ev.to_line()
        );
        assert!(ev.to_line().contains("an (secret)"), "{}", ev.to_line());
    }
}
