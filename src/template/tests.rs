//! Tests of the template engine: rendering, typed expressions, error wording, filters.

use std::fs;
use std::path::PathBuf;

use minijinja::context;
use serde_json::json;

use super::*;

trait FromSerde {
    fn from_serde(value: serde_json::Value) -> Value;
}

impl FromSerde for Value {
    fn from_serde(value: serde_json::Value) -> Value {
        Value::from(minijinja::value::Serde(value))
    }
}

fn ctx() -> Value {
    Value::from_serde(json!({
        "name": "web",
        "port": 8080,
        "enabled": true,
        "packages": ["lxc", "rsync"],
        "net": {"bridge": "br0", "addrs": ["192.168.0.1/24"]},
        "flag": "no",
    }))
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-template-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn single_expressions_keep_their_type() {
    let t = Templates::new();
    let args = json!({
        "list": "{{ packages }}",
        "number": "  {{ port }} ",
        "bool": "{{- enabled -}}",
        "map": "{{ net }}",
        "text": "port {{ port }}",
        "plain": "no template here",
        "computed": "{{ port + 1 }}",
        "string": "{{ name }}",
        "kept": 12,
        "nested": {"deep": ["{{ net.bridge }}", "x-{{ name }}", false]},
    });
    let out = t.render_args(&args, &ctx(), "site.yml:3").unwrap();
    assert_eq!(
        out,
        json!({
            "list": ["lxc", "rsync"],
            "number": 8080,
            "bool": true,
            "map": {"bridge": "br0", "addrs": ["192.168.0.1/24"]},
            "text": "port 8080",
            "plain": "no template here",
            "computed": 8081,
            "string": "web",
            "kept": 12,
            "nested": {"deep": ["br0", "x-web", false]},
        })
    );
}

#[test]
fn two_expressions_render_to_a_string() {
    let t = Templates::new();
    let out = t
        .render_args(&json!("{{ name }}:{{ port }}"), &ctx(), "x")
        .unwrap();
    assert_eq!(out, json!("web:8080"));
    assert_eq!(single_expression("{{ a }} {{ b }}"), None);
    assert_eq!(single_expression("  {{ a }} "), Some(" a "));
    // A trailing newline (a YAML block scalar) makes it text: the newline is kept.
    assert_eq!(single_expression("{{ a }}\n"), None);
    let out = t.render_args(&json!("{{ port }}\n"), &ctx(), "x").unwrap();
    assert_eq!(out, json!("8080\n"));
    assert_eq!(single_expression("{{ }}"), None);
}

#[test]
fn render_str_keeps_trailing_newline_and_does_not_escape() {
    let t = Templates::new();
    let out = t
        .render_str("<{{ name }}> & \"{{ port }}\"\n", &ctx(), "x")
        .unwrap();
    assert_eq!(out, "<web> & \"8080\"\n");
}

#[test]
fn undefined_variable_in_an_argument() {
    let t = Templates::new();
    let err = t
        .render_args(
            &json!({"content": "a {{ nmae }} b"}),
            &ctx(),
            "playbooks/x.yml:12",
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "playbooks/x.yml:12: undefined variable `nmae` (in `content`)"
    );
    let err = t
        .render_args(
            &json!({"lines": ["ok", "{{ missing }}"]}),
            &ctx(),
            "p.yml:3",
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.yml:3: undefined variable `missing` (in `lines[1]`)"
    );
    let err = t
        .render_args(&json!({"x": "{{ net.brige }}"}), &ctx(), "p.yml:3")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "p.yml:3: undefined value `net.brige` (in `x`)"
    );
    let err = t
        .render_args(&json!({"x": "{{ [name, nope] }}"}), &ctx(), "p.yml:3")
        .unwrap_err();
    assert!(err.to_string().starts_with("p.yml:3: "), "{err}");
    assert!(err.to_string().contains("undefined"), "{err}");
}

#[test]
fn undefined_variable_on_a_later_line_of_a_string() {
    let t = Templates::new();
    let err = t
        .render_str(
            "a\nb\n{{ port }} {{ bridge_addres }}\n",
            &ctx(),
            "site.yml:4",
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "site.yml:4: undefined variable `bridge_addres` (template line 3)"
    );
}

