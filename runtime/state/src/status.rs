//! The statuses the store records, typed. Each is stored and serialised as
//! the same lowercase word it always was, so old stores and JSON output
//! read the same.

use serde::{Deserialize, Serialize};

/// A status word the store does not know (written by hand, or by a newer
/// `mc`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} status `{value}`")]
pub struct UnknownStatus {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! status {
    (
        $(#[$doc:meta])*
        $name:ident ($kind:literal) {
            $($(#[$vattr:meta])* $variant:ident = $word:literal,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vattr])* #[serde(rename = $word)] $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownStatus;
            fn from_str(s: &str) -> Result<$name, UnknownStatus> {
                match s {
                    $($word => Ok($name::$variant),)*
                    other => Err(UnknownStatus {
                        kind: $kind,
                        value: other.to_string(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status! {
    /// Where a run is, or how it ended.
    RunStatus ("run") {
        #[default]
        Running = "running",
        Ok = "ok",
        Failed = "failed",
        /// Stopped by Ctrl-C or SIGTERM: work not started was skipped.
        Interrupted = "interrupted",
        /// Refused before changing anything (lock, policy, stale plan).
        Refused = "refused",
        /// Marked `running`, but its process is gone.
        Crashed = "crashed",
        /// An agent's `--noop` run that found drift.
        Drifted = "drifted",
    }
}

status! {
    /// How one host's part of a run ended.
    HostStatus ("host") {
        #[default]
        Ok = "ok",
        Failed = "failed",
        /// Not started (interrupted, `max_fail`).
        Skipped = "skipped",
        /// An agent's `--noop` run that found drift.
        Drifted = "drifted",
    }
}

status! {
    /// How one resource's apply ended.
    ResourceStatus ("resource") {
        #[default]
        Ok = "ok",
        Changed = "changed",
        Failed = "failed",
        Skipped = "skipped",
    }
}

status! {
    /// What `mc drift` found for one resource.
    DriftStatus ("drift") {
        /// The host differs from what mc last applied.
        #[default]
        Drifted = "drifted",
        /// The resource could not be probed.
        Error = "error",
    }
}

status! {
    /// Where a stored plan is on its way to being applied.
    PlanStatus ("plan") {
        /// Recorded by `mc plan`, not decided on.
        #[default]
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        Applied = "applied",
        /// Refused because its hosts changed since it was made.
        Stale = "stale",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_status_reads_back_from_its_word_and_serialises_as_it() {
        for s in [RunStatus::Running, RunStatus::Crashed, RunStatus::Drifted] {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!("skipped".parse(), Ok(HostStatus::Skipped));
        assert_eq!("changed".parse(), Ok(ResourceStatus::Changed));
        assert_eq!("rejected".parse(), Ok(PlanStatus::Rejected));
        let err = "done".parse::<RunStatus>().unwrap_err();
        assert_eq!(err.to_string(), "unknown run status `done`");
    }
}
