//! Asking a manager from a handler: through its mailbox probe, answered on a oneshot channel.

use super::problem::ApiError;
use crate::managers::slot::Slot;

/// Ask an actor on a client path: the request goes through the kind's probe, so a full mailbox is
/// a counted refusal (503 with Retry-After), and the answer comes back on a oneshot channel. How
/// long the client waits for it is bounded for every API request alike (`within_bound`).
pub(crate) async fn ask<A, M, R>(
    slot: &Slot<A>,
    probe: &hive_actors::MailboxProbe,
    what: &'static str,
    request: impl FnOnce(tokio::sync::oneshot::Sender<R>) -> M,
) -> Result<R, ApiError>
where
    A: actix::Actor + actix::Handler<M>,
    A::Context: actix::dev::ToEnvelope<A, M>,
    M: actix::Message + Send + 'static,
    M::Result: Send,
{
    let restarting = || ApiError::Unavailable(format!("the {what} is restarting"));
    let addr = slot.get().ok_or_else(restarting)?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    probe
        .try_send(&addr, request(reply))
        .map_err(|refused| match refused {
            hive_actors::Refused::Full { .. } => ApiError::Busy(what),
            hive_actors::Refused::Closed { .. } => restarting(),
        })?;
    answer
        .await
        .map_err(|_| ApiError::Unavailable(format!("the {what} stopped")))
}
