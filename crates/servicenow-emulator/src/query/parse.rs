//! The encoded-query parser: splits on `^`, `^OR`, `^NQ` (with `^^` as a literal caret) and
//! reads each term as ORDERBY or `<field><OPERATOR><value>`.

use super::{Condition, EncodedQuery, Operator, OrderBy, QueryGroup, QueryRefusal};

/// How a term was joined to the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Joint {
    And,
    Or,
    NewQuery,
}

/// Operators in the order they are tried at the end of a field name (longest spellings first
/// where one is a prefix of another).
const OPERATORS: &[(&str, Operator)] = &[
    ("ISNOTEMPTY", Operator::IsNotEmpty),
    ("ISEMPTY", Operator::IsEmpty),
    ("EMPTYSTRING", Operator::EmptyString),
    ("ANYTHING", Operator::Anything),
    ("STARTSWITH", Operator::StartsWith),
    ("ENDSWITH", Operator::EndsWith),
    ("NOT LIKE", Operator::NotLike),
    ("NOTLIKE", Operator::NotLike),
    ("LIKE", Operator::Like),
    ("NOT IN", Operator::NotIn),
    ("NOTIN", Operator::NotIn),
    ("IN", Operator::In),
    ("BETWEEN", Operator::Between),
    ("!=", Operator::NotEquals),
    ("<=", Operator::LessOrEqual),
    (">=", Operator::GreaterOrEqual),
    ("=", Operator::Equals),
    ("<", Operator::LessThan),
    (">", Operator::GreaterThan),
];

pub(super) fn parse(text: &str) -> Result<EncodedQuery, QueryRefusal> {
    let mut query = EncodedQuery::default();
    let mut group = QueryGroup::default();
    for (joint, term) in split_terms(text) {
        if joint == Joint::NewQuery && !group.clauses.is_empty() {
            query.groups.push(std::mem::take(&mut group));
        }
        if term.is_empty() || term == "EQ" {
            continue;
        }
        if let Some(field) = term.strip_prefix("ORDERBYDESC") {
            push_order(&mut query, field, true, &term);
            continue;
        }
        if let Some(field) = term.strip_prefix("ORDERBY") {
            push_order(&mut query, field, false, &term);
            continue;
        }
        let Some(condition) = parse_condition(&term) else {
            query.invalid_terms.push(term);
            continue;
        };
        if condition.value.to_ascii_lowercase().contains("javascript:") {
            return Err(QueryRefusal::Script);
        }
        match (joint, group.clauses.last_mut()) {
            (Joint::Or, Some(clause)) => clause.push(condition),
            _ => group.clauses.push(vec![condition]),
        }
    }
    if !group.clauses.is_empty() {
        query.groups.push(group);
    }
    Ok(query)
}

fn push_order(query: &mut EncodedQuery, field: &str, descending: bool, term: &str) {
    if is_field_name(field) {
        query.order_by.push(OrderBy {
            field: field.to_owned(),
            descending,
        });
    } else {
        query.invalid_terms.push(term.to_owned());
    }
}

/// Splits at `^`, `^OR` and `^NQ`; `^^` is a literal `^` inside a term. `^ORDERBY…` is an
/// ordinary AND-joined term, not `^OR` followed by `DERBY…`.
fn split_terms(text: &str) -> Vec<(Joint, String)> {
    let mut terms = Vec::new();
    let mut joint = Joint::And;
    let mut current = String::new();
    let mut rest = text;
    while let Some(caret) = rest.find('^') {
        current.push_str(&rest[..caret]);
        let after = &rest[caret + 1..];
        if let Some(after_escape) = after.strip_prefix('^') {
            current.push('^');
            rest = after_escape;
            continue;
        }
        terms.push((joint, std::mem::take(&mut current)));
        (joint, rest) = if let Some(after_nq) = after.strip_prefix("NQ") {
            (Joint::NewQuery, after_nq)
        } else if after.starts_with("OR") && !after.starts_with("ORDERBY") {
            (Joint::Or, &after[2..])
        } else {
            (Joint::And, after)
        };
    }
    current.push_str(rest);
    terms.push((joint, current));
    terms
}

fn parse_condition(term: &str) -> Option<Condition> {
    let field_length = term
        .bytes()
        .position(|byte| !is_field_byte(byte))
        .unwrap_or(term.len());
    let (field, rest) = term.split_at(field_length);
    if !is_field_name(field) {
        return None;
    }
    let (spelling, operator) = OPERATORS
        .iter()
        .find(|(spelling, _)| rest.starts_with(spelling))?;
    let value = &rest[spelling.len()..];
    if operator.is_unary() && !value.is_empty() {
        return None;
    }
    if *operator == Operator::Between && !value.contains('@') {
        return None;
    }
    Some(Condition {
        field: field.to_owned(),
        operator: *operator,
        value: value.to_owned(),
    })
}

fn is_field_byte(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'.'
}

fn is_field_name(field: &str) -> bool {
    !field.is_empty()
        && field.bytes().all(is_field_byte)
        && !field.starts_with('.')
        && !field.ends_with('.')
        && !field.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(field: &str, operator: Operator, value: &str) -> Condition {
        Condition {
            field: field.to_owned(),
            operator,
            value: value.to_owned(),
        }
    }

    #[test]
    fn or_binds_tighter_than_and_and_nq_starts_a_group() {
        let query =
            parse("active=true^priority=1^ORpriority=2^NQnumberSTARTSWITHINC^ORDERBYnumber")
                .unwrap();
        assert_eq!(query.groups.len(), 2);
        assert_eq!(
            query.groups[0].clauses,
            vec![
                vec![condition("active", Operator::Equals, "true")],
                vec![
                    condition("priority", Operator::Equals, "1"),
                    condition("priority", Operator::Equals, "2")
                ],
            ]
        );
        assert_eq!(
            query.groups[1].clauses,
            vec![vec![condition("number", Operator::StartsWith, "INC")]]
        );
        assert_eq!(
            query.order_by,
            vec![OrderBy {
                field: "number".to_owned(),
                descending: false
            }]
        );
    }

    #[test]
    fn a_double_caret_is_a_literal_caret() {
        let query = parse("short_description=a^^b^^^active=true").unwrap();
        assert_eq!(
            query.groups[0].clauses[0],
            vec![condition("short_description", Operator::Equals, "a^b^")]
        );
        assert_eq!(
            query.groups[0].clauses[1],
            vec![condition("active", Operator::Equals, "true")]
        );
    }

    #[test]
    fn spaced_and_unspaced_negations_and_unknown_terms() {
        let query =
            parse("nameNOT LIKEx^nameNOTLIKEy^stateNOT IN1,2^stateNOTIN3^fooBOGUS1^EQ").unwrap();
        let operators: Vec<Operator> = query.groups[0]
            .clauses
            .iter()
            .map(|clause| clause[0].operator)
            .collect();
        assert_eq!(
            operators,
            vec![
                Operator::NotLike,
                Operator::NotLike,
                Operator::NotIn,
                Operator::NotIn
            ]
        );
        assert_eq!(query.invalid_terms, vec!["fooBOGUS1".to_owned()]);
    }

    #[test]
    fn script_values_are_refused() {
        assert_eq!(
            parse("caller_id=javascript:gs.getUserID()"),
            Err(QueryRefusal::Script)
        );
        assert_eq!(
            parse("opened_atBETWEENjavascript:a@b"),
            Err(QueryRefusal::Script)
        );
    }
}
