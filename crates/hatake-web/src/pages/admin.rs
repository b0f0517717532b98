//! Being written.

use crate::{AppState, RouteSpec};
use axum::routing::MethodRouter;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    Vec::new()
}
