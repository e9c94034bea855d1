//! The slice of OData `$filter` the mock understands, plus `$top` and `$skip`.
//!
//! One tokenizer and one recursive-descent parser (precedence `or` < `and` < `not` < comparison)
//! read every endpoint's `$filter`; a [`Schema`] says which properties the endpoint documents and
//! which [`Grammar`] it speaks. A clause is type-checked against the schema before any row is
//! looked at, so a bad clause always yields the 400 the real service sends instead of silently
//! matching nothing. String comparisons ignore case, and so do property names (see
//! [`Schema::property`]).

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};

use crate::errors::ApiError;
use crate::fleet::Machine;

/// Type of a property or literal, for checking a clause before evaluating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Text,
    Number,
    DateTime,
    Bool,
    TextList,
    Null,
}

/// Something `$filter` may name: its documented (case-sensitive) name and its type.
pub trait Property: Copy + PartialEq + std::fmt::Debug + 'static {
    /// The name as documented and as written in a `$filter`.
    fn name(self) -> &'static str;
    /// What the property holds, which decides the comparisons that type-check.
    fn ty(self) -> Type;
}

/// A property of `/api/machines` (`PublicMachine`).
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

impl Field {
    /// Every filterable property of a machine, as the docs list them.
    pub const ALL: &'static [Field] = &[
        Self::ComputerDnsName,
        Self::Id,
        Self::Version,
        Self::DeviceValue,
        Self::AadDeviceId,
        Self::MachineTags,
        Self::LastSeen,
        Self::FirstSeen,
        Self::ExposureLevel,
        Self::OnboardingStatus,
        Self::LastIpAddress,
        Self::HealthStatus,
        Self::OsPlatform,
        Self::RiskScore,
        Self::RbacGroupId,
    ];
}

impl Property for Field {
    fn name(self) -> &'static str {
        match self {
            Self::ComputerDnsName => "computerDnsName",
            Self::Id => "id",
            Self::Version => "version",
            Self::DeviceValue => "deviceValue",
            Self::AadDeviceId => "aadDeviceId",
            Self::MachineTags => "machineTags",
            Self::LastSeen => "lastSeen",
            Self::FirstSeen => "firstSeen",
            Self::ExposureLevel => "exposureLevel",
            Self::OnboardingStatus => "onboardingStatus",
            Self::LastIpAddress => "lastIpAddress",
            Self::HealthStatus => "healthStatus",
            Self::OsPlatform => "osPlatform",
            Self::RiskScore => "riskScore",
            Self::RbacGroupId => "rbacGroupId",
        }
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

/// A text property named by its documented name, for endpoints whose properties are all text.
impl Property for &'static str {
    fn name(self) -> &'static str {
        self
    }

    fn ty(self) -> Type {
        Type::Text
    }
}

/// How much of OData an endpoint's `$filter` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    /// `/api/machines`: property and literal on either side of `eq ne gt ge lt le`,
    /// `startswith(...)`, `machineTags/any(...)` and `clause eq true|false`.
    Full,
    /// The vulnerability endpoints: only `property eq|ne 'text'|null`, joined by
    /// `and`/`or`/`not` and parentheses.
    Pins,
}

impl Grammar {
    fn orders(self) -> bool {
        self == Self::Full
    }

    fn knows_function(self, name: &str) -> bool {
        self == Self::Full && name == "startswith"
    }

    fn expected_operator(self) -> &'static str {
        match self {
            Self::Full => "expected a comparison operator (eq, ne, gt, ge, lt, le)",
            Self::Pins => "expected eq or ne",
        }
    }
}

/// What one endpoint's `$filter` may say: its properties, the entity they belong to (named in
/// the unknown-property answer) and its grammar.
#[derive(Debug, Clone, Copy)]
pub struct Schema<P: 'static> {
    pub entity: &'static str,
    pub properties: &'static [P],
    pub grammar: Grammar,
}

/// `/api/machines`.
pub const MACHINES: Schema<Field> = Schema {
    entity: "microsoft.windowsDefenderATP.api.PublicMachine",
    properties: Field::ALL,
    grammar: Grammar::Full,
};

