//! The CEL language features the crate supports, one test per feature,
//! with expected values and error messages taken from the CEL language
//! definition and cel-go's behaviour.

use fluxrs_cel::{Activation, CelError, Program, Value};
use serde_json::{Value as Json, json};

fn vars() -> Activation {
    Activation::new()
        .with("obj", &json!({"a": {"b": 1, "n": null}, "list": [1, 2, 3], "s": "hello", "labels": {"app.kubernetes.io/name": "web"}}))
        .with("x", &json!(5))
}

fn eval(source: &str) -> Result<Json, CelError> {
    Program::compile(source)?
        .evaluate(&vars())
        .map(|v| v.to_json())
}

fn value(source: &str) -> Value {
    Program::compile(source).unwrap().evaluate(&vars()).unwrap()
}

fn ok(source: &str) -> Json {
    eval(source).unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn err(source: &str) -> String {
    match eval(source) {
        Ok(v) => panic!("{source}: expected an error, got {v}"),
        Err(e) => e.to_string(),
    }
}

fn is_true(source: &str) {
    assert_eq!(ok(source), json!(true), "{source}");
}

#[test]
fn literals() {
    assert_eq!(value("1"), Value::Int(1));
    assert_eq!(value("1u"), Value::Uint(1));
    assert_eq!(value("1.5"), Value::Double(1.5));
    assert_eq!(value("-0x10"), Value::Int(-16));
    assert_eq!(ok("'a' + \"b\" + '''c''' + r'\\d'"), json!("abc\\d"));
    assert_eq!(ok("[true, false, null]"), json!([true, false, null]));
    assert_eq!(ok("{'k': [1], 'j': {}}"), json!({"k": [1], "j": {}}));
}

#[test]
fn operator_precedence() {
    assert_eq!(ok("1 + 2 * 3 - 4 / 2 % 3"), json!(5));
    assert_eq!(ok("(1 + 2) * 3"), json!(9));
    is_true("1 + 1 == 2 && 3 > 2 || false");
    is_true("!false && -x == -5");
    assert_eq!(ok("true ? 1 : false ? 2 : 3"), json!(1));
    assert_eq!(ok("false ? 1 : false ? 2 : 3"), json!(3));
    is_true("1 < 2 == true");
    is_true("!!true");
}

#[test]
fn field_selection_and_indexing() {
    assert_eq!(ok("obj.a.b"), json!(1));
    assert_eq!(ok("obj['a']['b']"), json!(1));
    assert_eq!(ok("obj.list[2]"), json!(3));
    assert_eq!(ok("obj.list[1u]"), json!(2));
    assert_eq!(ok("obj.labels['app.kubernetes.io/name']"), json!("web"));
    assert_eq!(ok("obj.labels.`app.kubernetes.io/name`"), json!("web"));
    assert_eq!(ok("{1: 'one'}[1u]"), json!("one"));
    assert_eq!(ok("obj.a.n"), json!(null));
}

#[test]
fn missing_fields_and_variables_are_errors() {
    assert_eq!(err("obj.a.c"), "no such key: c");
    assert_eq!(err("obj['zz']"), "no such key: zz");
    assert_eq!(err("obj.list[3]"), "index out of range: 3 (list size 3)");
    assert_eq!(err("obj.list[-1]"), "index out of range: -1 (list size 3)");
    assert_eq!(err("status.phase"), "no such attribute: status");
    assert_eq!(
        err("obj.s.length"),
        "no such overload: field selection '.length' on string"
    );
    assert_eq!(err("obj.list['a']"), "no such overload: _[_](list, string)");
}

#[test]
fn has_tests_presence_without_error() {
    is_true("has(obj.a)");
    is_true("has(obj.a.n)");
    is_true("!has(obj.a.c)");
    is_true("!has(obj.missing) || obj.missing.x == 1");
    assert_eq!(err("has(obj.a.c.d)"), "no such key: c");
}

#[test]
fn logical_operators_absorb_errors() {
    is_true("!(false && obj.nope)");
    is_true("!(obj.nope && false)");
    is_true("true || obj.nope");
    is_true("obj.nope || true");
    assert_eq!(err("true && obj.nope"), "no such key: nope");
    assert_eq!(err("obj.nope || false"), "no such key: nope");
    assert_eq!(err("1 && true"), "no such overload: _&&_(int)");
    is_true("false || (x > 1)");
}

#[test]
fn heterogeneous_numeric_comparison() {
    is_true("1 == 1.0");
    is_true("1u == 1");
    is_true("2 > 1.5 && 1.5 < 2u && 1u <= 1");
    is_true("-1 < 1u");
    is_true("9223372036854775807 < 18446744073709551615u");
    is_true("9007199254740993 > 9007199254740992.0");
    is_true("1 != 'a' && null != 0 && [1] == [1.0] && {'a': 1} == {'a': 1u}");
    is_true("!(0.0/0.0 == 0.0/0.0)");
    assert_eq!(err("1 < 'a'"), "no such overload: _<_(int, string)");
    is_true("'abc' < 'abd' && false < true");
}

#[test]
fn arithmetic() {
    assert_eq!(ok("7 / 2"), json!(3));
    assert_eq!(ok("-7 / 2"), json!(-3));
    assert_eq!(ok("-7 % 3"), json!(-1));
    assert_eq!(ok("7.0 / 2.0"), json!(3.5));
    assert_eq!(ok("3u - 1u"), json!(2));
    assert_eq!(err("1 / 0"), "division by zero");
    assert_eq!(err("5 % 0"), "division by zero");
    assert_eq!(err("9223372036854775807 + 1"), "integer overflow");
    assert_eq!(err("-9223372036854775808 / -1"), "integer overflow");
    assert_eq!(err("0u - 1u"), "integer overflow");
    assert_eq!(err("1 + 1.0"), "no such overload: _+_(int, double)");
    assert_eq!(err("1.0 % 1.0"), "no such overload: _%_(double, double)");
    assert_eq!(ok("[1] + [2, 3]"), json!([1, 2, 3]));
    assert_eq!(ok("obj.s + ' world'"), json!("hello world"));
}

#[test]
fn membership() {
    is_true("2 in obj.list");
    is_true("2.0 in obj.list");
    is_true("!(4 in obj.list)");
    is_true("'a' in obj && !('z' in obj)");
    is_true("'app.kubernetes.io/name' in obj.labels");
    assert_eq!(err("'a' in 'abc'"), "no such overload: @in(string, string)");
}

#[test]
fn string_functions() {
    is_true("obj.s.contains('ell') && obj.s.startsWith('he') && obj.s.endsWith('lo')");
    is_true("obj.s.matches('^h.*o$') && obj.s.matches('ll') && matches(obj.s, 'l+')");
    is_true("!obj.s.matches('^ell')");
    is_true("'refs/heads/main'.matches(r'^refs/heads/(main|release-\\d+)$')");
    assert!(err("obj.s.matches('(')").starts_with("invalid regular expression '(':"));
    assert_eq!(
        err("obj.s.contains(1)"),
        "no such overload: contains(string, int)"
    );
    assert_eq!(ok("'A b'.lowerAscii() + 'c'.upperAscii()"), json!("a bC"));
    assert_eq!(ok("' x '.trim()"), json!("x"));
    assert_eq!(ok("'a,b'.split(',')"), json!(["a", "b"]));
    assert_eq!(ok("['a', 'b'].join('-')"), json!("a-b"));
    assert_eq!(ok("'aXa'.replace('a', 'b')"), json!("bXb"));
    assert_eq!(ok("'héllo'.indexOf('l')"), json!(2));
}

#[test]
fn size() {
    assert_eq!(ok("size('héllo')"), json!(5));
    assert_eq!(ok("obj.s.size()"), json!(5));
    assert_eq!(ok("size(obj.list) + obj.list.size()"), json!(6));
    assert_eq!(ok("size(obj) + size({})"), json!(4));
    assert_eq!(err("size(1)"), "no such overload: size(int)");
}

#[test]
fn conversions() {
    assert_eq!(ok("int('42') + int(2.9) + int(-2.9) + int(3u)"), json!(45));
    assert_eq!(value("uint(42)"), Value::Uint(42));
    assert_eq!(ok("double(1) + double('2.5')"), json!(3.5));
    assert_eq!(
        ok("string(1) + string(1u) + string(1.5) + string(true)"),
        json!("111.5true")
    );
    assert_eq!(ok("string(1e6)"), json!("1e+06"));
    assert_eq!(ok("[bool('true'), bool('f')]"), json!([true, false]));
    assert_eq!(ok("dyn(1)"), json!(1));
    assert_eq!(
        err("int('x')"),
        "invalid argument to int: cannot parse 'x' as an int"
    );
    assert_eq!(err("uint(-1)"), "integer overflow");
    assert_eq!(err("int(1e19)"), "integer overflow");
    assert_eq!(err("string([1])"), "no such overload: string(list)");
}

#[test]
fn comprehensions() {
    is_true("obj.list.all(i, i > 0)");
    is_true("obj.list.exists(i, i == 2)");
    is_true("obj.list.exists_one(i, i > 2)");
    is_true("!obj.list.exists_one(i, i > 1)");
    is_true("[].all(i, false) && ![].exists(i, true)");
    assert_eq!(ok("obj.list.map(i, i * 2)"), json!([2, 4, 6]));
    assert_eq!(ok("obj.list.map(i, i > 1, i * 10)"), json!([20, 30]));
    assert_eq!(ok("obj.list.filter(i, i % 2 == 1)"), json!([1, 3]));
    assert_eq!(ok("obj.a.map(k, k)"), json!(["b", "n"]));
    is_true("obj.labels.all(k, k.startsWith('app'))");
    assert_eq!(
        ok("[[1, 2], [3]].map(l, l.map(i, i + x))"),
        json!([[6, 7], [8]])
    );
    assert_eq!(
        ok("[1].map(x, x)"),
        json!([1]),
        "comprehension variables shadow"
    );
    assert_eq!(err("1.all(i, true)"), "no such overload: all(int)");
}

#[test]
fn quantifiers_absorb_errors_like_and_or() {
    is_true("!['a', 0].all(i, i > 0)");
    is_true("[1, 'a'].exists(i, i == 1)");
    is_true("['a', 1].exists(i, i > 0)");
    assert_eq!(
        err("['a', 1].all(i, i > 0)"),
        "no such overload: _>_(string, int)"
    );
    assert_eq!(err("[1, 2].all(i, i)"), "no such overload: all(int)");
}

#[test]
fn map_literals() {
    assert_eq!(err("{'a': 1, 'a': 2}"), "duplicate map key: a");
    assert_eq!(
        err("{1.5: 1}"),
        "invalid argument to map literal: unsupported key type double"
    );
    assert_eq!(ok("{true: 1}[true]"), json!(1));
}

#[test]
fn timestamps_and_durations() {
    is_true("timestamp('2024-01-02T15:04:05Z') < timestamp('2024-01-02T15:04:06Z')");
    is_true(
        "timestamp('2024-01-02T15:04:05Z') + duration('1h') == timestamp('2024-01-02T16:04:05Z')",
    );
    is_true("timestamp('2024-01-02T16:00:00+01:00') == timestamp('2024-01-02T15:00:00Z')");
    is_true(
        "timestamp('2024-01-02T15:00:00Z') - timestamp('2024-01-02T14:30:00Z') == duration('30m')",
    );
    is_true("duration('1m') > duration('59s') && duration('1h30m') == duration('90m')");
    assert_eq!(
        ok("string(timestamp('2024-01-02T15:04:05.120Z') - duration('1.5s'))"),
        json!("2024-01-02T15:04:03.62Z")
    );
    assert_eq!(
        ok("string(duration('1h') + duration('1ms'))"),
        json!("3600.001s")
    );
    assert_eq!(ok("int(timestamp('1970-01-01T00:01:00Z'))"), json!(60));
    assert_eq!(
        ok("timestamp(60) == timestamp('1970-01-01T00:01:00Z')"),
        json!(true)
    );
    assert_eq!(
        err("timestamp('yesterday')"),
        "invalid argument to timestamp: 'yesterday' is not an RFC 3339 timestamp"
    );
    assert_eq!(
        err("duration('1d')"),
        "invalid argument to duration: '1d' is not a duration"
    );
    assert_eq!(
        err("timestamp('2024-01-02T15:04:05Z') < 1"),
        "no such overload: _<_(google.protobuf.Timestamp, int)"
    );
}

#[test]
fn optional_selection_and_indexing() {
    assert_eq!(ok("obj.?a.b"), json!(1));
    is_true("!obj.?missing.hasValue() && obj.?a.hasValue()");
    is_true("!obj.?missing.deeper.still.hasValue()");
    is_true("!obj.a.?c.hasValue() && obj.a.?b.value() == 1");
    assert_eq!(ok("obj.?missing.orValue([]).size()"), json!(0));
    assert_eq!(
        ok("obj.list[?1].orValue(0) + obj.list[?9].orValue(10)"),
        json!(12)
    );
    assert_eq!(
        ok("obj.labels[?'app.kubernetes.io/name'].orValue('')"),
        json!("web")
    );
    assert_eq!(ok("obj.?missing.or(optional.of(7)).value()"), json!(7));
    is_true("!optional.none().hasValue() && !optional.ofNonZeroValue('').hasValue()");
    is_true("optional.of(1) == optional.of(1.0) && optional.none() == optional.none()");
    assert_eq!(
        err("obj.?missing.value()"),
        "invalid argument to value: optional.none() dereference"
    );
    assert_eq!(
        err("obj.s.?x"),
        "no such overload: field selection '.x' on string"
    );
}

#[test]
fn sets() {
    is_true("sets.contains([1, 2, 3], [3, 1]) && !sets.contains([1], [2])");
    is_true("sets.intersects(['a', 'b'], ['b', 'c']) && !sets.intersects([1], [])");
    is_true("sets.equivalent([1, 2, 1], [2, 1]) && !sets.equivalent([1], [1, 2])");
}

#[test]
fn unknown_functions_are_reported_as_unsupported() {
    assert_eq!(err("type(1)"), "unsupported function: type");
    assert_eq!(err("obj.list.sort()"), "unsupported function: sort");
}

#[test]
fn evaluate_bool_requires_a_bool() {
    let program = Program::compile("obj.a.b").unwrap();
    let error = program.evaluate_bool(&vars()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "expression must evaluate to a bool, got int"
    );
    assert!(
        Program::compile("x == 5")
            .unwrap()
            .evaluate_bool(&vars())
            .unwrap()
    );
}

#[test]
fn check_variables_reports_undeclared_names() {
    let program = Program::compile("res.items.exists(i, i.name == req.name)").unwrap();
    assert_eq!(program.check_variables(&["res", "req"]), Ok(()));
    assert_eq!(
        program.check_variables(&["res"]).unwrap_err().to_string(),
        "undeclared reference to 'req'"
    );
    let program = Program::compile("[1].all(i, i > 0) && i == 1").unwrap();
    assert_eq!(
        program.check_variables(&[]),
        Err(CelError::UndeclaredReference("i".into()))
    );
}

#[test]
fn syntax_errors_are_reported_at_compile_time() {
    let error = Program::compile("res.metadata.name ==").unwrap_err();
    assert_eq!(
        error.to_string(),
        "syntax error at line 1, column 21: unexpected end of expression"
    );
    let error = Program::compile("a &&\n b'x'").unwrap_err();
    assert_eq!(
        error.to_string(),
        "syntax error at line 2, column 2: bytes literals are not supported"
    );
}

#[test]
fn deeply_nested_expressions_evaluate_within_the_stack() {
    let source = format!("{}1{}", "[".repeat(90), "]".repeat(90));
    assert!(Program::compile(&source).unwrap().evaluate(&vars()).is_ok());
    let sum = vec!["x"; 95].join(" + ");
    assert_eq!(ok(&sum), json!(475));
}
