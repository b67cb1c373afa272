//! Wildcard matching: `*` (any run of characters) and `?` (one character).
//!
//! Three flavours share one matcher. Actions and `StringLike` let `*` span
//! anything. Resource names are matched segment by segment (segments are
//! separated by `:`), as AWS matches ARNs: a wildcard stays inside its
//! segment, except that in the `Resource` element a `*` in the pattern's
//! last segment may run on past colons (`mrn:functions:acme:*` covers every
//! project of `acme`, and a resource path may itself hold colons).

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// A character that must appear as is.
    Char(char),
    /// `?`: exactly one character (never a `:` in segment mode).
    One,
    /// `*`: any run of characters; `spans` says whether it may cross `:`.
    Many { spans: bool },
}

/// How `*` treats the `:` that separates resource-name segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Colons {
    /// `*` and `?` match any character (actions, `StringLike`).
    Free,
    /// Wildcards stay within a segment (`Arn*` condition operators).
    Segment,
    /// As `Segment`, but a `*` in the pattern's last segment may cross
    /// colons (the `Resource` and `NotResource` elements).
    SegmentTail,
}

/// Turns a run of tokens into its final form: decides, for each `*`, whether
/// it may cross colons, and folds runs of `*`.
pub(crate) fn finish(tokens: Vec<Token>, colons: Colons) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Many { .. } => {
                let spans = match colons {
                    Colons::Free => true,
                    Colons::Segment => false,
                    // Only the pattern's last segment runs on: a `*`
                    // followed by any later `:` would otherwise swallow
                    // whole segments (`mrn:s:*:*:bucket/public/*` would
                    // reach `bucket/private/x:bucket/public/y`).
                    Colons::SegmentTail => !tokens[i + 1..].contains(&Token::Char(':')),
                };
                if let Some(Token::Many { spans: prev }) = out.last_mut() {
                    *prev |= spans;
                } else {
                    out.push(Token::Many { spans });
                }
            }
            other => out.push(other.clone()),
        }
    }
    out
}

/// Compiles a pattern in which every `*` and `?` is a wildcard.
pub(crate) fn compile(pattern: &str, colons: Colons) -> Vec<Token> {
    let tokens = pattern
        .chars()
        .map(|c| match c {
            '*' => Token::Many { spans: true },
            '?' => Token::One,
            c => Token::Char(c),
        })
        .collect();
    finish(tokens, colons)
}

/// Whether `subject` matches the compiled pattern. `fold` compares
/// characters case-insensitively.
pub(crate) fn matches(pattern: &[Token], subject: &str, colons: Colons, fold: bool) -> bool {
    // Fast paths for the common shapes: `*`, and no wildcard at all.
    if let [Token::Many { spans: true }] = pattern {
        return true;
    }
    let same = |a: char, b: char| a == b || (fold && a.to_lowercase().eq(b.to_lowercase()));
    if pattern.iter().all(|t| matches!(t, Token::Char(_))) {
        let mut chars = subject.chars();
        return pattern.iter().all(|t| match (t, chars.next()) {
            (Token::Char(p), Some(c)) => same(*p, c),
            _ => false,
        }) && chars.next().is_none();
    }
    let colon_free = colons == Colons::Free;
    if pattern.iter().all(|t| match t {
        Token::Many { spans } => colon_free || *spans,
        Token::One => colon_free,
        Token::Char(_) => true,
    }) {
        return greedy(pattern, subject, &same);
    }
    table(pattern, subject, colon_free, &same)
}

/// The classic linear-time matcher with one backtrack point, valid when
/// every `*` may cross colons (and `?` matches any character): a later
/// `*` can always absorb what an earlier one would have taken.
fn greedy(pattern: &[Token], subject: &str, same: &impl Fn(char, char) -> bool) -> bool {
    if subject.is_ascii() {
        let bytes = subject.as_bytes();
        greedy_over(pattern, bytes.len(), |i| char::from(bytes[i]), same)
    } else {
        let chars: Vec<char> = subject.chars().collect();
        greedy_over(pattern, chars.len(), |i| chars[i], same)
    }
}