impl<P: Property> Schema<P> {
    /// The property `name` stands for, its case ignored.
    ///
    /// Why ignore case: the documentation spells the same properties in three casings and means
    /// all of them. `get-machines.md` lists camelCase (`riskScore`, `healthStatus`,
    /// `lastSeen`); the list of filterable properties in `exposed-apis-odata-samples.md` writes
    /// `ComputerDnsName`, `LastSeen`, `HealthStatus`, `OsPlatform`, `RiskScore`, `RbacGroupId`
    /// next to camelCase `exposureLevel` and `onboardingStatus` (and `InvestigationId` for
    /// alerts); `machine.md` writes `onboardingstatus`. The requests that page sends spell
    /// camelCase (`riskScore+eq+'High'` under the heading "'High' 'RiskScore'",
    /// `healthStatus+ne+'Active'` under "'HealthStatus'"). Every spelling the docs use can
    /// only be right if the service matches names ignoring case, so the mock does; a name that
    /// matches no property in any case is still the 400 it always was.
    pub fn property(&self, name: &str) -> Option<P> {
        self.properties
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    fn unknown(&self, name: String) -> FilterError {
        FilterError::UnknownProperty {
            property: name,
            entity: self.entity,
        }
    }
}

/// A runtime value of a property, variable or literal; text borrows from the row it came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Text(Cow<'a, str>),
    Number(f64),
    DateTime(DateTime<Utc>),
    Bool(bool),
}

impl Value<'_> {
    /// Text or null, the shape of an optional text property.
    pub fn text(text: Option<&str>) -> Value<'_> {
        text.map_or(Value::Null, |t| Value::Text(Cow::Borrowed(t)))
    }

    fn ty(&self) -> Type {
        match self {
            Value::Null => Type::Null,
            Value::Text(_) => Type::Text,
            Value::Number(_) => Type::Number,
            Value::DateTime(_) => Type::DateTime,
            Value::Bool(_) => Type::Bool,
        }
    }

    fn borrowed(&self) -> Value<'_> {
        match self {
            Value::Text(text) => Value::Text(Cow::Borrowed(text)),
            Value::Null => Value::Null,
            Value::Number(n) => Value::Number(*n),
            Value::DateTime(t) => Value::DateTime(*t),
            Value::Bool(b) => Value::Bool(*b),
        }
    }
}