#[test]
fn undefined_inside_an_operation_names_the_variable() {
    let t = Templates::new();
    let err = t
        .render_str("{{ nope + 1 }}", &ctx(), "s.yml:1")
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("s.yml:1: undefined variable `nope`: invalid operation: "),
        "{message}"
    );
}

#[test]
fn syntax_errors_have_the_line() {
    let t = Templates::new();
    let err = t
        .render_str("ok\n{{ name ) }}", &ctx(), "s.yml:9")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "s.yml:9: syntax error: unexpected `)`, expected end of variable block (template line 2)"
    );
    assert_eq!(
        t.check_str("a\n\n{% if %}").unwrap_err().to_string(),
        "syntax error: unexpected end of block (template line 3)"
    );
    assert!(t.check_str("{{ a }} {% if b %}x{% endif %}").is_ok());
    assert!(t.check_str("no template").is_ok());
    assert_eq!(
        t.check_expr("x ==").unwrap_err().to_string(),
        "syntax error: unexpected end of input, expected expression"
    );
    assert!(t.check_expr("x == 1 and y is defined").is_ok());
}

#[test]
fn eval_bool() {
    let t = Templates::new();
    let c = ctx();
    assert!(t.eval_bool("port == 8080", &c, "o").unwrap());
    assert!(!t.eval_bool("name != 'web'", &c, "o").unwrap());
    assert!(t.eval_bool("'lxc' in packages", &c, "o").unwrap());
    assert!(!t.eval_bool("missing is defined", &c, "o").unwrap());
    assert!(t.eval_bool("missing | default(true)", &c, "o").unwrap());
    assert!(!t.eval_bool("flag | bool", &c, "o").unwrap());
    assert!(
        t.eval_bool("enabled and port > 1 if name else false", &c, "o")
            .unwrap()
    );
    assert!(!t.eval_bool("false", &c, "o").unwrap());
    // Short-circuit: the undefined side is never looked at.
    assert!(!t.eval_bool("port == 1 and missing", &c, "o").unwrap());
    let err = t
        .eval_bool("port == 8080 and missing", &c, "site.yml:7")
        .unwrap_err();
    assert_eq!(err.to_string(), "site.yml:7: undefined variable `missing`");
    let err = t
        .eval_bool("cluster == 'pair1'", &c, "site.yml:7")
        .unwrap_err();
    assert_eq!(err.to_string(), "site.yml:7: undefined variable `cluster`");
    let err = t.eval_bool("port ==", &c, "site.yml:7").unwrap_err();
    assert_eq!(
        err.to_string(),
        "site.yml:7: syntax error: unexpected end of input, expected expression"
    );
    // An expression cannot close the block it is wrapped in.
    assert!(t.eval_bool("1 %}x{% if 1", &c, "o").is_err());
    assert!(t.eval_bool("", &c, "o").is_err());
}

#[test]
fn render_file_names_file_line_and_variable() {
    let t = Templates::new();
    let path = scratch(
        "interfaces.j2",
        "auto lo\niface lo inet loopback\n\nauto br0\niface br0 inet static\n  bridge_ports none\n  address {{ bridge_addres }}\n",
    );
    let err = t.render_file(&path, &ctx()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}:7: undefined variable `bridge_addres`", path.display())
    );
    let ok = t
        .render_file(
            &path,
            &Value::from_serde(json!({"bridge_addres": "10.0.0.1/24"})),
        )
        .unwrap();
    assert!(ok.ends_with("address 10.0.0.1/24\n"), "{ok:?}");
}

#[test]
fn render_file_syntax_error_and_missing_file() {
    let t = Templates::new();
    let path = scratch("broken.j2", "one\ntwo {% for x in %}\n");
    let err = t.render_file(&path, &ctx()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:2: syntax error: ", path.display())),
        "{err}"
    );
    let missing = path.with_file_name("missing.j2");
    let err = t.render_file(&missing, &ctx()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read template `{}`: No such file or directory",
            missing.display()
        )
    );
    let bad = std::env::temp_dir()
        .join(format!("tandem-template-{}", std::process::id()))
        .join("latin1.j2");
    fs::write(&bad, b"ok\ncaf\xe9\n").unwrap();
    let err = t.render_file(&bad, &ctx()).unwrap_err();
    assert!(
        err.to_string()
            .contains("not valid UTF-8 at byte 6 (line 2)"),
        "{err}"
    );
}

