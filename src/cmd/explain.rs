//! `mc explain CODE`: prints the long explanation of a diagnostic code.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A diagnostic code, e.g. `E0201`.
    pub code: String,
}

pub fn run(args: Args) -> ExitCode {
    let code = args.code.trim().to_uppercase();
    match mc_compiler::explain(&code) {
        Some(text) => {
            crate::outln!("{code}\n\n{}", text.trim_end());
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("error: unknown diagnostic code `{}`", args.code);
            let known = mc_compiler::all_codes();
            if let Some(s) = mc_compiler::suggest::closest(&code, known.iter().map(String::as_str))
            {
                eprintln!("help: did you mean `{s}`?");
            }
            ExitCode::from(1)
        }
    }
}
