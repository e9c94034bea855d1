//! The slice of OData that `GET /api/machines` understands: `$filter`, `$top`, `$skip`.
//!
//! `$filter` goes through a real tokenizer and recursive-descent parser (precedence
//! `or` < `and` < `not` < comparison) and is type-checked against the documented filterable
//! fields before any device is looked at, so a bad clause always yields the 400 the real service
//! sends instead of silently matching nothing. String comparisons ignore case.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};

use crate::errors::ApiError;
use crate::fleet::Machine;

/// A field `$filter` may name, exactly as documented (case-sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    ComputerDnsName,
    Id,
    Version,
    DeviceValue,
    AadDeviceId,
    MachineTags,
    LastSeen,
    FirstSeen,
    ExposureLevel,
    OnboardingStatus,
    LastIpAddress,
    HealthStatus,
    OsPlatform,
    RiskScore,
    RbacGroupId,
}

/// Type of a field or literal, for checking a clause before evaluating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Text,
    Number,
    DateTime,
    Bool,
    TextList,
    Null,
}

impl Field {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "computerDnsName" => Self::ComputerDnsName,
            "id" => Self::Id,
            "version" => Self::Version,
            "deviceValue" => Self::DeviceValue,
            "aadDeviceId" => Self::AadDeviceId,
            "machineTags" => Self::MachineTags,
            "lastSeen" => Self::LastSeen,
            "firstSeen" => Self::FirstSeen,
            "exposureLevel" => Self::ExposureLevel,
            "onboardingStatus" => Self::OnboardingStatus,
            "lastIpAddress" => Self::LastIpAddress,
            "healthStatus" => Self::HealthStatus,
            "osPlatform" => Self::OsPlatform,
            "riskScore" => Self::RiskScore,
            "rbacGroupId" => Self::RbacGroupId,
            _ => return None,
        })
    }

    fn ty(self) -> Type {
        match self {
            Self::LastSeen | Self::FirstSeen => Type::DateTime,
            Self::RbacGroupId => Type::Number,
            Self::MachineTags => Type::TextList,
            _ => Type::Text,
        }
    }
}

/// A runtime value of a field, variable or literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Number(f64),
    DateTime(DateTime<Utc>),
    Bool(bool),
}

impl Value {
    fn ty(&self) -> Type {
        match self {
            Value::Null => Type::Null,
            Value::Text(_) => Type::Text,
            Value::Number(_) => Type::Number,
            Value::DateTime(_) => Type::DateTime,
            Value::Bool(_) => Type::Bool,
        }
    }
}

/// Something a filter can be evaluated against.
pub trait FilterSubject {
    /// Value of a scalar field.
    fn value(&self, field: Field) -> Value;
    /// Items of a list field (only `machineTags`).
    fn list(&self, field: Field) -> Vec<&str>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Self::Eq => ordering == Ordering::Equal,
            Self::Ne => ordering != Ordering::Equal,
            Self::Gt => ordering == Ordering::Greater,
            Self::Ge => ordering != Ordering::Less,
            Self::Lt => ordering == Ordering::Less,
            Self::Le => ordering != Ordering::Greater,
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(Field),
    /// The range variable inside `machineTags/any(t: ...)`.
    LambdaVar,
    Literal(Value),
}

/// A parsed, type-checked `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Operand, CmpOp, Operand),
    StartsWith(Operand, Operand),
    /// `field/any()` (non-empty) or `field/any(v: body)`.
    Any(Field, Option<Box<Filter>>),
}

/// Why a `$filter` was rejected; rendered after "Invalid filter clause: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("Syntax error at position {position} in '{input}': {reason}.")]
    Syntax {
        position: usize,
        input: String,
        reason: String,
    },
    #[error("Could not find a property named '{0}' on type 'microsoft.windowsDefenderATP.api.PublicMachine'.")]
    UnknownProperty(String),
    #[error("Could not find a property named '{property}' on type '{entity}'.")]
    UnknownPropertyOn {
        property: String,
        entity: &'static str,
    },
    #[error("The function '{0}' is not supported.")]
    UnknownFunction(String),
    #[error("{0}")]
    Type(String),
}

impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> Self {
        ApiError::odata(format!("Invalid filter clause: {error}"))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Literal(Value),
    LParen,
    RParen,
    Comma,
    Colon,
    Slash,
}

