//! Concurrency checks: the real core services driven from many tasks at once.
