//! Cursor pagination (docs/errors-and-conventions.md, "Lists and pagination"): one page at a
//! time with [`ListParams`], or every item as a [`Stream`](futures_util::Stream).

use std::future::Future;

use futures_util::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use serde::Deserialize;

use crate::error::Error;

/// One page of a list: Platform and Accounts spell the pagination `hasMore`/`nextCursor`,
/// Connect `has_more`/`next_cursor`; both land here.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Where to continue.
    pub pagination: Pagination,
}

/// The pagination object of a page.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct Pagination {
    /// More items exist in the direction you are paging.
    #[serde(alias = "has_more", rename = "hasMore", default)]
    pub has_more: bool,
    /// The id to pass as `starting_after` (or, when paging back, `ending_before`) next; for the
    /// event log, the opaque `cur_…` cursor to pass as `after`.
    #[serde(alias = "next_cursor", rename = "nextCursor", default)]
    pub next_cursor: Option<String>,
}

/// `limit`, `starting_after`, `ending_before` of a list call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListParams {
    /// 1–200; the server's default is 50.
    pub limit: Option<u32>,
    /// The page after this id.
    pub starting_after: Option<String>,
    /// The page before this id (not together with `starting_after`).
    pub ending_before: Option<String>,
}

impl ListParams {
    /// The first page, server's page size.
    pub fn new() -> Self {
        ListParams::default()
    }

    /// With a page size.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The page after `id`.
    #[must_use]
    pub fn starting_after(mut self, id: impl Into<String>) -> Self {
        self.starting_after = Some(id.into());
        self
    }

    /// The page before `id`.
    #[must_use]
    pub fn ending_before(mut self, id: impl Into<String>) -> Self {
        self.ending_before = Some(id.into());
        self
    }

    pub(crate) fn pairs(&self) -> [(&'static str, Option<String>); 3] {
        [
            ("limit", self.limit.map(|l| l.to_string())),
            ("starting_after", self.starting_after.clone()),
            ("ending_before", self.ending_before.clone()),
        ]
    }
}

/// Every item of a list, page after page (forwards from `first`), as a stream. Each page is
/// fetched when the previous one is used up; an error ends the stream after it is yielded.
pub(crate) fn stream_pages<'a, T, F, Fut>(
    first: ListParams,
    fetch: F,
) -> BoxStream<'a, Result<T, Error>>
where
    T: Send + 'a,
    F: FnMut(ListParams) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Page<T>, Error>> + Send + 'a,
{
    enum State<F> {
        Next(ListParams, F),
        Done,
    }
    stream::try_unfold(State::Next(first, fetch), |state| async move {
        let State::Next(params, mut fetch) = state else {
            return Ok::<_, Error>(None);
        };
        let page = fetch(params.clone()).await?;
        let next = match (
            page.pagination.has_more,
            page.pagination.next_cursor.clone(),
        ) {
            (true, Some(cursor)) => State::Next(
                ListParams {
                    limit: params.limit,
                    starting_after: Some(cursor),
                    ending_before: None,
                },
                fetch,
            ),
            _ => State::Done,
        };
        Ok(Some((
            stream::iter(page.items.into_iter().map(Ok::<T, Error>)),
            next,
        )))
    })
    .try_flatten()
    .boxed()
}