fn tokenize(input: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let syntax = |position: usize, reason: &str| FilterError::Syntax {
        position,
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' | ')' | ',' | ':' | '/' => {
                tokens.push((
                    pos,
                    match c {
                        '(' => Token::LParen,
                        ')' => Token::RParen,
                        ',' => Token::Comma,
                        ':' => Token::Colon,
                        _ => Token::Slash,
                    },
                ));
                i += 1;
            }
            '\'' => {
                // '' inside a literal is one quote.
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(syntax(pos, "unterminated string literal")),
                        Some((_, '\'')) if matches!(chars.get(i + 1), Some((_, '\''))) => {
                            text.push('\'');
                            i += 2;
                        }
                        Some((_, '\'')) => {
                            i += 1;
                            break;
                        }
                        Some((_, ch)) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push((pos, Token::Literal(Value::Text(text))));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|(_, d)| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|(_, d)| {
                    d.is_ascii_alphanumeric() || matches!(d, '.' | ':' | '-' | '+')
                }) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, ch)| ch).collect();
                let value = parse_number_or_date(&word)
                    .ok_or_else(|| syntax(pos, &format!("'{word}' is not a number or date")))?;
                tokens.push((pos, Token::Literal(value)));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|(_, d)| d.is_ascii_alphanumeric() || *d == '_')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, ch)| ch).collect();
                let token = match word.as_str() {
                    "null" => Token::Literal(Value::Null),
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    _ => Token::Ident(word),
                };
                tokens.push((pos, token));
            }
            other => return Err(syntax(pos, &format!("unexpected character '{other}'"))),
        }
    }
    Ok(tokens)
}

/// `42`, `-1.5`, `2024-01-01T00:00:00Z` or `2024-01-01`.
fn parse_number_or_date(word: &str) -> Option<Value> {
    if let Some(date) = parse_datetime(word) {
        return Some(Value::DateTime(date));
    }
    if word
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
    {
        return word.parse::<f64>().ok().map(Value::Number);
    }
    None
}

fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Recursive-descent parser over the token list.
struct Parser<'a> {
    input: &'a str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
    /// Name of the lambda variable while inside `any(...)`.
    lambda_var: Option<String>,
}

