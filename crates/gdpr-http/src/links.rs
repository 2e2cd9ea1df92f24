//! OpenAPI links in the served document: what one call creates feeds the next (a subject to
//! its consents, limits, exports and erasure; a form to its consent form; a record to its
//! reading and deletion; a request to its completion). Clients and tools read them; the
//! stateful phase of the API fuzzing (`.ci/api-fuzz`) follows them, so that sequences of
//! calls, not only single calls, are fuzzed.
//!
//! The rule, over the document poem-openapi makes: a `POST` on a path `P` whose 2xx answer is
//! an object with an `id` links to every operation on `P/{x}` and below it, `x` taken from the
//! answer's `id` and every parameter of `P` itself from the request that created it; except
//! operations whose body names another resource by id (giving consent names a consent form),
//! which a link cannot fill.

use serde_json::{Map, Value, json};

/// The `$ref`'d schema's properties (one level of `$ref`).
fn has_id(doc: &Value, schema: &Value) -> bool {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/components/schemas/")
            .map_or(&Value::Null, |name| &doc["components"]["schemas"][name]),
        None => schema,
    };
    // An id the answer may lack (a register listing entries that have none) cannot feed a
    // link: it must be required, and not nullable.
    let required = schema["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|f| f == "id"));
    required
        && schema["properties"]
            .get("id")
            .is_some_and(|id| id.get("nullable") != Some(&Value::Bool(true)))
}

/// Whether an operation's request body names another resource by id (a property of format
/// `uuid`): a link cannot fill it, and the operation's 404 for that other resource would read
/// as the linked one missing.
fn body_refers(doc: &Value, operation: &Value) -> bool {
    operation["requestBody"]["content"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(_, media)| names_a_resource(doc, &media["schema"], 0))
}

/// Whether `schema` (its `$ref`, its `oneOf`/`anyOf`/`allOf` branches, its properties) has a
/// property of format `uuid`.
fn names_a_resource(doc: &Value, schema: &Value, depth: u8) -> bool {
    if depth > 8 {
        return false;
    }
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        return names_a_resource(doc, &doc["components"]["schemas"][name], depth + 1);
    }
    let branches = ["oneOf", "anyOf", "allOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(Value::as_array))
        .flatten();
    let properties = schema["properties"].as_object().into_iter().flatten();
    schema["format"] == "uuid"
        || branches
            .chain(properties.map(|(_, p)| p))
            .any(|s| names_a_resource(doc, s, depth + 1))
}

/// The names of a path's parameters (`/subjects/{id}/limits` → `["id"]`).
fn params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// An operation's name for a link: `GET /subjects/{id}/consents` → `GetSubjectsIdConsents`.
fn link_name(method: &str, path: &str) -> String {
    let mut name = String::new();
    let mut upper = true;
    for c in method.chars().chain(path.chars()) {
        if c.is_ascii_alphanumeric() {
            if upper {
                name.push(c.to_ascii_uppercase());
            } else {
                name.push(c.to_ascii_lowercase());
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    name
}

/// Adds the links to `doc` (the document as poem-openapi serves it).
pub(crate) fn add_links(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object() else {
        return;
    };
    let mut added: Vec<(String, String, Map<String, Value>)> = Vec::new();
    for (path, item) in paths {
        let Some(post) = item.get("post") else {
            continue;
        };
        let Some((status, answer)) = post["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .find(|(status, _)| status.starts_with('2'))
        else {
            continue;
        };
        let creates = answer["content"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, media)| has_id(doc, &media["schema"]));
        if !creates {
            continue;
        }
        let mut links = Map::new();
        for (target, target_item) in paths {
            let Some(rest) = target.strip_prefix(path.as_str()) else {
                continue;
            };
            let Some(param) = rest
                .strip_prefix("/{")
                .and_then(|r| r.split('}').next())
                .filter(|p| !p.is_empty())
            else {
                continue;
            };
            // Every parameter of the target must come from the link: a path deeper down
            // (`/subjects/{id}/limits/{limit_id}`) is linked from what creates its last id.
            let known = params(path).len() + 1;
            if params(target).len() != known {
                continue;
            }
            for (method, operation) in target_item.as_object().into_iter().flatten() {
                if body_refers(doc, operation) {
                    continue;
                }
                let mut parameters = Map::new();
                for inherited in params(path) {
                    parameters.insert(
                        inherited.to_owned(),
                        json!(format!("$request.path.{inherited}")),
                    );
                }
                parameters.insert(param.to_owned(), json!("$response.body#/id"));
                let pointer = target.replace('~', "~0").replace('/', "~1");
                links.insert(
                    link_name(method, target),
                    json!({
                        "operationRef": format!("#/paths/{pointer}/{method}"),
                        "parameters": parameters,
                    }),
                );
            }
        }
        if !links.is_empty() {
            added.push((path.clone(), status.clone(), links));
        }
    }
    for (path, status, links) in added {
        doc["paths"][&path]["post"]["responses"][&status]["links"] = Value::Object(links);
    }
}

#[cfg(test)]
mod tests {
    use super::{add_links, link_name};
    use serde_json::json;

    #[test]
    fn a_creating_post_links_to_what_is_under_the_id_it_answers_with() {
        let mut doc = json!({
            "paths": {
                "/subjects": {"post": {"responses": {"201": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/SubjectOut"}}}}}}},
                "/subjects/{id}": {"get": {}, "delete": {}},
                "/subjects/{id}/limits": {"post": {"responses": {"201": {"content": {"application/json": {
                    "schema": {"type": "object", "required": ["id"], "properties": {"id": {}}}}}}}}},
                "/subjects/{id}/limits/{limit_id}": {"delete": {}},
                // An id the answer may lack feeds no link.
                "/registers": {"post": {"responses": {"201": {"content": {"application/json": {
                    "schema": {"type": "object", "properties": {"id": {"nullable": true}}}}}}}}},
                "/registers/{id}": {"get": {}},
                "/subjects/lookup": {"post": {"responses": {"200": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/SubjectOut"}}}}}}},
            },
            "components": {"schemas": {"SubjectOut": {"required": ["id"], "properties": {"id": {}}}}},
        });
        add_links(&mut doc);
        assert!(doc["paths"]["/registers"]["post"]["responses"]["201"]["links"].is_null());
        let links = &doc["paths"]["/subjects"]["post"]["responses"]["201"]["links"];
        assert_eq!(
            links["GetSubjectsId"],
            json!({"operationRef": "#/paths/~1subjects~1{id}/get", "parameters": {"id": "$response.body#/id"}})
        );
        assert!(links["DeleteSubjectsId"].is_object());
        assert!(links["PostSubjectsIdLimits"].is_object());
        assert!(
            links.get("DeleteSubjectsIdLimitsLimitId").is_none(),
            "its limit_id comes from the limit's creation"
        );
        assert!(links.get("PostSubjectsLookup").is_none(), "not under an id");
        let limit = &doc["paths"]["/subjects/{id}/limits"]["post"]["responses"]["201"]["links"];
        assert_eq!(
            limit["DeleteSubjectsIdLimitsLimitId"]["parameters"],
            json!({"id": "$request.path.id", "limit_id": "$response.body#/id"})
        );
        assert_eq!(link_name("get", "/a/{b}/c-d"), "GetABCD");
    }
}
