//! Who the caller is in the Creator Program: their creator record, whether they may start
//! new processing, and whose contents they may see.

use actix_web::http::StatusCode;

use super::{service_token, Caller};
use crate::api::error::ApiError;
use crate::api::AppState;
use crate::domain::{ConsentState, Creator, CreatorId};

/// The caller's creator record, or 404 when they have not joined.
pub async fn current_creator(state: &AppState, caller: &Caller) -> Result<Creator, ApiError> {
    let identity = caller.creator()?;
    state.store.creator_by_user_id(&identity.user_id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_joined", "you have not joined the Creator Program")
    })
}

/// Refuses new processing (enrollment, linking) while the creator's tracking consent is
/// revoked: restriction means the data is kept but nothing new is done with it.
pub fn require_tracking_consent(creator: &Creator) -> Result<(), ApiError> {
    if creator.consent == ConsentState::Revoked {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "consent_revoked",
            "tracking consent is revoked: grant it again first",
        ));
    }
    Ok(())
}

/// Whose contents the caller may see: `None` for an operator (all), else the caller's own
/// creator id. Other callers are refused.
pub async fn content_viewer(state: &AppState, caller: &Caller) -> Result<Option<CreatorId>, ApiError> {
    match caller {
        Caller::Service(_) => {
            caller.service_with(service_token::ADMIN)?;
            Ok(None)
        }
        Caller::Creator(_) => Ok(Some(current_creator(state, caller).await?.id)),
    }
}

/// The caller as a joined creator: extracting it authenticates the caller and loads their
/// creator record (401 without credentials, 403 for a service, 404 when not joined).
#[derive(Debug, Clone)]
pub struct JoinedCreator(pub Creator);

impl actix_web::FromRequest for JoinedCreator {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<JoinedCreator, ApiError>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let state = req.app_data::<actix_web::web::Data<AppState>>().cloned();
        Box::pin(async move {
            let (caller, state) = (caller.await?, state.ok_or_else(ApiError::internal)?);
            current_creator(&state, &caller).await.map(JoinedCreator)
        })
    }
}
