//! The parser of a call's text: the function's name and its arguments
//! (string literals with their escapes, numbers, `true`, `false`, `null`,
//! paths and nested calls).

use std::fmt::Display;

use serde_json::Value;

use super::args::Func;
use super::{Arg, Call, IntrinsicError};
use crate::paths::Path;

/// The most calls one field may hold, nested ones included.
const MAX_CALLS: usize = 10;

/// Parses `text`, which [`is_call`](super::is_call) accepts: one call and
/// nothing after it but spaces.
pub(super) fn call(text: &str) -> Result<Call, IntrinsicError> {
    let mut parser = Parser {
        text,
        pos: 0,
        calls: 0,
    };
    parser.skip_spaces();
    let call = parser.call()?;
    parser.skip_spaces();
    if parser.pos < text.len() {
        return Err(parser.error("unexpected text after the call's closing )"));
    }
    Ok(call)
}

/// A recursive-descent parser over the text of one call.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    calls: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn error(&self, what: impl Display) -> IntrinsicError {
        let at = self.text[..self.pos].chars().count() + 1;
        IntrinsicError(format!("{}: {what} (at character {at})", self.text))
    }

    /// `States.Name(args)`.
    fn call(&mut self) -> Result<Call, IntrinsicError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .unwrap_or(rest.len());
        let name = &rest[..len];
        let Some(func) = Func::named(name) else {
            let known: Vec<_> = Func::ALL.iter().map(|f| f.name()).collect();
            return Err(self.error(format_args!(
                "unknown intrinsic function {name:?} (there are {})",
                known.join(", ")
            )));
        };
        self.pos += len;
        self.calls += 1;
        if self.calls > MAX_CALLS {
            return Err(self.error(format_args!(
                "a field holds at most {MAX_CALLS} intrinsic functions"
            )));
        }
        if self.peek() != Some('(') {
            return Err(self.error(format_args!("expected ( after {name}")));
        }
        self.bump();
        let args = self.args()?;
        Call::new(func, args).map_err(|why| self.error(why))
    }

    /// The arguments after `(`, and the `)`.
    fn args(&mut self) -> Result<Vec<Arg>, IntrinsicError> {
        let mut args = Vec::new();
        self.skip_spaces();
        if self.peek() == Some(')') {
            self.bump();
            return Ok(args);
        }
        loop {
            self.skip_spaces();
            args.push(self.arg()?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => {}
                Some(')') => {
                    self.bump();
                    return Ok(args);
                }
                Some(c) => return Err(self.error(format_args!("expected , or ) but found {c:?}"))),
                None => return Err(self.error("missing )")),
            }
            self.bump();
        }
    }

    fn arg(&mut self) -> Result<Arg, IntrinsicError> {
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(_) if self.rest().starts_with("States.") => self.call().map(Arg::Call),
            Some(_) => self.word(),
            None => Err(self.error("missing an argument and )")),
        }
    }

    /// `'text'`, with `\'`, `\{`, `\}` and `\\` escapes.
    fn string(&mut self) -> Result<Arg, IntrinsicError> {
        self.bump();
        let (mut parts, mut current) = (Vec::new(), String::new());
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.error("missing the closing ' of a string")),
                Some('\'') => break,
                Some('\\') => match self.bump() {
                    Some(c @ ('\'' | '{' | '}' | '\\')) => current.push(c),
                    _ => {
                        self.pos = at;
                        return Err(self.error(r"a backslash must be followed by ', {, } or \"));
                    }
                },
                Some('{') if self.peek() == Some('}') => {
                    self.bump();
                    parts.push(std::mem::take(&mut current));
                }
                Some(c) => current.push(c),
            }
        }
        parts.push(current);
        Ok(Arg::Str(parts))
    }

    fn path(&mut self) -> Result<Arg, IntrinsicError> {
        let (len, text) = scan_path(self.rest());
        let path = Path::parse(&text).map_err(|e| self.error(e))?;
        self.pos += len;
        Ok(Arg::Path(path))
    }

    fn number(&mut self) -> Result<Arg, IntrinsicError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(rest.len());
        let text = &rest[..len];
        let number = serde_json::from_str::<serde_json::Number>(text)
            .map_err(|_| self.error(format_args!("{text:?} is not a number")))?;
        self.pos += len;
        Ok(Arg::Literal(Value::Number(number)))
    }

    /// `true`, `false` or `null`.
    fn word(&mut self) -> Result<Arg, IntrinsicError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let value = match &rest[..len] {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            _ => {
                return Err(self.error(
                    "expected an argument: a 'string', a number, true, false, null, a path or an intrinsic function",
                ));
            }
        };
        self.pos += len;
        Ok(Arg::Literal(value))
    }
}

