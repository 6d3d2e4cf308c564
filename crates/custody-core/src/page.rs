//! Cursor pagination, the same for every list.
//!
//! Lists are ordered by id, which for ULIDs is creation order (oldest first), so a cursor is
//! simply the id of the last item seen and a page never shifts when new items arrive.
//! `limit` is 1–200 (default 50); `starting_after` and `ending_before` are mutually exclusive.

use ulid::Ulid;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page size.
pub const MAX_LIMIT: u32 = 200;

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// Items after this id.
    After(Ulid),
    /// Items before this id (the page still lists in ascending order).
    Before(Ulid),
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    cursor: Option<Cursor>,
}

/// Why pagination parameters were refused (400).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// `limit` outside 1–200.
    #[error("`limit` must be between 1 and 200")]
    Limit,
    #[error("`starting_after` and `ending_before` cannot be used together")]
    BothCursors,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl PageRequest {
    /// Validates the parameters; the cursor ids were already parsed into their typed ids by the
    /// caller, which is where a malformed cursor is refused.
    ///
    /// # Errors
    /// [`PageError`].
    pub fn new(
        limit: Option<u32>,
        starting_after: Option<Ulid>,
        ending_before: Option<Ulid>,
    ) -> Result<Self, PageError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(PageError::Limit);
        }
        let cursor = match (starting_after, ending_before) {
            (Some(_), Some(_)) => return Err(PageError::BothCursors),
            (Some(after), None) => Some(Cursor::After(after)),
            (None, Some(before)) => Some(Cursor::Before(before)),
            (None, None) => None,
        };
        Ok(PageRequest { limit, cursor })
    }

    /// Items per page.
    pub const fn limit(&self) -> u32 {
        self.limit
    }

    /// The cursor, if any.
    pub const fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }
}

/// One page of results. Stores fetch `limit + 1` rows and call [`Page::from_overfetch`], which
/// is how `has_more` is known without a count query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, ascending by id.
    pub items: Vec<T>,
    /// Whether more items exist past this page in the direction of travel.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in ascending id order (for
    /// [`Cursor::Before`], the store fetches descending and this reverses them).
    pub fn from_overfetch(mut rows: Vec<T>, request: &PageRequest) -> Page<T> {
        let limit = request.limit() as usize;
        let backwards = matches!(request.cursor(), Some(Cursor::Before(_)));
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        if backwards {
            rows.reverse();
        }
        Page {
            items: rows,
            has_more,
        }
    }

    /// Maps the items, keeping `has_more`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(PageRequest::new(None, None, None).unwrap().limit(), 50);
        assert_eq!(
            PageRequest::new(Some(200), None, None).unwrap().limit(),
            200
        );
        assert_eq!(PageRequest::new(Some(0), None, None), Err(PageError::Limit));
        assert_eq!(
            PageRequest::new(Some(201), None, None),
            Err(PageError::Limit)
        );
    }

    #[test]
    fn cursors_are_exclusive() {
        let u = Ulid::from_parts(1, 1);
        assert_eq!(
            PageRequest::new(None, Some(u), Some(u)),
            Err(PageError::BothCursors)
        );
        assert_eq!(
            PageRequest::new(None, Some(u), None).unwrap().cursor(),
            Some(Cursor::After(u))
        );
        assert_eq!(
            PageRequest::new(None, None, Some(u)).unwrap().cursor(),
            Some(Cursor::Before(u))
        );
    }

    #[test]
    fn overfetch_sets_has_more() {
        let req = PageRequest::new(Some(2), None, None).unwrap();
        assert_eq!(
            Page::from_overfetch(vec![1, 2, 3], &req),
            Page {
                items: vec![1, 2],
                has_more: true
            }
        );
        assert_eq!(
            Page::from_overfetch(vec![1, 2], &req),
            Page {
                items: vec![1, 2],
                has_more: false
            }
        );
        let back = PageRequest::new(Some(2), None, Some(Ulid::from_parts(9, 9))).unwrap();
        assert_eq!(
            Page::from_overfetch(vec![5, 4, 3], &back),
            Page {
                items: vec![4, 5],
                has_more: true
            }
        );
    }
}
