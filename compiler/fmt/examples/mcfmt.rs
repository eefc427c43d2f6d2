//! Formats the files named on the command line to stdout (a debugging aid;
//! users run `mc fmt`).

fn main() {
    for path in std::env::args().skip(1) {
        let Ok(src) = std::fs::read_to_string(&path) else {
            eprintln!("{path}: cannot read");
            continue;
        };
        match mc_fmt::format(&src, mc_fmt::DEFAULT_WIDTH) {
            Ok(out) => print!("{out}"),
            Err(diags) => {
                for d in diags {
                    eprintln!("{path}: {} {}", d.code, d.message);
                }
            }
        }
    }
}
