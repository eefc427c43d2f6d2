//! `mc-testfleet [--password-only] N DIR`: starts N test hosts for scripts
//! (benchmarks, trying `mc` by hand), writes their description to DIR and
//! keeps them up until its stdin closes. `--password-only` hosts take
//! root's and `admin`'s password (`fresh-host-pw`) and no key, as a fresh
//! machine before `mc onboard`.
//!
//! DIR receives `ssh_config` (every host, strict host keys), `known_hosts`,
//! `id_ed25519` (root's key on every host) and `hosts.tsv`: one line per
//! host with its name, address and the PID of its init (PID 1 inside the
//! host, for `nsenter -t PID` and for reading its processes in `/proc`).
//! `ready` is printed on stdout once every host accepts ssh.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use anyhow::{bail, Context, Result};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mc-testfleet: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let passwords = args.first().is_some_and(|a| a == "--password-only");
    if passwords {
        args.remove(0);
    }
    let (n, out) = match args.as_slice() {
        [n, dir] => (
            n.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("{n:?} is not a host count"))?,
            PathBuf::from(dir),
        ),
        _ => bail!("usage: mc-testfleet [--password-only] N DIR (starts N hosts, describes them in DIR, stops them when stdin closes)"),
    };
    let fleet = if passwords {
        mc_testfleet::Fleet::start_password_only(n)?
    } else {
        mc_testfleet::Fleet::start(n)?
    };
    describe(&fleet, &out)?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    // Hold the hosts until whoever started us lets go of our stdin.
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    fleet.stop()
}

fn describe(fleet: &mc_testfleet::Fleet, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let key = out.join("id_ed25519");
    std::fs::copy(fleet.private_key(), &key).context("copying the client key")?;
    let known = out.join("known_hosts");
    std::fs::copy(fleet.known_hosts(), &known).context("copying known_hosts")?;
    // The fleet's own config points into its temporary directory; this one
    // points at the copies, which outlive nothing but are easier to find.
    let config = std::fs::read_to_string(fleet.ssh_config())?
        .replace(
            &fleet.private_key().display().to_string(),
            &key.display().to_string(),
        )
        .replace(
            &fleet.known_hosts().display().to_string(),
            &known.display().to_string(),
        );
    // Also by address, for tools and inventories that name hosts by IP.
    let by_address = format!(
        "Host 127.*\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n  \
         UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  \
         StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
        key = key.display(),
        known = known.display()
    );
    std::fs::write(out.join("ssh_config"), config + &by_address)?;
    let mut tsv = String::new();
    for h in fleet.hosts() {
        tsv.push_str(&format!(
            "{}\t{}\t{}\n",
            h.name(),
            h.address(),
            h.init_pid()
        ));
    }
    std::fs::write(out.join("hosts.tsv"), tsv)?;
    Ok(())
}