impl Parser<'_> {
    fn syntax(&self, reason: impl Into<String>) -> FilterError {
        FilterError::Syntax {
            position: self
                .tokens
                .get(self.pos)
                .map_or(self.input.len(), |(p, _)| *p),
            input: self.input.to_owned(),
            reason: reason.into(),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn peek_at(&self, offset: usize) -> Option<&Token> {
        self.tokens.get(self.pos + offset).map(|(_, t)| t)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        token
    }

    fn peek_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w == word)
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), FilterError> {
        if self.peek() == Some(&token) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(format!("expected {what}")))
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        let primary = self.primary()?;
        self.bool_comparison(primary)
    }

    /// `startswith(...) eq false` and friends: compare a boolean clause with a bool literal.
    fn bool_comparison(&mut self, clause: Filter) -> Result<Filter, FilterError> {
        let op = match self.peek() {
            Some(Token::Ident(w)) => match CmpOp::parse(w) {
                Some(op @ (CmpOp::Eq | CmpOp::Ne)) => op,
                Some(_) => {
                    return Err(self.syntax("a boolean clause can only be compared with eq or ne"))
                }
                None => return Ok(clause),
            },
            _ => return Ok(clause),
        };
        self.pos += 1;
        match self.next() {
            Some(Token::Literal(Value::Bool(b))) => Ok(if b == (op == CmpOp::Eq) {
                clause
            } else {
                Filter::Not(Box::new(clause))
            }),
            _ => {
                self.pos -= 1;
                Err(self.syntax("expected true or false"))
            }
        }
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        match self.peek() {
            Some(Token::LParen) => {
                self.pos += 1;
                let inner = self.or()?;
                self.expect(Token::RParen, "')'")?;
                Ok(inner)
            }
            Some(Token::Ident(name)) if self.peek_at(1) == Some(&Token::LParen) => {
                let name = name.clone();
                self.function(&name)
            }
            Some(Token::Ident(name)) if self.peek_at(1) == Some(&Token::Slash) => {
                let name = name.clone();
                self.lambda(&name)
            }
            Some(_) => self.comparison(),
            None => Err(self.syntax("unexpected end of clause")),
        }
    }

    fn function(&mut self, name: &str) -> Result<Filter, FilterError> {
        if name != "startswith" {
            return Err(FilterError::UnknownFunction(name.to_owned()));
        }
        self.pos += 2; // name and '('
        let subject = self.operand()?;
        self.expect(Token::Comma, "','")?;
        let prefix = self.operand()?;
        self.expect(Token::RParen, "')'")?;
        for operand in [&subject, &prefix] {
            let ty = self.operand_type(operand);
            if !matches!(ty, Type::Text | Type::Null) {
                return Err(FilterError::Type(format!(
                    "startswith needs text arguments, got {ty:?}."
                )));
            }
        }
        Ok(Filter::StartsWith(subject, prefix))
    }

    fn lambda(&mut self, name: &str) -> Result<Filter, FilterError> {
        let field =
            Field::parse(name).ok_or_else(|| FilterError::UnknownProperty(name.to_owned()))?;
        if field.ty() != Type::TextList {
            return Err(FilterError::Type(format!(
                "'{name}' is not a collection; any() needs a collection such as machineTags."
            )));
        }
        self.pos += 2; // name and '/'
        match self.next() {
            Some(Token::Ident(w)) if w == "any" => {}
            Some(Token::Ident(w)) if w == "all" => {
                return Err(FilterError::UnknownFunction("all".to_owned()))
            }
            _ => {
                self.pos -= 1;
                return Err(self.syntax("expected 'any' after '/'"));
            }
        }
        self.expect(Token::LParen, "'('")?;
        if self.peek() == Some(&Token::RParen) {
            self.pos += 1;
            return Ok(Filter::Any(field, None));
        }
        if self.lambda_var.is_some() {
            return Err(self.syntax("nested any() is not supported"));
        }
        let var = match self.next() {
            Some(Token::Ident(var)) if Field::parse(&var).is_none() => var,
            _ => {
                self.pos -= 1;
                return Err(self.syntax("expected a range variable name"));
            }
        };
        self.expect(Token::Colon, "':'")?;
        self.lambda_var = Some(var);
        let body = self.or();
        self.lambda_var = None;
        let body = body?;
        self.expect(Token::RParen, "')'")?;
        Ok(Filter::Any(field, Some(Box::new(body))))
    }

    fn operand(&mut self) -> Result<Operand, FilterError> {
        match self.next() {
            Some(Token::Literal(value)) => Ok(Operand::Literal(value)),
            Some(Token::Ident(name)) => {
                if self.lambda_var.as_deref() == Some(name.as_str()) {
                    return Ok(Operand::LambdaVar);
                }
                Field::parse(&name)
                    .map(Operand::Field)
                    .ok_or(FilterError::UnknownProperty(name))
            }
            _ => {
                self.pos -= 1;
                Err(self.syntax("expected a property name or a literal"))
            }
        }
    }

    fn operand_type(&self, operand: &Operand) -> Type {
        match operand {
            Operand::Field(field) => field.ty(),
            Operand::LambdaVar => Type::Text,
            Operand::Literal(value) => value.ty(),
        }
    }

    fn comparison(&mut self) -> Result<Filter, FilterError> {
        let left = self.operand()?;
        let op = match self.peek() {
            Some(Token::Ident(w)) => CmpOp::parse(w),
            _ => None,
        }
        .ok_or_else(|| self.syntax("expected a comparison operator (eq, ne, gt, ge, lt, le)"))?;
        self.pos += 1;
        let right = self.operand()?;
        let (left, right) = self.check_comparison(left, right)?;
        Ok(Filter::Compare(left, op, right))
    }

    /// Reject comparisons of unlike types; a quoted date compared with a date field is read as a date.
    fn check_comparison(
        &self,
        left: Operand,
        right: Operand,
    ) -> Result<(Operand, Operand), FilterError> {
        let coerce = |operand: Operand, other: Type| match (operand, other) {
            (Operand::Literal(Value::Text(text)), Type::DateTime) => parse_datetime(&text)
                .map(|t| Operand::Literal(Value::DateTime(t)))
                .ok_or_else(|| {
                    FilterError::Type(format!("'{text}' is not a valid date and time."))
                }),
            (operand, _) => Ok(operand),
        };
        let (lt, rt) = (self.operand_type(&left), self.operand_type(&right));
        let left = coerce(left, rt)?;
        let right = coerce(right, lt)?;
        let (lt, rt) = (self.operand_type(&left), self.operand_type(&right));
        if lt == Type::TextList || rt == Type::TextList {
            return Err(FilterError::Type(
                "machineTags is a collection; use machineTags/any(t: t eq 'tag').".to_owned(),
            ));
        }
        if lt != rt && lt != Type::Null && rt != Type::Null {
            return Err(FilterError::Type(format!(
                "A binary operator with incompatible types was detected: {lt:?} and {rt:?}."
            )));
        }
        Ok((left, right))
    }
}

