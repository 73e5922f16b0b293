//! Conditions over facts: `all` / `any` / `not` of comparisons written as
//! `FACT OP VALUE`, e.g. `suite.dynamic_shapes == true`,
//! `env.OMP_NUM_THREADS > host.cores.usable`, `host.isa.level in [AVX2, AVX512]`,
//! `env.LD_PRELOAD exists`.
use std::fmt;

use super::facts::{self, Facts, Kind, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Exists,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::In => "in",
            CmpOp::Exists => "exists",
        }
    }

    fn parse(token: &str) -> Option<CmpOp> {
        [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
            CmpOp::In,
            CmpOp::Exists,
        ]
        .into_iter()
        .find(|op| op.symbol() == token)
    }

    pub fn holds_num(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::In | CmpOp::Exists => false,
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, schemars::JsonSchema)]
pub enum Operand {
    None,
    Literal(Value),
    List(Vec<Value>),
    /// Another fact, e.g. `host.cores.usable`.
    Fact(String),
}

#[derive(Debug, Clone, PartialEq, schemars::JsonSchema)]
pub struct Comparison {
    pub fact: String,
    pub op: CmpOp,
    pub operand: Operand,
    /// Line of the comparison in its rule file (1-based; 0 when built in code).
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Cmp(Comparison),
}

/// A fact a condition looked at, and its value (None when absent).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Observed {
    pub fact: String,
    pub value: Option<Value>,
}

impl Observed {
    /// `fact=value`, or `fact unset`.
    pub fn describe(&self) -> String {
        match &self.value {
            Some(v) => format!("{}={v}", self.fact),
            None => format!("{} unset", self.fact),
        }
    }

