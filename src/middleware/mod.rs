//! One tower Layer per concern on a `/responses` turn, in the order DESIGN.md gives.

use tower::util::BoxCloneSyncService;
use tower::ServiceBuilder;

use crate::proxy::responses::{Dispatch, Pipeline};
use crate::state::SharedState;

/// The stack around dispatch.
pub fn stack(_state: SharedState, dispatch: Dispatch) -> Pipeline {
    BoxCloneSyncService::new(ServiceBuilder::new().service(dispatch))
}
