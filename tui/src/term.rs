//! The terminal and the one event loop: a thread turns terminal events into
//! messages, a poller thread sends fresh snapshots of the state store, and
//! the loop applies them and redraws. The terminal is restored on every
//! way out: normal exit, error, Ctrl-C (a key in raw mode), panic, and the
//! signals that end a terminal program (SIGTERM, SIGHUP, SIGINT, SIGQUIT),
//! which are turned into a message for the loop so the restore runs on the
//! main thread, after which the signal's default action ends the process.

use crate::action::{Action, Snapshot};
use crate::app::App;
use crate::data::DataSource;
use crossterm::event::{self, Event};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::Stdout;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// How often the state store is read for live updates.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Loads what the views need in one go.
pub fn load_snapshot(source: &dyn DataSource, watched: Option<i64>) -> Snapshot {
    Snapshot {
        runs: Some(source.runs(500)),
        detail: watched.map(|id| (id, source.run_detail(id))),
        drift: Some(source.drift()),
        pending: Some(source.pending_plans()),
    }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal when dropped, whatever the way out.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

fn setup() -> std::io::Result<(Terminal<CrosstermBackend<Stdout>>, TerminalGuard)> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Leave raw mode first so the panic message is readable.
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    let guard = TerminalGuard;
    execute!(std::io::stdout(), EnterAlternateScreen)?;
    let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
    Ok((terminal, guard))
}

enum Msg {
    Event(Event),
    Data(Box<Snapshot>),
    InputError(String),
    Signal(i32),
}

/// The signals that stop the TUI. SIGINT and SIGQUIT matter when sent with
/// `kill`: typed, they arrive as keys in raw mode.
const STOP_SIGNALS: [i32; 4] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGQUIT,
];

/// Forwards the stop signals to the loop until the returned handle is
/// closed.
fn spawn_signal_thread(tx: mpsc::Sender<Msg>) -> std::io::Result<signal_hook::iterator::Handle> {
    let mut signals = signal_hook::iterator::Signals::new(STOP_SIGNALS)?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if tx.send(Msg::Signal(signal)).is_err() {
                return;
            }
        }
    });
    Ok(handle)
}

/// How the loop ended.
enum Exit {
    Quit,
    Error(String),
    Signal(i32),
}

/// Runs the app until the user quits.
pub fn run(app: App) -> Result<(), String> {
    let (tx, rx) = mpsc::channel::<Msg>();
    // Before the terminal changes, so no signal finds it changed and
    // unhandled.
    let signals =
        spawn_signal_thread(tx.clone()).map_err(|e| format!("cannot handle signals: {e}"))?;
    let (terminal, guard) = match setup() {
        Ok(t) => t,
        Err(e) => {
            signals.close();
            return Err(format!("cannot set up the terminal: {e}"));
        }
    };
    let exit = event_loop(app, terminal, tx, rx);
    drop(guard);
    signals.close();
    match exit {
        Exit::Quit => Ok(()),
        Exit::Error(e) => Err(e),
        Exit::Signal(signal) => {
            // The terminal is back to normal: now die of the signal, as
            // the process would have without a handler, so the parent sees
            // how it ended.
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            Err(format!("stopped by signal {signal}"))
        }
    }
}

fn event_loop(
    mut app: App,
    mut terminal: Terminal<CrosstermBackend<Stdout>>,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
) -> Exit {
    let stop = Arc::new(AtomicBool::new(false));

    // Draw once before any data: the first frame should not wait on SQLite.
    if let Err(e) = terminal.draw(|f| app.draw(f)) {
        return Exit::Error(e.to_string());
    }

    let input_tx = tx.clone();
    let input_stop = stop.clone();
    std::thread::spawn(move || {
        while !input_stop.load(Ordering::Relaxed) {
            // Poll with a timeout so the thread notices `stop`.
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if input_tx.send(Msg::Event(ev)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = input_tx.send(Msg::InputError(e.to_string()));
                        return;
                    }
                },
                Ok(false) => {}
                Err(e) => {
                    let _ = input_tx.send(Msg::InputError(e.to_string()));
                    return;
                }
            }
        }
    });

    if let Some(source) = app.source() {
        spawn_poller(source, app.watched(), stop.clone(), tx.clone());
    }
    drop(tx);

    let exit = 'outer: loop {
        let mut msg = match rx.recv() {
            Ok(m) => m,
            Err(_) => break Exit::Quit,
        };
        // Apply a burst of messages, then draw one frame.
        loop {
            match msg {
                Msg::Event(Event::Key(key)) => app.handle_key(key),
                Msg::Event(_) => {}
                Msg::Data(snapshot) => app.update(Action::Data(snapshot)),
                Msg::InputError(e) => {
                    break 'outer Exit::Error(format!("cannot read the terminal: {e}"))
                }
                Msg::Signal(signal) => break 'outer Exit::Signal(signal),
            }
            if app.should_quit {
                break 'outer Exit::Quit;
            }
            match rx.try_recv() {
                Ok(next) => msg = next,
                Err(_) => break,
            }
        }
        if let Err(e) = terminal.draw(|f| app.draw(f)) {
            break Exit::Error(e.to_string());
        }
    };
    stop.store(true, Ordering::Relaxed);
    exit
}

fn spawn_poller(
    source: Arc<dyn DataSource>,
    watched: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    tx: mpsc::Sender<Msg>,
) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let id = watched.load(Ordering::Relaxed);
            let snapshot = load_snapshot(source.as_ref(), (id != 0).then_some(id));
            if tx.send(Msg::Data(Box::new(snapshot))).is_err() {
                return;
            }
            // Sleep in small steps so quitting is not delayed by a poll.
            let mut slept = Duration::ZERO;
            while slept < POLL_INTERVAL && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                slept += Duration::from_millis(50);
            }
        }
    });
}