fn greedy_over(
    pattern: &[Token],
    len: usize,
    at: impl Fn(usize) -> char,
    same: &impl Fn(char, char) -> bool,
) -> bool {
    let (mut p, mut s) = (0, 0);
    // The last `*` seen and the subject position it has absorbed up to.
    let mut star: Option<(usize, usize)> = None;
    while s < len {
        match pattern.get(p) {
            Some(Token::Many { .. }) => {
                star = Some((p, s));
                p += 1;
            }
            Some(Token::One) => {
                p += 1;
                s += 1;
            }
            Some(Token::Char(t)) if same(*t, at(s)) => {
                p += 1;
                s += 1;
            }
            _ => match star {
                // Mismatch: let the last `*` take one more character.
                Some((sp, taken)) => {
                    star = Some((sp, taken + 1));
                    p = sp + 1;
                    s = taken + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|t| matches!(t, Token::Many { .. }))
}

/// Dynamic programming over (token, position), for patterns whose stars
/// must stay inside a segment.
fn table(pattern: &[Token], subject: &str, colon_free: bool, same: &impl Fn(char, char) -> bool) -> bool {
    let subject: Vec<char> = subject.chars().collect();
    // reach[j]: the first j characters of the subject can be consumed by the
    // tokens seen so far.
    let mut reach = vec![false; subject.len() + 1];
    let mut next = vec![false; subject.len() + 1];
    reach[0] = true;
    for token in pattern {
        next.fill(false);
        match token {
            Token::Char(p) => {
                for j in 0..subject.len() {
                    next[j + 1] = reach[j] && same(*p, subject[j]);
                }
            }
            Token::One => {
                for j in 0..subject.len() {
                    next[j + 1] = reach[j] && (colon_free || subject[j] != ':');
                }
            }
            Token::Many { spans } => {
                let crosses = colon_free || *spans;
                next[0] = reach[0];
                for j in 0..subject.len() {
                    next[j + 1] = reach[j + 1] || (next[j] && (crosses || subject[j] != ':'));
                }
            }
        }
        std::mem::swap(&mut reach, &mut next);
        if !reach.iter().any(|r| *r) {
            return false;
        }
    }
    reach[subject.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, subject: &str, colons: Colons) -> bool {
        matches(&compile(pattern, colons), subject, colons, false)
    }

    #[test]
    fn free_wildcards_span_everything() {
        assert!(m("*", "", Colons::Free));
        assert!(m("*", "a:b/c", Colons::Free));
        assert!(m("a*c", "abbbc", Colons::Free));
        assert!(m("a*c", "ac", Colons::Free));
        assert!(!m("a*c", "acb", Colons::Free));
        assert!(m("a?c", "abc", Colons::Free));
        assert!(!m("a?c", "ac", Colons::Free));
        assert!(m("*:*", "x:y", Colons::Free));
        assert!(m("a**b", "a:::b", Colons::Free));
        assert!(!m("abc", "abcd", Colons::Free));
        assert!(!m("abcd", "abc", Colons::Free));
        assert!(m("h?llo*", "héllo wörld", Colons::Free));
    }

    #[test]
    fn case_folding_is_opt_in() {
        let p = compile("functions:Invoke*", Colons::Free);
        assert!(matches(&p, "FUNCTIONS:invokefunction", Colons::Free, true));
        assert!(!matches(&p, "FUNCTIONS:invokefunction", Colons::Free, false));
        let exact = compile("Functions:Get", Colons::Free);
        assert!(matches(&exact, "functions:get", Colons::Free, true));
    }

    #[test]
    fn segment_wildcards_stay_in_their_segment() {
        assert!(m(
            "mrn:functions:a?c:p:function/x",
            "mrn:functions:abc:p:function/x",
            Colons::Segment
        ));
        assert!(!m(
            "mrn:functions:a*:function/x",
            "mrn:functions:a:p:function/x",
            Colons::Segment
        ));
        assert!(m(
            "mrn:functions:*:*:function/*",
            "mrn:functions:o:p:function/a/b",
            Colons::Segment
        ));
        assert!(!m("mrn:f:o:p:a?b", "mrn:f:o:p:a:b", Colons::Segment));
        // Mid-segment stars never cross a colon, even in tail mode.
        assert!(!m("mrn:f:o*x:p:r", "mrn:f:o:y:x:p:r", Colons::SegmentTail));
    }

    #[test]
    fn a_star_ending_a_segment_runs_on_in_resources() {
        assert!(m(
            "mrn:functions:acme:*",
            "mrn:functions:acme:web:function/hello",
            Colons::SegmentTail
        ));
        assert!(m(
            "mrn:*:acme:web:function/x",
            "mrn:functions:acme:web:function/x",
            Colons::SegmentTail
        ));
        assert!(!m(
            "mrn:functions:acme:*",
            "mrn:functions:acme:web:function/hello",
            Colons::Segment
        ));
        assert!(m("*", "mrn:a:b:c:d", Colons::SegmentTail));
        assert!(m(
            "mrn:storage:*:*:bucket/public/*",
            "mrn:storage:o:p:bucket/public/a:b",
            Colons::SegmentTail
        ));
    }

    #[test]
    fn earlier_segments_never_swallow_later_ones() {
        // A key in bucket `private` that spells `:bucket/public/` must not
        // pass for bucket `public`.
        for subject in [
            "mrn:storage:o:p:bucket/private/x:bucket/public/y",
            "mrn:storage:o:p:x:bucket/public/y",
        ] {
            assert!(
                !m("mrn:storage:*:*:bucket/public/*", subject, Colons::SegmentTail),
                "{subject}"
            );
        }
        assert!(!m("mrn:*:o:p:r", "mrn:a:b:o:p:r", Colons::SegmentTail));
    }

    proptest::proptest! {
        /// The linear matcher and the table agree wherever both apply.
        #[test]
        fn greedy_agrees_with_the_table(pattern in "[ab:*?]{0,8}", subject in "[ab:]{0,10}") {
            let tokens = compile(&pattern, Colons::Free);
            let same = |a: char, b: char| a == b;
            proptest::prop_assert_eq!(
                greedy(&tokens, &subject, &same),
                table(&tokens, &subject, true, &same)
            );
        }
    }
}
