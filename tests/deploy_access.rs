//! The access check of `.github/workflows/deploy.yml`, `scripts/check-access.py`, run as the
//! workflow runs it against samconfig.toml variants written to a temporary directory and
//! against the real samconfig.toml: `public` only for the development environment
//! (`default`) or an environment ALLOW_PUBLIC_ENVIRONMENTS names, `jwt` accepted, `front`
//! only with its secrets from the environment (never echoed, never in samconfig.toml), no
//! Access refused. The file of parameter overrides it writes reads, through SAM CLI's own
//! parser, as the environment's parameter_overrides plus the secrets. The workflow runs the
//! script the way these tests do, and actionlint accepts it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use integration_tests::workspace_root;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

const SECRET_VARS: [&str; 3] = [
    "ALLOW_PUBLIC_ENVIRONMENTS",
    "FRONT_SECRET",
    "LEGACY_ORIGIN_SECRET",
];

/// Distinctive values, to find any echo of them in the output.
const FRONT: &str = "frontSECRETvalue-4f9c2a7e81d3b6";
const LEGACY: &str = "legacySECRETvalue-0b7d5e3c9a1f24";

/// A temporary directory of this test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "deploy-access-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// A samconfig.toml with `[env.deploy.parameters] parameter_overrides = "..."` for each
    /// (env, overrides), plus any raw TOML after them.
    fn samconfig(&self, envs: &[(&str, &str)], raw: &str) -> PathBuf {
        let mut text = String::from("version = 0.1\n");
        for (env, overrides) in envs {
            text.push_str(&format!(
                "\n[{env}.global.parameters]\nstack_name = \"stack-{env}\"\n\n\
                 [{env}.deploy.parameters]\ncapabilities = \"CAPABILITY_IAM\"\n\
                 parameter_overrides = \"{}\"\n",
                toml_escape(overrides)
            ));
        }
        text.push_str(raw);
        let path = self.0.join("samconfig.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn real_samconfig() -> PathBuf {
    workspace_root().join("samconfig.toml")
}

struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn refused(&self) -> &Self {
        assert!(!self.ok, "expected a refusal:\n{}", self.all());
        assert!(
            self.stdout.lines().any(|l| l.starts_with("::error::")),
            "a refusal says why in an ::error:: line:\n{}",
            self.all()
        );
        self
    }

    fn accepted(&self) -> &Self {
        assert!(self.ok, "expected success:\n{}", self.all());
        assert!(!self.all().contains("::error::"), "{}", self.all());
        self
    }

    fn error(&self) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("::error::"))
            .unwrap_or_default()
            .to_string()
    }

    fn warned(&self) -> bool {
        self.stdout.lines().any(|l| l.starts_with("::warning::"))
    }
}

