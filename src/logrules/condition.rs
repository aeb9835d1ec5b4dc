//! Sigma `condition` expressions, parsed with nom into an AST.
//!
//! Grammar (lowest precedence first, keywords case-insensitive):
//!
//! ```text
//! expr    = and_expr *( "or" and_expr )
//! and_expr = not_expr *( "and" not_expr )
//! not_expr = "not" not_expr / primary
//! primary = "(" expr ")" / quant "of" target / identifier
//! quant   = "all" / "any" / 1*DIGIT
//! target  = "them" / identifier-with-wildcards
//! ```

use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while1};
use nom::character::complete::{char, digit1, multispace0, multispace1};
use nom::combinator::{map, map_res, not as nom_not, peek, value};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded, terminated};
use nom::IResult;

/// How many members of a group must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    /// `all of`.
    All,
    /// `N of` (`any of` is `1 of`).
    AtLeast(usize),
}

/// A parsed condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// A search identifier.
    Ident(String),
    /// `N of pattern` / `all of them`; `None` target means `them`.
    Of(Quant, Option<String>),
    /// Negation.
    Not(Box<Cond>),
    /// Conjunction.
    And(Vec<Cond>),
    /// Disjunction.
    Or(Vec<Cond>),
}

/// Why a condition does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("condition at offset {offset}: {reason}")]
pub struct ConditionError {
    /// Byte offset into the condition text.
    pub offset: usize,
    /// What was expected.
    pub reason: &'static str,
}

/// Maximum nesting of parentheses / `not` (hostile input must not overflow
/// the stack).
const MAX_DEPTH: usize = 64;

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '*'
}

fn keyword<'a>(kw: &'static str) -> impl FnMut(&'a str) -> IResult<&'a str, &'a str> {
    terminated(tag_no_case(kw), peek(nom_not(take_while1(is_ident_char))))
}

fn ident(i: &str) -> IResult<&str, &str> {
    let (rest, id) = take_while1(is_ident_char)(i)?;
    let lower = id.to_ascii_lowercase();
    if matches!(lower.as_str(), "and" | "or" | "not" | "of" | "them") {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Tag,
        )));
    }
    Ok((rest, id))
}

fn quant(i: &str) -> IResult<&str, Quant> {
    alt((
        value(Quant::All, keyword("all")),
        value(Quant::AtLeast(1), keyword("any")),
        map_res(digit1, |d: &str| d.parse::<usize>().map(Quant::AtLeast)),
    ))(i)
}

fn of_expr(i: &str) -> IResult<&str, Cond> {
    let (i, q) = quant(i)?;
    let (i, _) = delimited(multispace1, keyword("of"), multispace1)(i)?;
    alt((
        value(Cond::Of(q, None), keyword("them")),
        map(take_while1(is_ident_char), move |t: &str| {
            Cond::Of(q, Some(t.to_owned()))
        }),
    ))(i)
}

fn primary(i: &str, depth: usize) -> IResult<&str, Cond> {
    if depth > MAX_DEPTH {
        return Err(nom::Err::Failure(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TooLarge,
        )));
    }
    let (i, _) = multispace0(i)?;
    if let Ok((r, _)) = char::<&str, nom::error::Error<&str>>('(')(i) {
        let (r, e) = expr(r, depth + 1)?;
        let (r, _) = preceded(multispace0, char(')'))(r)?;
        return Ok((r, e));
    }
    alt((of_expr, map(ident, |s: &str| Cond::Ident(s.to_owned()))))(i)
}

fn not_expr(i: &str, depth: usize) -> IResult<&str, Cond> {
    let (i, _) = multispace0(i)?;
    if let Ok((r, _)) = terminated(keyword("not"), multispace0)(i) {
        if depth > MAX_DEPTH {
            return Err(nom::Err::Failure(nom::error::Error::new(
                i,
                nom::error::ErrorKind::TooLarge,
            )));
        }
        let (r, c) = not_expr(r, depth + 1)?;
        return Ok((r, Cond::Not(Box::new(c))));
    }
    primary(i, depth)
}

