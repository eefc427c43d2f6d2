//! Standard output for people and scripts.
//!
//! `println!` panics when the reader has gone away (`mc runs --json | head`),
//! so every command writes through [`outln!`] / [`out!`] instead: a closed
//! pipe is remembered and later output is dropped, and the command finishes
//! (an apply in progress must still record its run and release its lock).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; after the reader has closed the pipe, does nothing.
pub fn write(args: std::fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CLOSED.store(true, Ordering::Relaxed);
        } else {
            CLOSED.store(true, Ordering::Relaxed);
            eprintln!("mc: cannot write to standard output: {e}");
        }
    }
}

/// `print!` that survives a closed pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::write(format_args!($($arg)*)) };
}

/// `println!` that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::out::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::out::write(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Prints a JSON document, pretty, with its `schema` version (see
/// `docs/json.md`).
pub fn json(schema: u32, mut doc: serde_json::Value) {
    if let serde_json::Value::Object(map) = &mut doc {
        map.insert("schema".into(), schema.into());
    }
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    outln!("{text}");
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// `-q`: only errors on stderr (no progress, no notes).
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Diagnostics through `tracing` on stderr: warnings by default, `-v` adds
/// info, `-vv` debug, `-vvv` trace; `MC_LOG` (e.g. `MC_LOG=mc_runtime=debug`)
/// takes `RUST_LOG`-style filters and wins over the flags.
pub fn init_logging(verbose: u8, quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("MC_LOG")
        // salsa reports every query it runs at info: only its warnings.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},salsa=warn")));
    // With -v, each run, host, phase and resource span logs its time when
    // it closes: the spans that traces export.
    let span_events = if verbose >= 1 {
        tracing_subscriber::fmt::format::FmtSpan::CLOSE
    } else {
        tracing_subscriber::fmt::format::FmtSpan::NONE
    };
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(crate::style::stderr_color())
        .without_time()
        .with_target(verbose >= 2)
        .with_span_events(span_events)
        .with_filter(filter);
    // Traces get mc's spans whatever -v says.
    let traces = crate::telemetry::layer().map(|l| {
        l.with_filter(tracing_subscriber::EnvFilter::new(
            "mc_runtime=info,masterchef=info",
        ))
    });
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(traces)
        .try_init();
}
