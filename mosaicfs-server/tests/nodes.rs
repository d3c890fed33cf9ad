//! Tests: nodes.

#[allow(unused_imports)]
use crate::common::*;
