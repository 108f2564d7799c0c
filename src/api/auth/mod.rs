//! Who is calling: a creator with a session JWT, or a service with an opaque scoped token.
//! Every route takes a `Caller` and says what it accepts; no credentials or bad ones are a
//! 401, valid credentials without the right are a 403.

mod creator;
mod jwks;
mod jwt;
pub mod service_token;

pub use creator::{content_viewer, current_creator, require_tracking_consent, JoinedCreator};
pub use jwt::AuthSettings;

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use uuid::Uuid;

use super::error::ApiError;
use super::AppState;
pub use jwt::{CreatorIdentity, CreatorVerifier, VerifierError};

/// A service token's holder.
#[derive(Debug, Clone)]
pub struct ServiceCaller {
    pub token_id: Uuid,
    pub scopes: Vec<String>,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    Creator(CreatorIdentity),
    Service(ServiceCaller),
}

impl Caller {
    /// The creator behind a creator token; services are refused.
    pub fn creator(&self) -> Result<&CreatorIdentity, ApiError> {
        match self {
            Caller::Creator(identity) => Ok(identity),
            Caller::Service(_) => Err(forbidden("this route is for creators")),
        }
    }

    /// A service holding `scope`; creators and other services are refused.
    pub fn service_with(&self, scope: &str) -> Result<&ServiceCaller, ApiError> {
        match self {
            Caller::Service(service) if service.scopes.iter().any(|s| s == scope) => Ok(service),
            _ => Err(forbidden(format!("this route needs a service token with scope {scope}"))),
        }
    }

    /// Whose budget a request counts against.
    pub fn limit_key(&self) -> String {
        match self {
            Caller::Creator(identity) => format!("creator:{}", identity.user_id),
            Caller::Service(s) => format!("service:{}", s.token_id),
        }
    }

    /// An id safe to log: the token id for services; creators are logged by creator id
    /// where a route resolves one, never by their identity provider id.
    pub fn log_id(&self) -> String {
        match self {
            Caller::Creator(_) => "creator".into(),
            Caller::Service(s) => s.token_id.to_string(),
        }
    }
}

pub fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

pub fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req.headers().get(actix_web::http::header::AUTHORIZATION).cloned();
        Box::pin(async move {
            let state = state.ok_or_else(ApiError::internal)?;
            let header = header.ok_or_else(|| unauthorized("missing Authorization: Bearer credentials"))?;
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| unauthorized("the Authorization header must be 'Bearer <token>'"))?;
            let caller = if token.starts_with(service_token::PREFIX) {
                let found = state
                    .store
                    .active_service_token(&service_token::hash(token))
                    .await?
                    .ok_or_else(|| unauthorized("unknown or revoked service token"))?;
                Caller::Service(ServiceCaller { token_id: found.id, scopes: found.scopes })
            } else {
                state
                    .verifier
                    .verify(token)
                    .await
                    .map(Caller::Creator)
                    .ok_or_else(|| unauthorized("invalid or expired session token"))?
            };
            state.rate_limiter.check(&caller.limit_key())?;
            Ok(caller)
        })
    }
}
