//! `mc backups`: the backups a host keeps of one file, asked of the runner
//! as the user whose store holds them.

use crate::transport::{self, ConnectOptions};
use mc_ir::HostInfo;
use mc_runner::protocol::{BackupInfo, Request, Response};

/// The backup directory of `path` on `host` and its backups, oldest
/// first. `as_user` reads that user's store (as `become_user` would);
/// `None` the store of the user the host's runner runs as.
pub async fn list(
    host: &HostInfo,
    opts: &ConnectOptions,
    path: &str,
    as_user: Option<&str>,
) -> Result<(String, Vec<BackupInfo>), String> {
    let mut session = transport::connect(host, opts)
        .await
        .map_err(|e| e.to_string())?;
    let answer = async {
        let runner = session
            .runner_for(as_user)
            .await
            .map_err(|e| e.to_string())?;
        let request = Request::Backups { path: path.into() };
        match runner.request(&request, |_| {}).await {
            Ok(Response::Backups { dir, backups }) => Ok((dir, backups)),
            Ok(Response::Error { message, .. }) => Err(message),
            Ok(other) => Err(format!("unexpected answer: {}", other.to_line())),
            Err(e) => Err(e.to_string()),
        }
    }
    .await;
    session.close().await;
    answer
}