/// `python3 scripts/check-access.py --samconfig FILE [ARGS] ENV`, with only the given
/// variables among the ones the workflow passes.
fn check(samconfig: &Path, env: &str, vars: &[(&str, &str)], args: &[&str]) -> Outcome {
    let mut cmd = Command::new("python3");
    cmd.current_dir(workspace_root())
        .arg(workspace_root().join("scripts/check-access.py"))
        .arg("--samconfig")
        .arg(samconfig)
        .args(args)
        .arg(env);
    for var in SECRET_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied());
    let out = cmd.output().expect("run python3 (3.11 or later)");
    Outcome {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

const PUBLIC: &str = r#"Access="public" Architecture="arm64""#;
const JWT: &str = r#"Access="jwt" JwtIssuer="https://issuer.example.com" JwtAudience="abc""#;
const FRONT_ONLY: &str =
    r#"Access="front" Architecture="arm64" CorsAllowedOrigins="https://panel.example.com""#;
const FRONT_WITH_LEGACY: &str = r#"Access="front" SenderTypeNames="user-bot-human" LegacyOriginDomain="origin.panel.example.com" LegacyBasePath="/panel" DashboardDomain="panel.example.com""#;

#[test]
fn public_is_refused_for_every_environment_but_the_development_one() {
    let dir = TempDir::new();
    for env in ["prod", "dashboard", "staging", "Default", "default2", "dev"] {
        let samconfig = dir.samconfig(&[("default", PUBLIC), (env, PUBLIC)], "");
        let run = check(&samconfig, env, &[], &[]);
        run.refused();
        let error = run.error();
        assert!(error.contains("Access=public"), "{env}: {error}");
        assert!(error.contains("ALLOW_PUBLIC_ENVIRONMENTS"), "{env}: {error}");
        assert!(error.contains(&format!("'{env}'")), "{env}: {error}");
        assert!(
            error.contains("Access=jwt") && error.contains("Access=front"),
            "{env}: {error}"
        );
    }
}

#[test]
fn public_is_accepted_for_the_development_environment() {
    let run = check(&real_samconfig(), "default", &[], &[]);
    run.accepted();
    assert!(!run.warned(), "{}", run.all());
    assert!(run.stdout.contains("Access=public"), "{}", run.stdout);

    let dir = TempDir::new();
    let samconfig = dir.samconfig(&[("default", PUBLIC)], "");
    check(&samconfig, "default", &[], &[]).accepted();
}

#[test]
fn allow_public_environments_names_an_environment_which_then_deploys_with_a_warning() {
    let dir = TempDir::new();
    let samconfig = dir.samconfig(
        &[("prod", PUBLIC), ("staging", PUBLIC), ("dashboard", PUBLIC)],
        "",
    );
    let allow = [("ALLOW_PUBLIC_ENVIRONMENTS", " staging , prod,")];
    for env in ["prod", "staging"] {
        let run = check(&samconfig, env, &allow, &[]);
        run.accepted();
        assert!(run.warned(), "{env}: a warning says it is public\n{}", run.all());
    }
    // Only the names it lists, whole.
    check(&samconfig, "dashboard", &allow, &[]).refused();
    let near = [("ALLOW_PUBLIC_ENVIRONMENTS", "production,prod2,PROD,*")];
    check(&samconfig, "prod", &near, &[]).refused();
    check(&samconfig, "prod", &[("ALLOW_PUBLIC_ENVIRONMENTS", "")], &[]).refused();
}

#[test]
fn jwt_is_accepted() {
    let run = check(&real_samconfig(), "prod", &[], &[]);
    run.accepted();
    assert!(run.stdout.contains("Access=jwt"), "{}", run.stdout);

    let dir = TempDir::new();
    let samconfig = dir.samconfig(&[("staging", JWT)], "");
    check(&samconfig, "staging", &[], &[]).accepted();
}

#[test]
fn front_without_front_secret_fails_naming_the_secret() {
    let dir = TempDir::new();
    let samconfig = dir.samconfig(&[("dashboard", FRONT_ONLY)], "");
    for vars in [
        vec![],
        vec![("FRONT_SECRET", "")],
        vec![("LEGACY_ORIGIN_SECRET", LEGACY)],
    ] {
        let run = check(&samconfig, "dashboard", &vars, &[]);
        run.refused();
        assert!(run.error().contains("FRONT_SECRET"), "{}", run.error());
        assert!(run.error().contains("FrontSecret"), "{}", run.error());
    }
}

#[test]
fn front_with_legacy_origin_domain_needs_legacy_origin_secret_too() {
    let dir = TempDir::new();
    let samconfig = dir.samconfig(&[("dashboard", FRONT_WITH_LEGACY)], "");
    let run = check(&samconfig, "dashboard", &[("FRONT_SECRET", FRONT)], &[]);
    run.refused();
    assert!(run.error().contains("LEGACY_ORIGIN_SECRET"), "{}", run.error());
    assert_only_masked(&run, &[FRONT]);

    // Without LegacyOriginDomain (nginx on the PHP host), FRONT_SECRET is enough.
    let samconfig = dir.samconfig(&[("dashboard", FRONT_ONLY)], "");
    check(&samconfig, "dashboard", &[("FRONT_SECRET", FRONT)], &[]).accepted();
    // An empty LegacyOriginDomain is no LegacyOriginDomain.
    let samconfig = dir.samconfig(
        &[("dashboard", &format!("{FRONT_ONLY} LegacyOriginDomain=\"\""))],
        "",
    );
    check(&samconfig, "dashboard", &[("FRONT_SECRET", FRONT)], &[]).accepted();
}

/// Every line naming a secret is its `::add-mask::` line, and those come first.
fn assert_only_masked(run: &Outcome, secrets: &[&str]) {
    for secret in secrets {
        let masks = format!("::add-mask::{secret}");
        assert!(
            run.stdout.lines().any(|l| l == masks),
            "{secret} is masked:\n{}",
            run.stdout
        );
        for line in run.all().lines().filter(|l| l.contains(secret)) {
            assert_eq!(line, masks, "a secret printed:\n{}", run.all());
        }
    }
    let lines: Vec<&str> = run.stdout.lines().collect();
    let masks = lines.iter().take_while(|l| l.starts_with("::add-mask::")).count();
    assert!(
        !lines[masks..].iter().any(|l| l.starts_with("::add-mask::")),
        "masks first:\n{}",
        run.stdout
    );
}

#[test]
fn front_with_its_secrets_writes_the_overrides_and_never_echoes_the_secrets() {
    let dir = TempDir::new();
    let file = dir.0.join("parameter-overrides.yaml");
    let file_arg = file.to_str().unwrap();
    let secrets = [("FRONT_SECRET", FRONT), ("LEGACY_ORIGIN_SECRET", LEGACY)];

    let samconfig = dir.samconfig(&[("dashboard", FRONT_WITH_LEGACY)], "");
    let run = check(&samconfig, "dashboard", &secrets, &["--overrides-file", file_arg]);
    run.accepted();
    assert_only_masked(&run, &[FRONT, LEGACY]);
    assert!(run.stdout.contains("Access=front"), "{}", run.stdout);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        written,
        serde_json::json!([FRONT_WITH_LEGACY, {"FrontSecret": FRONT, "FrontSecretPrevious": "", "LegacyOriginSecret": LEGACY}])
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the runner's user reads the secrets");
    }
    let mut expected = sam_parameters(&[FRONT_WITH_LEGACY]);
    expected.insert("FrontSecret".into(), FRONT.into());
    expected.insert("FrontSecretPrevious".into(), String::new());
    expected.insert("LegacyOriginSecret".into(), LEGACY.into());
    assert_sam_reads(&file, &expected);

    // Without LegacyOriginDomain, LEGACY_ORIGIN_SECRET is not passed even when set.
    let samconfig = dir.samconfig(&[("dashboard", FRONT_ONLY)], "");
    let run = check(&samconfig, "dashboard", &secrets, &["--overrides-file", file_arg]);
    run.accepted();
    assert_only_masked(&run, &[FRONT, LEGACY]);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        written,
        serde_json::json!([FRONT_ONLY, {"FrontSecret": FRONT, "FrontSecretPrevious": ""}]),
        "FrontSecretPrevious is always given: SAM would keep the stack's previous value"
    );

    // During a rotation, the previous secret is passed too (and masked).
    let previous = "the-previous-front-secret-0123456789abcdef";
    let rotating = [
        ("FRONT_SECRET", FRONT),
        ("LEGACY_ORIGIN_SECRET", LEGACY),
        ("FRONT_SECRET_PREVIOUS", previous),
    ];
    let run = check(
        &samconfig,
        "dashboard",
        &rotating,
        &["--overrides-file", file_arg],
    );
    run.accepted();
    assert_only_masked(&run, &[FRONT, LEGACY, previous]);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        written,
        serde_json::json!([FRONT_ONLY, {"FrontSecret": FRONT, "FrontSecretPrevious": previous}])
    );
}

