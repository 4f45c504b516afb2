//! `template.yaml`, the `cargo lambda watch` router and the docs agree with each other and
//! with the code: the same eight routes to the same functions, the same table design.

use std::collections::BTreeSet;

use integration_tests::workspace_root;
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
fn template_router_and_docs_list_the_same_eight_routes() {
    let from_template = template_routes(&template());
    let from_router = router_routes();
    assert_eq!(
        from_template, from_router,
        "template.yaml and the cargo lambda watch router differ"
    );
    assert_eq!(from_template.len(), 8);
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
        let (hash, range) = keys(&ix["KeySchema"]);
        let attributes: Vec<&str> = ix["Projection"]["NonKeyAttributes"]
            .as_vec()
            .map(|v| v.iter().map(|a| a.as_str().unwrap()).collect())
            .unwrap_or_default();
        let projection = shared::store::projection_line(
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
    assert_eq!(template_table_lines(&template()), shared::table::spec().lines());
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

/// With `JwtIssuer` set, every route is behind the JWT authorizer built from the issuer
/// and audience parameters; without it (the default), no authorizer exists. API Gateway
/// may invoke each function only from this API.
#[test]
fn every_route_is_behind_the_jwt_authorizer_when_an_issuer_is_set() {
    let t = template();
    let condition = &t["Conditions"]["AuthEnabled"]["Fn::Not"][0]["Fn::Equals"];
    assert_eq!(condition[0]["Ref"].as_str(), Some("JwtIssuer"));
    assert_eq!(condition[1].as_str(), Some(""));
    assert_eq!(
        t["Parameters"]["JwtIssuer"]["Default"].as_str(),
        Some(""),
        "off by default"
    );
    let authorizer = resource(&t, "JwtAuthorizer");
    assert_eq!(authorizer["Condition"].as_str(), Some("AuthEnabled"));
    let jwt = &authorizer["Properties"]["JwtConfiguration"];
    assert_eq!(jwt["Issuer"]["Ref"].as_str(), Some("JwtIssuer"));
    assert_eq!(jwt["Audience"]["Ref"].as_str(), Some("JwtAudience"));
    let routes = of_type(&t, "AWS::ApiGatewayV2::Route");
    assert_eq!(routes.len(), 8);
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

/// Each function may only read, and only what it uses: the table (messages) or the two
/// inbox indexes (conversations). No write action, no wildcard action or resource, no
/// managed policy or policy template, no role from elsewhere.
#[test]
fn functions_have_read_only_access_to_the_table_and_its_indexes() {
    let t = template();
    for (name, f) in functions(&t) {
        assert!(f["Properties"]["Role"].is_badvalue(), "{name}: a Role of its own");
        let policies = f["Properties"]["Policies"].as_vec().unwrap();
        for policy in policies {
            let statements = policy["Statement"]
                .as_vec()
                .unwrap_or_else(|| panic!("{name}: only inline policy documents, got {policy:?}"));
            for statement in statements {
                assert_eq!(statement["Effect"].as_str(), Some("Allow"));
                for action in statement["Action"].as_vec().unwrap() {
                    let action = action.as_str().unwrap();
                    assert!(!action.contains('*'), "{name}: wildcard action {action}");
                    assert!(
                        // BatchGetItem is no request path's any more (`before` pages are a
                        // GetItem and a Query), so no function may call it.
                        ["dynamodb:GetItem", "dynamodb:Query"].contains(&action),
                        "{name}: {action}"
                    );
                }
                for resource in statement["Resource"].as_vec().unwrap() {
                    let text = format!("{resource:?}");
                    assert!(!text.contains('*'), "{name}: wildcard resource {text}");
                    assert!(text.contains("ConversationsTable"), "{name}: {text}");
                }
            }
        }
    }
}

// CloudFront's managed policies (the same ids in every account).
const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";
const ALL_VIEWER_EXCEPT_HOST_HEADER: &str = "b689b0a8-53d0-40ab-baf2-68738e2966ac";

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

/// With `LegacyOriginDomain` set, a CloudFront distribution serves the original page's own
/// origin: exactly the HTTP API's routes (under `LegacyBasePath`, `{id}` as `*`) go to the
/// API, uncached, with the query string and Authorization but not the viewer's Host, through
/// the function that drops the base path when there is one; everything else goes to the PHP
/// host, uncached, with every method and everything the viewer sent.
#[test]
fn the_distribution_sends_exactly_the_api_routes_to_the_api() {
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
    let strip = t["Conditions"]["StripBasePath"]["Fn::And"].as_vec().unwrap();
    assert_eq!(strip.len(), 2);
    assert_eq!(strip[0]["Condition"].as_str(), Some("DistributionEnabled"));
    assert!(is_set(&strip[1], "LegacyBasePath"));

    let distributions = of_type(&t, "AWS::CloudFront::Distribution");
    assert_eq!(distributions.len(), 1);
    let (name, distribution) = &distributions[0];
    assert_eq!(distribution["Condition"].as_str(), Some("DistributionEnabled"));
    let config = &distribution["Properties"]["DistributionConfig"];
    let output = &t["Outputs"]["DistributionDomain"];
    assert_eq!(output["Condition"].as_str(), Some("DistributionEnabled"));
    assert_eq!(output["Value"]["Fn::GetAtt"][0].as_str(), Some(name.as_str()));
    assert_eq!(output["Value"]["Fn::GetAtt"][1].as_str(), Some("DomainName"));

    // Two origins, both reached over HTTPS only: the PHP host and the HTTP API.
    let origins = config["Origins"].as_vec().unwrap();
    assert_eq!(origins.len(), 2);
    let origin_id = |is_it: &dyn Fn(&Yaml) -> bool| {
        let origin = origins
            .iter()
            .find(|o| is_it(&o["DomainName"]))
            .unwrap_or_else(|| panic!("{name}: origins {origins:?}"));
        assert_eq!(
            origin["CustomOriginConfig"]["OriginProtocolPolicy"].as_str(),
            Some("https-only"),
            "{origin:?}"
        );
        origin["Id"].as_str().unwrap().to_string()
    };
    let legacy = origin_id(&|d: &Yaml| d["Ref"].as_str() == Some("LegacyOriginDomain"));
    let api = origin_id(&|d: &Yaml| {
        d["Fn::Sub"].as_str() == Some("${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}")
    });

    let default = &config["DefaultCacheBehavior"];
    assert_eq!(default["TargetOriginId"].as_str(), Some(legacy.as_str()));
    assert_eq!(
        strings(&default["AllowedMethods"]),
        BTreeSet::from(["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"].map(String::from)),
        "the PHP host keeps its write endpoints"
    );
    assert_eq!(default["CachePolicyId"].as_str(), Some(CACHING_DISABLED));
    assert_eq!(default["OriginRequestPolicyId"].as_str(), Some(ALL_VIEWER));
    assert_eq!(
        default["ViewerProtocolPolicy"].as_str(),
        Some("redirect-to-https")
    );
    assert!(default["FunctionAssociations"].is_badvalue());

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
        assert_eq!(
            behavior["TargetOriginId"].as_str(),
            Some(api.as_str()),
            "{pattern}: only the API's paths have behaviors of their own"
        );
        assert_eq!(
            behavior["CachePolicyId"].as_str(),
            Some(CACHING_DISABLED),
            "{pattern}"
        );
        assert_eq!(
            behavior["OriginRequestPolicyId"].as_str(),
            Some(ALL_VIEWER_EXCEPT_HOST_HEADER),
            "{pattern}: query string and Authorization, not the viewer's Host"
        );
        let methods = strings(&behavior["AllowedMethods"]);
        assert!(
            methods.contains("GET")
                && methods
                    .iter()
                    .all(|m| ["GET", "HEAD", "OPTIONS"].contains(&m.as_str())),
            "{pattern}: {methods:?}"
        );
        assert_eq!(
            behavior["ViewerProtocolPolicy"].as_str(),
            Some("redirect-to-https"),
            "{pattern}"
        );
        let association = &behavior["FunctionAssociations"]["Fn::If"];
        assert_eq!(association[0].as_str(), Some("StripBasePath"), "{pattern}");
        assert_eq!(association[1].as_vec().map(Vec::len), Some(1), "{pattern}");
        assert_eq!(
            association[1][0]["EventType"].as_str(),
            Some("viewer-request"),
            "{pattern}"
        );
        assert_eq!(
            association[1][0]["FunctionARN"]["Fn::GetAtt"][0].as_str(),
            Some("StripBasePathFunction"),
            "{pattern}"
        );
        assert_eq!(
            association[1][0]["FunctionARN"]["Fn::GetAtt"][1].as_str(),
            Some("FunctionARN"),
            "{pattern}"
        );
        assert_eq!(association[2]["Ref"].as_str(), Some("AWS::NoValue"), "{pattern}");
    }
    assert_eq!(
        patterns, expected,
        "the distribution's API paths and the HTTP API's routes differ"
    );

    let function = resource(&t, "StripBasePathFunction");
    assert_eq!(function["Type"].as_str(), Some("AWS::CloudFront::Function"));
    assert_eq!(function["Condition"].as_str(), Some("StripBasePath"));
    let p = &function["Properties"];
    assert_eq!(
        p["AutoPublish"].as_bool(),
        Some(true),
        "attached only once published"
    );
    assert_eq!(p["FunctionConfig"]["Runtime"].as_str(), Some("cloudfront-js-2.0"));
    let code = p["FunctionCode"]["Fn::Sub"].as_str().unwrap();
    assert!(
        code.contains("'${LegacyBasePath}'") && code.contains("request.uri"),
        "{code}"
    );
}
