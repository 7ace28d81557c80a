//! `codex-plus serve`: run the proxy in the foreground.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::CliError;
use crate::config::Config;
use crate::server::{ReadDeadlines, Server};
use crate::state::AppState;

/// A proxy running in this process.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Starts the graceful shutdown and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Binds and starts serving; returns once the port is open.
pub async fn start(config: Config) -> Result<Running, CliError> {
    let (tx, rx) = oneshot::channel();
    let (addr, task) = launch(config, async {
        let _ = rx.await;
    })
    .await?;
    Ok(Running {
        addr,
        stop: Some(tx),
        task,
    })
}

/// Serves until SIGTERM or ctrl-c.
pub async fn run(config: Config) -> Result<(), CliError> {
    let (_, task) = launch(config, crate::server::shutdown_signal()).await?;
    let _ = task.await;
    Ok(())
}

async fn launch(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, JoinHandle<()>), CliError> {
    let tls = if config.server.tls {
        Some(crate::ca::server_config(&config.home)?)
    } else {
        None
    };
    let listen = config.server.listen;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let mut server =
        Server::bind(listen, config.server.workers(), tls.clone(), grace).map_err(|e| {
            CliError::Bind {
                addr: listen.to_string(),
                cause: e.to_string(),
            }
        })?;
    server.reads = ReadDeadlines {
        header: config.server.header_read_timeout(),
        body: config.server.body_progress_timeout(),
    };
    let addr = server.local_addr();
    let state = AppState::new(config).map_err(|e| CliError::Other(e.to_string()))?;
    let mut urls = vec![format!("http://{addr}")];
    if tls.is_some() {
        urls.push(format!("https://{addr}"));
    }
    let _ = state.listen.set(urls);
    let _ = state.addr.set(addr);
    server.last_call = state.last_call.clone();
    tracing::info!(
        %addr,
        tls = tls.is_some(),
        openai = %state.config.upstream.openai,
        chatgpt = %state.config.upstream.chatgpt,
        "codex-plus listening"
    );
    let app = crate::app(state.clone());
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.cancel();
    };
    let sweeper = tokio::spawn(crate::hooks::session_end::sweep(state.clone()));
    let trimmer = tokio::spawn(crate::trim::when_quiet(state.stats.requests.clone()));
    let task = tokio::spawn(async move {
        server.run(app, shutdown).await;
        sweeper.abort();
        trimmer.abort();
        // The workers' runtimes are gone, and the Tasks they ran with them.
        state.goals.shutdown();
        // MCP servers' children were killed with the runtimes that ran them
        // (`kill_on_drop`); this also stops any a runtime still here holds.
        state.engine.mcp().shutdown().await;
        state.ledger.interrupt_open();
        // Every session ends with the proxy.
        let ended = state.sessions.take_all();
        crate::hooks::session_end::fire(&state, ended, "shutdown").await;
        state.ledger.flush().await.ok();
        // The last spans; the export blocks its thread while the runtime sends them.
        let telemetry = state.telemetry.clone();
        tokio::task::spawn_blocking(move || telemetry.shutdown())
            .await
            .ok();
    });
    Ok((addr, task))
}