#[test]
fn the_overrides_file_of_jwt_is_the_environments_parameter_overrides() {
    let dir = TempDir::new();
    let file = dir.0.join("parameter-overrides.yaml");
    let run = check(
        &real_samconfig(),
        "prod",
        &[("FRONT_SECRET", FRONT)],
        &["--overrides-file", file.to_str().unwrap()],
    );
    run.accepted();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(FRONT), "no secret for Access=jwt: {text}");
    let samconfig: toml::Table = toml::from_str(&std::fs::read_to_string(real_samconfig()).unwrap()).unwrap();
    let overrides = samconfig["prod"]["deploy"]["parameters"]["parameter_overrides"]
        .as_str()
        .unwrap();
    let written: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(written, serde_json::json!([overrides]));
    assert_sam_reads(&file, &sam_parameters(&[overrides]));

    // The file's suffix tells SAM CLI how to read it.
    let run = check(
        &real_samconfig(),
        "prod",
        &[],
        &["--overrides-file", dir.0.join("overrides.json").to_str().unwrap()],
    );
    run.refused();
}

/// The parameters SAM CLI's own parser (from `.tools/venv`) reads from parameter_overrides
/// strings; empty when SAM CLI is not installed.
fn sam_parameters(overrides: &[&str]) -> BTreeMap<String, String> {
    let arg = serde_json::to_string(overrides).unwrap();
    sam_convert(&arg).unwrap_or_default()
}

