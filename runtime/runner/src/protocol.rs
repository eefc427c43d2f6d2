//! The runner protocol: line-delimited JSON on the runner's stdin/stdout.
//!
//! Every message is one JSON object on one line, tagged by `"type"`. The
//! runtime sends [`Request`]s, the runner answers with [`Response`]s:
//!
//! ```text
//! → {"type":"hello","protocol":1,"runtime_version":"0.1.0"}
//! ← {"type":"hello","protocol":1,"runner_version":"0.1.0","build_id":"…"}
//! → {"type":"facts"}
//! ← {"type":"facts","facts":{…}}
//! → {"type":"probe","resources":[…]}
//! ← {"type":"probed","results":[…]}
//! → {"type":"apply","items":[…]}
//! ← {"type":"event","id":"file[/etc/motd]","kind":"started"}   (streamed)
//! ← {"type":"event","id":"file[/etc/motd]","kind":"done","status":"changed"}
//! ← {"type":"applied","results":[…]}
//! → {"type":"bye"}
//! ← {"type":"bye"}
//! ```
//!
//! Rules:
//! - `hello` comes first. Any other request before it gets an
//!   [`ErrorKind::Protocol`] error response; so does a malformed line or an
//!   unknown request type. The runner never exits on a bad message: it answers
//!   with an `error` and reads the next line. It exits after `bye` or at EOF.
//! - Each request gets exactly one final response (`hello`, `facts`,
//!   `probed`, `applied`, `bye` or `error`); `apply` may be preceded by any
//!   number of `event`s.
//! - `probe` carries all of a host's resources in one batch; `apply` carries
//!   one batch (normally all of a host's changes, in apply order), applied
//!   in the order given. The runner skips an item whose [`ApplyItem::after`]
//!   names an item of the batch that failed or was skipped, refreshes an
//!   item one of whose [`ApplyItem::notified_by`] changed, and retries a
//!   failed item as its `retries` meta-attributes say, streaming one
//!   `attempt` event per failed attempt.
//! - Secrets: the catalog only names secrets ([`mc_ir::Value::Secret`]). In a
//!   `probe`, the runtime leaves such attributes as they are in the catalog
//!   (or omits them) and sends the sha256 of each resolved value in
//!   [`Request::Probe::sensitive`]. In an `apply`, it sends the resolved
//!   string in the resource and lists the attribute in
//!   [`ApplyItem::sensitive`]. The runner never echoes a sensitive value: in
//!   `changes` such values read [`SECRET_PLACEHOLDER`], there is no content
//!   diff for them, and `observed` holds only their sha256.

pub use mc_ir::plan::{Action, AttrChange};
use mc_ir::{Resource, ResourceId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped on any incompatible change of the messages below.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the runner reads, newline excluded. Longer
/// lines are read past (never held whole) and answered with a `protocol`
/// error, so no input can make the runner run out of memory.
pub const MAX_REQUEST_LINE: usize = 64 * 1024 * 1024;

/// What the runner writes instead of a sensitive value.
pub const SECRET_PLACEHOLDER: &str = "(secret)";

/// Runtime → runner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Must be the first request. The runner answers `hello`, or an
    /// [`ErrorKind::Version`] error if it does not speak `protocol`.
    Hello {
        protocol: u32,
        runtime_version: String,
    },
    /// Host facts; answered by [`Response::Facts`].
    Facts,
    /// The backups kept of the file at `path` by the user this runner runs
    /// as; answered by [`Response::Backups`].
    Backups { path: String },
    /// Read the observed state of every resource and diff it against the
    /// desired state. Changes nothing on the host. Answered by
    /// [`Response::Probed`] with one result per resource, in order.
    Probe {
        resources: Vec<Resource>,
        /// Per resource id, per sensitive attribute: the lowercase hex sha256
        /// of the resolved value. The runner compares digests only.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        sensitive: BTreeMap<ResourceId, BTreeMap<String, String>>,
    },
    /// Apply a batch, in order. Streams [`Response::Event`]s, then answers
    /// [`Response::Applied`] with one result per item, in order.
    Apply { items: Vec<ApplyItem> },
    /// End of session; the runner answers `bye` and exits 0.
    Bye,
}

/// One resource to apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyItem {
    /// Secrets resolved to plain strings.
    pub resource: Resource,
    /// What the plan said. The runner re-reads the host before changing it,
    /// so a resource already in its desired state reports `ok`, not `changed`.
    /// `none` with `refresh: false` is a no-op reported as `skipped`.
    pub action: Action,
    /// True when a notifying resource changed in this run: services
    /// reload/restart, `refresh_only` commands run.
    #[serde(default)]
    pub refresh: bool,
    /// What `refresh` asks of a service (`reload(svc)` in `notify`);
    /// absent: its `on_notify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_action: Option<mc_ir::RefreshAction>,
    /// Attributes whose value must never appear in any response.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
    /// Every resolved secret value in the item, also those inside longer
    /// strings: the runner removes each from the text it sends back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrub: Vec<String>,
    /// Items of the same batch this one depends on (every edge kind). If
    /// one of them failed or was skipped, this item is skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<ResourceId>,
    /// Items of the same batch that notify this one: if one of them
    /// changed, this item is refreshed as if `refresh` were true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notified_by: Vec<ResourceId>,
    /// What a notifier in `notified_by` asks when it is not the service's
    /// `on_notify`. Several refreshes make one, the strongest:
    /// `restart` > `on_notify` > `reload`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notify_actions: BTreeMap<ResourceId, mc_ir::RefreshAction>,
}