impl Filter {
    /// Parse and type-check a `$filter` value.
    pub fn parse(input: &str) -> Result<Self, FilterError> {
        let tokens = tokenize(input)?;
        let mut parser = Parser {
            input,
            tokens,
            pos: 0,
            lambda_var: None,
        };
        let filter = parser.or()?;
        if parser.pos < parser.tokens.len() {
            return Err(parser.syntax("unexpected token after the end of the clause"));
        }
        Ok(filter)
    }

    /// Whether `subject` passes this filter.
    pub fn matches(&self, subject: &impl FilterSubject) -> bool {
        self.eval(subject, None)
    }

    fn eval(&self, subject: &impl FilterSubject, var: Option<&str>) -> bool {
        let value = |operand: &Operand| match operand {
            Operand::Field(field) => subject.value(*field),
            Operand::LambdaVar => var.map_or(Value::Null, |v| Value::Text(v.to_owned())),
            Operand::Literal(value) => value.clone(),
        };
        match self {
            Filter::Or(a, b) => a.eval(subject, var) || b.eval(subject, var),
            Filter::And(a, b) => a.eval(subject, var) && b.eval(subject, var),
            Filter::Not(a) => !a.eval(subject, var),
            Filter::Compare(l, op, r) => compare(&value(l), *op, &value(r)),
            Filter::StartsWith(s, p) => match (value(s), value(p)) {
                (Value::Text(s), Value::Text(p)) => s.to_lowercase().starts_with(&p.to_lowercase()),
                _ => false,
            },
            Filter::Any(field, body) => {
                let items = subject.list(*field);
                match body {
                    None => !items.is_empty(),
                    Some(body) => items.iter().any(|item| body.eval(subject, Some(item))),
                }
            }
        }
    }
}

