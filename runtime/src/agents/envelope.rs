//! Signed requests from a controller to an agent, and the frames an agent
//! sends back.
//!
//! Every message a controller publishes to an agent is an [`Envelope`]: a
//! JSON [`Payload`] (the agent it is for, the session, a sequence number,
//! an expiry, the request itself) and an SSH signature of exactly those
//! bytes (namespace [`NAMESPACE`], the format of `ssh-keygen -Y sign`). An
//! agent acts only on payloads signed by a key it trusts, addressed to it,
//! fresh, and never seen before; anything else is refused and reported.

use serde::{Deserialize, Serialize};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::collections::HashMap;

/// Signature namespace of controller messages (`ssh-keygen -Y verify -n`).
pub const NAMESPACE: &str = "mc-agent";
/// The longest a signed message stays valid: an agent refuses an expiry
/// further ahead than this (plus [`CLOCK_SKEW`]).
pub const MAX_VALIDITY_SECS: u64 = 300;
/// How far the controller's and the agent's clocks may disagree.
pub const CLOCK_SKEW: u64 = 60;
/// Version of the envelope format.
pub const VERSION: u32 = 1;
/// How often an agent says a running request is still alive.
pub const ALIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// What a controller asks of an agent's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One runner protocol request (`body` is its line).
    Request,
    /// Start no new resource of the apply in progress (the runner's stop line).
    Stop,
    /// The session is over: end its runner.
    Close,
}

/// The signed part of a controller message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub v: u32,
    /// The agent's name: a message for one agent cannot be replayed to another.
    pub agent: String,
    /// A random id chosen by the controller for one runner session.
    pub session: String,
    /// 1, 2, 3… within a session.
    pub seq: u64,
    /// Seconds since the Unix epoch.
    pub issued: u64,
    pub expires: u64,
    /// The signing key, as an OpenSSH public key line.
    pub signer: String,
    pub kind: Kind,
    /// The user the session's runner runs as (`become_user`); the agent's own otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<String>,
    /// A request line, or (`sealed`) the line age-encrypted to the agent's
    /// key, base64: the NATS server never sees the secrets a request carries.
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
}

/// A payload and its signature, as published.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub payload: String,
    pub signature: String,
}

/// What an agent sends to a request's reply subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "frame", rename_all = "lowercase")]
pub enum Frame {
    /// The request was verified and handed to the runner.
    Ack { seq: u64 },
    /// One line the runner wrote (an event or the final response).
    Line { seq: u64, line: String },
    /// The request is still running (sent every few seconds).
    Alive { seq: u64 },
    /// The message was not acted on, and why.
    Refused { reason: String },
    /// The session's runner ended.
    Ended { reason: String },
}

/// Why an agent refused a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("unreadable message: {0}")]
    Unreadable(String),
    #[error("bad signature: {0}")]
    BadSignature(String),
    #[error("signed by a key this agent does not trust ({0})")]
    Untrusted(String),
    #[error("addressed to agent {0:?}")]
    WrongAgent(String),
    #[error("expired {0} s ago")]
    Expired(u64),
    #[error("valid for too long or issued in the future (issued {issued}, expires {expires}, now {now})")]
    BadValidity { issued: u64, expires: u64, now: u64 },
    #[error("replayed (session {session}, message {seq} already seen)")]
    Replayed { session: String, seq: u64 },
    #[error("unsupported envelope version {0}")]
    Version(u32),
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs `payload` with `key`: the bytes to publish.
pub fn seal(key: &PrivateKey, payload: &Payload) -> Result<Vec<u8>, String> {
    let text = serde_json::to_string(payload).map_err(|e| e.to_string())?;
    sign(key, NAMESPACE, text)
}

/// An [`Envelope`] of `payload` signed by `key` in `namespace`.
pub fn sign(key: &PrivateKey, namespace: &str, payload: String) -> Result<Vec<u8>, String> {
    let sig = key
        .sign(namespace, HashAlg::Sha512, payload.as_bytes())
        .map_err(|e| format!("cannot sign: {e}"))?;
    let signature = sig
        .to_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the signature: {e}"))?;
    serde_json::to_vec(&Envelope { payload, signature }).map_err(|e| e.to_string())
}

/// Checks an [`Envelope`]: signed in `namespace` by one of `trusted`.
/// Returns the payload and the signer's key (OpenSSH line).
pub fn verify(
    bytes: &[u8],
    namespace: &str,
    trusted: &[PublicKey],
) -> Result<(String, PublicKey), Refusal> {
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|e| Refusal::Unreadable(e.to_string()))?;
    let sig =
        SshSig::from_pem(env.signature.trim()).map_err(|e| Refusal::BadSignature(e.to_string()))?;
    let signer = PublicKey::from(sig.public_key().clone());
    if !trusted.iter().any(|k| k.key_data() == signer.key_data()) {
        return Err(Refusal::Untrusted(
            signer.fingerprint(HashAlg::Sha256).to_string(),
        ));
    }
    signer
        .verify(namespace, env.payload.as_bytes(), &sig)
        .map_err(|e| Refusal::BadSignature(e.to_string()))?;
    Ok((env.payload, signer))
}

/// Whether the key in an OpenSSH line is `key`.
pub fn same_key(line: &str, key: &PublicKey) -> bool {
    PublicKey::from_openssh(line.trim()).is_ok_and(|k| k.key_data() == key.key_data())
}

/// Messages seen recently, by (session, seq), until they expire: a copy
/// replayed within its validity is refused.
#[derive(Default)]
pub struct Seen {
    until: HashMap<(String, u64), u64>,
}