impl ApplyItem {
    /// An item that only does `action` on `resource`: no refresh, nothing
    /// sensitive, no dependencies within the batch.
    pub fn new(resource: Resource, action: Action) -> ApplyItem {
        ApplyItem {
            resource,
            action,
            refresh: false,
            refresh_action: None,
            sensitive: Vec::new(),
            scrub: Vec::new(),
            after: Vec::new(),
            notified_by: Vec::new(),
            notify_actions: BTreeMap::new(),
        }
    }

    /// What the item's own `refresh` asks, if it is set.
    pub fn action_of_refresh(&self) -> Option<mc_ir::RefreshAction> {
        self.refresh.then(|| {
            self.refresh_action
                .unwrap_or(mc_ir::RefreshAction::OnNotify)
        })
    }
}

/// One backup of a file: `<dir>/<name>` holds the old bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// `<UTC time>-<sha256>`.
    pub name: String,
    pub sha256: String,
    pub size: u64,
    /// When it was made (its modification time), seconds since the epoch.
    pub made_at: u64,
}

/// Runner → runtime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Hello {
        protocol: u32,
        runner_version: String,
        /// Hash of the runner executable; identifies the exact build.
        build_id: String,
    },
    Facts {
        facts: serde_json::Value,
    },
    Backups {
        /// The directory holding them (the user's backup store).
        dir: String,
        /// Oldest first.
        backups: Vec<BackupInfo>,
    },
    Probed {
        results: Vec<ProbeResult>,
    },
    /// Streamed while an `apply` runs.
    Event(Event),
    Applied {
        results: Vec<ApplyResult>,
    },
    Bye,
    Error {
        kind: ErrorKind,
        message: String,
        /// The resource concerned, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<ResourceId>,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub id: ResourceId,
    /// Provider-specific observed state (sensitive values replaced by their
    /// sha256). `null` when the resource does not exist.
    pub observed: serde_json::Value,
    /// Lowercase hex sha256 of [`canonical_json`] of `observed`.
    pub observed_digest: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AttrChange>,
    /// Unified diff of a text content change (`file`, `line`); never present
    /// for sensitive content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_diff: Option<String>,
    /// The resource could not be probed (bad attributes, unknown type, I/O
    /// error); `action` is then `none` and the runtime must treat the
    /// resource as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: ResourceId,
    pub kind: EventKind,
    /// For `output`: which stream the line came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<Stream>,
    /// For `output`: one line of output, without its newline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// For `done`: the item's final status (and its message in `line`).
    /// For `attempt`: the status of that attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// For `attempt`: which attempt (1-based) just ended, and why it failed
    /// in `line`. For `done`: how many attempts the item took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Output,
    /// One attempt of an item with retries failed and it will run again.
    Attempt,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyResult {
    pub id: ResourceId,
    pub status: Status,
    /// Human-readable summary (what changed, or why it failed). Never holds a
    /// sensitive value.
    pub message: String,
    /// Digest of the observed state after the apply, for the state store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_digest: Option<String>,
    /// What the item printed (stdout and stderr interleaved, one line per
    /// output event, over all attempts), bounded to its first and last
    /// [`OUTPUT_KEEP`] bytes. Absent when it printed nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// How many times the item ran (more than 1 after retries).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub attempts: u32,
}

/// How much of an item's output is kept at each end.
pub const OUTPUT_KEEP: usize = 32 * 1024;

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Already in the desired state (or a check passed).
    Ok,
    Changed,
    Failed,
    /// Not attempted (action `none` without refresh, or an earlier failure
    /// the runner was told about).
    Skipped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Malformed JSON, unknown request type, or a request out of order.
    Protocol,
    /// `hello` with a protocol version the runner does not speak.
    Version,
    /// A well-formed request the runner cannot carry out.
    Internal,
    /// A kind added by a newer runner.
    #[serde(other)]
    Other,
}

impl Request {
    /// One protocol line, without the trailing newline.
    pub fn to_line(&self) -> String {
        to_line(self)
    }
}

impl Response {
    /// One protocol line, without the trailing newline.
    pub fn to_line(&self) -> String {
        to_line(self)
    }

    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::Error {
            kind,
            message: message.into(),
            id: None,
        }
    }
}