/// The path at the start of `text`: its length (up to a `,`, a `)` or a
/// space outside brackets, parentheses and quotes), and its text without the
/// dot of a `.[` step, which AWS's page writes (`$.abc.['def ghi']`) but
/// RFC 9535 refuses.
fn scan_path(text: &str) -> (usize, String) {
    let (mut depth, mut quote, mut escaped) = (0usize, None, false);
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
        } else {
            match c {
                '\'' | '"' if depth > 0 => quote = Some(c),
                '[' | '(' => {
                    if c == '[' && depth == 0 && out.ends_with('.') && !out.ends_with("..") {
                        out.pop();
                    }
                    depth += 1;
                }
                ']' | ')' if depth > 0 => depth -= 1,
                ',' | ')' if depth == 0 => return (i, out),
                _ if c.is_whitespace() && depth == 0 => return (i, out),
                _ => {}
            }
        }
        out.push(c);
    }
    (text.len(), out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::intrinsics::Call;
    use crate::intrinsics::tests::{ok, parse_error, run};

    #[test]
    fn string_literals_unescape_the_reserved_characters() {
        let input = json!({"first": "Ana", "last": "Li"});
        assert_eq!(
            ok(
                r"States.Format('Welcome to {} {}\'s playlist.', $.first, $.last)",
                input.clone()
            ),
            json!("Welcome to Ana Li's playlist.")
        );
        // Escaped braces are text, not placeholders.
        assert_eq!(
            ok(r"States.Format('\{\} {} \{x\}', 1)", input.clone()),
            json!("{} 1 {x}")
        );
        assert_eq!(ok(r"States.Format('a\\b')", input.clone()), json!(r"a\b"));
        assert_eq!(
            ok(r"States.Array('it\'s', '\\', '\{}')", input.clone()),
            json!(["it's", r"\", "{}"])
        );
        // Commas and parentheses inside a string are text.
        assert_eq!(
            ok("States.Array('a, b)', ' (c) ')", input),
            json!(["a, b)", " (c) "])
        );
        for bad in [
            r"States.Format('a\nb')",
            r"States.Format('a\')",
            r"States.Array('\x')",
        ] {
            let error = parse_error(bad);
            assert!(
                error.contains("backslash") || error.contains("closing '"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn calls_nest_up_to_ten() {
        let input = json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123:image-recipe/my.recipe/1.0.2"}});
        let nine = "States.Format('{}.{}.{}', \
            States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), \
            States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1), \
            'x')";
        assert_eq!(ok(nine, input), json!("1.0.x"));
        let ten = format!("{}$.a{}", "States.Array(".repeat(10), ")".repeat(10));
        assert_eq!(ok(&ten, json!({"a": 1})), json!([[[[[[[[[[1]]]]]]]]]]));
        let eleven = format!("{}$.a{}", "States.Array(".repeat(11), ")".repeat(11));
        assert!(parse_error(&eleven).contains("at most 10"));
    }

    #[test]
    fn paths_read_the_input_and_the_context() {
        let input = json!({"a": {"b c": [1, 2]}, "items": [{"p": 1}, {"p": 2}], "detail-type": "T"});
        assert_eq!(
            ok("States.Array($, $$.Execution.Id)", json!(7)),
            json!([7, "arn:exec:1"])
        );
        assert_eq!(ok("States.ArrayLength($.a['b c'])", input.clone()), json!(2));
        // The form AWS's page shows for names with other characters.
        assert_eq!(ok("States.ArrayLength($.a.['b c'])", input.clone()), json!(2));
        assert_eq!(
            ok(
                "States.Array($.items[?(@.p > 1)].p, $.items[0,1].p)",
                input.clone()
            ),
            json!([[2], [1, 2]])
        );
        assert_eq!(
            ok("States.Format('{}', $.detail-type)", input.clone()),
            json!("T")
        );
        assert_eq!(
            ok("States.Array( $.a['b c'][0] ,$.items[1].p )", input.clone()),
            json!([1, 2])
        );
        let missing = run("States.Format('{}', $.nothing)", input).expect_err("a path to nothing");
        assert_eq!(missing.error, crate::errors::RUNTIME);
        assert!(missing.cause.contains("$.nothing"), "{}", missing.cause);
        let nested = run("States.Array(States.ArrayLength($$.Nope))", json!({})).expect_err("nothing there");
        assert_eq!(nested.error, crate::errors::RUNTIME);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let cases = [
            ("States.Nope(1)", "unknown intrinsic function \"States.Nope\""),
            ("States.Format", "not an intrinsic function call"),
            ("$.a", "not an intrinsic function call"),
            ("States.Array(1", "missing )"),
            ("States.Array(1, ", "missing an argument"),
            ("States.Array('abc)", "missing the closing '"),
            ("States.Array(1 2)", "expected , or ) but found '2'"),
            ("States.Array(1,)", "expected an argument"),
            ("States.Array(foo)", "expected an argument"),
            ("States.Array(\"a\")", "expected an argument"),
            ("States.Array(1) x", "unexpected text after"),
            ("States.Array(1))", "unexpected text after"),
            ("States.Array(1.2.3)", "\"1.2.3\" is not a number"),
            ("States.Array(-)", "is not a number"),
            ("States.Array($.a[)", "not a valid path"),
            ("States.Array($..)", "not a valid path"),
            ("States.ArrayLength()", "takes 1 argument, not 0"),
            ("States.ArrayGetItem($.a)", "takes 2 arguments, not 1"),
            ("States.ArrayRange(1, 2)", "takes 3 arguments, not 2"),
            ("States.Format()", "takes at least 1 argument, not 0"),
            ("States.Format(1)", "argument 1 must be a string, not a number"),
            ("States.ArrayLength('abc')", "argument 1 must be an array"),
            (
                "States.ArrayGetItem($.a, '1')",
                "argument 2 must be a number, not a string",
            ),
            ("States.ArrayPartition($.a, null)", "must be a number, not null"),
            (
                "States.Array(States.MathAdd(1))",
                "States.MathAdd takes 2 arguments, not 1",
            ),
        ];
        for (text, expected) in cases {
            let error = parse_error(text);
            assert!(
                error.contains(expected),
                "{text}: {error:?} does not say {expected:?}"
            );
        }
        assert!(parse_error("States.Array(1 2)").contains("(at character 16)"));
    }

    #[test]
    fn parsed_calls_compare_by_their_text() {
        assert_eq!(
            Call::parse("States.Array( 1, $.a )"),
            Call::parse("States.Array(1,$.a)")
        );
        assert_ne!(Call::parse("States.Array(1)"), Call::parse("States.Array(2)"));
    }
}
