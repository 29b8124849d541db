//! The linear pre-scan that bounds bracket nesting before any parse. async-graphql's parser
//! recurses on list and object values (and list types) with no depth limit, so a few KB of
//! `[[[[…` overflow the stack and abort the whole process; no error can be caught then.
//! This module owns the one safe way to parse an operation: scan, then parse.

use async_graphql::parser::types::ExecutableDocument;

/// The deepest nesting any configuration may allow (`--max-recursion`). The parser takes about
/// 6 KB of stack a level in debug builds (1 KB in release); 128 levels stay well inside a 2 MiB
/// thread stack with what runs after the parse (validation, execution) on top.
pub const NESTING_CEILING: usize = 128;

/// Why an operation text was not parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the operation nests lists, objects or selections {depth} levels deep; the limit is {max}")]
    TooDeep { depth: usize, max: usize },
    #[error(transparent)]
    Syntax(#[from] async_graphql::parser::Error),
}

/// Parses `text` as an executable document, unless it nests deeper than `max`.
pub fn parse_within(text: &str, max: usize) -> Result<ExecutableDocument, ParseError> {
    let depth = max_nesting(text);
    if depth > max {
        return Err(ParseError::TooDeep { depth, max });
    }
    Ok(async_graphql::parser::parse_query(text)?)
}

/// Where the scanner is. Strings and comments end exactly where the GraphQL grammar ends them
/// (async-graphql's `graphql.pest`), so no bracket the parser would see is skipped here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Code,
    String,
    BlockString,
    Comment,
}

/// The most `{`, `[` and `(` open at once outside strings, block strings and comments.
/// One pass over the bytes; unbalanced closers never make it negative.
pub fn max_nesting(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut mode, mut depth, mut deepest, mut i) = (Mode::Code, 0usize, 0usize, 0usize);
    let at = |i: usize, s: &[u8]| bytes.get(i..i + s.len()) == Some(s);
    while i < bytes.len() {
        let byte = bytes[i];
        match mode {
            Mode::Code => match byte {
                b'{' | b'[' | b'(' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                b'#' => mode = Mode::Comment,
                b'"' if at(i, b"\"\"\"") => {
                    mode = Mode::BlockString;
                    i += 2;
                }
                b'"' => mode = Mode::String,
                _ => {}
            },
            // A line terminator ends a string too: the parser refuses it there, and treating
            // what follows as code can only count more brackets, never fewer.
            Mode::String => match byte {
                b'"' | b'\n' | b'\r' => mode = Mode::Code,
                b'\\' if !matches!(bytes.get(i + 1), Some(b'\n' | b'\r')) => i += 1,
                _ => {}
            },
            Mode::BlockString if at(i, b"\\\"\"\"") => i += 3,
            Mode::BlockString if at(i, b"\"\"\"") => {
                mode = Mode::Code;
                i += 2;
            }
            Mode::BlockString => {}
            Mode::Comment if matches!(byte, b'\n' | b'\r') => mode = Mode::Code,
            Mode::Comment => {}
        }
        i += 1;
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_brackets_and_parens_count_together() {
        assert_eq!(max_nesting("{ a }"), 1);
        assert_eq!(max_nesting("{ a(x: [{ y: [1] }]) { b } }"), 5);
        assert_eq!(max_nesting("query ($v: [[Int]] = [[1]]) { a }"), 3);
        assert_eq!(max_nesting(&format!("{{ a(x: {}1{}) }}", "[".repeat(500), "]".repeat(500))), 502);
        assert_eq!(max_nesting(""), 0);
    }

    #[test]
    fn unbalanced_closers_do_not_hide_openers() {
        assert_eq!(max_nesting("]]]]]]]] [[["), 3);
        assert_eq!(max_nesting("}}} { [ ( ) ] }"), 3);
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        assert_eq!(max_nesting(r#"{ a(x: "[[[[{{{{((((") }"#), 2);
        assert_eq!(max_nesting(r#"{ a(x: "\"[[[[") }"#), 2, "an escaped quote does not end the string");
        assert_eq!(max_nesting(r#"{ a(x: "\\") b(y: [[1]]) }"#), 4, "an escaped backslash does not escape the quote");
        assert_eq!(max_nesting(r#"{ a(x: "\u005B[[") }"#), 2);
        assert_eq!(max_nesting(r#"{ a(x: "") b(y: [[1]]) }"#), 4, "an empty string is not a block string");
    }

    #[test]
    fn a_line_break_ends_a_string_so_nothing_after_it_hides() {
        assert_eq!(max_nesting("{ a(x: \"open\n[[[[ ]]]] \") }"), 6);
        assert_eq!(max_nesting("{ a(x: \"open\\\n[[[[ ]]]] \") }"), 6, "not even after a backslash");
        assert_eq!(max_nesting("{ a(x: \"open\r[[[[ ]]]] \") }"), 6);
    }

    #[test]
    fn brackets_inside_block_strings_do_not_count() {
        assert_eq!(max_nesting("{ a(x: \"\"\"[[[\n{{{ \" \"\" (((\"\"\") }"), 2);
        assert_eq!(max_nesting(r#"{ a(x: """ \""" [[[[ """) }"#), 2, "an escaped triple quote does not end it");
        assert_eq!(max_nesting(r#"{ a(x: """ \ """) b(y: [[1]]) }"#), 4, "a lone backslash escapes nothing");
        assert_eq!(max_nesting(r#"{ a(x: """ok""" b: [[1]]) }"#), 4);
        assert_eq!(max_nesting(r#"{ a(x: """[[[[ unterminated"#), 2);
    }

    #[test]
    fn comments_run_to_the_end_of_the_line() {
        assert_eq!(max_nesting("{ a # [[[[ \" {{{\n b(x: [1]) }"), 3);
        assert_eq!(max_nesting("{ a # [[[[\r [[[ ]]] }"), 4);
        assert_eq!(max_nesting(r##"{ a(x: "# [[[[") }"##), 2, "a # inside a string starts no comment");
    }

    #[test]
    fn too_deep_text_is_refused_before_the_parser_sees_it() {
        let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse_within(&deep, 64), Err(ParseError::TooDeep { depth: 100_002, max: 64 })));
        assert!(parse_within("{ a(x: [[1]]) }", 64).is_ok());
        assert!(matches!(parse_within("{ a(", 64), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn the_ceiling_parses_without_overflowing_a_default_thread_stack() {
        let text = format!("{{ a(x: {}1{}) }}", "[".repeat(NESTING_CEILING - 2), "]".repeat(NESTING_CEILING - 2));
        let parsed = std::thread::Builder::new().stack_size(2 * 1024 * 1024).spawn(move || parse_within(&text, NESTING_CEILING).is_ok());
        assert!(parsed.expect("thread starts").join().expect("no overflow"));
    }
}
