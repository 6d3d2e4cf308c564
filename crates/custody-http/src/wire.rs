//! Shapes shared by the dialects: timestamps, amounts, pagination envelopes and response
//! helpers.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::page::PageRequest;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::idempotency::{json_response, to_http};

/// RFC 3339 in UTC (`2026-02-23T12:00:00Z`, with fractional seconds when there are any).
pub fn timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// An amount as a whole-token decimal string of its asset (`"1.5"`).
pub fn amount(asset: AssetId, value: Amount) -> String {
    value.to_decimal_string(asset.decimals())
}

/// `available + pending + held`. Real token supplies are far below `u128::MAX`, so the sum
/// cannot overflow; should it ever, it saturates rather than failing a read.
pub fn total(balances: &custody_core::wallet::Balances) -> Amount {
    balances
        .total()
        .unwrap_or(Amount::from_base_units(u128::MAX))
}

/// A 200/201 JSON response (not stored for replay: reads, or writes without a key).
pub fn json<B: Serialize>(status: StatusCode, body: &B) -> HttpResponse {
    to_http(&json_response(status, body))
}

/// `{hasMore, nextCursor}` (Platform and Accounts).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// More items exist past this page.
    pub has_more: bool,
    /// Where to continue in the direction of travel: pass as `starting_after` (or, when
    /// paging backward, as `ending_before`); null when nothing more lies that way.
    pub next_cursor: Option<String>,
}

/// `{has_more, next_cursor}` (Connect is snake_case throughout).
#[derive(Debug, Serialize, ToSchema)]
pub struct SnakePagination {
    /// More items exist past this page.
    pub has_more: bool,
    /// Where to continue in the direction of travel: pass as `starting_after` (or, when
    /// paging backward, as `ending_before`); null when nothing more lies that way.
    pub next_cursor: Option<String>,
}

/// A list page in the camelCase dialects.
#[derive(Debug, Serialize)]
pub struct List<T> {
    /// The items, ascending by id.
    pub items: Vec<T>,
    /// Where to continue.
    pub pagination: Pagination,
}

/// A list page in Connect.
#[derive(Debug, Serialize)]
pub struct SnakeList<T> {
    /// The items, ascending by id.
    pub items: Vec<T>,
    /// Where to continue.
    pub pagination: SnakePagination,
}

/// The cursor to continue from, in the direction of travel: the last item's id going
/// forward (pass it as `starting_after`), the first item's id going backward (pass it as
/// `ending_before`); `None` when no more items lie that way.
fn next_cursor<T>(
    items: &[T],
    has_more: bool,
    backward: bool,
    id: impl Fn(&T) -> String,
) -> Option<String> {
    if !has_more {
        return None;
    }
    if backward {
        items.first().map(id)
    } else {
        items.last().map(id)
    }
}

fn is_backward(request: Option<&PageRequest>) -> bool {
    matches!(
        request.and_then(PageRequest::cursor),
        Some(custody_core::page::Cursor::Before(_))
    )
}

impl<T> List<T> {
    /// A page of `items` fetched for `request` (`None`: a single page); `id` names the cursor
    /// of an item.
    pub fn page(
        items: Vec<T>,
        has_more: bool,
        request: Option<&PageRequest>,
        id: impl Fn(&T) -> String,
    ) -> List<T> {
        let next_cursor = next_cursor(&items, has_more, is_backward(request), id);
        List {
            items,
            pagination: Pagination {
                has_more,
                next_cursor,
            },
        }
    }
}

impl<T> SnakeList<T> {
    /// As [`List::page`], for Connect.
    pub fn page(
        items: Vec<T>,
        has_more: bool,
        request: Option<&PageRequest>,
        id: impl Fn(&T) -> String,
    ) -> SnakeList<T> {
        let next_cursor = next_cursor(&items, has_more, is_backward(request), id);
        SnakeList {
            items,
            pagination: SnakePagination {
                has_more,
                next_cursor,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(
            timestamp(datetime!(2026-02-23 12:00 UTC)),
            "2026-02-23T12:00:00Z"
        );
        assert_eq!(
            timestamp(datetime!(2026-02-23 13:00 +01:00)),
            "2026-02-23T12:00:00Z"
        );
    }
}
