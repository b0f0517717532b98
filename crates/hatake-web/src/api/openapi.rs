//! The OpenAPI 3.1 document of `/api/v1`, built from the same route table the router uses
//! for its paths; a test checks that every API route is documented and nothing else is.

use crate::{route_table, Access};
use axum::Json;
use serde_json::{json, Map, Value};

pub async fn document() -> Json<Value> {
    Json(build())
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "status", "message", "message_ja", "fields"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code, e.g. validation_failed, not_found, conflict, unauthorized, forbidden, malformed_json, invalid_field, payload_too_large, unsupported_media_type, invalid_cursor, invalid_parameter, missing_reference, internal."},
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "message_ja": {"type": "string"},
                "fields": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "code": {"type": "string"},
                    "message_ja": {"type": "string"}, "message_en": {"type": "string"}}}}
            }
        }}
    })
}

fn schemas() -> Value {
    let text = json!({"type": ["string", "null"]});
    let int = json!({"type": ["integer", "null"]});
    let kinds: Vec<&str> = hatake_domain::EventKind::ALL.iter().map(|k| k.as_str()).collect();
    json!({
        "Error": error_schema(),
        "EventInput": {"type": "object", "additionalProperties": false, "required": ["kind"], "properties": {
            "kind": {"type": "string", "enum": kinds},
            "lead_id": {"type": ["integer", "null"], "description": "Whose event: lead_id, email (a stored lead's address) or visitor_id (web tracking's anonymous id)"},
            "email": text, "visitor_id": {"type": ["string", "null"], "description": "Up to 64 letters, digits, - or _"},
            "product_id": int,
            "occurred_at": {"type": ["string", "null"], "description": "RFC 3339; the time received when missing; at most a day ahead"},
            "source": text, "name": {"type": ["string", "null"], "description": "What happened; required for kind custom"},
            "properties": {"type": ["object", "null"], "description": "URL, referrer, UTM parameters, campaign … (at most 16 KiB of JSON)"},
            "idempotency_key": {"type": ["string", "null"], "description": "An event sent again with a key already taken is not stored again (status duplicate)"}}},
        "EventReport": {"type": "object", "properties": {
            "created": {"type": "integer"}, "duplicates": {"type": "integer"}, "rejected": {"type": "integer"},
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "index": {"type": "integer"}, "status": {"type": "string", "enum": ["created", "duplicate", "rejected"]},
                "id": {"type": "integer"}, "errors": {"type": "array", "items": {"type": "object"}}}}}}},
        "AccountInput": {"type": "object", "additionalProperties": false, "properties": {
            "name": text, "corporate_number": {"type": ["string", "null"], "description": "13 digits with a valid check digit"},
            "domains": {"type": ["array", "null"], "items": {"type": "string"}}, "industry": text,
            "employee_count": int, "annual_revenue": int, "prefecture": text, "address": text,
            "abm_tier": {"type": ["string", "null"], "enum": ["tier1", "tier2", "tier3", null]}, "owner_id": int}},
        "Account": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "name_normalized": {"type": "string"},
            "corporate_number": text, "domains": {"type": "array", "items": {"type": "string"}}, "industry": text,
            "employee_count": int, "annual_revenue": int, "prefecture": text, "address": text, "abm_tier": text,
            "owner_id": int, "lead_count": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
        "LeadInput": {"type": "object", "additionalProperties": false, "properties": {
            "account_id": int, "company_name": text, "family_name": text, "given_name": text,
            "family_name_kana": text, "given_name_kana": text, "email": text, "phone": text, "department": text,
            "title": text, "prefecture": text, "address": text,
            "source": {"type": ["string", "null"], "description": "Where the record came from (展示会, セミナー, a form…); POST /api/v1/leads/resolve also keeps it with the record's history"},
            "owner_id": int,
            "product_ids": {"type": ["array", "null"], "items": {"type": "integer"}},
            "custom": {"type": ["object", "null"], "description": "Values keyed by custom field key"}}},
        "Lead": {"type": "object", "properties": {
            "id": {"type": "integer"}, "account_id": int, "account_name": text, "company_name": text,
            "family_name": text, "given_name": text, "family_name_kana": text, "given_name_kana": text,
            "email": text, "phone": text, "department": text, "title": text, "prefecture": text, "address": text,
            "department_class": {"type": ["string", "null"], "description": "Class key from the department dictionary"},
            "source": text, "owner_id": int, "product_ids": {"type": "array", "items": {"type": "integer"}},
            "custom": {"type": "object"}, "kind": {"type": "string", "enum": ["lead", "list"]},
            "missing_fields": {"type": "array", "items": {"type": "string"}},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
        "ProductInput": {"type": "object", "additionalProperties": false, "properties": {
            "code": text, "name": text, "description": text, "active": {"type": ["boolean", "null"]}}},
        "Product": {"type": "object", "properties": {
            "id": {"type": "integer"}, "code": {"type": "string"}, "name": {"type": "string"}, "description": text,
            "active": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
        "Resolution": {"type": "object", "required": ["outcome", "lead", "reviews"], "properties": {
            "outcome": {"type": "string", "enum": ["created", "merged", "unchanged", "review"], "description": RESOLUTION_OUTCOMES},
            "lead": {"$ref": "#/components/schemas/Lead"},
            "reviews": {"type": "array", "description": "Open review questions about the lead (name-matching 名寄せ, or which company it works for).", "items": {
                "type": "object", "properties": {
                    "id": {"type": "integer", "description": "The question's id (answered in the review queue, /reviews)"},
                    "kind": {"type": "string", "enum": ["lead", "account"]},
                    "candidate_id": {"type": "integer", "description": "The other lead (kind lead) or the company (kind account)"},
                    "score": {"type": "number"}}}}}},
        "Me": {"type": "object", "properties": {
            "id": {"type": "integer"}, "email": {"type": "string"}, "display_name": {"type": "string"}, "role": {"type": "string"}}}
    })
}

/// The resource a path is about and whether it names one record.
fn resource(path: &str) -> (&'static str, bool) {
    let one = path.ends_with("{id}");
    let name = if path.contains("/accounts") {
        "Account"
    } else if path.contains("/leads") {
        "Lead"
    } else if path.contains("/products") {
        "Product"
    } else {
        "Me"
    };
    (name, one)
}

/// What each outcome of `POST /api/v1/leads/resolve` means.
const RESOLUTION_OUTCOMES: &str = "created: a new person, stored as a new lead (201). merged: the same person as a stored lead; the record's values were taken into it (200). unchanged: the same person and nothing new, e.g. the very same body sent again (200). review: stored as a new lead (201), but it may be the same person as other leads; the questions are listed in reviews and wait in the review queue.";

/// `POST /api/v1/leads/resolve`: a lead write through name-matching.
fn resolve_operation() -> Value {
    let mut responses = Map::new();
    let resolution = json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Resolution"}}}});
    for (status, description) in [
        ("200", "The record was the same person as a stored lead: outcome merged or unchanged"),
        ("201", "A new lead was stored: outcome created or review"),
    ] {
        let mut response = resolution.clone();
        response["description"] = json!(description);
        responses.insert(status.into(), response);
    }
    for (status, text) in [
        ("400", "Malformed JSON"),
        ("401", "No valid API token"),
        ("409", "A unique value is taken"),
        ("413", "Body too large"),
        ("415", "Not JSON"),
        ("422", "Validation failed (nothing was stored)"),
    ] {
        responses.insert(status.into(), error_response(text));
    }
    json!({
        "operationId": "post_api_v1_leads_resolve",
        "tags": ["Lead"],
        "summary": "Create or update a lead through name-matching (名寄せ)",
        "description": format!("Takes a lead like POST /api/v1/leads, but first looks for the same person among the stored leads, as an import does: by e-mail address, else by name, reading, company and phone. `source` names where the record came from; sending the same body twice changes nothing the second time. Outcomes: {RESOLUTION_OUTCOMES}"),
        "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LeadInput"}}}},
        "responses": responses,
    })
}

