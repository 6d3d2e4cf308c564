//! Reading requests: JSON bodies, query strings and path ids, each failure rendered with the
//! envelope and the right status, never a 500.
//!
//! - A body must be `application/json` (415 otherwise) and well-formed (400
//!   `malformed_json`); a field of the wrong type or a missing one is 422 naming the field;
//!   an unknown field is 422 `unknown_field` naming it (request structs use
//!   `deny_unknown_fields`: a typo'd field must never be silently ignored).
//! - Query strings are strict too: an unknown or malformed parameter is 400 naming it.
//! - Path ids are parsed into their typed ids: 400 naming the parameter when malformed.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::HttpRequest;
use custody_core::id::IdError;
use custody_core::page::PageRequest;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use ulid::Ulid;

use crate::error::{ApiError, FieldError};

/// Parses a JSON body into `T`.
///
/// # Errors
/// 415 for another content type, 400 `body_required` / `malformed_json`, 422 for a field.
pub fn json_body<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "body_required",
            "this endpoint needs a JSON object body",
        ));
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            crate::error::ErrorType::InvalidRequest,
            "unsupported_media_type",
            "send the body with Content-Type: application/json",
        ));
    }
    // Fields are named: a JSON array (which serde would read field by field, in declaration
    // order), `null`, a string or a number is not a body of this API.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                Err(e) => ApiError::bad_request(
                    "malformed_json",
                    format!("the body is not valid JSON: {e}"),
                ),
                Ok(_) => ApiError::invalid_field(
                    "body",
                    "invalid_field",
                    "the body must be a JSON object",
                ),
            },
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(&path, &inner.to_string()),
            _ => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
        }
    })?;
    // One JSON value and nothing after it: `{…} garbage` is not a body we understood.
    deserializer.end().map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })?;
    Ok(value)
}

/// Refuses any query string on an endpoint that takes no parameters (a typo'd filter must
/// not silently return everything).
///
/// # Errors
/// 400 `invalid_query_parameter`.
pub fn no_query(req: &HttpRequest) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    query::<Nothing>(req).map(|_| ())
}

/// A serde data error as a 422 naming the field.
fn data_error(path: &str, message: &str) -> ApiError {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    if let Some(name) = between(&message, "unknown field `", "`") {
        // serde_path_to_error's path already ends with the unknown key.
        let field = if path == "." || path.is_empty() {
            name.to_owned()
        } else {
            path.to_owned()
        };
        return ApiError::invalid_field(
            field.clone(),
            "unknown_field",
            format!("unknown field `{field}`; check the field names against the documentation"),
        );
    }
    if let Some(name) = between(&message, "missing field `", "`") {
        let field = if path == "." || path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        return ApiError::invalid_field(
            field.clone(),
            "missing_field",
            format!("`{field}` is required"),
        );
    }
    let field = if path == "." || path.is_empty() {
        "body".to_owned()
    } else {
        path.to_owned()
    };
    ApiError::invalid_field(
        field.clone(),
        "invalid_field",
        format!("`{field}`: {message}"),
    )
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

/// Parses the query string into `T` (a struct with `deny_unknown_fields`).
///
/// # Errors
/// 400 naming the parameter.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str::<T>(req.query_string()).map_err(|e| {
        let message = e.to_string();
        let field = between(&message, "unknown field `", "`")
            .or_else(|| between(&message, "missing field `", "`"))
            .unwrap_or("query")
            .to_owned();
        ApiError::bad_request(
            "invalid_query_parameter",
            format!("invalid query string: {message}"),
        )
        .with_field(FieldError {
            field,
            code: "invalid_query_parameter".into(),
            message,
        })
    })
}

/// Parses a typed path id.
///
/// # Errors
/// 400 with `code` naming the parameter.
pub fn path_id<T>(
    raw: &str,
    param: &'static str,
    code: &'static str,
    parse: impl FnOnce(&str) -> Result<T, IdError>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|e| ApiError::invalid_parameter(param, code, format!("`{param}`: {e}")))
}

/// The pagination parameters every list takes (and the whole query of a list with no
/// filters).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// An item id: the page starts after it.
    pub starting_after: Option<String>,
    /// An item id: the page ends before it.
    pub ending_before: Option<String>,
}

impl PageParams {
    /// Validates the parameters; cursors must be ids of the listed kind.
    ///
    /// # Errors
    /// 400 naming the parameter.
    pub fn to_request<T>(
        &self,
        parse_id: impl Fn(&str) -> Result<T, IdError>,
        ulid_of: impl Fn(&T) -> Ulid,
    ) -> Result<PageRequest, ApiError> {
        let limit = match &self.limit {
            None => None,
            Some(raw) => Some(raw.parse::<u32>().map_err(|_| {
                ApiError::invalid_parameter(
                    "limit",
                    "invalid_limit",
                    "`limit` must be an integer between 1 and 200",
                )
            })?),
        };
        let cursor = |raw: &Option<String>, name: &'static str| -> Result<Option<Ulid>, ApiError> {
            raw.as_deref()
                .map(|s| {
                    parse_id(s).map(|id| ulid_of(&id)).map_err(|e| {
                        ApiError::invalid_parameter(
                            name,
                            "invalid_cursor",
                            format!("`{name}`: {e}"),
                        )
                    })
                })
                .transpose()
        };
        let after = cursor(&self.starting_after, "starting_after")?;
        let before = cursor(&self.ending_before, "ending_before")?;
        PageRequest::new(limit, after, before).map_err(|e| {
            let (field, code) = match e {
                custody_core::page::PageError::Limit => ("limit", "invalid_limit"),
                custody_core::page::PageError::BothCursors => {
                    ("starting_after", "invalid_pagination")
                }
            };
            ApiError::invalid_parameter(field, code, e.to_string())
        })
    }
}

