//! The pipeline: one tower Layer per concern on a `/responses` turn, in the order of
//! docs/architecture.md.
//!
//! Each concern is a `Step`: it takes the turn, adapts it, and passes it on (or
//! answers the client itself). `StepLayer` turns any step into a tower Layer, so
//! each concern's folder holds only that concern. A step runs only for the kinds of request
//! its concern applies to (`proxy::kind`): Codex's internal requests pass through
//! every layer untouched.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

use super::kind::Concern;
use super::{hooks, slash, status_line, task};
use super::{InheritFrom, Turn};
use crate::proxy::responses::{Dispatch, Pipeline};
use crate::proxy::upstream::Backend;
use crate::state::SharedState;

/// One concern applied to a turn on its way upstream.
pub trait Step: Send + Sync + 'static {
    /// What this step is, in the table of which concern applies to which request.
    fn concern(&self) -> Concern;
    /// The adapted turn, or `Err(response)` to answer the client without going upstream.
    fn apply(&self, turn: Turn) -> impl Future<Output = Result<Turn, Response>> + Send;
}

/// The stack around dispatch. History first (the model must see what really
/// happened), the Task tool last (it lists the agents of the workspace the earlier
/// steps settled on).
pub fn stack(state: SharedState, dispatch: Dispatch) -> Pipeline {
    let catalogs = state.catalogs.clone();
    let config = &state.config;
    let inherit = InheritFrom {
        bases: [Backend::OpenAi, Backend::ChatGpt].map(|b| state.upstreams.base(b).to_string()),
        default_model: config.tasks.default_model.clone(),
    };
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(StepLayer::new(task::history::History::new(
                state.ledger.clone(),
            )))
            .layer(StepLayer::new(hooks::PromptHooks::new(
                state.hooks.clone(),
                state.sessions.clone(),
                state.ledger.clone(),
                inherit.clone(),
            )))
            .layer(StepLayer::new(hooks::CompactHooks::new(
                state.hooks.clone(),
                inherit.clone(),
            )))
            .layer(StepLayer::new(
                slash::Slash::new(catalogs.clone(), &config.commands).forking(
                    slash::fork::Forker::new(
                        state.engine.clone(),
                        state.goals.clone(),
                        inherit.clone(),
                    ),
                ),
            ))
            .layer(StepLayer::new(
                status_line::StatusLine::new(catalogs.clone(), &config.status_line)
                    .keeping(state.sessions.clone(), state.ledger.clone()),
            ))
            .layer(StepLayer::new(
                task::TaskTool::new(catalogs, config.tasks.enabled, config.commands.enabled)
                    .notifying(task::Notices {
                        background: state.background.clone(),
                        sessions: state.sessions.clone(),
                        ledger: state.ledger.clone(),
                    }),
            ))
            .service(dispatch),
    )
}

/// A tower Layer running one `Step` before the inner service.
pub struct StepLayer<T>(Arc<T>);

impl<T> StepLayer<T> {
    pub fn new(step: T) -> StepLayer<T> {
        StepLayer(Arc::new(step))
    }
}

impl<T> Clone for StepLayer<T> {
    fn clone(&self) -> Self {
        StepLayer(self.0.clone())
    }
}

impl<S, T> Layer<S> for StepLayer<T> {
    type Service = StepService<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        StepService(Arc::new(Layered {
            step: self.0.clone(),
            inner,
        }))
    }
}

/// A step and the service after it, shared: a clone of the stack, which every turn
/// takes, is one count, not one per layer below it.
pub struct StepService<S, T>(Arc<Layered<S, T>>);

struct Layered<S, T> {
    step: Arc<T>,
    inner: S,
}

impl<S, T> Clone for StepService<S, T> {
    fn clone(&self) -> Self {
        StepService(self.0.clone())
    }
}

impl<S, T> Service<Turn> for StepService<S, T>
where
    S: Service<Turn, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
    T: Step,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    /// The step is always ready; the service after it is made ready when the turn
    /// reaches it.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, turn: Turn) -> Self::Future {
        let layered = self.0.clone();
        Box::pin(async move {
            if !turn.applies(layered.step.concern()) {
                return layered.inner.clone().oneshot(turn).await;
            }
            match layered.step.apply(turn).await {
                Ok(turn) => layered.inner.clone().oneshot(turn).await,
                Err(answer) => Ok(answer),
            }
        })
    }
}