/// OData comparison: null equals only null and is never ordered.
fn compare(left: &Value, op: CmpOp, right: &Value) -> bool {
    let ordering = match (left, right) {
        (Value::Null, Value::Null) => return op == CmpOp::Eq,
        (Value::Null, _) | (_, Value::Null) => return op == CmpOp::Ne,
        (Value::Text(a), Value::Text(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
        (Value::DateTime(a), Value::DateTime(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    ordering.is_some_and(|o| op.holds(o))
}

impl FilterSubject for Machine {
    fn value(&self, field: Field) -> Value {
        let text = |t: Option<&str>| t.map_or(Value::Null, |t| Value::Text(t.to_owned()));
        match field {
            Field::ComputerDnsName => text(self.computer_dns_name.as_deref()),
            Field::Id => text(Some(&self.id)),
            Field::Version => text(self.version),
            Field::DeviceValue => text(Some(self.device_value)),
            Field::AadDeviceId => text(self.aad_device_id.as_deref()),
            Field::MachineTags => Value::Null,
            Field::LastSeen => Value::DateTime(self.last_seen),
            Field::FirstSeen => Value::DateTime(self.first_seen),
            Field::ExposureLevel => text(Some(self.exposure_level)),
            Field::OnboardingStatus => text(Some(self.onboarding_status)),
            Field::LastIpAddress => text(self.last_ip_address.as_deref()),
            Field::HealthStatus => text(Some(self.health_status)),
            Field::OsPlatform => text(self.os_platform),
            Field::RiskScore => text(Some(self.risk_score)),
            Field::RbacGroupId => self
                .rbac_group_id
                .map_or(Value::Null, |id| Value::Number(f64::from(id))),
        }
    }

    fn list(&self, field: Field) -> Vec<&str> {
        match field {
            Field::MachineTags => self.machine_tags.clone(),
            _ => Vec::new(),
        }
    }
}

/// A `$filter` over text properties: `eq`/`ne` against a string literal or `null`, `and` (binds
/// tighter) / `or`, `not` and parentheses. What the vulnerability endpoints accept; string
/// comparisons ignore case, like [`Filter`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextFilter {
    Or(Box<TextFilter>, Box<TextFilter>),
    And(Box<TextFilter>, Box<TextFilter>),
    Not(Box<TextFilter>),
    /// `property eq 'value'` (`value: None` = `null`); `negated` for `ne`.
    Eq {
        property: &'static str,
        value: Option<String>,
        negated: bool,
    },
}

impl TextFilter {
    /// Parse a `$filter` naming only `properties` (case-sensitive) of `entity` (for the message
    /// of an unknown property).
    pub fn parse(
        input: &str,
        properties: &[&'static str],
        entity: &'static str,
    ) -> Result<Self, FilterError> {
        let mut parser = TextParser {
            inner: Parser {
                input,
                tokens: tokenize(input)?,
                pos: 0,
                lambda_var: None,
            },
            properties,
            entity,
        };
        let filter = parser.or()?;
        if parser.inner.pos < parser.inner.tokens.len() {
            return Err(parser
                .inner
                .syntax("unexpected token after the end of the clause"));
        }
        Ok(filter)
    }

    /// Whether a row passes; `get` gives a property's value (`None` = null).
    pub fn matches<'a, F>(&self, get: &F) -> bool
    where
        F: Fn(&str) -> Option<std::borrow::Cow<'a, str>>,
    {
        match self {
            Self::Or(a, b) => a.matches(get) || b.matches(get),
            Self::And(a, b) => a.matches(get) && b.matches(get),
            Self::Not(a) => !a.matches(get),
            Self::Eq {
                property,
                value,
                negated,
            } => {
                let equal = match (get(property), value) {
                    (None, None) => true,
                    (Some(actual), Some(wanted)) => actual.eq_ignore_ascii_case(wanted),
                    _ => false,
                };
                equal != *negated
            }
        }
    }

    /// The value `property` must have for any row to match, when the filter pins it with an
    /// `eq` at the top or under `and` (`Some(None)` = must be null). Lets a handler skip rows
    /// it knows cannot match.
    pub fn pinned(&self, property: &str) -> Option<Option<&str>> {
        match self {
            Self::And(a, b) => a.pinned(property).or_else(|| b.pinned(property)),
            Self::Eq {
                property: p,
                value,
                negated: false,
            } if *p == property => Some(value.as_deref()),
            _ => None,
        }
    }
}

impl TextFilter {
    /// Whether the filter is nothing but `eq` pins of `properties` joined by `and`: then
    /// [`Self::pinned`] decides a match alone.
    pub fn only_pins(&self, properties: &[&str]) -> bool {
        match self {
            Self::And(a, b) => a.only_pins(properties) && b.only_pins(properties),
            Self::Eq {
                property,
                negated: false,
                ..
            } => properties.contains(property),
            _ => false,
        }
    }
}

/// Recursive descent for [`TextFilter`], on the shared tokenizer.
struct TextParser<'a> {
    inner: Parser<'a>,
    properties: &'a [&'static str],
    entity: &'static str,
}

impl TextParser<'_> {
    fn or(&mut self) -> Result<TextFilter, FilterError> {
        let mut left = self.and()?;
        while self.inner.peek_keyword("or") {
            self.inner.pos += 1;
            left = TextFilter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<TextFilter, FilterError> {
        let mut left = self.unary()?;
        while self.inner.peek_keyword("and") {
            self.inner.pos += 1;
            left = TextFilter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<TextFilter, FilterError> {
        if self.inner.peek_keyword("not") {
            self.inner.pos += 1;
            return Ok(TextFilter::Not(Box::new(self.unary()?)));
        }
        if self.inner.peek() == Some(&Token::LParen) {
            self.inner.pos += 1;
            let inner = self.or()?;
            self.inner.expect(Token::RParen, "')'")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<TextFilter, FilterError> {
        let property = match self.inner.peek() {
            Some(Token::Ident(name)) if self.inner.peek_at(1) == Some(&Token::LParen) => {
                return Err(FilterError::UnknownFunction(name.clone()))
            }
            Some(Token::Ident(name)) => {
                let name = name.clone();
                *self.properties.iter().find(|p| **p == name).ok_or(
                    FilterError::UnknownPropertyOn {
                        property: name,
                        entity: self.entity,
                    },
                )?
            }
            None => return Err(self.inner.syntax("unexpected end of clause")),
            Some(_) => return Err(self.inner.syntax("expected a property name")),
        };
        self.inner.pos += 1;
        let negated = match self.inner.peek() {
            Some(Token::Ident(w)) => match CmpOp::parse(w) {
                Some(CmpOp::Eq) => false,
                Some(CmpOp::Ne) => true,
                Some(_) => {
                    return Err(FilterError::Type(format!(
                        "'{property}' supports only eq and ne."
                    )))
                }
                None => return Err(self.inner.syntax("expected eq or ne")),
            },
            _ => return Err(self.inner.syntax("expected eq or ne")),
        };
        self.inner.pos += 1;
        let value = match self.inner.next() {
            Some(Token::Literal(Value::Text(text))) => Some(text),
            Some(Token::Literal(Value::Null)) => None,
            Some(Token::Literal(other)) => {
                return Err(FilterError::Type(format!(
                    "A binary operator with incompatible types was detected: Text and {:?}.",
                    other.ty()
                )))
            }
            _ => {
                self.inner.pos -= 1;
                return Err(self.inner.syntax("expected a quoted string or null"));
            }
        };
        Ok(TextFilter::Eq {
            property,
            value,
            negated,
        })
    }
}

/// `$top` and `$skip` of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub top: Option<usize>,
    pub skip: usize,
}

/// Largest `$top` the real API accepts.
pub const MAX_TOP: usize = 10_000;

impl Paging {
    pub fn parse(top: Option<&str>, skip: Option<&str>) -> Result<Self, ApiError> {
        let top = top
            .map(|t| {
                let n: i64 = t.trim().parse().map_err(|_| {
                    ApiError::odata(format!(
                        "The value '{t}' is not valid for $top; it must be an integer."
                    ))
                })?;
                if n < 1 || n > MAX_TOP as i64 {
                    return Err(ApiError::invalid_input(format!(
                        "$top must be between 1 and {MAX_TOP}, got {n}."
                    )));
                }
                Ok(n as usize)
            })
            .transpose()?;
        let skip = match skip {
            None => 0,
            Some(s) => s.trim().parse().map_err(|_| {
                ApiError::odata(format!(
                    "The value '{s}' is not valid for $skip; it must be a non-negative integer."
                ))
            })?,
        };
        Ok(Self { top, skip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dev {
        name: Option<&'static str>,
        tags: Vec<&'static str>,
        seen: &'static str,
        group: Option<u32>,
    }

    impl FilterSubject for Dev {
        fn value(&self, field: Field) -> Value {
            match field {
                Field::ComputerDnsName => self.name.map_or(Value::Null, |n| Value::Text(n.into())),
                Field::LastSeen => Value::DateTime(parse_datetime(self.seen).expect("date")),
                Field::RbacGroupId => self.group.map_or(Value::Null, |g| Value::Number(g.into())),
                _ => Value::Null,
            }
        }
        fn list(&self, _: Field) -> Vec<&str> {
            self.tags.clone()
        }
    }

    fn dev() -> Dev {
        Dev {
            name: Some("fin-ws-0042.contoso.local"),
            tags: vec!["Finance", "VIP"],
            seen: "2024-06-01T10:00:00Z",
            group: Some(102),
        }
    }

    fn check(filter: &str) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(&dev())
    }

    #[test]
    fn comparisons_and_logic() {
        assert!(check("computerDnsName eq 'FIN-WS-0042.contoso.local'"));
        assert!(!check("computerDnsName ne 'fin-ws-0042.contoso.local'"));
        assert!(check("startswith(computerDnsName,'fin-')"));
        assert!(check("startswith(computerDnsName, 'srv') eq false"));
        assert!(check("machineTags/any(t: t eq 'VIP')"));
        assert!(!check("machineTags/any(t: t eq 'Kiosk')"));
        assert!(check("machineTags/any()"));
        assert!(check(
            "lastSeen gt 2024-01-01T00:00:00Z and lastSeen lt '2024-07-01T00:00:00Z'"
        ));
        assert!(check("rbacGroupId eq 102"));
        assert!(check("aadDeviceId eq null"));
        assert!(!check("aadDeviceId gt null"));
        // `and` binds tighter than `or`.
        assert!(check(
            "rbacGroupId eq 1 and rbacGroupId eq 2 or rbacGroupId eq 102"
        ));
        assert!(!check(
            "rbacGroupId eq 1 and (rbacGroupId eq 2 or rbacGroupId eq 102)"
        ));
        assert!(check("not (rbacGroupId eq 1)"));
        assert!(check("computerDnsName ne 'it''s'"));
    }

    #[test]
    fn quotes_are_escaped_by_doubling() {
        let filter = Filter::parse("computerDnsName eq 'o''brien'").expect("parses");
        let expected = Operand::Literal(Value::Text("o'brien".into()));
        assert!(matches!(filter, Filter::Compare(_, CmpOp::Eq, ref r) if *r == expected));
    }

    #[test]
    fn bad_clauses_are_rejected() {
        for bad in [
            "",
            "computerDnsName eq",
            "computerDnsName eq 'x",
            "computerdnsname eq 'x'",
            "osBuild eq 1",
            "computerDnsName eq 'x' and",
            "(computerDnsName eq 'x'",
            "computerDnsName eq 'x')",
            "contains(computerDnsName,'x')",
            "machineTags eq 'VIP'",
            "lastSeen gt 'yesterday'",
            "rbacGroupId eq 'abc'",
            "computerDnsName like 'x'",
            "healthStatus eq 'Active' & x",
            "machineTags/any(t t eq 'x')",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn text_filters() {
        const PROPS: &[&str] = &["machineId", "fixingKbId"];
        let parse = |f: &str| TextFilter::parse(f, PROPS, "Row");
        let row = |m: &'static str, kb: Option<&'static str>| {
            move |p: &str| match p {
                "machineId" => Some(std::borrow::Cow::Borrowed(m)),
                _ => kb.map(std::borrow::Cow::Borrowed),
            }
        };
        let f = parse("machineId eq 'AB' and (fixingKbId eq '1' or fixingKbId eq null)")
            .expect("parses");
        assert!(f.matches(&row("ab", Some("1"))));
        assert!(f.matches(&row("ab", None)));
        assert!(!f.matches(&row("ab", Some("2"))));
        assert!(!f.matches(&row("cd", Some("1"))));
        assert_eq!(f.pinned("machineId"), Some(Some("AB")));
        assert_eq!(f.pinned("fixingKbId"), None);
        assert!(!f.only_pins(PROPS));
        let pins = parse("machineId eq 'a' and fixingKbId eq null").expect("parses");
        assert!(pins.only_pins(PROPS) && !pins.only_pins(&["machineId"]));
        let ne = parse("not (fixingKbId ne null)").expect("parses");
        assert!(ne.matches(&row("x", None)) && !ne.matches(&row("x", Some("1"))));
        for bad in [
            "",
            "cveId eq 'x'",
            "machineId gt 'x'",
            "machineId eq 5",
            "machineId eq",
            "startswith(machineId,'a')",
            "machineId eq 'a' or",
            "(machineId eq 'a'",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(
            parse("cveId eq 'x'").map_err(|e| e.to_string()),
            Err("Could not find a property named 'cveId' on type 'Row'.".to_owned())
        );
    }

    #[test]
    fn paging_limits() {
        assert_eq!(
            Paging::parse(Some("10"), Some("5")).map(|p| (p.top, p.skip)),
            Ok((Some(10), 5))
        );
        assert_eq!(
            Paging::parse(Some("0"), None).map_err(|e| e.code),
            Err("InvalidInput")
        );
        assert_eq!(
            Paging::parse(Some("10001"), None).map_err(|e| e.code),
            Err("InvalidInput")
        );
        assert_eq!(
            Paging::parse(Some("ten"), None).map_err(|e| e.code),
            Err("ODataError")
        );
        assert_eq!(
            Paging::parse(None, Some("-1")).map_err(|e| e.code),
            Err("ODataError")
        );
    }
}