fn and_expr(i: &str, depth: usize) -> IResult<&str, Cond> {
    let (i, first) = not_expr(i, depth)?;
    let (i, rest) = many0(preceded(pair(multispace0, keyword("and")), |x| {
        not_expr(x, depth)
    }))(i)?;
    Ok((i, join(first, rest, Cond::And)))
}

fn expr(i: &str, depth: usize) -> IResult<&str, Cond> {
    let (i, first) = and_expr(i, depth)?;
    let (i, rest) = many0(preceded(pair(multispace0, keyword("or")), |x| {
        and_expr(x, depth)
    }))(i)?;
    Ok((i, join(first, rest, Cond::Or)))
}

fn join(first: Cond, rest: Vec<Cond>, f: fn(Vec<Cond>) -> Cond) -> Cond {
    if rest.is_empty() {
        first
    } else {
        let mut v = Vec::with_capacity(rest.len() + 1);
        v.push(first);
        v.extend(rest);
        f(v)
    }
}

/// Parse a whole condition.
pub fn parse(text: &str) -> Result<Cond, ConditionError> {
    let at = |rest: &str| text.len().saturating_sub(rest.len());
    match expr(text, 0) {
        Ok((rest, c)) => {
            let rest2 = rest.trim_start();
            if rest2.is_empty() {
                Ok(c)
            } else if rest2.starts_with('|') {
                Err(ConditionError {
                    offset: at(rest2),
                    reason: "aggregation `| count()` (deprecated Sigma 1 syntax) is not supported; use a correlation rule",
                })
            } else {
                Err(ConditionError {
                    offset: at(rest2),
                    reason: "unexpected text after the expression",
                })
            }
        }
        Err(nom::Err::Failure(e)) if e.code == nom::error::ErrorKind::TooLarge => {
            Err(ConditionError {
                offset: at(e.input),
                reason: "nested too deeply",
            })
        }
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(ConditionError {
            offset: at(e.input),
            reason: "expected an identifier, `N of`, `not` or `(`",
        }),
        Err(nom::Err::Incomplete(_)) => Err(ConditionError {
            offset: text.len(),
            reason: "incomplete",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(s: &str) -> Cond {
        Cond::Ident(s.into())
    }

    #[test]
    fn precedence() {
        assert_eq!(
            parse("a or b and not c").unwrap(),
            Cond::Or(vec![
                id("a"),
                Cond::And(vec![id("b"), Cond::Not(Box::new(id("c")))])
            ])
        );
        assert_eq!(
            parse("(a or b) and c").unwrap(),
            Cond::And(vec![Cond::Or(vec![id("a"), id("b")]), id("c")])
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            parse("1 of selection_* and not all of filter*").unwrap(),
            Cond::And(vec![
                Cond::Of(Quant::AtLeast(1), Some("selection_*".into())),
                Cond::Not(Box::new(Cond::Of(Quant::All, Some("filter*".into()))))
            ])
        );
        assert_eq!(parse("all of them").unwrap(), Cond::Of(Quant::All, None));
        assert_eq!(
            parse("any of them").unwrap(),
            Cond::Of(Quant::AtLeast(1), None)
        );
        // identifiers that start with keywords
        assert_eq!(
            parse("order and notes").unwrap(),
            Cond::And(vec![id("order"), id("notes")])
        );
        assert_eq!(
            parse("SELECTION AND NOT filter").unwrap(),
            Cond::And(vec![id("SELECTION"), Cond::Not(Box::new(id("filter")))])
        );
    }

    #[test]
    fn errors() {
        assert!(parse("").is_err());
        assert!(parse("a and").is_err());
        assert!(parse("(a or b").is_err());
        assert!(parse("a b").is_err());
        let e = parse("selection | count() > 5").unwrap_err();
        assert_eq!(e.offset, 10);
        let deep = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(parse(&deep).is_err());
        let nots = format!("{}a", "not ".repeat(500));
        assert!(parse(&nots).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "[a-z0-9_*() ]{0,60}") {
            let _ = parse(&s);
        }
    }
}
