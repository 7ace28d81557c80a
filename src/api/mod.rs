//! The proxy's own endpoints. They live beside the relay and never shadow an
//! upstream path (upstream paths start with /v1/ or /backend-api/).

pub mod agents;
pub mod dashboard;
pub mod goals;
pub mod health;
pub mod metrics;
pub mod tasks;

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// A broadcast of events as Server-Sent Events, each named by `kind`, ending after the
/// event `last` says is the last (or when the sender goes). A slow reader skips
/// progress it missed; the end still comes.
pub fn event_stream<E>(
    receiver: broadcast::Receiver<E>,
    kind: fn(&E) -> &'static str,
    last: fn(&E) -> bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    E: Serialize + Clone + Send + 'static,
{
    let stream = futures_util::stream::unfold(Some(receiver), move |receiver| async move {
        let mut receiver = receiver?;
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    let end = last(&event);
                    let sse = Event::default()
                        .event(kind(&event))
                        .json_data(&event)
                        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
                    return Some((Ok(sse), (!end).then_some(receiver)));
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