/// SAM CLI's parse of `--parameter-overrides file://FILE`, compared with `expected`.
fn assert_sam_reads(file: &Path, expected: &BTreeMap<String, String>) {
    let arg = serde_json::to_string(&[format!("file://{}", file.display())]).unwrap();
    match sam_convert(&arg) {
        Some(read) => assert_eq!(&read, expected, "SAM CLI reads the file as the deploy needs"),
        None => eprintln!("SAM CLI not in .tools/venv (make tools): its reading of the file not checked"),
    }
}

fn sam_convert(values_json: &str) -> Option<BTreeMap<String, String>> {
    let python = workspace_root().join(".tools/venv/bin/python");
    if !python.exists() {
        return None;
    }
    let out = Command::new(python)
        .args([
            "-c",
            "import json, sys\n\
             from samcli.cli.types import CfnParameterOverridesType\n\
             values = tuple(json.loads(sys.argv[1]))\n\
             print(json.dumps(CfnParameterOverridesType().convert(values, None, None)))",
            values_json,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn a_secret_in_samconfig_is_refused() {
    let dir = TempDir::new();
    for (parameter, variable) in [
        ("FrontSecret", "FRONT_SECRET"),
        ("FrontSecretPrevious", "FRONT_SECRET_PREVIOUS"),
        ("LegacyOriginSecret", "LEGACY_ORIGIN_SECRET"),
    ] {
        for access in ["front", "jwt", "public"] {
            let overrides = format!("Access=\"{access}\" {parameter}=\"in-the-repository\"");
            let samconfig = dir.samconfig(&[("default", &overrides), ("dashboard", &overrides)], "");
            for env in ["default", "dashboard"] {
                let run = check(
                    &samconfig,
                    env,
                    &[("FRONT_SECRET", FRONT), ("LEGACY_ORIGIN_SECRET", LEGACY)],
                    &[],
                );
                run.refused();
                assert!(run.error().contains(parameter), "{}", run.error());
                assert!(run.error().contains(variable), "{}", run.error());
                assert!(!run.error().contains("in-the-repository"), "{}", run.error());
            }
        }
    }
}

#[test]
fn a_secret_unfit_for_a_header_is_refused_without_printing_it() {
    let dir = TempDir::new();
    let samconfig = dir.samconfig(&[("dashboard", FRONT_ONLY)], "");
    for bad in [
        "two words",
        "quote\"d",
        "it's",
        "back\\slash",
        "tab\tbed",
        "ñandú-secret",
    ] {
        let run = check(&samconfig, "dashboard", &[("FRONT_SECRET", bad)], &[]);
        run.refused();
        assert!(run.error().contains("FRONT_SECRET"), "{}", run.error());
        for line in run.all().lines() {
            assert!(
                line.starts_with("::add-mask::") || !line.contains(bad),
                "{bad:?} printed: {line}"
            );
        }
    }
}

#[test]
fn no_access_is_refused() {
    let dir = TempDir::new();
    let raw = "\n[staging.global.parameters]\nstack_name = \"s\"\n\n\
               [staging.deploy.parameters]\ncapabilities = \"CAPABILITY_IAM\"\n";
    // [default] is public; [staging] sets no parameter_overrides and inherits nothing.
    let samconfig = dir.samconfig(&[("default", PUBLIC), ("prod", "Architecture=\"arm64\"")], raw);
    for env in ["prod", "staging"] {
        let run = check(&samconfig, env, &[("ALLOW_PUBLIC_ENVIRONMENTS", env)], &[]);
        run.refused();
        assert!(run.error().contains("no Access"), "{env}: {}", run.error());
    }
    let samconfig = dir.samconfig(&[("prod", "Access=\"\" Architecture=\"arm64\"")], "");
    check(&samconfig, "prod", &[], &[]).refused();
    // An environment samconfig.toml does not have.
    let run = check(&real_samconfig(), "nowhere", &[], &[]);
    run.refused();
    assert!(run.error().contains("[nowhere]"), "{}", run.error());
    // A mode the template does not know.
    let samconfig = dir.samconfig(&[("prod", "Access=\"open\"")], "");
    check(&samconfig, "prod", &[], &[]).refused();
}

#[test]
fn access_is_read_as_sam_cli_reads_parameter_overrides() {
    let dir = TempDir::new();
    // (parameter_overrides as TOML, accepted for [prod]?)
    let cases = [
        (
            r#""ParameterKey=Access,ParameterValue=jwt ParameterKey=Architecture,ParameterValue=arm64""#,
            true,
        ),
        (r#""Access=jwt Architecture=arm64""#, true),
        (r#""Access='jwt'""#, true),
        (r#""Access=\"jwt\" Access=\"public\"""#, false), // the last one wins
        (r#"["Access=\"public\"", "Access=\"jwt\""]"#, true),
        (
            r#"["Access=\"jwt\"", "Architecture=\"arm64\" Access=public"]"#,
            false,
        ),
        (r#""Architecture=\"arm64\" NotAccess=\"jwt\"""#, false),
        (r#""XAccess=\"jwt\"""#, false),
        (r#""file://params.yaml""#, false),
    ];
    for (overrides, accepted) in cases {
        let raw = format!("\n[prod.deploy.parameters]\nparameter_overrides = {overrides}\n");
        let samconfig = dir.samconfig(&[], &raw);
        let run = check(&samconfig, "prod", &[], &[]);
        if accepted {
            run.accepted();
        } else {
            run.refused();
        }
        // SAM CLI reads the same Access.
        let toml: toml::Table = toml::from_str(&raw).unwrap();
        let value = &toml["prod"]["deploy"]["parameters"]["parameter_overrides"];
        let strings: Vec<&str> = match value {
            toml::Value::String(s) => vec![s.as_str()],
            toml::Value::Array(a) => a.iter().map(|v| v.as_str().unwrap()).collect(),
            _ => unreachable!(),
        };
        if strings.iter().any(|s| s.starts_with("file://")) {
            continue;
        }
        let sam = sam_parameters(&strings);
        if !sam.is_empty() {
            assert_eq!(
                sam.get("Access").map(String::as_str) == Some("jwt"),
                accepted,
                "{overrides}: SAM reads {sam:?}"
            );
        }
    }
}

#[test]
fn stack_info_is_the_environments_own_stack_name_and_region() {
    let info = |samconfig: &Path, env: &str| {
        let run = check(samconfig, env, &[], &["--stack-info"]);
        run.accepted();
        run.stdout
    };
    assert_eq!(
        info(&real_samconfig(), "prod"),
        "stack_name=conversations-api\nregion=us-east-1\n"
    );
    assert_eq!(
        info(&real_samconfig(), "dashboard"),
        "stack_name=conversations-api-dashboard\nregion=us-east-1\n"
    );
    let dir = TempDir::new();
    let raw = "\n[a.global.parameters]\nstack_name = \"from-global\"\n\
               [a.deploy.parameters]\nstack_name = \"from-deploy\"\nregion = \"eu-west-1\"\n\
               [b.deploy.parameters]\ncapabilities = \"CAPABILITY_IAM\"\n";
    let samconfig = dir.samconfig(&[("default", PUBLIC)], raw);
    assert_eq!(
        info(&samconfig, "a"),
        "stack_name=from-deploy\nregion=eu-west-1\n"
    );
    // Nothing from [default].
    assert_eq!(info(&samconfig, "b"), "stack_name=\nregion=\n");
    check(&samconfig, "c", &[], &["--stack-info"]).refused();
}

fn workflow() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join(".github/workflows/deploy.yml")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// The environments the workflow offers to deploy.
fn deployable_environments(w: &Yaml) -> Vec<String> {
    let input = &w["on"]["workflow_dispatch"]["inputs"]["environment"];
    assert_eq!(input["type"].as_str(), Some("choice"));
    assert_eq!(input["default"].as_str(), Some("prod"));
    input["options"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_workflow_deploys_a_chosen_environment_through_the_check() {
    let w = workflow();
    let envs = deployable_environments(&w);
    assert_eq!(envs, ["prod", "dashboard"]);
    let chosen = "${{ inputs.environment || 'prod' }}";
    assert_eq!(w["env"]["DEPLOY_ENV"].as_str(), Some(chosen));
    assert_eq!(
        w["concurrency"]["group"].as_str(),
        Some("deploy-${{ inputs.environment || 'prod' }}")
    );
    for job in ["stack", "function"] {
        assert_eq!(w["jobs"][job]["environment"].as_str(), Some(chosen), "{job}");
    }

    let steps = w["jobs"]["stack"]["steps"].as_vec().unwrap();
    let run_of = |needle: &str| {
        steps
            .iter()
            .position(|s| s["run"].as_str().is_some_and(|r| r.contains(needle)))
            .unwrap_or_else(|| panic!("no step runs {needle}"))
    };
    let check_step = run_of("scripts/check-access.py");
    let deploy_step = run_of("sam deploy");
    assert!(check_step < run_of("make tools"), "the check comes first");
    assert!(check_step < deploy_step);
    let step = &steps[check_step];
    assert_eq!(
        step["run"].as_str().unwrap().trim(),
        r#"python3 scripts/check-access.py --overrides-file "$RUNNER_TEMP/parameter-overrides.yaml" "$DEPLOY_ENV""#
    );
    assert_eq!(
        step["env"]["FRONT_SECRET"].as_str(),
        Some("${{ secrets.FRONT_SECRET }}")
    );
    assert_eq!(
        step["env"]["LEGACY_ORIGIN_SECRET"].as_str(),
        Some("${{ secrets.LEGACY_ORIGIN_SECRET }}")
    );
    assert_eq!(
        step["env"]["ALLOW_PUBLIC_ENVIRONMENTS"].as_str(),
        Some("${{ vars.ALLOW_PUBLIC_ENVIRONMENTS }}")
    );
    let deploy = steps[deploy_step]["run"].as_str().unwrap();
    assert!(
        deploy.contains(r#"sam build --beta-features --config-env "$DEPLOY_ENV""#),
        "{deploy}"
    );
    assert!(
        deploy.contains(r#"sam deploy --config-env "$DEPLOY_ENV""#),
        "{deploy}"
    );
    assert!(
        deploy.contains(r#"--parameter-overrides "file://$RUNNER_TEMP/parameter-overrides.yaml""#),
        "{deploy}"
    );
    assert!(
        !deploy.contains("--debug"),
        "SAM's debug log prints parameter values"
    );
    // No secret reaches a step but the check.
    for (i, s) in steps.iter().enumerate() {
        if i != check_step {
            let text = format!("{:?}", s);
            assert!(!text.contains("secrets."), "step {i} reads a secret: {text}");
        }
    }

    let function_steps = w["jobs"]["function"]["steps"].as_vec().unwrap();
    assert!(
        function_steps.iter().any(|s| s["run"].as_str()
            == Some(r#"python3 scripts/check-access.py --stack-info "$DEPLOY_ENV" >> "$GITHUB_OUTPUT""#)),
        "the function job finds the environment's stack in samconfig.toml"
    );
}

#[test]
fn every_environment_the_workflow_deploys_passes_the_check_with_its_secrets() {
    let envs = deployable_environments(&workflow());
    assert!(
        !envs.iter().any(|e| e == "default"),
        "the development stack is not deployed by CI"
    );
    let dir = TempDir::new();
    let file = dir.0.join("parameter-overrides.yaml");
    for env in envs {
        let run = check(
            &real_samconfig(),
            &env,
            &[("FRONT_SECRET", FRONT), ("LEGACY_ORIGIN_SECRET", LEGACY)],
            &["--overrides-file", file.to_str().unwrap()],
        );
        run.accepted();
        assert!(!run.warned(), "{env}: {}", run.all());
    }
}

#[test]
fn actionlint_accepts_the_deploy_workflow() {
    let actionlint = workspace_root().join(".tools/venv/bin/actionlint");
    if !actionlint.exists() {
        eprintln!("{} missing (make tools): not run", actionlint.display());
        return;
    }
    let out = Command::new(actionlint)
        .current_dir(workspace_root())
        .args(["-no-color", ".github/workflows/deploy.yml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