/// Parses an asset sent as two codes, naming the dialect's fields in errors (Connect:
/// `asset` + `network`; Accounts: `asset` + `chain`).
///
/// # Errors
/// 422 naming the field at fault (both, for an unsupported pair).
pub fn asset_from_codes(
    symbol: &str,
    network: &str,
    symbol_field: &'static str,
    network_field: &'static str,
) -> Result<custody_core::asset::AssetId, ApiError> {
    use custody_core::asset::{AssetError, AssetId};
    AssetId::from_codes(symbol, network).map_err(|e| {
        let field = match &e {
            AssetError::InvalidCode { field } if *field == "network" => network_field,
            AssetError::UnknownNetwork(_) => network_field,
            AssetError::UnsupportedPair { .. } => network_field,
            _ => symbol_field,
        };
        let message = match &e {
            AssetError::InvalidCode { .. } => {
                format!("`{field}` must be between 2 and 16 characters")
            }
            other => other.to_string(),
        };
        ApiError::from(custody_core::error::asset_error(field, e)).with_message(message)
    })
}

/// [`text`] for a query or path parameter: a broken rule is a 400 there.
///
/// # Errors
/// 400 naming the parameter.
pub fn query_text<T>(
    value: Option<String>,
    field: &'static str,
    parse: impl FnOnce(String) -> Result<T, custody_core::text::TextError>,
) -> Result<Option<T>, ApiError> {
    text(value, field, parse).map_err(|e| e.with_status(actix_web::http::StatusCode::BAD_REQUEST))
}

/// Parses optional text into a domain text type, naming the dialect's field.
///
/// # Errors
/// 422 naming the field.
pub fn text<T>(
    value: Option<String>,
    field: &'static str,
    parse: impl FnOnce(String) -> Result<T, custody_core::text::TextError>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            parse(v).map_err(|e| {
                let message = match &e {
                    custody_core::text::TextError::Empty { .. } => {
                        format!("`{field}` must not be empty")
                    }
                    custody_core::text::TextError::TooLong { max, .. } => {
                        format!("`{field}` must be at most {max} characters")
                    }
                    custody_core::text::TextError::ControlCharacter { .. } => {
                        format!("`{field}` must not contain control characters")
                    }
                    custody_core::text::TextError::InvisibleCharacter { .. } => format!(
                        "`{field}` must not contain bidirectional-control or zero-width \
                         characters (U+202A–U+202E, U+2066–U+2069, U+200B–U+200D, U+2060, \
                         U+FEFF)"
                    ),
                    other => other.to_string(),
                };
                ApiError::invalid_field(field, "invalid_text", message)
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        asset: String,
        label: Option<String>,
    }

    fn json(body: &str) -> Result<Body, ApiError> {
        let req = TestRequest::post()
            .insert_header(("content-type", "application/json"))
            .to_http_request();
        json_body::<Body>(&req, body.as_bytes())
    }

    fn field_of(e: &ApiError) -> String {
        e.body("r")["error"]["fieldErrors"][0]["field"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    #[test]
    fn body_errors_have_the_right_status_and_field() {
        let e = json(r#"{"asset":"USDT","netwrok":"x"}"#).unwrap_err();
        assert_eq!(e.code(), "unknown_field");
        assert_eq!(field_of(&e), "netwrok");
        let e = json(r#"{"label":"x"}"#).unwrap_err();
        assert_eq!(e.code(), "missing_field");
        assert_eq!(field_of(&e), "asset");
        let e = json(r#"{"asset":5}"#).unwrap_err();
        assert_eq!(e.code(), "invalid_field");
        assert_eq!(field_of(&e), "asset");
        assert_eq!(json("{").unwrap_err().code(), "malformed_json");
        assert_eq!(json("[1]").unwrap_err().body("r")["error"]["status"], 422);
        assert_eq!(json("").unwrap_err().code(), "body_required");

        let req = TestRequest::post()
            .insert_header(("content-type", "text/plain"))
            .to_http_request();
        let e = json_body::<Body>(&req, br#"{"asset":"x"}"#).unwrap_err();
        assert_eq!(e.body("r")["error"]["status"], 415);
        let req = TestRequest::post()
            .insert_header(("content-type", "application/json; charset=utf-8"))
            .to_http_request();
        assert!(json_body::<Body>(&req, br#"{"asset":"x"}"#).is_ok());
    }
}
