//! YAML as kubectl reads it, turned into the JSON it sends: kubectl parses YAML 1.1 (go-yaml v2
//! through sigs.k8s.io/yaml), where a bare `OFF`, `yes` or `on` is a boolean, `0755` is octal
//! and `1_000` a number, so a document means here what it means to the API server. Every
//! field keeps the line it was written on, for errors.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One YAML document as JSON, with where each of its fields is.
#[derive(Debug, Default)]
pub struct Document {
    pub value: Value,
    /// The line (from 1, in the whole file) of each field or item, by JSON pointer.
    pub lines: HashMap<String, usize>,
    /// Bare scalars that YAML 1.1 reads differently from YAML 1.2 (e.g. `OFF` as false), by
    /// JSON pointer, as written.
    pub yaml11: HashMap<String, String>,
    /// The line the document starts on.
    pub line: usize,
}

impl Document {
    /// The line of the field at `pointer`, or of its nearest parent that is written down.
    pub fn line_of(&self, pointer: &str) -> usize {
        let mut pointer = pointer;
        loop {
            if let Some(line) = self.lines.get(pointer) {
                return *line;
            }
            match pointer.rfind('/') {
                Some(at) => pointer = &pointer[..at],
                None => return self.line,
            }
        }
    }
}

/// A document that is not YAML, or not YAML that becomes JSON.
#[derive(Debug, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Every document of `text`, in order (empty ones included, as `null`).
pub fn documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let mut reader = Reader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
    };
    // An error found at the end of the text is said on its last line.
    let last = text.lines().count().max(1);
    let within = |mut error: SyntaxError| {
        error.line = error.line.min(last);
        error
    };
    let mut documents = Vec::new();
    loop {
        let (event, mark) = reader.next().map_err(within)?;
        match event {
            Event::StreamEnd => return Ok(documents),
            Event::DocumentStart => {
                reader.anchors.clear();
                let mut document = Document {
                    line: mark.line(),
                    ..Document::default()
                };
                let (event, mark) = reader.next().map_err(within)?;
                document.value = reader
                    .node(event, mark, "", &mut document)
                    .map_err(within)?;
                match reader.next().map_err(within)? {
                    (Event::DocumentEnd, _) => documents.push(document),
                    (_, mark) => return Err(syntax(mark, "expected the end of the document")),
                }
            }
            _ => {}
        }
    }
}

struct Reader<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Value>,
}

