//! `template.yaml`, the `cargo lambda watch` router and the docs agree with each other and
//! with the code: the same eleven routes to the same functions, the same table design. The
//! template's rules decide each deploy's parameters as CloudFormation would (the access
//! mode, samconfig.toml's environments), and the template CloudFormation deploys, after
//! SAM's transform (aws-sam-translator, offline), gives each function only what it reads.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::iam::{glob_matches, translated_template as translated};
use integration_tests::workspace_root;
use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

fn template() -> Yaml {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn resources(t: &Yaml) -> Vec<(String, Yaml)> {
    t["Resources"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
        .collect()
}

fn functions(t: &Yaml) -> Vec<(String, Yaml)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .collect()
}

fn resource(t: &Yaml, name: &str) -> Yaml {
    let r = t["Resources"][name].clone();
    assert!(!r.is_badvalue(), "no resource {name}");
    r
}

fn of_type(t: &Yaml, kind: &str) -> Vec<(String, Yaml)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .collect()
}

/// (method, path, binary) of every route of the HTTP API: its route key, then the
/// integration it targets, then the function that integration invokes.
fn template_routes(t: &Yaml) -> BTreeSet<(String, String, String)> {
    let mut routes = BTreeSet::new();
    for (name, route) in of_type(t, "AWS::ApiGatewayV2::Route") {
        let p = &route["Properties"];
        assert_eq!(p["ApiId"]["Ref"].as_str(), Some("HttpApi"), "{name}");
        let (method, path) = p["RouteKey"].as_str().unwrap().split_once(' ').unwrap();
        let target = p["Target"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Target"));
        let integration_name = target
            .strip_prefix("integrations/${")
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{name}: {target}"));
        let integration = resource(t, integration_name);
        let ip = &integration["Properties"];
        assert_eq!(
            integration["Type"].as_str(),
            Some("AWS::ApiGatewayV2::Integration")
        );
        assert_eq!(
            ip["IntegrationType"].as_str(),
            Some("AWS_PROXY"),
            "{integration_name}"
        );
        assert_eq!(
            ip["PayloadFormatVersion"].as_str(),
            Some("2.0"),
            "{integration_name}"
        );
        let function = ip["IntegrationUri"]["Fn::GetAtt"][0].as_str().unwrap();
        let binary = resource(t, function)["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{function}: Metadata.BuildProperties.Binary"))
            .to_string();
        routes.insert((method.to_string(), path.to_string(), binary));
    }
    routes
}

fn router_routes() -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let cargo: toml::Table = toml::from_str(&text).unwrap();
    let router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router]");
    router
        .iter()
        .map(|(path, bin)| ("GET".to_string(), path.clone(), bin.as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn template_router_and_docs_list_the_same_eleven_routes() {
    let from_template = template_routes(&template());
    let from_router = router_routes();
    assert_eq!(
        from_template, from_router,
        "template.yaml and the cargo lambda watch router differ"
    );
    assert_eq!(from_template.len(), 11);
    let contract = std::fs::read_to_string(workspace_root().join("docs/api-contract.md")).unwrap();
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let openapi: BTreeSet<String> = integration_tests::openapi::OpenApi::get()
        .paths()
        .into_iter()
        .collect();
    let template_paths: BTreeSet<String> = from_template.iter().map(|(_, p, _)| p.clone()).collect();
    assert_eq!(openapi, template_paths, "openapi.yaml and template.yaml differ");
    for (_, path, binary) in &from_template {
        assert!(
            contract.contains(&format!("| `{path}` | {binary} |")),
            "docs/api-contract.md lacks {path}"
        );
        assert!(readme.contains(&format!("`{path}`")), "README.md lacks {path}");
    }
}

#[test]
fn every_router_target_is_a_function_binary() {
    for (_, _, binary) in router_routes() {
        let manifest = workspace_root()
            .join("functions")
            .join(&binary)
            .join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap_or_else(|_| panic!("{}", manifest.display()));
        assert!(text.contains(&format!("name = \"{binary}\"")), "{binary}");
    }
}

/// The table of `template.yaml` reduced to the lines of `TableSpec::lines`.
fn template_table_lines(t: &Yaml) -> BTreeSet<String> {
    let (_, table) = resources(t)
        .into_iter()
        .find(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .expect("a DynamoDB table");
    let p = &table["Properties"];
    let keys = |schema: &Yaml| {
        let find = |kt: &str| {
            schema
                .as_vec()
                .unwrap()
                .iter()
                .find(|k| k["KeyType"].as_str() == Some(kt))
                .map(|k| k["AttributeName"].as_str().unwrap().to_string())
                .unwrap_or_else(|| "-".into())
        };
        (find("HASH"), find("RANGE"))
    };
    let mut lines = BTreeSet::new();
    let (hash, range) = keys(&p["KeySchema"]);
    lines.insert(format!("key {hash} HASH"));
    lines.insert(format!("key {range} RANGE"));
    for a in p["AttributeDefinitions"].as_vec().unwrap() {
        lines.insert(format!(
            "attribute {} {}",
            a["AttributeName"].as_str().unwrap(),
            a["AttributeType"].as_str().unwrap()
        ));
    }
    for ix in p["GlobalSecondaryIndexes"].as_vec().unwrap() {
        // An index behind a condition (`Fn::If: [cond, index, AWS::NoValue]`): the index.
        let ix = match &ix["Fn::If"] {
            Yaml::Array(branches) => &branches[1],
            _ => ix,
        };
        let (hash, range) = keys(&ix["KeySchema"]);
        let attributes: Vec<&str> = ix["Projection"]["NonKeyAttributes"]
            .as_vec()
            .map(|v| v.iter().map(|a| a.as_str().unwrap()).collect())
            .unwrap_or_default();
        let projection = writer::projection_line(
            ix["Projection"]["ProjectionType"].as_str().unwrap_or(""),
            &attributes,
        );
        lines.insert(format!(
            "index {}: {hash} HASH, {range} RANGE, projection {projection}",
            ix["IndexName"].as_str().unwrap()
        ));
    }
    lines.insert(format!(
        "billing {}",
        p["BillingMode"].as_str().unwrap_or("PROVISIONED")
    ));
    lines
}

#[test]
fn template_table_is_the_shared_table_definition() {
    assert_eq!(
        template_table_lines(&template()),
        writer::spec_lines(&shared::table::spec())
    );
}

#[test]
fn template_settings_the_deployment_relies_on() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Handler"].as_str(), Some("bootstrap"));
    assert_eq!(globals["Architectures"][0]["Ref"].as_str(), Some("Architecture"));
    assert_eq!(t["Parameters"]["Architecture"]["Default"].as_str(), Some("arm64"));
    assert!(globals["MemorySize"].as_i64().is_some() && globals["Timeout"].as_i64().is_some());
    for var in ["TABLE_NAME", "APP_TIMEZONE", "CONVERSATIONS_LIMIT"] {
        assert!(!globals["Environment"]["Variables"][var].is_badvalue(), "{var}");
    }
    for (name, f) in functions(&t) {
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name}"
        );
        assert_eq!(
            f["Properties"]["LoggingConfig"]["LogFormat"].as_str(),
            Some("JSON"),
            "{name}"
        );
    }
    let (_, table) = resources(&t)
        .into_iter()
        .find(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .unwrap();
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        p["DeletionProtectionEnabled"]["Ref"].as_str(),
        Some("TableDeletionProtection")
    );
    let cors = resource(&t, "HttpApi");
    assert_eq!(
        cors["Properties"]["CorsConfiguration"]["AllowOrigins"]["Ref"].as_str(),
        Some("CorsAllowedOrigins"),
        "CORS origins come from the parameter, never *"
    );
    for output in ["ApiUrl", "TableName"] {
        assert!(!t["Outputs"][output].is_badvalue(), "{output}");
    }
}