    /// Several observations as one line: `a=1, b unset`.
    pub fn describe_all(observed: &[Observed]) -> String {
        observed
            .iter()
            .map(Observed::describe)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn parse_scalar(text: &str) -> Value {
    let t = text.trim();
    match t {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => {
            if let Ok(n) = t.parse::<f64>() {
                Value::Num(n)
            } else {
                Value::Str(t.trim_matches(|c| c == '"' || c == '\'').to_string())
            }
        }
    }
}

/// Parses `FACT OP VALUE`, checking the fact and the value's type. Errors
/// say what was expected.
pub fn parse_comparison(text: &str, line: usize) -> Result<Comparison, String> {
    let text = text.trim();
    let mut parts = text.splitn(3, char::is_whitespace);
    let fact = parts.next().unwrap_or("").to_string();
    let op_token = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("").trim();
    let spec = facts::lookup(&fact).ok_or_else(|| {
        format!("unknown fact '{fact}'; expected a fact such as host.isa.avx512_bf16 (see `ipex-tune rules facts`)")
    })?;
    let op = CmpOp::parse(op_token).ok_or_else(|| {
        format!("'{text}': expected FACT OP VALUE with OP one of ==, !=, <, <=, >, >=, in, exists")
    })?;
    let operand = match op {
        CmpOp::Exists => {
            if !rest.is_empty() {
                return Err(format!("'{text}': `exists` takes no value"));
            }
            Operand::None
        }
        CmpOp::In => {
            let inner = rest
                .strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .ok_or_else(|| format!("'{text}': `in` expects a list such as [AVX2, AVX512]"))?;
            Operand::List(
                inner
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(parse_scalar)
                    .collect(),
            )
        }
        _ => {
            if rest.is_empty() {
                return Err(format!("'{text}': missing the value after {}", op.symbol()));
            }
            if facts::lookup(rest).is_some() && rest.contains('.') {
                Operand::Fact(rest.to_string())
            } else {
                Operand::Literal(parse_scalar(rest))
            }
        }
    };
    check_types(&fact, spec.kind, op, &operand, text)?;
    Ok(Comparison {
        fact,
        op,
        operand,
        line,
    })
}

fn check_types(
    fact: &str,
    kind: Kind,
    op: CmpOp,
    operand: &Operand,
    text: &str,
) -> Result<(), String> {
    let ordered = matches!(op, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge);
    match (kind, operand) {
        (Kind::Bool, Operand::Literal(Value::Bool(_))) if !ordered => Ok(()),
        (Kind::Bool, Operand::None) => Ok(()),
        (Kind::Bool, _) => Err(format!(
            "'{text}': {fact} is a boolean; expected `== true`, `== false`, `!= ...` or `exists`"
        )),
        (Kind::Num, Operand::Literal(Value::Num(_))) => Ok(()),
        (Kind::Num, Operand::Literal(v)) => {
            Err(format!("'{text}': {fact} is a number; '{v}' is not"))
        }
        (Kind::Num, Operand::List(items)) if items.iter().any(|v| v.as_num().is_none()) => Err(
            format!("'{text}': {fact} is a number; the list holds something else"),
        ),
        (Kind::Str, Operand::Literal(_)) if ordered => Err(format!(
            "'{text}': {fact} is a string; compare it with ==, != or in"
        )),
        _ => Ok(()),
    }
}

impl Comparison {
    fn eval(&self, facts: &Facts, observed: &mut Vec<Observed>) -> bool {
        let value = facts.get(&self.fact).cloned();
        observed.push(Observed {
            fact: self.fact.clone(),
            value: value.clone(),
        });
        let Some(value) = value else {
            return false;
        };
        let equal = |a: &Value, b: &Value| match (a.as_num(), b.as_num()) {
            (Some(x), Some(y)) => x == y,
            _ => a.to_string() == b.to_string(),
        };
        let rhs = match &self.operand {
            Operand::None => return self.op == CmpOp::Exists,
            Operand::List(items) => {
                return self.op == CmpOp::In && items.iter().any(|i| equal(&value, i))
            }
            Operand::Literal(v) => v.clone(),
            Operand::Fact(name) => {
                let other = facts.get(name).cloned();
                observed.push(Observed {
                    fact: name.clone(),
                    value: other.clone(),
                });
                match other {
                    Some(v) => v,
                    None => return false,
                }
            }
        };
        match self.op {
            CmpOp::Eq => equal(&value, &rhs),
            CmpOp::Ne => !equal(&value, &rhs),
            op => match (value.as_num(), rhs.as_num()) {
                (Some(a), Some(b)) => op.holds_num(a, b),
                _ => false,
            },
        }
    }
}

impl Condition {
    /// Evaluates the condition, recording every fact it looked at.
    pub fn eval(&self, facts: &Facts, observed: &mut Vec<Observed>) -> bool {
        match self {
            Condition::All(items) => items.iter().all(|c| c.eval(facts, observed)),
            Condition::Any(items) => items.iter().any(|c| c.eval(facts, observed)),
            Condition::Not(inner) => !inner.eval(facts, observed),
            Condition::Cmp(cmp) => cmp.eval(facts, observed),
        }
    }

    /// Every fact name the condition mentions.
    pub fn facts(&self) -> Vec<&str> {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                items.iter().flat_map(|c| c.facts()).collect()
            }
            Condition::Not(inner) => inner.facts(),
            Condition::Cmp(cmp) => {
                let mut names = vec![cmp.fact.as_str()];
                if let Operand::Fact(other) = &cmp.operand {
                    names.push(other.as_str());
                }
                names
            }
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.operand {
            Operand::None => write!(f, "{} {}", self.fact, self.op.symbol()),
            Operand::Literal(v) => write!(f, "{} {} {v}", self.fact, self.op.symbol()),
            Operand::Fact(name) => write!(f, "{} {} {name}", self.fact, self.op.symbol()),
            Operand::List(items) => write!(
                f,
                "{} in [{}]",
                self.fact,
                items
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |items: &[Condition], sep: &str| {
            items
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            Condition::All(items) if items.len() == 1 => write!(f, "{}", items[0]),
            Condition::All(items) => write!(f, "({})", join(items, " and ")),
            Condition::Any(items) => write!(f, "({})", join(items, " or ")),
            Condition::Not(inner) => write!(f, "not {inner}"),
            Condition::Cmp(cmp) => write!(f, "{cmp}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let mut f = Facts::new();
        f.set("suite.dynamic_shapes", true);
        f.set("host.cores.usable", 2u32);
        f.set("env.OMP_NUM_THREADS", "8");
        f.set("host.isa.level", "AVX2");
        f
    }

    fn holds(text: &str) -> bool {
        let cmp = parse_comparison(text, 1).unwrap();
        Condition::Cmp(cmp).eval(&facts(), &mut Vec::new())
    }

    #[test]
    fn comparisons() {
        assert!(holds("suite.dynamic_shapes == true"));
        assert!(!holds("suite.dynamic_shapes != true"));
        assert!(holds("env.OMP_NUM_THREADS > host.cores.usable"));
        assert!(holds("env.OMP_NUM_THREADS >= 8"));
        assert!(holds("host.isa.level in [AVX2, AVX512]"));
        assert!(!holds("host.isa.level == AMX"));
        assert!(holds("env.OMP_NUM_THREADS exists"));
        assert!(!holds("env.KMP_AFFINITY exists"));
        // absent facts never satisfy a comparison
        assert!(!holds("env.KMP_BLOCKTIME == 1"));
    }

    #[test]
    fn records_the_facts_it_looked_at() {
        let cmp = parse_comparison("env.OMP_NUM_THREADS > host.cores.usable", 3).unwrap();
        let mut seen = Vec::new();
        assert!(Condition::Cmp(cmp).eval(&facts(), &mut seen));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].value, Some(Value::from("8")));
    }

    #[test]
    fn rejects_unknown_facts_operators_and_mistyped_values() {
        assert!(parse_comparison("host.isa.avx9000 == true", 1)
            .unwrap_err()
            .contains("unknown fact"));
        assert!(parse_comparison("suite.dynamic_shapes is true", 1)
            .unwrap_err()
            .contains("OP one of"));
        assert!(parse_comparison("suite.dynamic_shapes == 3", 1)
            .unwrap_err()
            .contains("boolean"));
        assert!(parse_comparison("host.numa.nodes > many", 1)
            .unwrap_err()
            .contains("number"));
        assert!(parse_comparison("host.isa.level in AVX2", 1)
            .unwrap_err()
            .contains("list"));
        assert!(parse_comparison("host.numa.nodes >", 1)
            .unwrap_err()
            .contains("missing"));
    }

    #[test]
    fn all_any_not() {
        let a = Condition::Cmp(parse_comparison("suite.dynamic_shapes == true", 1).unwrap());
        let b = Condition::Cmp(parse_comparison("host.isa.level == AMX", 2).unwrap());
        let f = facts();
        assert!(!Condition::All(vec![a.clone(), b.clone()]).eval(&f, &mut Vec::new()));
        assert!(Condition::Any(vec![a.clone(), b.clone()]).eval(&f, &mut Vec::new()));
        assert!(Condition::Not(Box::new(b)).eval(&f, &mut Vec::new()));
    }
}
