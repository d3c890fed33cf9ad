//! Tests: files.

#[allow(unused_imports)]
use crate::common::*;