/// With `Access=jwt`, every route is behind the JWT authorizer built from the issuer and
/// audience parameters; with `Access=public`, no authorizer exists. API Gateway may invoke
/// each function only from this API.
#[test]
fn every_route_is_behind_the_jwt_authorizer_when_access_is_jwt() {
    let t = template();
    let condition = &t["Conditions"]["AuthEnabled"]["Fn::Equals"];
    assert_eq!(condition[0]["Ref"].as_str(), Some("Access"));
    assert_eq!(condition[1].as_str(), Some("jwt"));
    let authorizer = resource(&t, "JwtAuthorizer");
    assert_eq!(authorizer["Condition"].as_str(), Some("AuthEnabled"));
    let jwt = &authorizer["Properties"]["JwtConfiguration"];
    assert_eq!(jwt["Issuer"]["Ref"].as_str(), Some("JwtIssuer"));
    assert_eq!(jwt["Audience"]["Ref"].as_str(), Some("JwtAudience"));
    let routes = of_type(&t, "AWS::ApiGatewayV2::Route");
    assert_eq!(routes.len(), 11);
    for (name, route) in routes {
        let p = &route["Properties"];
        let auth = &p["AuthorizationType"]["Fn::If"];
        assert_eq!(
            (auth[0].as_str(), auth[1].as_str(), auth[2].as_str()),
            (Some("AuthEnabled"), Some("JWT"), Some("NONE")),
            "{name}"
        );
        let id = &p["AuthorizerId"]["Fn::If"];
        assert_eq!(id[0].as_str(), Some("AuthEnabled"), "{name}");
        assert_eq!(id[1]["Ref"].as_str(), Some("JwtAuthorizer"), "{name}");
        assert_eq!(id[2]["Ref"].as_str(), Some("AWS::NoValue"), "{name}");
    }
    let permissions = of_type(&t, "AWS::Lambda::Permission");
    assert_eq!(permissions.len(), 2);
    for (name, permission) in permissions {
        let p = &permission["Properties"];
        assert_eq!(
            p["Principal"].as_str(),
            Some("apigateway.amazonaws.com"),
            "{name}"
        );
        let source = p["SourceArn"]["Fn::Sub"].as_str().unwrap();
        assert!(source.contains(":${HttpApi}/*/GET/"), "{name}: {source}");
    }
}

// CloudFront's managed policies (the same ids in every account).
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";

