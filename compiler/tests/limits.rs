//! Hostile input: every case ends quickly with a coded, located error and
//! bounded output, never a crash, a hang or exhausted memory.

mod common;

use common::{codes, project};
use std::time::Instant;

/// Runs `f` on a thread with the small stack of a test or language-server
/// worker (2 MiB), so a deep recursion shows as a crash here.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no crash")
}

#[test]
fn a_chain_of_200k_operators_is_e0028_not_a_stack_overflow() {
    let (diags, text) = on_small_stack(|| {
        let src = format!(
            "host \"h\" {{}}\nlet x = {}\n",
            vec!["1"; 200_000].join(" + ")
        );
        let p = project(&src, &[]);
        let diags = p.check();
        let text = p.render(&diags, false);
        (diags, text)
    });
    assert_eq!(codes(&diags), ["E0028"], "{text}");
    // The 1 MB line is shown as a window around the place, not whole.
    assert!(text.len() < 2_000, "{} bytes", text.len());
    assert!(text.contains("main.mc:2:9"), "{text}");

    // The longest chain allowed still compiles, on the same small stack.
    let diags = on_small_stack(|| {
        let ones = vec!["1"; mc_grammar::MAX_CHAIN + 1].join(" + ");
        let src = format!("host \"h\" {{}}\nlet x: Int = {ones}\non all {{\n  file \"/x\" {{ content = \"${{x}}\" }}\n}}\n");
        project(&src, &[]).check()
    });
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn string_doubling_and_nested_comprehensions_hit_the_budget() {
    let doubling = "host \"h\" {}\nfn d(s: String, n: Int) -> String = if n == 0 { s } else { d(s + s, n - 1) }\non all {\n  file \"/x\" { content = d(\"ab\", 60) }\n}\n";
    let nested = "host \"h\" {}\nlet big = [[j for j in range(0, 1000000)] for i in range(0, 1000000)]\non all {\n  file \"/x\" { content = \"${len(big)}\" }\n}\n";
    let steps = "host \"h\" {}\nfn f(n: Int) -> Int = if n == 0 { 0 } else { len([f(n - 1) for i in range(0, 50)]) }\non all {\n  file \"/x\" { content = \"${f(40)}\" }\n}\n";
    for (src, budget) in [(doubling, "bytes"), (nested, "elements"), (steps, "steps")] {
        let p = project(src, &[]);
        let diags = p.check();
        let text = p.render(&diags, false);
        assert!(
            !diags.is_empty() && diags.iter().all(|d| d.code == "E0317"),
            "{text}"
        );
        assert!(
            text.contains(&format!("the {budget} budget ran out")),
            "{text}"
        );
    }
}

fn syntax_errors(n: usize) -> String {
    format!("host \"h\" {{}}\n{}", "let = \n".repeat(n))
}

#[test]
fn many_syntax_errors_are_capped_and_linear() {
    let time = |n: usize| {
        let p = project(&syntax_errors(n), &[]);
        let started = Instant::now();
        let diags = p.check();
        let text = p.render(&diags, false);
        (started.elapsed().as_secs_f64(), diags, text)
    };
    let (small, _, _) = time(4_000);
    let (large, diags, text) = time(40_000);
    assert_eq!(diags.len(), 101, "{}", diags.len());
    let last = diags.last().expect("a summary");
    assert_eq!(last.code, "W0002");
    assert!(
        last.message.starts_with("39900 more diagnostics"),
        "{}",
        last.message
    );
    assert!(text.len() < 100_000, "{} bytes", text.len());
    // Ten times the errors: linear is about 10x, quadratic 100x.
    let ratio = large / small.max(1e-6);
    assert!(ratio < 30.0, "40k errors took {ratio:.1}x as long as 4k");
}

#[test]
fn thousands_of_unclosed_interpolations_print_a_bounded_report() {
    let src = format!("host \"h\" {{}}\n{}", "let a = \"${\n".repeat(5_000));
    let p = project(&src, &[]);
    let diags = p.check();
    let text = p.render(&diags, false);
    assert!(diags.len() <= 101, "{}", diags.len());
    assert!(text.len() < 100_000, "{} bytes", text.len());
}