#[test]
fn autoescape_is_off_for_json_and_html_files() {
    let t = Templates::new();
    let c = Value::from_serde(json!({"v": "<a href=\"x\">&'</a>"}));
    for name in ["page.html", "config.json", "data.yaml", "x.xml"] {
        let path = scratch(name, "{{ v }}\n");
        assert_eq!(
            t.render_file(&path, &c).unwrap(),
            "<a href=\"x\">&'</a>\n",
            "{name}"
        );
    }
}

#[test]
fn includes_are_relative_to_the_including_file() {
    let t = Templates::new();
    scratch("part.j2", "part {{ name }}\nline {{ nope }}\n");
    let main = scratch("main.j2", "main\n{% include 'part.j2' %}");
    let err = t.render_file(&main, &ctx()).unwrap_err();
    let part = main.with_file_name("part.j2");
    assert_eq!(
        err.to_string(),
        format!("{}:2: undefined variable `nope`", part.display())
    );
    let c = Value::from_serde(json!({"name": "n", "nope": 1}));
    assert_eq!(t.render_file(&main, &c).unwrap(), "main\npart n\nline 1\n");
}

#[test]
fn rendering_is_cached_and_fast() {
    let t = Templates::new();
    let args =
        json!({"name": ["{{ packages }}"], "dest": "/etc/{{ name }}.conf", "x": "{{ port }}"});
    let start = std::time::Instant::now();
    for i in 0..2000 {
        let c = Value::from_serde(json!({"packages": [i], "name": "n", "port": i}));
        t.render_args(&args, &c, "o").unwrap();
    }
    // 100 hosts x 20 steps; generous for a debug build on a busy machine.
    assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
}

#[test]
fn references() {
    let t = Templates::new();
    let names = |set: BTreeSet<String>| set.into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(t.references_in_str("{{ a.b }} {% if c %}{{ d | default(e) }}{% endif %}")),
        ["a", "c", "d", "e"]
    );
    assert_eq!(names(t.references_in_str("{% set x = y %}{{ x }}")), ["y"]);
    assert!(t.references_in_str("plain").is_empty());
    assert!(t.references_in_str("{{ broken").is_empty());
    assert_eq!(
        names(t.references_in_expr("pkgs.changed and cluster == 'pair1'")),
        ["cluster", "pkgs"]
    );
    assert_eq!(
        names(t.references_in_args(&json!({"a": ["{{ x }}", {"b": "{{ y.z }}-{{ w }}"}], "n": 1}))),
        ["w", "x", "y"]
    );
}

#[test]
fn filters() {
    let t = Templates::new();
    let c = context! { m => context! { b => 1, a => "x<y" }, s => "it's", t => "hello" };
    let r = |text: &str| t.render_str(text, &c, "o").unwrap();
    assert_eq!(r("{{ t | b64encode }}"), "aGVsbG8=");
    assert_eq!(r("{{ 'aGVsbG8=' | b64decode }}"), "hello");
    assert_eq!(r("{{ m | to_json }}"), r#"{"a":"x<y","b":1}"#);
    assert_eq!(r("{{ m | tojson }}"), r#"{"a":"x<y","b":1}"#);
    assert_eq!(
        r("{{ m | to_nice_json }}"),
        "{\n    \"a\": \"x<y\",\n    \"b\": 1\n}"
    );
    assert_eq!(r("{{ s | quote }}"), r"'it'\''s'");
    assert_eq!(r("{{ '/etc/x.conf' | quote }}"), "/etc/x.conf");
    assert_eq!(r("{{ (1 == 1) | ternary('yes', 'no') }}"), "yes");
    assert_eq!(
        r("{{ 'Off' | bool }} {{ 'yes' | bool }} {{ 0 | bool }}"),
        "False True False"
    );
    let err = t.render_str("{{ 'maybe' | bool }}", &c, "o").unwrap_err();
    assert!(
        err.to_string().contains("'maybe' is not a boolean"),
        "{err}"
    );
}

#[test]
fn templates_are_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templates>();
}

#[test]
fn variable_names_are_letters_digits_and_underscores_not_starting_with_a_digit() {
    for good in ["x", "_", "web_1", "Node2"] {
        assert!(is_variable_name(good), "{good}");
    }
    for bad in ["", "1x", "web-1", "a.b", "é", "a b"] {
        assert!(!is_variable_name(bad), "{bad}");
    }
}