fn strings(list: &Yaml) -> BTreeSet<String> {
    list.as_vec()
        .unwrap_or_else(|| panic!("a list: {list:?}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `!Not [!Equals [!Ref parameter, ""]]`: the parameter is set.
fn is_set(condition: &Yaml, parameter: &str) -> bool {
    let equals = &condition["Fn::Not"][0]["Fn::Equals"];
    equals[0]["Ref"].as_str() == Some(parameter) && equals[1].as_str() == Some("")
}

/// The managed response headers policy SecurityHeadersPolicy (HSTS and friends).
const SECURITY_HEADERS: &str = "67f7725c-6f97-4210-82d7-5512b31e9d03";

/// `Fn::GetAtt: [SignInFunction, FunctionARN]` as a viewer-request association, alone.
fn signs_in(behavior: &Yaml, what: &str) {
    let associations = behavior["FunctionAssociations"]
        .as_vec()
        .unwrap_or_else(|| panic!("{what}: no FunctionAssociations"));
    assert_eq!(associations.len(), 1, "{what}");
    assert_eq!(
        associations[0]["EventType"].as_str(),
        Some("viewer-request"),
        "{what}"
    );
    let arn = &associations[0]["FunctionARN"]["Fn::GetAtt"];
    assert_eq!(arn[0].as_str(), Some("SignInFunction"), "{what}");
    assert_eq!(arn[1].as_str(), Some("FunctionARN"), "{what}");
    assert_eq!(
        behavior["ResponseHeadersPolicyId"].as_str(),
        Some(SECURITY_HEADERS),
        "{what}: HSTS"
    );
    assert_eq!(
        behavior["ViewerProtocolPolicy"].as_str(),
        Some("redirect-to-https"),
        "{what}"
    );
    assert_eq!(
        behavior["CachePolicyId"].as_str(),
        Some(CACHING_DISABLED),
        "{what}"
    );
}

/// With `LegacyOriginDomain` set, a CloudFront distribution serves the original page's own
/// origin, behind a sign-in on every behavior: exactly the HTTP API's routes (under
/// `LegacyBasePath`, `{id}` as `*`) go to the API, uncached, with only the query string and
/// the signed-in user, and the API's secret header; everything else goes to the PHP host,
/// uncached, with every method and everything the viewer sent, and the PHP host's own
/// secret header.
#[test]
fn the_distribution_signs_in_and_sends_exactly_the_api_routes_to_the_api() {
    let t = template();
    for parameter in ["LegacyOriginDomain", "LegacyBasePath"] {
        assert_eq!(
            t["Parameters"][parameter]["Default"].as_str(),
            Some(""),
            "{parameter}: off by default"
        );
    }
    assert!(is_set(
        &t["Conditions"]["DistributionEnabled"],
        "LegacyOriginDomain"
    ));

    let distributions = of_type(&t, "AWS::CloudFront::Distribution");
    assert_eq!(distributions.len(), 1);
    let (name, distribution) = &distributions[0];
    assert_eq!(distribution["Condition"].as_str(), Some("DistributionEnabled"));
    // In a rotation the functions accept the new secret before CloudFront sends it.
    let after = strings(&distribution["DependsOn"]);
    for (function, _) in functions(&t) {
        assert!(after.contains(&function), "{name} is updated after {function}");
    }
    let config = &distribution["Properties"]["DistributionConfig"];
    let output = &t["Outputs"]["DistributionDomain"];
    assert_eq!(output["Condition"].as_str(), Some("DistributionEnabled"));
    assert_eq!(output["Value"]["Fn::GetAtt"][0].as_str(), Some(name.as_str()));
    assert_eq!(output["Value"]["Fn::GetAtt"][1].as_str(), Some("DomainName"));
    let waf = &config["WebACLId"]["Fn::If"];
    assert_eq!(waf[0].as_str(), Some("WafEnabled"));
    assert_eq!(waf[1]["Fn::GetAtt"][0].as_str(), Some("DashboardWebAcl"));

    // Two origins, both reached over HTTPS only, each with its own secret header.
    let origins = config["Origins"].as_vec().unwrap();
    assert_eq!(origins.len(), 2);
    let origin_id = |is_it: &dyn Fn(&Yaml) -> bool, secret: &str| {
        let origin = origins
            .iter()
            .find(|o| is_it(&o["DomainName"]))
            .unwrap_or_else(|| panic!("{name}: origins {origins:?}"));
        assert_eq!(
            origin["CustomOriginConfig"]["OriginProtocolPolicy"].as_str(),
            Some("https-only"),
            "{origin:?}"
        );
        let headers = origin["OriginCustomHeaders"].as_vec().unwrap();
        assert_eq!(headers.len(), 1, "{origin:?}");
        assert_eq!(
            headers[0]["HeaderName"]
                .as_str()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some(shared::access::SECRET_HEADER)
        );
        assert_eq!(
            headers[0]["HeaderValue"]["Ref"].as_str(),
            Some(secret),
            "{origin:?}"
        );
        assert_eq!(
            t["Parameters"][secret]["NoEcho"].as_bool(),
            Some(true),
            "{secret}"
        );
        origin["Id"].as_str().unwrap().to_string()
    };
    let legacy = origin_id(
        &|d: &Yaml| d["Ref"].as_str() == Some("LegacyOriginDomain"),
        "LegacyOriginSecret",
    );
    let api = origin_id(
        &|d: &Yaml| d["Fn::Sub"].as_str() == Some("${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
        "FrontSecret",
    );

    let default = &config["DefaultCacheBehavior"];
    signs_in(default, "the default behavior");
    assert_eq!(default["TargetOriginId"].as_str(), Some(legacy.as_str()));
    assert_eq!(
        strings(&default["AllowedMethods"]),
        BTreeSet::from(["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"].map(String::from)),
        "the PHP host keeps its write endpoints"
    );
    assert_eq!(default["OriginRequestPolicyId"].as_str(), Some(ALL_VIEWER));

    // The route keys of the HTTP API as CloudFront path patterns.
    let expected: BTreeSet<String> = template_routes(&t)
        .into_iter()
        .map(|(_, path, _)| {
            let pattern: Vec<&str> = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') && segment.ends_with('}') {
                        "*"
                    } else {
                        segment
                    }
                })
                .collect();
            format!("${{LegacyBasePath}}{}", pattern.join("/"))
        })
        .collect();
    let behaviors = config["CacheBehaviors"].as_vec().unwrap();
    let mut patterns = BTreeSet::new();
    for behavior in behaviors {
        let pattern = behavior["PathPattern"]["Fn::Sub"]
            .as_str()
            .unwrap_or_else(|| panic!("PathPattern: {behavior:?}"));
        assert!(patterns.insert(pattern.to_string()), "{pattern} twice");
        signs_in(behavior, pattern);
        assert_eq!(
            behavior["TargetOriginId"].as_str(),
            Some(api.as_str()),
            "{pattern}: only the API's paths have behaviors of their own"
        );
        assert_eq!(
            behavior["OriginRequestPolicyId"]["Ref"].as_str(),
            Some("ApiOriginRequestPolicy"),
            "{pattern}: the query string and the user, no cookie"
        );
        let methods = strings(&behavior["AllowedMethods"]);
        assert!(
            methods.contains("GET")
                && methods
                    .iter()
                    .all(|m| ["GET", "HEAD", "OPTIONS"].contains(&m.as_str())),
            "{pattern}: {methods:?}"
        );
    }
    assert_eq!(
        patterns, expected,
        "the distribution's API paths and the HTTP API's routes differ"
    );

    // What the API's behaviors forward: the query string and the signed-in user only.
    let policy = resource(&t, "ApiOriginRequestPolicy");
    assert_eq!(policy["Condition"].as_str(), Some("DistributionEnabled"));
    let p = &policy["Properties"]["OriginRequestPolicyConfig"];
    assert_eq!(p["CookiesConfig"]["CookieBehavior"].as_str(), Some("none"));
    assert_eq!(
        p["QueryStringsConfig"]["QueryStringBehavior"].as_str(),
        Some("all")
    );
    assert_eq!(p["HeadersConfig"]["HeaderBehavior"].as_str(), Some("whitelist"));
    assert_eq!(
        strings(&p["HeadersConfig"]["Headers"]),
        BTreeSet::from([shared::access::USER_HEADER.to_string()])
    );

    // The sign-in: a published cloudfront-js-2.0 function reading the stack's own users.
    let function = resource(&t, "SignInFunction");
    assert_eq!(function["Type"].as_str(), Some("AWS::CloudFront::Function"));
    assert_eq!(function["Condition"].as_str(), Some("DistributionEnabled"));
    let p = &function["Properties"];
    assert_eq!(
        p["AutoPublish"].as_bool(),
        Some(true),
        "attached only once published"
    );
    assert_eq!(p["FunctionConfig"]["Runtime"].as_str(), Some("cloudfront-js-2.0"));
    let stores = p["FunctionConfig"]["KeyValueStoreAssociations"].as_vec().unwrap();
    assert_eq!(stores.len(), 1);
    assert_eq!(
        stores[0]["KeyValueStoreARN"]["Fn::GetAtt"][0].as_str(),
        Some("DashboardUsers")
    );
    let users = resource(&t, "DashboardUsers");
    assert_eq!(users["Type"].as_str(), Some("AWS::CloudFront::KeyValueStore"));
    assert_eq!(users["Condition"].as_str(), Some("DistributionEnabled"));
    let output = &t["Outputs"]["DashboardUsersArn"];
    assert_eq!(output["Value"]["Fn::GetAtt"][0].as_str(), Some("DashboardUsers"));
    let code = p["FunctionCode"]["Fn::Sub"].as_str().unwrap();
    assert!(
        code.contains("${LegacyBasePath}") && code.contains("${DashboardUsers.Id}"),
        "{code}"
    );

    // The optional rate limit per IP address.
    let acl = resource(&t, "DashboardWebAcl");
    assert_eq!(acl["Condition"].as_str(), Some("WafEnabled"));
    let p = &acl["Properties"];
    assert_eq!(p["Scope"].as_str(), Some("CLOUDFRONT"));
    assert!(!p["DefaultAction"]["Allow"].is_badvalue());
    let rules = p["Rules"].as_vec().unwrap();
    assert_eq!(rules.len(), 1);
    let rate = &rules[0]["Statement"]["RateBasedStatement"];
    assert_eq!(rate["AggregateKeyType"].as_str(), Some("IP"));
    assert_eq!(rate["Limit"]["Ref"].as_str(), Some("WafRateLimit"));
    assert!(!rules[0]["Action"]["Block"].is_badvalue());
    assert_eq!(
        t["Parameters"]["WafRateLimit"]["Default"].as_i64(),
        Some(0),
        "off by default"
    );
    let waf_on = t["Conditions"]["WafEnabled"]["Fn::And"].as_vec().unwrap();
    assert_eq!(waf_on[0]["Condition"].as_str(), Some("DistributionEnabled"));
}

// ---------------------------------------------------------------------------------------
// The template's rules, evaluated as CloudFormation evaluates them at deploy time.

