//! `GET /events`: the event bus as server-sent events. Each event's name is its kind
//! (`job-started`, `job-finished`, `candles-stored`) and its data the event as JSON; a client
//! too slow to keep up gets a `lagged` event saying how many it missed. The stream ends when
//! the server shuts down, so that connections can close.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::problem::Problem;
use crate::state::ApiState;

/// Server-sent events of the service's work.
#[utoipa::path(
    get,
    path = "/events",
    tag = "service",
    responses(
        (status = 200, description = "An endless text/event-stream: job-started, job-finished, candles-stored (data: the event as JSON with a type field) and lagged ({\"missed\": n})", content_type = "text/event-stream"),
        (status = "4XX", description = "A problem (a wrong method)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn events(State(state): State<ApiState>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let closing = state.inner.closing.clone().cancelled_owned();
    let stream = BroadcastStream::new(state.ctx().events.subscribe())
        .map(|item| {
            Ok(match item {
                Ok(event) => SseEvent::default()
                    .event(event.kind())
                    .json_data(&event)
                    .unwrap_or_else(|_| SseEvent::default().comment("unserialisable event")),
                Err(BroadcastStreamRecvError::Lagged(missed)) => SseEvent::default()
                    .event("lagged")
                    .data(format!("{{\"missed\":{missed}}}")),
            })
        })
        .take_until(closing);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(state.options().sse_keep_alive))
}