/// `POST /api/v1/events`: a batch of behaviour events.
fn events_operation() -> Value {
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "The batch was read: each event's fate by its index (created, duplicate or rejected with field errors); the created ones are committed",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventReport"}}}}),
    );
    for (status, text) in [
        ("400", "Malformed JSON (the whole body)"),
        ("401", "No valid API token"),
        ("413", "Body over 16 MiB or more than 10,000 events"),
        ("415", "Neither JSON nor NDJSON"),
    ] {
        responses.insert(status.into(), error_response(text));
    }
    let array = json!({"schema": {"type": "array", "items": {"$ref": "#/components/schemas/EventInput"}}});
    let ndjson = json!({"schema": {"type": "string", "description": "One EventInput object per line"}});
    json!({
        "operationId": "post_api_v1_events",
        "tags": ["Event"],
        "summary": "Append behaviour events (a JSON array or NDJSON)",
        "description": "Up to 10,000 events per request. Each is checked on its own; a bad one is answered with its index and field errors and does not stop the others. The stored events are committed before the response.",
        "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": array, "application/x-ndjson": ndjson}},
        "responses": responses,
    })
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn operation(method: &str, path: &str) -> Value {
    let (name, one) = resource(path);
    let schema = json!({"$ref": format!("#/components/schemas/{name}")});
    let mut responses = Map::new();
    responses.insert("401".into(), error_response("No valid API token"));
    let mut parameters = Vec::new();
    if one {
        parameters.push(json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}));
        responses.insert("404".into(), error_response("No such record"));
    }
    let mut op = Map::new();
    match method {
        "GET" if one || name == "Me" => {
            responses.insert(
                "200".into(),
                json!({"description": "The record", "content": {"application/json": {"schema": schema}}}),
            );
        }
        "GET" => {
            for (param, kind) in [("limit", "integer"), ("cursor", "string")] {
                parameters.push(json!({"name": param, "in": "query", "schema": {"type": kind}}));
            }
            if name != "Product" {
                parameters.push(json!({"name": "q", "in": "query", "schema": {"type": "string"}}));
                parameters.push(json!({"name": "prefecture", "in": "query", "schema": {"type": "string"}}));
            }
            if name == "Lead" {
                for param in ["product_id", "owner_id", "account_id"] {
                    parameters.push(json!({"name": param, "in": "query", "schema": {"type": "integer"}}));
                }
                parameters.push(json!({"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["lead", "list", "all"]}}));
                parameters.push(json!({"name": "department_class", "in": "query", "schema": {"type": "string"}}));
                parameters.push(json!({"name": "sort", "in": "query", "description": "updated, created, name, or score:{product id} (highest engagement first; leads scored for that product only)", "schema": {"type": "string", "pattern": "^(updated|created|name|score:[0-9]+)$"}}));
            }
            responses.insert(
                "200".into(),
                json!({"description": "A page", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"data": {"type": "array", "items": schema},
                "next_cursor": {"type": ["string", "null"]}, "prev_cursor": {"type": ["string", "null"]}}}}}}),
            );
            responses.insert("400".into(), error_response("Bad cursor or parameter"));
        }
        "POST" | "PATCH" => {
            let input = json!({"$ref": format!("#/components/schemas/{name}Input")});
            let description = if method == "PATCH" {
                "JSON Merge Patch (RFC 7396): absent keeps, null clears"
            } else {
                "The new record"
            };
            op.insert("requestBody".into(), json!({"required": true, "description": description, "content": {"application/json": {"schema": input}}}));
            let ok = if method == "POST" { "201" } else { "200" };
            responses.insert(
                ok.into(),
                json!({"description": "Stored", "content": {"application/json": {"schema": schema}}}),
            );
            for (status, text) in [
                ("400", "Malformed JSON"),
                ("409", "A unique value is taken"),
                ("413", "Body too large"),
                ("415", "Not JSON"),
                ("422", "Validation failed"),
            ] {
                responses.insert(status.into(), error_response(text));
            }
            responses.insert("403".into(), error_response("The token's role may not do this"));
        }
        "DELETE" => {
            responses.insert("204".into(), json!({"description": "Deleted"}));
            responses.insert("403".into(), error_response("The token's role may not do this"));
        }
        _ => {}
    }
    op.insert("operationId".into(), json!(format!("{}{}", method.to_lowercase(), path.replace(['/', '{', '}'], "_"))));
    op.insert("tags".into(), json!([name]));
    op.insert("security".into(), json!([{"bearer": []}]));
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    op.insert("responses".into(), Value::Object(responses));
    Value::Object(op)
}

