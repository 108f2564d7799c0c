//! `/_sim/...`: the simulator's own control API, for driving it from outside a test process
//! (the demo, a shell): inject faults, change posts, move time, expire tokens, count requests.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use std::sync::atomic::Ordering;

use super::{lock, Fault, FaultTarget, SimPostState, SimState};
use crate::domain::Platform;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/_sim/faults", web::post().to(add_fault))
        .route("/_sim/faults", web::delete().to(clear_faults))
        .route("/_sim/posts/{platform}/{id}", web::post().to(set_post))
        .route("/_sim/clock", web::post().to(advance))
        .route("/_sim/tokens/{platform}/{handle}/expire", web::post().to(expire))
        .route("/_sim/requests", web::get().to(requests));
}

async fn add_fault(state: web::Data<SimState>, fault: web::Json<Fault>) -> HttpResponse {
    lock(&state.faults).push(fault.into_inner());
    HttpResponse::NoContent().finish()
}

async fn clear_faults(state: web::Data<SimState>) -> HttpResponse {
    lock(&state.faults).clear();
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct PostChange {
    state: SimPostState,
}

async fn set_post(
    state: web::Data<SimState>,
    path: web::Path<(String, String)>,
    change: web::Json<PostChange>,
) -> HttpResponse {
    let (platform, id) = path.into_inner();
    let Some(platform) = Platform::parse(&platform) else {
        return HttpResponse::NotFound().finish();
    };
    lock(&state.post_states).insert((platform, id), change.state);
    HttpResponse::NoContent().finish()
}

#[derive(Deserialize)]
struct Advance {
    advance_secs: u64,
}

async fn advance(state: web::Data<SimState>, body: web::Json<Advance>) -> HttpResponse {
    state.clock_offset.fetch_add(body.advance_secs, Ordering::SeqCst);
    HttpResponse::NoContent().finish()
}

async fn expire(state: web::Data<SimState>, path: web::Path<(String, String)>) -> HttpResponse {
    let (platform, handle) = path.into_inner();
    let Some(platform) = Platform::parse(&platform) else {
        return HttpResponse::NotFound().finish();
    };
    match lock(&state.tokens).get_mut(&(platform, handle)) {
        Some(token) => {
            token.expired = true;
            HttpResponse::NoContent().finish()
        }
        None => HttpResponse::NotFound().finish(),
    }
}

async fn requests(state: web::Data<SimState>) -> HttpResponse {
    let counts = lock(&state.requests);
    let all = [
        FaultTarget::Youtube,
        FaultTarget::Tiktok,
        FaultTarget::Instagram,
        FaultTarget::X,
        FaultTarget::Media,
    ];
    let body: serde_json::Map<String, serde_json::Value> = all
        .iter()
        .map(|t| {
            (
                serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
                counts.get(t).copied().unwrap_or(0).into(),
            )
        })
        .collect();
    HttpResponse::Ok().json(body)
}