impl Reader<'_> {
    fn next(&mut self) -> Result<(Event, Marker), SyntaxError> {
        self.parser.next_token().map_err(|e| SyntaxError {
            line: e.marker().line(),
            message: e.info().to_owned(),
        })
    }

    /// The node that starts with `event`, whose field is at `pointer`.
    fn node(
        &mut self,
        event: Event,
        mark: Marker,
        pointer: &str,
        document: &mut Document,
    ) -> Result<Value, SyntaxError> {
        let (value, anchor) = match event {
            Event::Alias(id) => {
                let value = self.anchors.get(&id).cloned();
                return value.ok_or_else(|| syntax(mark, "an alias to no anchor"));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value =
                    scalar(&text, style, tag.as_ref()).map_err(|message| syntax(mark, &message))?;
                if style == TScalarStyle::Plain && tag.is_none() && differs_from_yaml12(&text) {
                    document.yaml11.insert(pointer.to_owned(), text);
                }
                (value, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, mark) = self.next()?;
                    if event == Event::SequenceEnd {
                        break;
                    }
                    let item = format!("{pointer}/{}", items.len());
                    document.lines.insert(item.clone(), mark.line());
                    items.push(self.node(event, mark, &item, document)?);
                }
                (Value::Array(items), anchor)
            }
            Event::MappingStart(anchor, _) => (self.mapping(pointer, document)?, anchor),
            _ => return Err(syntax(mark, "expected a value")),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }

    /// The rest of a mapping, after its start. Keys become strings as sigs.k8s.io/yaml makes
    /// them (`true: x` has the key "true"); `<<` merges other mappings in, as in go-yaml.
    fn mapping(&mut self, pointer: &str, document: &mut Document) -> Result<Value, SyntaxError> {
        let mut fields = Map::new();
        let mut merged = Map::new();
        loop {
            let (event, mark) = self.next()?;
            let key = match event {
                Event::MappingEnd => break,
                Event::Scalar(text, TScalarStyle::Plain, _, None) if text == "<<" => {
                    let (event, mark) = self.next()?;
                    match self.node(event, mark, pointer, document)? {
                        Value::Object(other) => merge(&mut merged, other),
                        Value::Array(others) => {
                            for other in others {
                                let Value::Object(other) = other else {
                                    return Err(syntax(mark, "`<<` merges mappings only"));
                                };
                                merge(&mut merged, other);
                            }
                        }
                        _ => return Err(syntax(mark, "`<<` merges mappings only")),
                    }
                    continue;
                }
                Event::Scalar(text, style, _, tag) => {
                    match scalar(&text, style, tag.as_ref()).map_err(|m| syntax(mark, &m))? {
                        Value::String(key) => key,
                        Value::Bool(key) => key.to_string(),
                        Value::Number(key) => key.to_string(),
                        _ => return Err(syntax(mark, "a mapping key must not be null")),
                    }
                }
                Event::Alias(id) => match self.anchors.get(&id) {
                    Some(Value::String(key)) => key.clone(),
                    _ => return Err(syntax(mark, "a mapping key must be a scalar")),
                },
                _ => return Err(syntax(mark, "a mapping key must be a scalar")),
            };
            if fields.contains_key(&key) {
                return Err(syntax(mark, &format!("mapping key {key:?} given twice")));
            }
            let field = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
            document.lines.insert(field.clone(), mark.line());
            let (event, mark) = self.next()?;
            let value = self.node(event, mark, &field, document)?;
            fields.insert(key, value);
        }
        for (key, value) in merged {
            fields.entry(key).or_insert(value);
        }
        Ok(Value::Object(fields))
    }
}

/// Merged fields: the first mapping that names a key wins, and the mapping's own keys win
/// over all of them.
fn merge(into: &mut Map<String, Value>, other: Map<String, Value>) {
    for (key, value) in other {
        into.entry(key).or_insert(value);
    }
}

fn syntax(mark: Marker, message: &str) -> SyntaxError {
    SyntaxError {
        line: mark.line(),
        message: message.to_owned(),
    }
}

/// A scalar as go-yaml v2 resolves it: quoted and block scalars, and `!!str`, are strings;
/// plain ones are resolved by YAML 1.1's rules.
fn scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let tag = tag.map(|t| t.suffix.trim_start_matches("tag:yaml.org,2002:"));
    if style != TScalarStyle::Plain || tag == Some("str") || tag == Some("binary") {
        return Ok(Value::String(text.to_owned()));
    }
    resolve(text)
}

/// YAML 1.1's plain scalars, as go-yaml v2's `resolve` reads them into JSON.
fn resolve(text: &str) -> Result<Value, String> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Ok(Value::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Ok(Value::Bool(false));
        }
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => {
            return Err(format!("{text} has no JSON form (kubectl cannot send it)"));
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'.'
        && let Ok(float) = text.parse::<f64>()
    {
        return Ok(float_value(float));
    }
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        let plain = text.replace('_', "");
        if let Some(int) = go_int(&plain) {
            return Ok(int);
        }
        if yaml_float(&plain)
            && let Ok(float) = plain.parse::<f64>()
            && float.is_finite()
        {
            return Ok(float_value(float));
        }
    }
    Ok(Value::String(text.to_owned()))
}

/// Whether a bare scalar means something else in YAML 1.2 than in YAML 1.1: the extra
/// booleans (y, yes, on, off, n, no...), octal with a leading 0, binary, and underscores in
/// numbers.
fn differs_from_yaml12(text: &str) -> bool {
    let digits = text.trim_start_matches(['-', '+']);
    match resolve(text) {
        Ok(Value::Bool(_)) => !matches!(text.to_ascii_lowercase().as_str(), "true" | "false"),
        Ok(Value::Number(_)) => {
            text.contains('_')
                || digits.starts_with("0b")
                || (digits.len() > 1
                    && digits.starts_with('0')
                    && digits.as_bytes()[1].is_ascii_digit())
        }
        _ => false,
    }
}

