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
use crate::domain::{
    AccountId, ConsentState, ContentId, CreatorId, ErasureReason, MediaKind, Platform, PostId,
};

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

/// Declares on every operation the errors any route can answer besides its own: an
/// authenticated route's 401, 403 (a bearer route), 429 and 503 (both with `Retry-After`) and
/// 500; a body's 400, 413 and 415; a path id's 404 (it does not parse, or names nothing).
/// Each is the JSON error body. A route's own description of a status is kept.
struct DeclaredErrors;

impl DeclaredErrors {
    fn error(description: &str, retry_after: bool) -> utoipa::openapi::Response {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let mut response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorDoc"))).build(),
        );
        if retry_after {
            let seconds =
                utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::Integer);
            let mut header = utoipa::openapi::header::Header::new(seconds);
            header.description = Some("Seconds to wait before trying again".into());
            response = response.header("Retry-After", header);
        }
        response.build()
    }
}

impl Modify for DeclaredErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations =
                [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                let security = serde_json::to_string(&operation.security).unwrap_or_default();
                let bearer = security.contains("\"bearer\"");
                let authenticated = bearer || security.contains("\"svix\"");
                let has_body = operation.request_body.is_some();
                let located = |place: utoipa::openapi::path::ParameterIn| {
                    operation.parameters.iter().flatten().any(|p| p.parameter_in == place)
                };
                let has_path_id = located(utoipa::openapi::path::ParameterIn::Path);
                let has_query = located(utoipa::openapi::path::ParameterIn::Query);
                let mut declared: Vec<(&str, &str, bool)> = vec![
                    ("500", "An internal error", false),
                    (
                        "503",
                        "Overloaded, or the database is unreachable: try again after `Retry-After`",
                        true,
                    ),
                ];
                if authenticated {
                    declared.push(("401", "Missing, malformed, expired or revoked credentials", false));
                    declared.push((
                        "429",
                        "Over the caller's request rate: try again after `Retry-After`",
                        true,
                    ));
                }
                if bearer {
                    declared.push(("403", "Credentials of a caller this route does not serve", false));
                }
                if has_body {
                    declared.push(("400", "A malformed body or parameter", false));
                    declared.push(("413", "The body is over its size limit", false));
                    declared.push(("415", "The body's content type is not one this route takes", false));
                }
                if has_query {
                    declared.push(("400", "A malformed parameter", false));
                }
                if has_path_id {
                    declared.push(("404", "No such resource (or not the caller's)", false));
                }
                for (status, description, retry_after) in declared {
                    if !operation.responses.responses.contains_key(status) {
                        operation.responses.responses.insert(
                            status.to_owned(),
                            utoipa::openapi::RefOr::T(Self::error(description, retry_after)),
                        );
                    }
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "viewmark", description = "Invisible watermarks and verified social views for a Creator Program"),
    paths(
        creators::join,
        creators::me,
        creators::correct,
        creators::erase,
        creators::admin_erase,
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
        contents::delete,
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
    modifiers(&BearerAuth, &DeclaredErrors)
)]
pub struct ApiDoc;

/// `GET /openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// The page at `/docs`: Redoc rendering `/openapi.json` in the browser. Redoc's script is
/// served by the binary itself (`assets/redoc/`, MIT), so the page works where the service
/// cannot reach the internet and names no other host.
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
  <script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// Redoc 2.1.5's standalone bundle, from the `redoc` npm package.
const REDOC_SCRIPT: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

/// `GET /docs`.
pub async fn docs_page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(DOCS_PAGE)
}

/// `GET /docs/redoc.standalone.js`: the renderer `/docs` loads; it changes only with the
/// binary, so clients may keep it for a day.
pub async fn docs_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=86400"))
        .body(REDOC_SCRIPT)
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
string_enum_schema!(ErasureReason, ErasureReason::ALL.map(ErasureReason::as_str));
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
