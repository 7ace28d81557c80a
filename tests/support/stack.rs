//! An in-process proxy whose `/responses` pipeline is exactly the slash command and
//! status line steps around dispatch, whatever `turn::pipeline::stack` wires, with the
//! Claude files' home directory chosen by the test.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use codex_plus::claude::{ClaudeCatalogs, Roots};
use codex_plus::config::Config;
use codex_plus::proxy::responses::Dispatch;
use codex_plus::proxy::{self, Relay};
use codex_plus::state::AppState;
use codex_plus::turn::pipeline::StepLayer;
use codex_plus::turn::slash::Slash;
use codex_plus::turn::status_line::StatusLine;
use tower::util::BoxCloneSyncService;
use tower::ServiceBuilder;

/// A plain-HTTP proxy to `upstream`, reading Claude files with `user_home` as the home
/// directory, with the config `edit` leaves. Stops when dropped.
pub struct StepProxy {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StepProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn proxy(
    upstream: &str,
    state_home: &Path,
    user_home: &Path,
    edit: impl FnOnce(&mut Config),
) -> StepProxy {
    let mut config = Config::defaults(state_home.to_path_buf());
    config.server.tls = false;
    config.upstream.openai = upstream.to_string();
    config.upstream.chatgpt = upstream.to_string();
    edit(&mut config);
    let catalogs = Arc::new(ClaudeCatalogs::new(Roots::with_home(user_home)));
    let slash = Slash::new(catalogs.clone(), &config.commands);
    let status = StatusLine::new(catalogs, &config.status_line);
    let state = AppState::new(config).expect("proxy state");
    let pipeline = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(StepLayer::new(slash))
            .layer(StepLayer::new(status))
            .service(Dispatch::new(state.clone())),
    );
    let app = axum::Router::new()
        .fallback(proxy::handle)
        .with_state(Relay { state, pipeline });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    StepProxy { addr, task }
}