/// A float as Go's JSON writes it: a whole number is written without a fraction, so the API
/// server reads it as an integer.
fn float_value(float: f64) -> Value {
    if float.fract() == 0.0 && float.abs() < 9.0e18 {
        Value::Number(Number::from(float as i64))
    } else {
        Number::from_f64(float).map_or(Value::Null, Value::Number)
    }
}

/// Go's `strconv.ParseInt(text, 0, 64)`, then `ParseUint`: a sign, then 0x hex, 0b binary,
/// 0o or a leading 0 octal, or decimal.
fn go_int(text: &str) -> Option<Value> {
    let (negative, digits) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, digits) = if let Some(hex) = lower.strip_prefix("0x") {
        (16, hex)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        (2, binary)
    } else if let Some(octal) = lower.strip_prefix("0o") {
        (8, octal)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = 0i64.checked_sub_unsigned(magnitude)?;
        Some(Value::Number(Number::from(value)))
    } else {
        Some(Value::Number(Number::from(magnitude)))
    }
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_float(text: &str) -> bool {
    let text = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", fraction)) => digits(fraction),
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Document {
        let mut documents = documents(text).expect("parses");
        assert_eq!(documents.len(), 1, "{text}");
        documents.remove(0)
    }

    #[test]
    fn bare_scalars_are_read_as_yaml_1_1() {
        let doc = one(
            "a: OFF\nb: 'OFF'\nc: yes\nd: on\ne: N\nf: 0755\ng: 1_000\nh: 0x1F\ni: 5.0\nj: 1.5\n\
             k: ~\nl: 2001-12-14\nm: -3\nbin: 0b101\no: \"yes\"\np: !!str on\nq: 1e3\nr: +7\ns: '-'\n",
        );
        assert_eq!(
            doc.value,
            json!({"a": false, "b": "OFF", "c": true, "d": true, "e": false, "f": 493,
                   "g": 1000, "h": 31, "i": 5, "j": 1.5, "k": null, "l": "2001-12-14", "m": -3,
                   "bin": 5, "o": "yes", "p": "on", "q": 1000, "r": 7, "s": "-"})
        );
        let mut differs: Vec<&str> = doc.yaml11.keys().map(String::as_str).collect();
        differs.sort();
        assert_eq!(differs, ["/a", "/bin", "/c", "/d", "/e", "/f", "/g"]);
        assert_eq!(doc.yaml11["/a"], "OFF");
    }

    #[test]
    fn keys_become_strings_and_every_field_has_its_line() {
        let doc = one("spec:\n  on: 1\n  list:\n  - a\n  - {x: 1}\n  5: five\n");
        assert_eq!(
            doc.value,
            json!({"spec": {"true": 1, "list": ["a", {"x": 1}], "5": "five"}})
        );
        assert_eq!(doc.lines["/spec/true"], 2);
        assert_eq!(doc.lines["/spec/list/1"], 5);
        assert_eq!(doc.lines["/spec/list/1/x"], 5);
        assert_eq!(doc.line_of("/spec/list/1/y"), 5);
        assert_eq!(doc.line_of("/nothing"), 1);
    }

    #[test]
    fn documents_anchors_and_merges() {
        let docs =
            documents("a: 1\n---\n# empty\n---\nbase: &b {x: 1, z: 2}\nc: *b\nd: {<<: *b, z: 3}\n")
                .unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[1].value, Value::Null);
        assert_eq!(docs[2].line, 4);
        assert_eq!(docs[2].value["c"], json!({"x": 1, "z": 2}));
        assert_eq!(docs[2].value["d"], json!({"x": 1, "z": 3}));
        assert_eq!(docs[2].lines["/d"], 7);
    }

    #[test]
    fn syntax_errors_say_their_line() {
        let err = documents("a: 1\n---\nb: [unclosed\n").unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
        let err = documents("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("\"a\" given twice"), "{err:?}");
        let err = documents("a: .inf\n").unwrap_err();
        assert!(err.message.contains("no JSON form"), "{err:?}");
    }
}