/// A row a filter can be evaluated against.
pub trait FilterSubject<P> {
    /// Value of a scalar property.
    fn value(&self, property: P) -> Value<'_>;
    /// Items of a collection property (only `machineTags`); rows without collections keep the
    /// default.
    fn list(&self, _property: P) -> Vec<&str> {
        Vec::new()
    }
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
pub enum Operand<P> {
    Field(P),
    /// The range variable inside `machineTags/any(t: ...)`.
    LambdaVar,
    Literal(Value<'static>),
}

/// A parsed, type-checked `$filter` over the properties `P`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter<P> {
    Or(Box<Filter<P>>, Box<Filter<P>>),
    And(Box<Filter<P>>, Box<Filter<P>>),
    Not(Box<Filter<P>>),
    Compare(Operand<P>, CmpOp, Operand<P>),
    StartsWith(Operand<P>, Operand<P>),
    /// `field/any()` (non-empty) or `field/any(v: body)`.
    Any(P, Option<Box<Filter<P>>>),
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
    #[error("Could not find a property named '{property}' on type '{entity}'.")]
    UnknownProperty {
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
    Literal(Value<'static>),
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
                tokens.push((pos, Token::Literal(Value::Text(Cow::Owned(text)))));
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
fn parse_number_or_date(word: &str) -> Option<Value<'static>> {
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

/// `2024-01-01T00:00:00Z` (any RFC 3339 offset), `2024-01-01T00:00Z` (OData's ABNF lets the
/// seconds go), `2024-01-01`, or `2024-01-01Z`: midnight UTC of that day.
///
/// The last form is not in OData's ABNF, but `exposed-apis-odata-samples.md` Example 5 sends
/// it literally (`$filter=lastSeen gt 2018-08-01Z`) and shows a 200 answer, so the mock takes
/// it as the documented service does.
fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some(minutes) = text.strip_suffix(['Z', 'z']) {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(minutes, "%Y-%m-%dT%H:%M") {
            return Some(t.and_utc());
        }
    }
    let day = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Which side of a comparison an operand stands on: [`Grammar::Pins`] wants a property left and a
/// literal right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// How [`Parser::chain`] joins two clauses: `Filter::Or` or `Filter::And`.
type Join<P> = fn(Box<Filter<P>>, Box<Filter<P>>) -> Filter<P>;

/// Recursive-descent parser over the token list, for any schema.
struct Parser<'s, P: 'static> {
    input: &'s str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
    schema: &'s Schema<P>,
    /// Name of the lambda variable while inside `any(...)`.
    lambda_var: Option<String>,
}

impl<P: Property> Parser<'_, P> {
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

    fn whole(mut self) -> Result<Filter<P>, FilterError> {
        let filter = self.or()?;
        if self.pos < self.tokens.len() {
            return Err(self.syntax("unexpected token after the end of the clause"));
        }
        Ok(filter)
    }

    fn or(&mut self) -> Result<Filter<P>, FilterError> {
        self.chain("or", Self::and, Filter::Or)
    }

    fn and(&mut self) -> Result<Filter<P>, FilterError> {
        self.chain("and", Self::unary, Filter::And)
    }

    /// `operand (keyword operand)*`, grouped to the left.
    fn chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Filter<P>, FilterError>,
        join: Join<P>,
    ) -> Result<Filter<P>, FilterError> {
        let mut left = operand(self)?;
        while self.peek_keyword(keyword) {
            self.pos += 1;
            left = join(Box::new(left), Box::new(operand(self)?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter<P>, FilterError> {
        if self.peek_keyword("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        let primary = self.primary()?;
        match self.schema.grammar {
            Grammar::Full => self.bool_comparison(primary),
            Grammar::Pins => Ok(primary),
        }
    }

    /// `startswith(...) eq false` and friends: compare a boolean clause with a bool literal.
    fn bool_comparison(&mut self, clause: Filter<P>) -> Result<Filter<P>, FilterError> {
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

    fn primary(&mut self) -> Result<Filter<P>, FilterError> {
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
            Some(Token::Ident(name))
                if self.schema.grammar == Grammar::Full
                    && self.peek_at(1) == Some(&Token::Slash) =>
            {
                let name = name.clone();
                self.lambda(&name)
            }
            Some(_) => self.comparison(),
            None => Err(self.syntax("unexpected end of clause")),
        }
    }

    fn function(&mut self, name: &str) -> Result<Filter<P>, FilterError> {
        if !self.schema.grammar.knows_function(name) {
            return Err(FilterError::UnknownFunction(name.to_owned()));
        }
        self.pos += 2; // name and '('
        let subject = self.operand(Side::Left)?;
        self.expect(Token::Comma, "','")?;
        let prefix = self.operand(Side::Right)?;
        self.expect(Token::RParen, "')'")?;
        for operand in [&subject, &prefix] {
            let ty = operand_type(operand);
            if !matches!(ty, Type::Text | Type::Null) {
                return Err(FilterError::Type(format!(
                    "startswith needs text arguments, got {ty:?}."
                )));
            }
        }
        Ok(Filter::StartsWith(subject, prefix))
    }

    fn lambda(&mut self, name: &str) -> Result<Filter<P>, FilterError> {
        let field = self
            .schema
            .property(name)
            .ok_or_else(|| self.schema.unknown(name.to_owned()))?;
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
            Some(Token::Ident(var)) if self.schema.property(&var).is_none() => var,
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

    /// A property, the range variable or a literal; [`Grammar::Pins`] takes only a property on
    /// the left and only a literal on the right.
    fn operand(&mut self, side: Side) -> Result<Operand<P>, FilterError> {
        let pins = self.schema.grammar == Grammar::Pins;
        match self.next() {
            Some(Token::Literal(value)) if !pins || side == Side::Right => {
                Ok(Operand::Literal(value))
            }
            Some(Token::Ident(name)) if !pins || side == Side::Left => {
                if self.lambda_var.as_deref() == Some(name.as_str()) {
                    return Ok(Operand::LambdaVar);
                }
                self.schema
                    .property(&name)
                    .map(Operand::Field)
                    .ok_or_else(|| self.schema.unknown(name))
            }
            _ => {
                self.pos -= 1;
                Err(self.syntax(match (pins, side) {
                    (false, _) => "expected a property name or a literal",
                    (true, Side::Left) => "expected a property name",
                    (true, Side::Right) => "expected a quoted string or null",
                }))
            }
        }
    }

    /// The comparison operator after `left`; one that orders is refused where the grammar does
    /// not order.
    fn operator(&mut self, left: &Operand<P>) -> Result<CmpOp, FilterError> {
        let op = match self.peek() {
            Some(Token::Ident(w)) => CmpOp::parse(w),
            _ => None,
        }
        .ok_or_else(|| self.syntax(self.schema.grammar.expected_operator()))?;
        if !self.schema.grammar.orders() && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            let property = match left {
                Operand::Field(p) => p.name(),
                _ => "this operand",
            };
            return Err(FilterError::Type(format!(
                "'{property}' supports only eq and ne."
            )));
        }
        self.pos += 1;
        Ok(op)
    }

    fn comparison(&mut self) -> Result<Filter<P>, FilterError> {
        let left = self.operand(Side::Left)?;
        let op = self.operator(&left)?;
        let right = self.operand(Side::Right)?;
        let (left, right) = check_comparison(left, right)?;
        Ok(Filter::Compare(left, op, right))
    }
}

fn operand_type<P: Property>(operand: &Operand<P>) -> Type {
    match operand {
        Operand::Field(field) => field.ty(),
        Operand::LambdaVar => Type::Text,
        Operand::Literal(value) => value.ty(),
    }
}

/// Reject comparisons of unlike types; a quoted date compared with a date field is read as a date.
fn check_comparison<P: Property>(
    left: Operand<P>,
    right: Operand<P>,
) -> Result<(Operand<P>, Operand<P>), FilterError> {
    let coerce = |operand: Operand<P>, other: Type| match (operand, other) {
        (Operand::Literal(Value::Text(text)), Type::DateTime) => parse_datetime(&text)
            .map(|t| Operand::Literal(Value::DateTime(t)))
            .ok_or_else(|| FilterError::Type(format!("'{text}' is not a valid date and time."))),
        (operand, _) => Ok(operand),
    };
    let (lt, rt) = (operand_type(&left), operand_type(&right));
    let left = coerce(left, rt)?;
    let right = coerce(right, lt)?;
    let (lt, rt) = (operand_type(&left), operand_type(&right));
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

impl<P: Property> Filter<P> {
    /// Parse and type-check a `$filter` value against `schema`.
    pub fn parse(input: &str, schema: &Schema<P>) -> Result<Self, FilterError> {
        Parser {
            input,
            tokens: tokenize(input)?,
            pos: 0,
            schema,
            lambda_var: None,
        }
        .whole()
    }

    /// Whether `subject` passes this filter.
    pub fn matches(&self, subject: &impl FilterSubject<P>) -> bool {
        self.eval(subject, None)
    }

    fn eval(&self, subject: &impl FilterSubject<P>, var: Option<&str>) -> bool {
        fn value<'a, P: Property>(
            operand: &'a Operand<P>,
            subject: &'a impl FilterSubject<P>,
            var: Option<&'a str>,
        ) -> Value<'a> {
            match operand {
                Operand::Field(field) => subject.value(*field),
                Operand::LambdaVar => Value::text(var),
                Operand::Literal(value) => value.borrowed(),
            }
        }
        let value = |operand| value(operand, subject, var);
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

    /// The value `property` must have for any row to match, when the filter pins it with a
    /// `property eq 'text'|null` at the top or under `and` (`Some(None)` = must be null). Lets a
    /// handler skip rows it knows cannot match.
    pub fn pinned(&self, property: P) -> Option<Option<&str>> {
        match self {
            Self::And(a, b) => a.pinned(property).or_else(|| b.pinned(property)),
            Self::Compare(Operand::Field(p), CmpOp::Eq, Operand::Literal(value))
                if *p == property =>
            {
                match value {
                    Value::Text(text) => Some(Some(text)),
                    Value::Null => Some(None),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Whether the filter is nothing but `eq` pins of `properties` joined by `and`: then
    /// [`Self::pinned`] decides a match alone.
    pub fn only_pins(&self, properties: &[P]) -> bool {
        match self {
            Self::And(a, b) => a.only_pins(properties) && b.only_pins(properties),
            Self::Compare(
                Operand::Field(p),
                CmpOp::Eq,
                Operand::Literal(Value::Text(_) | Value::Null),
            ) => properties.contains(p),
            _ => false,
        }
    }
}

/// Case-insensitive text order (`tolower` on both sides), without allocating for ASCII.
fn cmp_ignoring_case(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        a.to_lowercase().cmp(&b.to_lowercase())
    }
}

/// OData comparison: null equals only null and is never ordered.
fn compare(left: &Value, op: CmpOp, right: &Value) -> bool {
    let ordering = match (left, right) {
        (Value::Null, Value::Null) => return op == CmpOp::Eq,
        (Value::Null, _) | (_, Value::Null) => return op == CmpOp::Ne,
        (Value::Text(a), Value::Text(b)) => Some(cmp_ignoring_case(a, b)),
        (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
        (Value::DateTime(a), Value::DateTime(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    ordering.is_some_and(|o| op.holds(o))
}

impl FilterSubject<Field> for Machine {
    fn value(&self, field: Field) -> Value<'_> {
        match field {
            Field::ComputerDnsName => Value::text(self.computer_dns_name.as_deref()),
            Field::Id => Value::text(Some(&self.id)),
            Field::Version => Value::text(self.version),
            Field::DeviceValue => Value::text(Some(self.device_value)),
            Field::AadDeviceId => Value::text(self.aad_device_id.as_deref()),
            Field::MachineTags => Value::Null,
            Field::LastSeen => Value::DateTime(self.last_seen),
            Field::FirstSeen => Value::DateTime(self.first_seen),
            Field::ExposureLevel => Value::text(Some(self.exposure_level)),
            Field::OnboardingStatus => Value::text(Some(self.onboarding_status)),
            Field::LastIpAddress => Value::text(self.last_ip_address.as_deref()),
            Field::HealthStatus => Value::text(Some(self.health_status)),
            Field::OsPlatform => Value::text(self.os_platform),
            Field::RiskScore => Value::text(Some(self.risk_score)),
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

/// `$top` and `$skip` of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub top: Option<usize>,
    pub skip: usize,
}

/// Largest `$top` the real API accepts.
pub const MAX_TOP: usize = 10_000;

/// A positive count parameter (`$top`, `pageSize`): non-numbers 400 `ODataError`, out of
/// `1..=max` 400 `InvalidInput`.
pub fn count_param(name: &str, value: &str, max: usize) -> Result<usize, ApiError> {
    let n: i64 = value.trim().parse().map_err(|_| {
        ApiError::odata(format!(
            "The value '{value}' is not valid for {name}; it must be an integer."
        ))
    })?;
    if n < 1 || n > max as i64 {
        return Err(ApiError::invalid_input(format!(
            "{name} must be between 1 and {max}, got {n}."
        )));
    }
    Ok(n as usize)
}

impl Paging {
    /// Rows on this page: `$top` (else [`MAX_TOP`]), never more than the server's page size.
    pub fn limit(&self, page_size: usize) -> usize {
        self.top.unwrap_or(MAX_TOP).min(page_size.max(1))
    }

    /// This page of `matching`.
    pub fn page<'a, T: ?Sized>(&self, matching: &[&'a T], page_size: usize) -> Vec<&'a T> {
        matching
            .iter()
            .skip(self.skip)
            .take(self.limit(page_size))
            .copied()
            .collect()
    }

    /// `$top` (1 to [`MAX_TOP`]) and `$skip` (0 or more) of a list request.
    pub fn parse(top: Option<&str>, skip: Option<&str>) -> Result<Self, ApiError> {
        let top = top.map(|t| count_param("$top", t, MAX_TOP)).transpose()?;
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

    impl FilterSubject<Field> for Dev {
        fn value(&self, field: Field) -> Value<'_> {
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
        Filter::parse(filter, &MACHINES)
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

    /// The casings the docs use all name the same property; dates may end in a bare `Z`.
    #[test]
    fn property_names_ignore_case_and_documented_date_forms_parse() {
        for (filter, expected) in [
            ("RiskScore eq 'High'", Field::RiskScore),
            ("riskscore eq 'High'", Field::RiskScore),
            ("HealthStatus ne 'Active'", Field::HealthStatus),
            ("onboardingstatus eq 'Onboarded'", Field::OnboardingStatus),
            ("RbacGroupId eq 102", Field::RbacGroupId),
        ] {
            let parsed = Filter::parse(filter, &MACHINES).expect(filter);
            assert!(
                matches!(parsed, Filter::Compare(Operand::Field(f), _, _) if f == expected),
                "{filter}: {parsed:?}"
            );
        }
        assert!(check("LastSeen gt 2018-08-01Z"));
        assert!(check("lastSeen lt 2024-06-01T10:01Z"));
        assert!(!check("lastSeen gt 2024-06-02Z"));
        assert!(check("startswith(ComputerDnsName,'FIN-')"));
        assert!(check("MachineTags/any(t: t eq 'VIP')"));
        assert_eq!(
            parse_datetime("2018-08-01Z"),
            parse_datetime("2018-08-01T00:00:00Z")
        );
        assert!(parse_datetime("2018-08-01ZZ").is_none());
    }

    #[test]
    fn quotes_are_escaped_by_doubling() {
        let filter = Filter::parse("computerDnsName eq 'o''brien'", &MACHINES).expect("parses");
        let expected = Operand::Literal(Value::Text("o'brien".into()));
        assert!(matches!(filter, Filter::Compare(_, CmpOp::Eq, ref r) if *r == expected));
    }

    #[test]
    fn bad_clauses_are_rejected() {
        for bad in [
            "",
            "computerDnsName eq",
            "computerDnsName eq 'x",
            "computerDnsNames eq 'x'",
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
            assert!(
                Filter::parse(bad, &MACHINES).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    /// A machinesVulnerabilities-like row: a machine and maybe a KB.
    struct Row(&'static str, Option<&'static str>);

    impl FilterSubject<&'static str> for Row {
        fn value(&self, property: &'static str) -> Value<'_> {
            Value::text(match property {
                "machineId" => Some(self.0),
                _ => self.1,
            })
        }
    }

    #[test]
    fn text_filters() {
        const PINS: Schema<&str> = Schema {
            entity: "Row",
            properties: &["machineId", "fixingKbId"],
            grammar: Grammar::Pins,
        };
        let parse = |f: &str| Filter::parse(f, &PINS);
        let f = parse("machineId eq 'AB' and (fixingKbId eq '1' or fixingKbId eq null)")
            .expect("parses");
        assert!(f.matches(&Row("ab", Some("1"))));
        assert!(f.matches(&Row("ab", None)));
        assert!(!f.matches(&Row("ab", Some("2"))));
        assert!(!f.matches(&Row("cd", Some("1"))));
        assert_eq!(f.pinned("machineId"), Some(Some("AB")));
        assert_eq!(f.pinned("fixingKbId"), None);
        assert!(!f.only_pins(PINS.properties));
        let pins = parse("machineId eq 'a' and fixingKbId eq null").expect("parses");
        assert!(pins.only_pins(PINS.properties) && !pins.only_pins(&["machineId"]));
        let ne = parse("not (fixingKbId ne null)").expect("parses");
        assert!(ne.matches(&Row("x", None)) && !ne.matches(&Row("x", Some("1"))));
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
