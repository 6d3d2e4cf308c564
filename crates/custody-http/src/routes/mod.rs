//! Routes by dialect, then by resource: [`connect`], [`platform`] and [`accounts`] hold one
//! file per resource; [`health`] the operational endpoints; [`provider_notifications`] what
//! custody providers send us (not partner-facing, so not in the OpenAPI document).
//!
//! Every partner-facing endpoint is declared once, in its handler's `#[utoipa::path]`: path
//! and method come from there for routing *and* for the document. A resource file lists its
//! handlers in one `endpoints` function; [`endpoints`] collects them all.

pub mod accounts;
pub mod connect;
pub mod health;
pub mod platform;
pub mod provider_notifications;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, ServiceConfig};
use actix_web::{FromRequest, Handler, HttpResponse, Responder, ResponseError, Route};
use utoipa::openapi::path::{HttpMethod, Paths};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};
use utoipa_actix_web::OpenApiFactory;

use crate::error::{ApiError, ErrorType};

/// Every endpoint of the API.
pub fn endpoints() -> Endpoints {
    let mut api = Endpoints::default();
    health::endpoints(&mut api);
    connect::endpoints(&mut api);
    platform::endpoints(&mut api);
    accounts::endpoints(&mut api);
    provider_notifications::endpoints(&mut api);
    api
}

/// Routes with their OpenAPI description, collected once and handed to actix and to the
/// document.
#[derive(Default)]
pub struct Endpoints {
    routes: Vec<(String, Method, Route)>,
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

impl Endpoints {
    /// A documented endpoint: `doc` is the `__path_<handler>` item `#[utoipa::path]` generates;
    /// the route is served at the path and method it declares.
    pub fn add<D, F, Args>(&mut self, doc: D, handler: F) -> &mut Self
    where
        D: OpenApiFactory + utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let path = D::path();
        for method in D::methods() {
            let method = http_method(&method);
            self.routes.push((
                path.clone(),
                method.clone(),
                web::method(method).to(handler.clone()),
            ));
        }
        self.paths.merge(doc.paths());
        doc.schemas(&mut self.schemas);
        self
    }

    /// An endpoint outside the partner API (no OpenAPI description).
    pub fn undocumented<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.routes.push((
            path.to_owned(),
            method.clone(),
            web::method(method).to(handler),
        ));
        self
    }

    /// Registers the routes, one resource per path: a known path asked with another method
    /// answers 405 with `Allow` listing the path's methods (RFC 9110 §15.5.6), an unknown path
    /// falls through to the default service (404).
    pub fn configure(self, cfg: &mut ServiceConfig) {
        let mut resources: Vec<(String, Vec<Method>, Vec<Route>)> = Vec::new();
        for (path, method, route) in self.routes {
            match resources.iter_mut().find(|(known, ..)| *known == path) {
                Some((_, methods, routes)) => {
                    methods.push(method);
                    routes.push(route);
                }
                None => resources.push((path, vec![method], vec![route])),
            }
        }
        for (path, mut methods, routes) in resources {
            methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            let allow = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let resource = routes
                .into_iter()
                .fold(web::resource(path), actix_web::Resource::route)
                .default_service(web::to(move || {
                    let allow = allow.clone();
                    async move { method_not_allowed(&allow) }
                }));
            cfg.service(resource);
        }
    }

    /// `base` with every documented path and the schemas they use.
    pub fn document(self, mut base: OpenApi) -> OpenApi {
        base.paths.merge(self.paths);
        base.components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(self.schemas);
        base
    }
}

/// 405 in the envelope, with `Allow`.
fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorType::InvalidRequest,
        "method_not_allowed",
        "this endpoint does not support the request method",
    )
    .error_response();
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn http_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}