/// A parameter's value: a string, or a list for `CommaDelimitedList` parameters.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    List(Vec<String>),
    Bool(bool),
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The subset of the rule functions the template uses: `Ref`, `Fn::Equals`, `Fn::Not`,
/// `Fn::And`, `Fn::Or`, `Fn::Contains`, `Fn::EachMemberIn`; literals and lists of them.
fn eval(y: &Yaml, params: &BTreeMap<String, Val>) -> Val {
    if let Some(s) = scalar(y) {
        return Val::Str(s);
    }
    if let Some(list) = y.as_vec() {
        return Val::List(
            list.iter()
                .map(|v| scalar(v).expect("a list of strings"))
                .collect(),
        );
    }
    let (f, arg) = y.as_hash().and_then(|h| h.iter().next()).expect("a function");
    let f = f.as_str().unwrap();
    let args = || arg.as_vec().unwrap_or_else(|| panic!("{f}: arguments"));
    let boolean = |v: &Yaml| match eval(v, params) {
        Val::Bool(b) => b,
        other => panic!("{f}: not a condition: {other:?}"),
    };
    let list = |v: &Yaml| match eval(v, params) {
        Val::List(l) => l,
        other => panic!("{f}: not a list: {other:?}"),
    };
    match f {
        "Ref" => params
            .get(arg.as_str().unwrap())
            .cloned()
            .unwrap_or_else(|| panic!("no parameter {arg:?}")),
        "Fn::Equals" => Val::Bool(eval(&args()[0], params) == eval(&args()[1], params)),
        "Fn::Not" => Val::Bool(!boolean(&args()[0])),
        "Fn::And" => Val::Bool(args().iter().all(boolean)),
        "Fn::Or" => Val::Bool(args().iter().any(boolean)),
        "Fn::Contains" => {
            let needle = eval(&args()[1], params);
            Val::Bool(list(&args()[0]).into_iter().any(|s| Val::Str(s) == needle))
        }
        "Fn::EachMemberIn" => {
            let allowed = list(&args()[1]);
            Val::Bool(list(&args()[0]).iter().all(|s| allowed.contains(s)))
        }
        other => panic!("rule function {other} is not one this test knows"),
    }
}

/// What CloudFormation answers to a deploy of `template.yaml` with these parameter values:
/// Ok, or the messages it fails with (a parameter without a value or outside its allowed
/// values, then every rule assertion that does not hold).
fn deploy(values: &[(&str, &str)]) -> Result<(), Vec<String>> {
    let t = template();
    let given: BTreeMap<&str, &str> = values.iter().copied().collect();
    let mut params = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, spec) in t["Parameters"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            given.keys().all(|g| t["Parameters"][*g].as_hash().is_some()),
            "unknown parameter in {given:?}"
        );
        let Some(value) = given
            .get(name)
            .map(|v| v.to_string())
            .or_else(|| scalar(&spec["Default"]))
        else {
            errors.push(format!("Parameters: [{name}] must have values"));
            continue;
        };
        if let Some(allowed) = spec["AllowedValues"].as_vec()
            && !allowed
                .iter()
                .any(|a| scalar(a).as_deref() == Some(value.as_str()))
        {
            errors.push(format!("Parameter '{name}' must be one of AllowedValues"));
        }
        if let Some(pattern) = spec["AllowedPattern"].as_str()
            && spec["Type"].as_str() == Some("String")
            && !regex_lite::Regex::new(pattern).unwrap().is_match(&value)
        {
            errors.push(format!("Parameter '{name}' must match pattern {pattern}"));
        }
        let value = match spec["Type"].as_str() {
            Some("CommaDelimitedList") => Val::List(value.split(',').map(str::to_string).collect()),
            _ => Val::Str(value),
        };
        params.insert(name.to_string(), value);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (rule_name, rule) in t["Rules"].as_hash().unwrap() {
        if !rule["RuleCondition"].is_badvalue() && eval(&rule["RuleCondition"], &params) != Val::Bool(true) {
            continue;
        }
        for assertion in rule["Assertions"].as_vec().unwrap() {
            if eval(&assertion["Assert"], &params) != Val::Bool(true) {
                errors.push(format!(
                    "{}: {}",
                    rule_name.as_str().unwrap(),
                    assertion["AssertDescription"].as_str().unwrap()
                ));
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn fails_naming(result: Result<(), Vec<String>>, words: &[&str]) {
    let errors = result.expect_err("the deploy should fail");
    for word in words {
        assert!(
            errors.iter().any(|e| e.contains(word)),
            "no error names {word}: {errors:?}"
        );
    }
}

const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123";
const DEV: (&str, &str) = ("Environment", "development");
const ALARMS: (&str, &str) = ("AlarmEmail", "ops@example.com");
const FRONT: (&str, &str) = ("FrontSecret", "f3b1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4");
const OLD_SECRET: &str = "0f9e8d7c6b5a49382716a5b4c3d2e1f00f1e2d3c";
const PHP_SECRET: (&str, &str) = ("LegacyOriginSecret", "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d");

#[test]
fn a_deploy_must_choose_its_access_mode_and_what_it_needs() {
    let t = template();
    assert!(
        t["Parameters"]["Access"]["Default"].is_badvalue(),
        "Access has no default: no stack is public by accident"
    );
    fails_naming(deploy(&[]), &["[Access] must have values"]);
    fails_naming(deploy(&[("Access", "none")]), &["'Access' must be one of"]);
    assert_eq!(deploy(&[("Access", "public"), DEV]), Ok(()));
    // Production (the default) needs somewhere for its alarms to go.
    fails_naming(
        deploy(&[("Access", "public")]),
        &["needs AlarmEmail or AlarmTopicArn"],
    );
    assert_eq!(deploy(&[("Access", "public"), ALARMS]), Ok(()));
    fails_naming(
        deploy(&[("Access", "public"), ("AlarmEmail", "alarms@PLACEHOLDER.invalid")]),
        &["AlarmEmail is still"],
    );
    fails_naming(
        deploy(&[("Access", "jwt"), DEV]),
        &["needs JwtIssuer", "needs JwtAudience"],
    );
    fails_naming(
        deploy(&[("Access", "jwt"), ("JwtIssuer", ISSUER), DEV]),
        &["needs JwtAudience"],
    );
    fails_naming(
        deploy(&[("Access", "jwt"), ("JwtAudience", "client"), DEV]),
        &["needs JwtIssuer"],
    );
    assert_eq!(
        deploy(&[
            ("Access", "jwt"),
            ("JwtIssuer", ISSUER),
            ("JwtAudience", "client"),
            ("JwtScopes", "conversations/read"),
            DEV
        ]),
        Ok(())
    );
    fails_naming(
        deploy(&[("Access", "public"), ("JwtScopes", "conversations/read"), DEV]),
        &["need Access=jwt"],
    );
    // Front: its secret, never anywhere it would not be checked.
    fails_naming(
        deploy(&[("Access", "front"), DEV]),
        &["Access=front needs FrontSecret"],
    );
    assert_eq!(deploy(&[("Access", "front"), FRONT, DEV]), Ok(()));
    assert_eq!(
        deploy(&[
            ("Access", "front"),
            FRONT,
            ("FrontSecretPrevious", OLD_SECRET),
            DEV
        ]),
        Ok(())
    );
    fails_naming(
        deploy(&[("Access", "front"), FRONT, ("FrontSecretPrevious", FRONT.1), DEV]),
        &["FrontSecretPrevious equals FrontSecret"],
    );
    fails_naming(
        deploy(&[("Access", "public"), FRONT, DEV]),
        &["nothing would check it"],
    );
    fails_naming(
        deploy(&[("Access", "front"), ("FrontSecret", "short"), DEV]),
        &["'FrontSecret' must match"],
    );
    fails_naming(
        deploy(&[("Access", "front"), FRONT, ("JwtIssuer", ISSUER), DEV]),
        &["checks the front's secret, not tokens"],
    );
    // The distribution is the front, with a secret of the PHP host's own.
    let distribution = [("LegacyOriginDomain", "origin.panel.example.com"), DEV];
    fails_naming(
        deploy(&[&[("Access", "public")][..], &distribution].concat()),
        &["needs Access=front", "needs LegacyOriginSecret"],
    );
    fails_naming(
        deploy(
            &[
                &[("Access", "front"), FRONT, ("LegacyOriginSecret", FRONT.1)][..],
                &distribution,
            ]
            .concat(),
        ),
        &["must differ from FrontSecret"],
    );
    fails_naming(
        deploy(
            &[
                &[
                    ("Access", "front"),
                    FRONT,
                    ("FrontSecretPrevious", OLD_SECRET),
                    ("LegacyOriginSecret", OLD_SECRET),
                ][..],
                &distribution,
            ]
            .concat(),
        ),
        &["must differ from FrontSecretPrevious"],
    );
    assert_eq!(
        deploy(
            &[
                &[("Access", "front"), FRONT, PHP_SECRET, ("WafRateLimit", "6000")][..],
                &distribution
            ]
            .concat()
        ),
        Ok(())
    );
    fails_naming(
        deploy(&[("Access", "front"), FRONT, ("WafRateLimit", "6000"), DEV]),
        &["needs LegacyOriginDomain"],
    );
    // Only the three levels that never log DynamoDB's answers.
    for level in ["DEBUG", "TRACE"] {
        fails_naming(
            deploy(&[("Access", "public"), ("LogLevel", level), DEV]),
            &["'LogLevel' must be one of"],
        );
    }
    // Public with an issuer would look protected and not be.
    fails_naming(
        deploy(&[
            ("Access", "public"),
            ("JwtIssuer", ISSUER),
            ("JwtAudience", "client"),
        ]),
        &["Access=public ignores tokens"],
    );
    fails_naming(
        deploy(&[
            ("Access", "public"),
            ("AlarmEmail", "ops@example.com"),
            ("AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:ops"),
        ]),
        &["not both"],
    );
}

/// `parameter_overrides` of one environment of samconfig.toml, as `Key="value"` pairs.
fn samconfig_parameters(env: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("samconfig.toml")).unwrap();
    let config: toml::Table = toml::from_str(&text).unwrap();
    let overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
        .as_str()
        .unwrap_or_else(|| panic!("[{env}.deploy.parameters] parameter_overrides"));
    overrides
        .split_whitespace()
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or_else(|| panic!("{pair}"));
            (key.to_string(), value.trim_matches('"').to_string())
        })
        .collect()
}