fn to_line<T: Serialize>(msg: &T) -> String {
    // Serialising these types cannot fail (string keys, no non-finite floats
    // are produced by the runner); fall back to an error line just in case.
    serde_json::to_string(msg).unwrap_or_else(|e| {
        format!(
            r#"{{"type":"error","kind":"internal","message":{}}}"#,
            serde_json::Value::String(e.to_string())
        )
    })
}

pub use mc_ir::hash::{canonical_json, sha256_hex};

/// The `observed_digest` of an observed state.
pub fn observed_digest(observed: &serde_json::Value) -> String {
    sha256_hex(canonical_json(observed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mc_ir::{Meta, Value};

    fn resource() -> Resource {
        let mut attrs = BTreeMap::new();
        attrs.insert("content".to_string(), Value::String("hi\n".into()));
        Resource {
            id: ResourceId::new("file", "/etc/motd"),
            type_name: "file".into(),
            title: "/etc/motd".into(),
            attrs,
            meta: Meta::default(),
            source: None,
        }
    }

    #[test]
    fn requests_are_tagged_single_lines() {
        let hello = Request::Hello {
            protocol: PROTOCOL_VERSION,
            runtime_version: "0.1.0".into(),
        };
        assert_eq!(
            hello.to_line(),
            r#"{"type":"hello","protocol":1,"runtime_version":"0.1.0"}"#
        );
        assert_eq!(Request::Facts.to_line(), r#"{"type":"facts"}"#);
        let apply = Request::Apply {
            items: vec![ApplyItem {
                resource: resource(),
                action: Action::Create,
                refresh: false,
                sensitive: vec!["content".into()],
                scrub: vec![],
                after: vec![],
                notified_by: vec![],
                refresh_action: None,
                notify_actions: Default::default(),
            }],
        };
        let line = apply.to_line();
        assert!(!line.contains('\n'));
        let back: Request = serde_json::from_str(&line).unwrap();
        assert_eq!(back, apply);
    }

    #[test]
    fn probe_sensitive_map_is_optional() {
        let back: Request = serde_json::from_str(r#"{"type":"probe","resources":[]}"#).unwrap();
        assert_eq!(
            back,
            Request::Probe {
                resources: vec![],
                sensitive: BTreeMap::new()
            }
        );
    }

    #[test]
    fn responses_round_trip() {
        let msgs = vec![
            Response::Event(Event {
                id: ResourceId::new("command", "x"),
                kind: EventKind::Output,
                stream: Some(Stream::Stdout),
                line: Some("hello".into()),
                status: None,
                attempt: None,
            }),
            Response::Probed {
                results: vec![ProbeResult {
                    id: ResourceId::new("file", "/a"),
                    observed: serde_json::json!({"exists": false}),
                    observed_digest: observed_digest(&serde_json::json!({"exists": false})),
                    action: Action::Create,
                    changes: vec![AttrChange {
                        attr: "content".into(),
                        from: serde_json::Value::Null,
                        to: SECRET_PLACEHOLDER.into(),
                    }],
                    content_diff: None,
                    error: None,
                }],
            },
            Response::error(ErrorKind::Protocol, "bad"),
            Response::Bye,
        ];
        for m in msgs {
            let line = m.to_line();
            let back: Response = serde_json::from_str(&line).unwrap();
            assert_eq!(back, m, "{line}");
        }
        let ev = Response::Event(Event {
            id: ResourceId::new("file", "/a"),
            kind: EventKind::Done,
            stream: None,
            line: None,
            status: Some(Status::Changed),
            attempt: None,
        });
        assert_eq!(
            ev.to_line(),
            r#"{"type":"event","id":"file[/a]","kind":"done","status":"changed"}"#
        );
    }

    #[test]
    fn actions_and_changes_keep_their_wire_form() {
        let probed = Response::Probed {
            results: vec![ProbeResult {
                id: ResourceId::new("file", "/a"),
                observed: serde_json::Value::Null,
                observed_digest: "d".into(),
                action: Action::Update,
                changes: vec![AttrChange {
                    attr: "mode".into(),
                    from: "0644".into(),
                    to: "0600".into(),
                }],
                content_diff: None,
                error: None,
            }],
        };
        assert_eq!(
            probed.to_line(),
            r#"{"type":"probed","results":[{"id":"file[/a]","observed":null,"observed_digest":"d","action":"update","changes":[{"attr":"mode","from":"0644","to":"0600"}]}]}"#
        );
        let words: Vec<String> = [
            Action::None,
            Action::Create,
            Action::Update,
            Action::Delete,
            Action::Check,
        ]
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect();
        assert_eq!(
            words,
            [
                r#""none""#,
                r#""create""#,
                r#""update""#,
                r#""delete""#,
                r#""check""#
            ]
        );
    }

    #[test]
    fn unknown_error_kinds_are_tolerated() {
        let r: Response =
            serde_json::from_str(r#"{"type":"error","kind":"quota","message":"m"}"#).unwrap();
        assert!(matches!(
            r,
            Response::Error {
                kind: ErrorKind::Other,
                ..
            }
        ));
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"s"}}"#).unwrap();
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
