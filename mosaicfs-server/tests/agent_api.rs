//! Tests: agent_api.

#[allow(unused_imports)]
use crate::common::*;