fn deploy_env(env: &str, replace: &[(&str, &str)]) -> Result<(), Vec<String>> {
    let mut values = samconfig_parameters(env);
    for (key, value) in replace {
        match values.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            // The secrets, which samconfig.toml never holds: given at deploy time.
            None => values.push((key.to_string(), value.to_string())),
        }
    }
    let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    deploy(&values)
}

#[test]
fn samconfig_environments_choose_their_access_mode() {
    let access = |env| {
        samconfig_parameters(env)
            .into_iter()
            .find(|(k, _)| k == "Access")
            .map(|(_, v)| v)
    };
    assert_eq!(
        access("default").as_deref(),
        Some("public"),
        "the dev stack, on purpose"
    );
    assert_eq!(deploy_env("default", &[]), Ok(()));
    // The original page sends no token: its front signs users in. Its secrets are given
    // at deploy time, never written in samconfig.toml.
    assert_eq!(access("dashboard").as_deref(), Some("front"));
    for env in ["default", "prod", "dashboard"] {
        let keys: Vec<String> = samconfig_parameters(env).into_iter().map(|(k, _)| k).collect();
        for secret in ["FrontSecret", "FrontSecretPrevious", "LegacyOriginSecret"] {
            assert!(!keys.iter().any(|k| k == secret), "[{env}] writes {secret} down");
        }
    }
    fails_naming(
        deploy_env("dashboard", &[]),
        &[
            "needs FrontSecret",
            "needs LegacyOriginSecret",
            "AlarmEmail is still",
        ],
    );
    let alarms = ("AlarmEmail", "ops@panel.example.com");
    assert_eq!(deploy_env("dashboard", &[FRONT, PHP_SECRET, alarms]), Ok(()));
    // Production signs in, and fails until the placeholders are replaced.
    assert_eq!(access("prod").as_deref(), Some("jwt"));
    fails_naming(
        deploy_env("prod", &[]),
        &[
            "JwtIssuer is still",
            "JwtAudience is still",
            "AlarmEmail is still",
        ],
    );
    assert_eq!(
        deploy_env(
            "prod",
            &[
                ("JwtIssuer", ISSUER),
                ("JwtAudience", "4pq3example5client"),
                alarms
            ]
        ),
        Ok(())
    );
}

// ---------------------------------------------------------------------------------------
// The template CloudFormation deploys: template.yaml through SAM's transform.

fn of_type_json<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(k, r)| (k.as_str(), r))
        .collect()
}

fn table_resource() -> Value {
    json!({ "Fn::GetAtt": ["ConversationsTable", "Arn"] })
}

fn index_resource(index: &str) -> Value {
    json!({ "Fn::Sub": format!("${{ConversationsTable.Arn}}/index/{index}") })
}

/// One statement's grant, normalised: (actions, resources, condition).
type Grant = (BTreeSet<String>, Vec<String>, Value);

fn grants(role: &Value) -> Vec<Grant> {
    let mut grants = Vec::new();
    for policy in role["Properties"]["Policies"].as_array().unwrap() {
        for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            assert_eq!(s["Effect"], "Allow", "{s}");
            assert!(s["NotAction"].is_null() && s["NotResource"].is_null(), "{s}");
            let one_or_many = |v: &Value| match v {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            let actions = one_or_many(&s["Action"])
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            let mut resources: Vec<String> =
                one_or_many(&s["Resource"]).iter().map(Value::to_string).collect();
            resources.sort();
            grants.push((actions, resources, s["Condition"].clone()));
        }
    }
    grants.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    grants
}

fn grant(actions: &[&str], resources: &[Value], condition: Value) -> Grant {
    let mut resources: Vec<String> = resources.iter().map(Value::to_string).collect();
    resources.sort();
    (
        actions.iter().map(|a| a.to_string()).collect(),
        resources,
        condition,
    )
}

