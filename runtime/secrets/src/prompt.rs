//! Reading a secret from the terminal without echoing it.

use crate::SecretString;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use std::io::Write;
use zeroize::Zeroize;

/// Restores cooked mode even when reading fails half-way.
struct RawMode;

impl RawMode {
    fn enable() -> std::io::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Prints `prompt` on stderr and reads one line from the terminal with echo
/// off. Ctrl-C or Esc abandon it (`ErrorKind::Interrupted`).
pub fn read_hidden(prompt: &str) -> std::io::Result<SecretString> {
    let mut err = std::io::stderr();
    let mut value = String::new();
    let outcome = {
        // Echo goes off before the prompt shows, so nothing typed after it
        // appears can be echoed.
        let _raw = RawMode::enable()?;
        write!(err, "{prompt}")?;
        err.flush()?;
        loop {
            let key = match event::read() {
                Ok(Event::Key(key)) if key.kind != KeyEventKind::Release => key,
                Ok(Event::Paste(text)) => {
                    value.push_str(text.trim_end_matches(['\r', '\n']));
                    continue;
                }
                Ok(_) => continue,
                Err(e) => break Err(e),
            };
            let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
            match key.code {
                KeyCode::Enter => break Ok(()),
                // A newline arrives as Ctrl-J in raw mode.
                KeyCode::Char('j') if ctrl => break Ok(()),
                KeyCode::Char('c') if ctrl => break Err(std::io::ErrorKind::Interrupted.into()),
                KeyCode::Char('d') if ctrl => break Ok(()),
                KeyCode::Esc => break Err(std::io::ErrorKind::Interrupted.into()),
                KeyCode::Backspace => {
                    value.pop();
                }
                KeyCode::Char(c) if !ctrl => value.push(c),
                _ => {}
            }
        }
    };
    writeln!(err)?;
    match outcome {
        Ok(()) => Ok(SecretString::new(value)),
        Err(e) => {
            value.zeroize();
            Err(e)
        }
    }
}
