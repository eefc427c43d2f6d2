//! A private tmux server for tests that drive a real program in a real
//! terminal (Ctrl-C, live views). Every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long any wait on the screen may take.
pub const BOUND: Duration = Duration::from_secs(60);

/// A tmux server of our own, killed when the value is dropped.
pub struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    pub fn new(dir: &Path) -> Tmux {
        Tmux {
            socket: dir.join("tmux.sock"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-u")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env("LANG", "C.UTF-8")
            .env_remove("TMUX")
            .output()
            .expect("tmux is installed (scripts/install-test-deps installs it)")
    }

    /// Starts `program ARGS` in a detached 100×30 session named `name`,
    /// in `cwd`. A shell around it prints `[exited N]` when it ends, even
    /// after Ctrl-C.
    pub fn start(&self, name: &str, cwd: &Path, program: &Path, args: &[&str]) {
        let mut words = vec![
            "sh".to_string(),
            "-c".to_string(),
            // The wrapper outlives Ctrl-C (a trap with a command is not
            // inherited, so the program still gets the signal).
            r#"trap true INT TERM HUP; "$@"; echo "[exited $?]""#.to_string(),
            "sh".to_string(),
            program.display().to_string(),
        ];
        words.extend(args.iter().map(|a| a.to_string()));
        let line = words
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let cwd = cwd.display().to_string();
        let out = self.cmd(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            name,
            "-c",
            &cwd,
            "-e",
            "TERM=xterm-256color",
            &line,
            ";",
            "set-option",
            "-t",
            name,
            "remain-on-exit",
            "on",
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends keys by tmux name (`C-c`, `Enter`).
    pub fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The screen and the lines scrolled off it.
    pub fn history(&self, name: &str) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-S", "-300", "-t", name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen (with history) until `cond` holds; fails with it.
    pub fn wait_for(&self, name: &str, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.history(name);
            if cond(&screen) {
                return screen;
            }
            if start.elapsed() > BOUND {
                panic!("waited {BOUND:?} for {what}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the program to exit and returns its exit status.
    pub fn wait_exit(&self, name: &str) -> i32 {
        let screen = self.wait_for(name, "the program to exit", |s| s.contains("[exited "));
        let tail = &screen[screen.find("[exited ").unwrap_or(0)..];
        tail.trim_start_matches("[exited ")
            .split(']')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Waits (bounded) until `cond` holds; panics naming `what`.
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "waited {BOUND:?} for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