impl Seen {
    fn first_time(&mut self, p: &Payload, now: u64) -> bool {
        if self.until.len() > 4096 {
            self.until.retain(|_, exp| *exp + CLOCK_SKEW >= now);
        }
        self.until
            .insert((p.session.clone(), p.seq), p.expires)
            .is_none()
    }
}

/// Checks an envelope for agent `me`: signature by a trusted key, address,
/// validity window, and first sight. Returns the payload to act on.
pub fn open(
    bytes: &[u8],
    trusted: &[PublicKey],
    me: &str,
    now: u64,
    seen: &mut Seen,
) -> Result<Payload, Refusal> {
    let (text, signer) = verify(bytes, NAMESPACE, trusted)?;
    let payload: Payload =
        serde_json::from_str(&text).map_err(|e| Refusal::Unreadable(e.to_string()))?;
    if !same_key(&payload.signer, &signer) {
        return Err(Refusal::BadSignature(
            "the payload names another signer".into(),
        ));
    }
    if payload.v != VERSION {
        return Err(Refusal::Version(payload.v));
    }
    if payload.agent != me {
        return Err(Refusal::WrongAgent(payload.agent));
    }
    if payload.expires + CLOCK_SKEW < now {
        return Err(Refusal::Expired(now - payload.expires));
    }
    if payload.issued > now + CLOCK_SKEW
        || payload.expires < payload.issued
        || payload.expires - payload.issued > MAX_VALIDITY_SECS
    {
        return Err(Refusal::BadValidity {
            issued: payload.issued,
            expires: payload.expires,
            now,
        });
    }
    if !seen.first_time(&payload, now) {
        return Err(Refusal::Replayed {
            session: payload.session,
            seq: payload.seq,
        });
    }
    Ok(payload)
}

/// Reads trusted keys: OpenSSH public key lines (comments and blank lines skipped).
pub fn parse_trusted(text: &str) -> Result<Vec<PublicKey>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| PublicKey::from_openssh(l).map_err(|e| format!("{l:.40}…: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::{rand_core::OsRng, Algorithm};

    fn key() -> PrivateKey {
        PrivateKey::random(&mut OsRng, Algorithm::Ed25519).unwrap()
    }

    fn payload(key: &PrivateKey, seq: u64) -> Payload {
        let now = now();
        Payload {
            v: VERSION,
            agent: "web1".into(),
            session: "s1".into(),
            seq,
            issued: now,
            expires: now + 60,
            signer: key.public_key().to_openssh().unwrap(),
            kind: Kind::Request,
            run_as: None,
            body: "{\"hello\":{}}".into(),
            sealed: false,
        }
    }

    #[test]
    fn a_signed_fresh_message_opens_once() {
        let k = key();
        let bytes = seal(&k, &payload(&k, 1)).unwrap();
        let mut seen = Seen::default();
        let trusted = [k.public_key().clone()];
        let p = open(&bytes, &trusted, "web1", now(), &mut seen).unwrap();
        assert_eq!(p.seq, 1);
        assert!(matches!(
            open(&bytes, &trusted, "web1", now(), &mut seen),
            Err(Refusal::Replayed { .. })
        ));
    }

    #[test]
    fn forged_misaddressed_stale_and_untrusted_messages_are_refused() {
        let k = key();
        let trusted = [k.public_key().clone()];
        let mut seen = Seen::default();
        // Another agent's message.
        let bytes = seal(&k, &payload(&k, 1)).unwrap();
        assert_eq!(
            open(&bytes, &trusted, "web2", now(), &mut seen),
            Err(Refusal::WrongAgent("web1".into()))
        );
        // A payload changed after signing.
        let mut env: Envelope = serde_json::from_slice(&bytes).unwrap();
        env.payload = env.payload.replace("hello", "apply");
        let forged = serde_json::to_vec(&env).unwrap();
        assert!(matches!(
            open(&forged, &trusted, "web1", now(), &mut seen),
            Err(Refusal::BadSignature(_))
        ));
        // Signed by a key the agent does not trust, claiming to be it.
        let other = key();
        let mut p = payload(&other, 2);
        p.signer = k.public_key().to_openssh().unwrap();
        let bytes = seal(&other, &p).unwrap();
        assert!(matches!(
            open(&bytes, &trusted, "web1", now(), &mut seen),
            Err(Refusal::Untrusted(_))
        ));
        // Signed by the trusted key, naming another signer.
        let mut p = payload(&k, 6);
        p.signer = other.public_key().to_openssh().unwrap();
        let bytes = seal(&k, &p).unwrap();
        assert!(matches!(
            open(&bytes, &trusted, "web1", now(), &mut seen),
            Err(Refusal::BadSignature(_))
        ));
        let bytes = seal(&other, &payload(&other, 3)).unwrap();
        assert!(matches!(
            open(&bytes, &trusted, "web1", now(), &mut seen),
            Err(Refusal::Untrusted(_))
        ));
        // Expired, and valid for too long.
        let mut p = payload(&k, 4);
        p.issued -= 1000;
        p.expires -= 1000;
        let bytes = seal(&k, &p).unwrap();
        assert!(matches!(
            open(&bytes, &trusted, "web1", now(), &mut seen),
            Err(Refusal::Expired(_))
        ));
        let mut p = payload(&k, 5);
        p.expires += 86_400;
        let bytes = seal(&k, &p).unwrap();
        assert!(matches!(
            open(&bytes, &trusted, "web1", now(), &mut seen),
            Err(Refusal::BadValidity { .. })
        ));
        assert!(matches!(
            open(b"{\"hello\":1}", &trusted, "web1", now(), &mut seen),
            Err(Refusal::Unreadable(_))
        ));
    }
}
