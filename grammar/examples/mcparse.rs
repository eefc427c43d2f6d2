//! Parses a file and prints the diagnostics (a debugging aid).
use mc_diagnostics::SingleSource;

fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let parsed = mc_grammar::parse_file(&path, &text);
    if std::env::var_os("MC_DUMP_AST").is_some() {
        println!("{:#?}", parsed.module);
    }
    let sources = SingleSource {
        file: &path,
        text: &text,
    };
    print!(
        "{}",
        mc_diagnostics::render_all(&parsed.errors, &sources, false)
    );
    println!(
        "{} items, {} errors",
        parsed.module.items.len(),
        parsed.errors.len()
    );
}
