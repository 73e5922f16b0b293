use super::*;

const GOOD: &str = r#"
rules:
  - id: texpr-off-for-dynamic-shapes
    title: Dynamic shapes make the TensorExpr fuser recompile
    source: {section: "Known Issues: Dynamic Shape", releases: "2.0.x", text: "disable texpr"}
    severity: info
    when:
      all:
        - suite.dynamic_shapes == true
    then:
      forbid: {fuser: texpr}
      set: {calibration.observer: minmax}
    explain: Turn the fuser off.
    examples:
      fires: {suite.dynamic_shapes: true}
      holds: {suite.dynamic_shapes: false}
"#;

#[test]
fn parses_a_rule() {
    let (rules, problems) = parse_file(Path::new("good.yaml"), GOOD);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(rule.id, "texpr-off-for-dynamic-shapes");
    assert_eq!(rule.line, 3);
    assert_eq!(rule.actions.len(), 2);
    assert_eq!(rule.severity, Severity::Info);
}

#[test]
fn collects_every_problem_with_its_line() {
    let bad = GOOD
        .replace(
            "suite.dynamic_shapes == true",
            "suite.dynamic_shape == true",
        )
        .replace("{fuser: texpr}", "{fuser: nnc, speed: max}")
        .replace("severity: info", "severity: loud");
    let (rules, problems) = parse_file(Path::new("bad.yaml"), &bad);
    assert!(rules.is_empty());
    let lines: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    assert!(
        lines
            .iter()
            .any(|(l, m)| *l == 9 && m.contains("unknown fact 'suite.dynamic_shape'")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(l, m)| *l == 11 && m.contains("'nnc' is not a value of fuser")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(l, m)| *l == 11 && m.contains("unknown knob 'speed'")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(l, m)| *l == 6 && m.contains("bad severity 'loud'")),
        "{lines:?}"
    );
}

#[test]
fn kebab_case_ids() {
    assert!(is_kebab_case("bf16-needs-avx512-bf16"));
    assert!(!is_kebab_case("Bf16"));
    assert!(!is_kebab_case("bf16_avx2"));
    assert!(!is_kebab_case("a--b"));
}
