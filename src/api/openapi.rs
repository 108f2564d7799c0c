//! The OpenAPI 3 description of the HTTP API, served at `/openapi.json`. Generated from the
//! handlers' own annotations, so it cannot drift from the routes silently (a test checks
//! every registered route is described).

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    contents, creators, detect, disputes, earnings, export, metrics, oauth_linking, payouts, posts,
    social_accounts, unlinking, webhook_endpoints, webhooks,
};
use crate::domain::{AccountId, ConsentState, ContentId, CreatorId, MediaKind, Platform, PostId};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A creator's session JWT from the identity provider, or a service token (vmk_...) with scopes content:write, payouts:read or admin",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        let svix = utoipa::openapi::security::ApiKey::Header(
            utoipa::openapi::security::ApiKeyValue::with_description(
                "svix-signature",
                "The identity provider's Svix signature (with svix-id and svix-timestamp) over the delivery",
            ),
        );
        components.add_security_scheme("svix", SecurityScheme::ApiKey(svix));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "viewmark", description = "Invisible watermarks and verified social views for a Creator Program"),
    paths(
        creators::join,
        creators::me,
        creators::erase,
        creators::change_consent,
        creators::ledger,
        export::export,
        earnings::earnings,
        disputes::open,
        disputes::mine,
        disputes::list,
        disputes::resolve,
        webhook_endpoints::create,
        webhook_endpoints::list,
        webhook_endpoints::change,
        webhook_endpoints::delete,
        webhook_endpoints::deliveries,
        webhook_endpoints::replay,
        payouts::verified_views,
        payouts::create_statement,
        payouts::statement,
        payouts::flags,
        payouts::clear_flag,
        contents::enroll,
        contents::list,
        contents::get,
        detect::detect,
        social_accounts::link,
        social_accounts::list,
        social_accounts::verify,
        unlinking::unlink,
        oauth_linking::start,
        oauth_linking::callback,
        posts::register,
        posts::list,
        posts::get,
        posts::stop,
        metrics::metrics,
        webhooks::identity,
    ),
    components(schemas(webhook_endpoints::WebhookPayload)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// The page at `/docs`: Redoc rendering `/openapi.json` in the browser. Redoc's script comes
/// from its CDN (pinned version), so the service ships no JavaScript; without it the page
/// still links the document.
const DOCS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>viewmark API</title>
</head>
<body>
  <noscript>This page renders <a href="/openapi.json">/openapi.json</a> with JavaScript.</noscript>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="https://cdn.redoc.ly/redoc/v2.1.5/bundles/redoc.standalone.js"></script>
</body>
</html>
"#;

/// `GET /docs`.
pub async fn docs_page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(DOCS_PAGE)
}

/// Documents a domain enum as the API shows it: a string from a closed list. The domain knows
/// no OpenAPI, so its schemas are declared here.
macro_rules! string_enum_schema {
    ($ty:ty, $values:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some($values))
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {}
    };
}

string_enum_schema!(Platform, Platform::ALL.map(Platform::as_str));
string_enum_schema!(MediaKind, [MediaKind::Image, MediaKind::Video].map(MediaKind::as_str));
string_enum_schema!(ConsentState, [ConsentState::Granted, ConsentState::Revoked].map(ConsentState::as_str));

/// Documents a record id as the API shows it: a UUID string.
macro_rules! id_schema {
    ($($ty:ty),*) => {$(
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {}
    )*};
}

id_schema!(CreatorId, ContentId, AccountId, PostId);
