//! `mc identity`: the signing key that proves who made a plan, approved
//! it or applied it (see docs/approvals.md).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub output: super::Output,
}

/// Version of the `mc identity --json` document (docs/json.md).
const IDENTITY_SCHEMA: u32 = 1;

pub fn run(args: Args) -> ExitCode {
    let id = match mc_runtime::identity::current() {
        Ok(id) => id,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let line = format!("{} {}", id.public_key(), mc_runtime::state::actor());
    if args.output.json() {
        crate::out::json(
            IDENTITY_SCHEMA,
            serde_json::json!({
                "public_key": id.public_key(),
                "fingerprint": id.fingerprint(),
                "path": id.path(),
                "approver": line,
            }),
        );
        return ExitCode::SUCCESS;
    }
    crate::outln!("{line}");
    eprintln!(
        "key {} ({}); add the line above to `project {{ approvers = […] }}`",
        id.path().display(),
        id.fingerprint()
    );
    ExitCode::SUCCESS
}