/// The roles CloudFormation creates: each function has a role of its own that allows writing
/// its own log group (no managed policy: SAM's generated roles carry
/// AWSLambdaBasicExecutionRole, logs on `*`) and reading what its code reads, nothing else:
/// get-conversations queries the three inbox indexes and gets conversation items (the
/// per-conversation poll) and phone claims (the lookup by phone); get-conversation-messages
/// gets and queries conversation items and their messages. Reads of the table are held to
/// `C#…` keys (and `PHONE#…` for the inbox's lookup), so neither can read a counter or the
/// sync's records, and the messages function no phone claim.
#[test]
fn translated_roles_allow_each_function_only_its_log_group_and_its_reads() {
    use shared::table;
    let t = translated(&["Access=public"]);
    let roles = of_type_json(&t, "AWS::IAM::Role");
    let functions = of_type_json(&t, "AWS::Lambda::Function");
    assert_eq!(functions.len(), 2);
    assert_eq!(roles.len(), 2, "one role per function, no other");

    let prefix = table::conversation_pk(7).strip_suffix('7').unwrap().to_string();
    let leading_keys =
        json!({ "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [format!("{prefix}*")] } });
    let pattern = format!("{prefix}*");
    assert!(glob_matches(&pattern, &table::conversation_pk(1)));
    assert!(glob_matches(
        &pattern,
        &table::conversation_pk(9_007_199_254_740_991)
    ));
    assert!(!glob_matches(&pattern, &table::phone_pk("573001234567")));
    assert!(!glob_matches(&pattern, table::COUNTER_PK));
    let phone_prefix = table::phone_pk("7").strip_suffix('7').unwrap().to_string();
    assert!(glob_matches(
        &format!("{phone_prefix}*"),
        &table::phone_pk("573001234567")
    ));
    assert!(!glob_matches(&format!("{phone_prefix}*"), table::COUNTER_PK));
    assert!(!glob_matches(&format!("{phone_prefix}*"), table::SYNC_PK));

    let expected_reads = |binary: &str| match binary {
        "get-conversations" => vec![
            grant(
                &["dynamodb:Query"],
                &[
                    index_resource(table::INDEX_BY_ACTIVITY),
                    index_resource(table::INDEX_BY_STATUS),
                    index_resource(table::INDEX_BY_CHANGE),
                    index_resource(table::INDEX_BY_WAITING),
                    index_resource(table::INDEX_BY_WAITING_STATUS),
                ],
                Value::Null,
            ),
            grant(
                &["dynamodb:GetItem"],
                &[table_resource()],
                json!({ "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [
                    format!("{prefix}*"),
                    format!("{phone_prefix}*"),
                ] } }),
            ),
            // The counts: the tally's partition alone.
            grant(
                &["dynamodb:Query"],
                &[table_resource()],
                json!({ "ForAllValues:StringEquals": { "dynamodb:LeadingKeys": [table::TALLY_PK] } }),
            ),
        ],
        "get-conversation-messages" => vec![grant(
            &["dynamodb:GetItem", "dynamodb:Query"],
            &[table_resource()],
            leading_keys.clone(),
        )],
        other => panic!("a function this test does not know: {other}"),
    };

    let mut used_roles = BTreeSet::new();
    for (name, function) in functions {
        let p = &function["Properties"];
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        let role_name = p["Role"]["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Role"));
        assert_eq!(p["Role"]["Fn::GetAtt"][1], "Arn");
        assert!(used_roles.insert(role_name), "{role_name} shared");
        let role = &t["Resources"][role_name];
        assert_eq!(role["Type"], "AWS::IAM::Role", "{name}");
        let rp = &role["Properties"];
        for absent in ["ManagedPolicyArns", "PermissionsBoundary", "RoleName"] {
            assert!(rp[absent].is_null(), "{role_name}: {absent} {}", rp[absent]);
        }
        assert_eq!(
            rp["AssumeRolePolicyDocument"]["Statement"],
            json!([{ "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" } }]),
            "{role_name}: only Lambda assumes it"
        );
        let log_group = p["LoggingConfig"]["LogGroup"]["Ref"].as_str().unwrap();
        assert_eq!(t["Resources"][log_group]["Type"], "AWS::Logs::LogGroup", "{name}");
        let mut expected = expected_reads(binary);
        expected.push(grant(
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            &[json!({ "Fn::GetAtt": [log_group, "Arn"] })],
            Value::Null,
        ));
        expected.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        assert_eq!(grants(role), expected, "{name} ({role_name})");
    }
}

/// The deployed functions carry what `make sam-local` overrides (SAM's `--env-vars` only
/// sets variables the template declares): `AWS_ENDPOINT_URL_DYNAMODB`, empty, which the
/// functions take as unset (`shared::client::dynamodb_config`).
#[test]
fn translated_functions_declare_an_empty_dynamodb_endpoint() {
    let t = translated(&["Access=public"]);
    for (name, function) in of_type_json(&t, "AWS::Lambda::Function") {
        let variables = &function["Properties"]["Environment"]["Variables"];
        assert_eq!(variables["AWS_ENDPOINT_URL_DYNAMODB"], "", "{name}");
        assert_eq!(
            variables["TABLE_NAME"],
            json!({ "Ref": "ConversationsTable" }),
            "{name}"
        );
    }
}

/// A flood is bounded: the stage throttles every route (the defaults that docs/DESIGN.md
/// prices), and a reserved-concurrency parameter of 0 sets none.
#[test]
fn the_stage_is_throttled_and_concurrency_reservations_are_optional() {
    let source = template();
    let t = translated(&["Access=public"]);
    let stages = of_type_json(&t, "AWS::ApiGatewayV2::Stage");
    assert_eq!(stages.len(), 1);
    let settings = &stages[0].1["Properties"]["DefaultRouteSettings"];
    for (setting, parameter) in [
        ("ThrottlingRateLimit", "ThrottlingRateLimit"),
        ("ThrottlingBurstLimit", "ThrottlingBurstLimit"),
    ] {
        assert_eq!(settings[setting], json!({ "Ref": parameter }));
        let default = source["Parameters"][parameter]["Default"].as_i64().unwrap();
        assert!(default > 0, "{parameter}");
    }
    let design = std::fs::read_to_string(workspace_root().join("docs/DESIGN.md")).unwrap();
    let design = design.split_whitespace().collect::<Vec<_>>().join(" ");
    let rate = source["Parameters"]["ThrottlingRateLimit"]["Default"]
        .as_i64()
        .unwrap();
    assert!(
        design.contains(&format!("(default **{rate} requests/s**)")),
        "docs/DESIGN.md prices a flood at the default rate, {rate} requests/s"
    );
    for (name, function) in of_type_json(&t, "AWS::Lambda::Function") {
        let reserved = &function["Properties"]["ReservedConcurrentExecutions"]["Fn::If"];
        let condition = reserved[0].as_str().unwrap_or_else(|| panic!("{name}"));
        let parameter = reserved[1]["Ref"].as_str().unwrap();
        assert_eq!(reserved[2], json!({ "Ref": "AWS::NoValue" }), "{name}");
        let equals = &t["Conditions"][condition]["Fn::Not"][0]["Fn::Equals"];
        assert_eq!(equals, &json!([{ "Ref": parameter }, "0"]), "{name}");
        assert_eq!(
            scalar(&source["Parameters"][parameter]["Default"]).as_deref(),
            Some("0")
        );
    }
}

