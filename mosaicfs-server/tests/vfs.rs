//! Tests: vfs.

#[allow(unused_imports)]
use crate::common::*;