/// The document: every `Access::Api` route of the route table.
pub fn build() -> Value {
    let mut paths = Map::new();
    for spec in route_table().into_iter().filter(|s| s.access == Access::Api) {
        let entry = paths.entry(spec.path.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            let op = if spec.path.ends_with("/resolve") {
                resolve_operation()
            } else if spec.path == "/api/v1/events" {
                events_operation()
            } else if let Some(op) = super::subscriptions::operation(spec.method, spec.path) {
                op
            } else if let Some(op) = super::process::operation(spec.method, spec.path) {
                op
            } else {
                operation(spec.method, spec.path)
            };
            methods.insert(spec.method.to_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "hatake API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Accounts, leads and products of a hatake demand center. Authenticate with an API token created by an admin: `Authorization: Bearer hk_…`. Lists use cursor pagination: pass `next_cursor` back as `cursor`."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_is_documented_and_nothing_else() {
        let doc = build();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, methods) in doc["paths"].as_object().unwrap() {
            for method in methods.as_object().unwrap().keys() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        documented.sort();
        let mut routed: Vec<(String, String)> = route_table()
            .into_iter()
            .filter(|s| s.path.starts_with("/api/v1/") && s.access != Access::Public)
            .map(|s| (s.method.to_owned(), s.path.to_owned()))
            .collect();
        routed.sort();
        assert_eq!(documented, routed);
        assert!(documented.len() >= 16, "{documented:?}");
        // Every reference resolves.
        let text = doc.to_string();
        for name in
            ["Account", "Lead", "Product", "AccountInput", "LeadInput", "ProductInput", "Error", "Me", "Resolution"]
        {
            assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
        }
        assert!(!text.contains("#/components/schemas/MeInput"));
    }
}
