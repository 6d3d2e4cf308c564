//! HTTP integration tests: the real app over a real store, driven as a partner would.
//! One binary (faster to link); one module per concern.

mod helpers;
mod smoke;