/// Each function has its day-one alarms (errors, throttles, p99 duration below its
/// timeout), and so do the API (5xx rate) and the table (throttled requests); every alarm
/// notifies the configured topic, if any, and goes back to OK the same way.
#[test]
fn every_function_the_api_and_the_table_have_alarms() {
    let t = translated(&["Access=public"]);
    let alarms = of_type_json(&t, "AWS::CloudWatch::Alarm");
    let on = |namespace: &str, metric: &str, dimension: &str, target: &str| {
        alarms.iter().find(|(_, a)| {
            let p = &a["Properties"];
            let direct = p["Namespace"] == namespace
                && p["MetricName"] == metric
                && p["Dimensions"][0] == json!({ "Name": dimension, "Value": { "Ref": target } });
            let math = p["Metrics"].as_array().is_some_and(|ms| {
                ms.iter().any(|m| {
                    let metric_of = &m["MetricStat"]["Metric"];
                    metric_of["Namespace"] == namespace
                        && metric_of["MetricName"] == metric
                        && metric_of["Dimensions"][0]
                            == json!({ "Name": dimension, "Value": { "Ref": target } })
                })
            });
            direct || math
        })
    };
    for (name, function) in of_type_json(&t, "AWS::Lambda::Function") {
        for metric in ["Errors", "Throttles", "Duration"] {
            assert!(
                on("AWS/Lambda", metric, "FunctionName", name).is_some(),
                "{name}: no {metric} alarm"
            );
        }
        let (_, duration) = on("AWS/Lambda", "Duration", "FunctionName", name).unwrap();
        let timeout_ms = function["Properties"]["Timeout"].as_f64().unwrap() * 1000.0;
        let threshold = duration["Properties"]["Threshold"].as_f64().unwrap();
        assert_eq!(duration["Properties"]["ExtendedStatistic"], "p99");
        assert!(
            threshold < timeout_ms,
            "{name}: p99 alarm at {threshold} ms, timeout {timeout_ms} ms"
        );
    }
    assert!(
        on("AWS/ApiGateway", "5xx", "ApiId", "HttpApi").is_some(),
        "no 5xx alarm"
    );
    assert!(
        on(
            "AWS/DynamoDB",
            "ThrottledRequests",
            "TableName",
            "ConversationsTable"
        )
        .is_some(),
        "no DynamoDB throttling alarm"
    );
    for (name, alarm) in &alarms {
        let p = &alarm["Properties"];
        assert_eq!(p["AlarmActions"], p["OKActions"], "{name}");
        let actions = p["AlarmActions"]["Fn::If"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(actions[0], "AlarmTopicGiven", "{name}");
        assert_eq!(actions[1], json!([{ "Ref": "AlarmTopicArn" }]), "{name}");
        assert_eq!(
            actions[2],
            json!({ "Fn::If": ["AlarmTopicCreated", [{ "Ref": "AlarmTopic" }], { "Ref": "AWS::NoValue" }] }),
            "{name}"
        );
    }
}

/// `SyncMonitoring=on` adds three alarms on what `convo-admin sync --metrics-namespace`
/// publishes (the names and the dimension are the sync's own constants): a heartbeat whose
/// missing data breaches (no round reported for 5 one-minute periods in a row), the lag
/// above `SyncLagAlarmSeconds` for 3 minutes, and any conversation quarantined. Off (the
/// default), the condition leaves them out.
#[test]
fn sync_monitoring_adds_a_heartbeat_a_lag_and_a_quarantine_alarm_on_the_syncs_metrics() {
    use convo_admin::sync::metrics::{DIMENSION, LAG, QUARANTINED, ROWS_APPLIED};
    let t = translated(&["Access=public"]);
    assert_eq!(t["Parameters"]["SyncMonitoring"]["Default"], "off");
    assert_eq!(
        t["Conditions"]["SyncMonitoringEnabled"],
        json!({ "Fn::Equals": [{ "Ref": "SyncMonitoring" }, "on"] })
    );
    let alarms = of_type_json(&t, "AWS::CloudWatch::Alarm");
    let sync_alarms: BTreeMap<&str, &Value> = alarms
        .iter()
        .filter(|(_, a)| a["Properties"]["Namespace"] == json!({ "Ref": "SyncMetricsNamespace" }))
        .map(|(name, a)| (*name, *a))
        .collect();
    assert_eq!(
        sync_alarms.keys().copied().collect::<Vec<_>>(),
        ["SyncHeartbeatAlarm", "SyncLagAlarm", "SyncQuarantinedAlarm"]
    );
    let expect = |name: &str, metric: &str, rule: Value| {
        let alarm = sync_alarms[name];
        assert_eq!(alarm["Condition"], "SyncMonitoringEnabled", "{name}");
        let p = &alarm["Properties"];
        assert_eq!(p["MetricName"], metric, "{name}");
        assert_eq!(
            p["Dimensions"],
            json!([{ "Name": DIMENSION, "Value": { "Ref": "ConversationsTable" } }]),
            "{name}"
        );
        for (key, value) in rule.as_object().unwrap() {
            assert_eq!(&p[key], value, "{name}: {key}");
        }
    };
    expect(
        "SyncHeartbeatAlarm",
        ROWS_APPLIED,
        json!({ "Statistic": "SampleCount", "Period": 60, "EvaluationPeriods": 5, "DatapointsToAlarm": 5,
                "Threshold": 1, "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching" }),
    );
    expect(
        "SyncLagAlarm",
        LAG,
        json!({ "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 3, "DatapointsToAlarm": 3,
                "Threshold": { "Ref": "SyncLagAlarmSeconds" }, "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching" }),
    );
    expect(
        "SyncQuarantinedAlarm",
        QUARANTINED,
        json!({ "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching" }),
    );
}

/// The managed policy the stack ships for the sync's host (output `SyncPolicyArn`): the item
/// operations the sync and import call, on the table alone (neither reads an index), held
/// to the partition keys the writer uses (`shared::table`'s), and PutMetricData in the
/// sync's namespace only. No function's role carries it. admin/tests/sync.rs holds every
/// request of the sync tests to it.
#[test]
fn the_sync_policy_grants_its_item_operations_on_its_keys_and_metrics_in_its_namespace() {
    use shared::table;
    let t = translated(&["Access=public"]);
    let policy = &t["Resources"]["SyncPolicy"];
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    assert_eq!(
        t["Outputs"]["SyncPolicyArn"]["Value"],
        json!({ "Ref": "SyncPolicy" })
    );
    let prefix = |key: String, tail: &str| format!("{}*", key.strip_suffix(tail).unwrap());
    assert_eq!(
        policy["Properties"]["PolicyDocument"]["Statement"],
        json!([
            {
                "Sid": "ReadAndWriteConversationsClaimsCountersAndSyncRecords",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem",
                    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"
                ],
                "Resource": [table_resource()],
                "Condition": { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [
                    prefix(table::conversation_pk(7), "7"),
                    prefix(table::phone_pk("5"), "5"),
                    table::COUNTER_PK,
                    table::SYNC_PK,
                    table::TALLY_PK,
                ] } },
            },
            {
                "Sid": "PublishTheSyncMetrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": "*",
                "Condition": { "StringEquals": { "cloudwatch:namespace": { "Ref": "SyncMetricsNamespace" } } },
            },
        ])
    );
    for (name, role) in of_type_json(&t, "AWS::IAM::Role") {
        assert!(
            !role.to_string().contains("SyncPolicy"),
            "{name} carries the sync's policy"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The access modes in the template CloudFormation deploys.

/// Each access mode, translated: the functions get `ACCESS` and, with `front` only, the
/// secrets (NoEcho parameters, so never shown by CloudFormation); every route carries the
/// JWT authorizer and the optional required scopes only with `jwt`.
#[test]
fn translated_access_modes_give_the_functions_what_they_check() {
    let source = template();
    for secret in ["FrontSecret", "FrontSecretPrevious", "LegacyOriginSecret"] {
        let p = &source["Parameters"][secret];
        assert_eq!(p["NoEcho"].as_bool(), Some(true), "{secret}");
        assert_eq!(p["Default"].as_str(), Some(""), "{secret}");
        let pattern = regex_lite::Regex::new(p["AllowedPattern"].as_str().unwrap()).unwrap();
        assert!(
            !pattern.is_match(&"a".repeat(31)),
            "{secret}: 32 characters at least"
        );
        assert!(
            pattern.is_match(&"a".repeat(32)) && pattern.is_match(""),
            "{secret}"
        );
    }
    assert_eq!(
        strings(&source["Parameters"]["Access"]["AllowedValues"]),
        BTreeSet::from(["jwt", "front", "public"].map(String::from))
    );
    assert_eq!(
        strings(&source["Parameters"]["LogLevel"]["AllowedValues"]),
        BTreeSet::from(["ERROR", "WARN", "INFO"].map(String::from)),
        "DEBUG and TRACE would log DynamoDB's answers"
    );
    for mode in [
        vec![
            "Access=front",
            "FrontSecret=f3b1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4",
        ],
        vec!["Access=public"],
        vec![
            "Access=jwt",
            "JwtIssuer=https://issuer.example.com",
            "JwtAudience=client",
            "JwtScopes=conversations/read",
        ],
    ] {
        let t = translated(&mode);
        for (name, function) in of_type_json(&t, "AWS::Lambda::Function") {
            let variables = &function["Properties"]["Environment"]["Variables"];
            assert_eq!(variables["ACCESS"], json!({ "Ref": "Access" }), "{name}");
            assert_eq!(
                variables["FRONT_SECRET"],
                json!({ "Fn::If": ["FrontAccess", { "Ref": "FrontSecret" }, ""] }),
                "{name}"
            );
            assert_eq!(
                variables["FRONT_SECRET_PREVIOUS"],
                json!({ "Fn::If": ["FrontAccess", { "Ref": "FrontSecretPrevious" }, ""] }),
                "{name}"
            );
            assert_eq!(
                function["Properties"]["LoggingConfig"]["ApplicationLogLevel"],
                json!({ "Ref": "LogLevel" })
            );
        }
        assert_eq!(
            t["Conditions"]["FrontAccess"],
            json!({ "Fn::Equals": [{ "Ref": "Access" }, "front"] })
        );
        for (name, route) in of_type_json(&t, "AWS::ApiGatewayV2::Route") {
            assert_eq!(
                route["Properties"]["AuthorizationScopes"],
                json!({ "Fn::If": ["JwtScopesRequired", { "Ref": "JwtScopes" }, { "Ref": "AWS::NoValue" }] }),
                "{name}"
            );
        }
        let scopes = t["Conditions"]["JwtScopesRequired"]["Fn::And"]
            .as_array()
            .unwrap();
        assert_eq!(scopes[0], json!({ "Condition": "AuthEnabled" }));
    }
}

/// Every request leaves a JSON line in the stage's access log (refused ones too), in a log
/// group kept as long as the functions' logs; with the route, never the raw path or query.
#[test]
fn translated_stage_writes_a_json_access_log() {
    let t = translated(&["Access=public"]);
    let stages = of_type_json(&t, "AWS::ApiGatewayV2::Stage");
    let settings = &stages[0].1["Properties"]["AccessLogSettings"];
    assert_eq!(
        settings["DestinationArn"],
        json!({ "Fn::GetAtt": ["ApiAccessLogGroup", "Arn"] })
    );
    let format = settings["Format"].as_str().unwrap();
    let line: Value = serde_json::from_str(format).expect("the format is a JSON object");
    for (field, variable) in [
        ("requestId", "$context.requestId"),
        ("ip", "$context.identity.sourceIp"),
        ("route", "$context.routeKey"),
        ("status", "$context.status"),
        ("latencyMs", "$context.responseLatency"),
        ("user", "$context.authorizer.claims.sub"),
    ] {
        assert_eq!(line[field], variable, "{field}");
    }
    assert!(
        !format.contains("$context.path") && !format.contains("querystring"),
        "{format}"
    );
    let group = &t["Resources"]["ApiAccessLogGroup"];
    assert_eq!(group["Type"], "AWS::Logs::LogGroup");
    assert_eq!(
        group["Properties"]["RetentionInDays"],
        json!({ "Ref": "LogRetentionInDays" })
    );
}

/// Abuse is bounded and seen: an alarm on the request count and one on the 4xx rate, and
/// the optional web ACL attaches to the distribution.
#[test]
fn translated_alarms_watch_the_request_count_and_the_4xx_rate() {
    let t = translated(&["Access=public"]);
    let alarms = of_type_json(&t, "AWS::CloudWatch::Alarm");
    let count = alarms
        .iter()
        .find(|(_, a)| {
            a["Properties"]["MetricName"] == "Count" && a["Properties"]["Namespace"] == "AWS/ApiGateway"
        })
        .expect("a request count alarm");
    assert_eq!(
        count.1["Properties"]["Threshold"],
        json!({ "Ref": "RequestCountAlarmThreshold" })
    );
    let rate = alarms
        .iter()
        .find(|(_, a)| {
            a["Properties"]["Metrics"].as_array().is_some_and(|ms| {
                ms.iter()
                    .any(|m| m["MetricStat"]["Metric"]["MetricName"] == "4xx")
            })
        })
        .expect("a 4xx rate alarm");
    let expression = rate.1["Properties"]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|m| m["Expression"].as_str())
        .unwrap();
    assert!(
        expression.contains("4xx") || expression.contains("errors"),
        "{expression}"
    );
    assert!(rate.1["Properties"]["Threshold"].as_f64().unwrap() > 0.0);
}

/// The distribution as CloudFormation receives it (SAM's transform passes it through): with
/// the CloudFront setting, every behavior signs in, each origin gets its own secret header,
/// the web ACL is optional, and the rules that keep the choice whole are deployed with it.
#[test]
fn translated_distribution_signs_in_everywhere_and_the_rules_go_with_it() {
    let t = translated(&[
        "Access=front",
        "FrontSecret=f3b1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4",
        "LegacyOriginSecret=9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d",
        "LegacyOriginDomain=origin.panel.example.com",
        "LegacyBasePath=/panel",
        "WafRateLimit=6000",
        "AlarmEmail=ops@example.com",
    ]);
    let config = &t["Resources"]["DashboardDistribution"]["Properties"]["DistributionConfig"];
    let mut behaviors = vec![&config["DefaultCacheBehavior"]];
    behaviors.extend(config["CacheBehaviors"].as_array().unwrap());
    assert_eq!(behaviors.len(), 12);
    for behavior in behaviors {
        assert_eq!(
            behavior["FunctionAssociations"],
            json!([{ "EventType": "viewer-request", "FunctionARN": { "Fn::GetAtt": ["SignInFunction", "FunctionARN"] } }]),
            "{behavior}"
        );
        assert_eq!(
            behavior["ResponseHeadersPolicyId"], SECURITY_HEADERS,
            "{behavior}"
        );
    }
    let secrets: BTreeSet<String> = config["Origins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o["OriginCustomHeaders"][0]["HeaderValue"]["Ref"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        secrets,
        BTreeSet::from(["FrontSecret".to_string(), "LegacyOriginSecret".to_string()])
    );
    assert_eq!(
        config["WebACLId"],
        json!({ "Fn::If": ["WafEnabled", { "Fn::GetAtt": ["DashboardWebAcl", "Arn"] }, { "Ref": "AWS::NoValue" }] })
    );
    for rule in [
        "FrontAccessNeedsItsSecret",
        "SecretsOnlyWithFrontAccess",
        "DistributionIsTheFront",
        "WafNeedsTheDistribution",
        "ProductionAlarmsGoSomewhere",
        "JwtScopesNeedJwtAccess",
    ] {
        assert!(t["Rules"][rule].is_object(), "rule {rule} is deployed");
    }
    for secret in ["FrontSecret", "FrontSecretPrevious", "LegacyOriginSecret"] {
        assert_eq!(t["Parameters"][secret]["NoEcho"], json!(true), "{secret}");
    }
}
