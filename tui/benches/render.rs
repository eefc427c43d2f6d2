//! Rendering cost of the run-detail view of a 100 hosts × 100 resources run
//! into a TestBackend (the target is ≥ 30 frames per second), the cost of
//! one poll of the state store, and the time to the first frame with data.

#[path = "../tests/fixture/mod.rs"]
mod fixture;

use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mc_state::StateStore;
use mc_tui::App;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::hint::black_box;

fn press(app: &mut App, code: KeyCode) {
    if let Some(action) = app.key_action(KeyEvent::new(code, KeyModifiers::NONE)) {
        app.update(action);
    }
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = StateStore::default_path(dir.path());
    let run = {
        let store = StateStore::open(&path).expect("store");
        fixture::fill_large(&store, 100, 100)
    };

    let mut app =
        mc_tui::app_for_store(&mc_state::StateLocation::Sqlite(path.clone())).expect("app");
    fixture::refresh(&mut app);
    app.update(mc_tui::Action::OpenRun(run));
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    terminal.draw(|f| app.draw(f)).expect("draw");
    assert!(mc_tui::buffer_text(terminal.backend().buffer()).contains("10000"));

    let mut group = c.benchmark_group("tui");
    group.bench_function("frame: run detail 100x100, cursor moving", |b| {
        let mut down = true;
        b.iter(|| {
            // Alternate so the selection keeps changing without hitting an end.
            press(&mut app, if down { KeyCode::Down } else { KeyCode::Up });
            down = !down;
            terminal.draw(|f| app.draw(f)).expect("draw");
            black_box(terminal.backend().buffer().area);
        })
    });
    group.bench_function("poll: load + apply a snapshot of 100x100", |b| {
        b.iter(|| fixture::refresh(&mut app))
    });
    group.bench_function("startup: open store to first frame with data", |b| {
        b.iter(|| {
            let mut app =
                mc_tui::app_for_store(&mc_state::StateLocation::Sqlite(path.clone())).expect("app");
            fixture::refresh(&mut app);
            let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
            terminal.draw(|f| app.draw(f)).expect("draw");
            black_box(terminal.backend().buffer().area);
        })
    });
    group.finish();
}

criterion_group! {
    name = tui;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(tui);
