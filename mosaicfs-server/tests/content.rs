//! Tests: content.

#[allow(unused_imports)]
use crate::common::*;
