//! `openapi.yaml` as a checker: every answer of the handlers is validated against the
//! response schema the description gives for its route and status.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

use crate::apigw::{Reply, route};
use crate::workspace_root;

pub struct OpenApi {
    doc: Value,
    validators: HashMap<(String, u16), jsonschema::Validator>,
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(r) => Value::from(r.parse::<f64>().unwrap_or(f64::NAN)),
        Yaml::Boolean(b) => Value::Bool(*b),
        _ => Value::Null,
    }
}

impl OpenApi {
    pub fn get() -> &'static OpenApi {
        static API: OnceLock<OpenApi> = OnceLock::new();
        API.get_or_init(|| {
            let text = std::fs::read_to_string(workspace_root().join("openapi.yaml")).expect("openapi.yaml");
            let yaml = YamlLoader::load_from_str(&text)
                .expect("openapi.yaml is YAML")
                .remove(0);
            OpenApi {
                doc: to_json(&yaml),
                validators: HashMap::new(),
            }
            .with_validators()
        })
    }

    /// The six paths the description declares.
    pub fn paths(&self) -> Vec<String> {
        self.doc["paths"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
            Some(pointer) => self
                .doc
                .pointer(&format!("/{pointer}"))
                .expect("a resolvable $ref"),
            None => v,
        }
    }

    fn with_validators(mut self) -> OpenApi {
        let defs = self.doc["components"]["schemas"].clone();
        let mut validators = HashMap::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (status, response) in item["get"]["responses"].as_object().unwrap() {
                let response = self.resolve(response);
                let schema = &response["content"]["application/json"]["schema"];
                let mut schema = schema.as_object().cloned().unwrap_or_default();
                schema.insert("$defs".into(), defs.clone());
                let text = Value::Object(schema)
                    .to_string()
                    .replace("#/components/schemas/", "#/$defs/");
                let schema: Value = serde_json::from_str(&text).unwrap();
                let validator = jsonschema::draft202012::new(&schema)
                    .unwrap_or_else(|e| panic!("openapi.yaml {path} {status}: {e}"));
                validators.insert((path.clone(), status.parse().unwrap()), validator);
            }
        }
        self.validators = validators;
        self
    }

    /// Checks an answer to `GET path_and_query` against the description.
    pub fn check(&self, path_and_query: &str, reply: &Reply) -> Result<(), String> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let (route, _) = route(path).ok_or_else(|| format!("{path}: not a route of openapi.yaml"))?;
        let validator = self
            .validators
            .get(&(route.to_string(), reply.status))
            .ok_or_else(|| {
                format!(
                    "{path_and_query}: openapi.yaml declares no {} answer for {route}",
                    reply.status
                )
            })?;
        let errors: Vec<String> = validator
            .iter_errors(&reply.body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{path_and_query}: answer breaks openapi.yaml: {}",
                errors.join("; ")
            ))
        }
    }
}
