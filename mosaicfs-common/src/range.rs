//! `Range` header parsing (RFC 9110 §14.2), shared by the server's content
//! route and the agent's transfer endpoint. A single range is resolved
//! against the representation's size; a multi-range request is answered with
//! the whole file (200), and a malformed header (wrong unit, bad numbers, a
//! reversed `a-b`) is ignored, as RFC 9110 says.

/// What the client asked for, resolved against the file's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable `Range`: send everything.
    Full,
    /// Bytes `start..=end` (inclusive, `end < size`).
    Partial {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// A syntactically valid range that selects nothing: 416.
    Unsatisfiable,
}

/// Parses a `Range` header against a representation of `size` bytes.
pub fn parse_range(value: &str, size: u64) -> RangeRequest {
    let Some(set) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    let specs: Vec<&str> = set.split(',').map(str::trim).collect();
    let mut parsed = Vec::with_capacity(specs.len());
    for spec in &specs {
        match parse_spec(spec) {
            Some(s) => parsed.push(s),
            None => return RangeRequest::Full,
        }
    }
    if parsed.len() != 1 {
        // Multi-range: answered whole (200) rather than multipart.
        return RangeRequest::Full;
    }
    match parsed[0] {
        Spec::FromTo(a, b) => {
            if a >= size {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial {
                    start: a,
                    end: b.min(size - 1),
                }
            }
        }
        Spec::From(a) => {
            if a >= size {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial {
                    start: a,
                    end: size - 1,
                }
            }
        }
        Spec::Suffix(n) => {
            if n == 0 || size == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Partial {
                    start: size.saturating_sub(n),
                    end: size - 1,
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Spec {
    FromTo(u64, u64),
    From(u64),
    Suffix(u64),
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_spec(spec: &str) -> Option<Spec> {
    let (a, b) = spec.split_once('-')?;
    match (a.is_empty(), b.is_empty()) {
        (true, true) => None,
        (true, false) => digits(b).map(Spec::Suffix),
        (false, true) => digits(a).map(Spec::From),
        (false, false) => {
            let (a, b) = (digits(a)?, digits(b)?);
            // A reversed range is invalid, so the header is ignored.
            (a <= b).then_some(Spec::FromTo(a, b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: &str, size: u64, expected: RangeRequest) {
        assert_eq!(
            parse_range(header, size),
            expected,
            "Range: {header:?} on {size} bytes"
        );
    }

    fn part(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial { start, end }
    }

    use RangeRequest::{Full, Unsatisfiable};

    #[test]
    fn single_ranges() {
        check("bytes=0-0", 10, part(0, 0));
        check("bytes=9-9", 10, part(9, 9));
        check("bytes=0-9", 10, part(0, 9));
        check("bytes=2-", 10, part(2, 9));
        check("bytes=-3", 10, part(7, 9));
        check(" bytes=1-2 ", 10, part(1, 2));
        check("bytes= 1-2", 10, part(1, 2));
    }

    #[test]
    fn clamping_and_unsatisfiable_ranges() {
        check("bytes=5-100", 10, part(5, 9));
        check("bytes=-100", 10, part(0, 9));
        check("bytes=10-", 10, Unsatisfiable);
        check("bytes=10-20", 10, Unsatisfiable);
        check("bytes=-0", 10, Unsatisfiable);
        // An empty file has no satisfiable range at all.
        check("bytes=0-0", 0, Unsatisfiable);
        check("bytes=0-", 0, Unsatisfiable);
        check("bytes=-5", 0, Unsatisfiable);
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for h in [
            "bytes=5-2",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=1 -2",
            "items=0-1",
            "bytes 0-1",
            "",
            "garbage",
            "bytes=99999999999999999999999-",
            "bytes=0-1,",
        ] {
            check(h, 10, Full);
        }
    }

    #[test]
    fn multi_range_is_answered_whole() {
        check("bytes=0-1,4-5", 10, Full);
        check("bytes=0-1, -2", 10, Full);
    }
}
