//! Tenant isolation as a property: thousands of random operations of three tenants,
//! interleaved through the HTTP API, each aimed at the caller's own data or at another
//! tenant's. Whatever the order, a tenant sees, changes and erases only its own: another's ids
//! answer 404 and change nothing, and at the end every tenant's data is exactly what its own
//! successful operations left.
//!
//! The sequence comes from a seed (printed, and `GDPR_TEST_ISOLATION_SEED` replays one);
//! `GDPR_TEST_ISOLATION_OPS` runs longer than the 10,000 operations of CI.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// A small deterministic generator (xorshift64*): the run is replayable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

#[derive(Default)]
struct Model {
    key: String,
    form: String,
    consent_form: String,
    /// Subject id → (e-mail, full name), for the living.
    subjects: BTreeMap<String, (String, String)>,
    /// Erased subjects' ids.
    erased: BTreeSet<String>,
    /// Record id → subject id, for records still there.
    records: BTreeMap<String, String>,
    /// Deleted records' ids (alone or with their subject).
    deleted: BTreeSet<String>,
}

/// Any id a tenant has ever had: living, erased or deleted.
fn any_id<'a>(rng: &mut Rng, ids: impl Iterator<Item = &'a String>) -> Option<String> {
    let ids: Vec<&String> = ids.collect();
    (!ids.is_empty()).then(|| ids[rng.below(ids.len())].clone())
}

async fn all_items(app: &TestApp, path: &str, key: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for offset in (0..).step_by(100) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page = app
            .get(&format!("{path}{sep}offset={offset}&limit=100"), key)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.body["items"].as_array().unwrap();
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        if items.len() < 100 {
            break;
        }
    }
    ids
}

#[tokio::test]
async fn no_tenant_ever_sees_changes_or_erases_another_tenants_data() {
    let ops: usize = std::env::var("GDPR_TEST_ISOLATION_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let seed: u64 = std::env::var("GDPR_TEST_ISOLATION_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("isolation: {ops} operations, GDPR_TEST_ISOLATION_SEED={seed}");
    let mut rng = Rng(seed);
    let app = spawn_app().await;
    let mut tenants: Vec<Model> = Vec::new();
    for name in ["Alpha SAS", "Beta GmbH", "Gamma BV"] {
        let (_, key) = app.tenant(name).await;
        let (form, consent_form) = app.contractors(&key).await;
        tenants.push(Model {
            key,
            form,
            consent_form,
            ..Model::default()
        });
    }
    let mut counter = 0u64;
    let mut refused = 0u64;
    for op in 0..ops {
        let me = rng.below(3);
        let kind = rng.below(9);
        // Half the aimed operations target another tenant's data (creations are one's own).
        let target = if kind < 2 || rng.below(2) == 0 {
            me
        } else {
            (me + 1 + rng.below(2)) % 3
        };
        let own = target == me;
        let key = tenants[me].key.clone();
        let context = format!("op {op} (seed {seed}): tenant {me} on tenant {target}'s data");
        match kind {
            // Create a subject who consents (always the caller's own).
            0 | 1 => {
                counter += 1;
                let email = format!("p{counter}@t{me}.example.org");
                let s = app
                    .post(
                        "/v1/subjects",
                        &key,
                        json!({"email": email, "full_name": format!("Person {counter}")}),
                    )
                    .await;
                assert_eq!(s.status, StatusCode::CREATED, "{context}: {}", s.text);
                let id = s.body["id"].as_str().unwrap().to_owned();
                app.consent(&key, &id, &tenants[me].consent_form).await;
                tenants[me]
                    .subjects
                    .insert(id, (email, format!("Person {counter}")));
            }
            // Read a subject.
            2 => {
                let t = &tenants[target];
                let Some(id) = any_id(&mut rng, t.subjects.keys().chain(&t.erased)) else {
                    continue;
                };
                let r = app.get(&format!("/v1/subjects/{id}"), &key).await;
                match t.subjects.get(&id).filter(|_| own) {
                    Some((email, name)) => {
                        assert_eq!(r.status, StatusCode::OK, "{context}: {}", r.text);
                        assert_eq!(r.body["email"], email.as_str(), "{context}");
                        assert_eq!(r.body["full_name"], name.as_str(), "{context}");
                    }
                    None => assert_eq!(r.status, StatusCode::NOT_FOUND, "{context}: {}", r.text),
                }
            }
            // Rectify a subject's name.
            3 => {
                let t = &tenants[target];
                let Some(id) = any_id(&mut rng, t.subjects.keys().chain(&t.erased)) else {
                    continue;
                };
                counter += 1;
                let name = format!("Renamed {counter}");
                let r = app
                    .send(
                        Method::PATCH,
                        &format!("/v1/subjects/{id}"),
                        Some(&key),
                        Some(&json!({"full_name": name})),
                    )
                    .await;
                if own && t.subjects.contains_key(&id) {
                    assert_eq!(r.status, StatusCode::OK, "{context}: {}", r.text);
                    tenants[target].subjects.get_mut(&id).unwrap().1 = name;
                } else {
                    assert_eq!(r.status, StatusCode::NOT_FOUND, "{context}: {}", r.text);
                }
            }
            // Submit a record about a subject, into the caller's own form.
            4 => {
                let t = &tenants[target];
                let Some(id) = any_id(&mut rng, t.subjects.keys().chain(&t.erased)) else {
                    continue;
                };
                let r = app
                    .post(
                        "/v1/records",
                        &key,
                        json!({"form": tenants[me].form, "subject": id,
                               "values": {"email": format!("r{op}@example.org"), "day_rate": 400}}),
                    )
                    .await;
                if own && t.subjects.contains_key(&id) {
                    assert_eq!(r.status, StatusCode::CREATED, "{context}: {}", r.text);
                    let record = r.body["id"].as_str().unwrap().to_owned();
                    tenants[me].records.insert(record, id);
                } else {
                    assert_eq!(r.status, StatusCode::NOT_FOUND, "{context}: {}", r.text);
                }
            }
            // Read a record, or submit one into another tenant's form.
            5 => {
                let t = &tenants[target];
                if rng.below(4) == 0 && !own {
                    let Some(mine) = any_id(&mut rng, tenants[me].subjects.keys()) else {
                        continue;
                    };
                    let r = app
                        .post(
                            "/v1/records",
                            &key,
                            json!({"form": t.form, "subject": mine,
                                   "values": {"email": "x@example.org"}}),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::NOT_FOUND, "{context}: {}", r.text);
                    continue;
                }
                let Some(id) = any_id(&mut rng, t.records.keys().chain(&t.deleted)) else {
                    continue;
                };
                let r = app.get(&format!("/v1/records/{id}"), &key).await;
                match t.records.get(&id).filter(|_| own) {
                    Some(subject) => {
                        assert_eq!(r.status, StatusCode::OK, "{context}: {}", r.text);
                        assert_eq!(r.body["subject"], subject.as_str(), "{context}");
                    }
                    None => assert_eq!(r.status, StatusCode::NOT_FOUND, "{context}: {}", r.text),
                }
            }
            // Delete a record.
            6 => {
                let t = &tenants[target];
                let Some(id) = any_id(&mut rng, t.records.keys().chain(&t.deleted)) else {
                    continue;
                };
                let r = app
                    .send(
                        Method::DELETE,
                        &format!("/v1/records/{id}"),
                        Some(&key),
                        None,
                    )
                    .await;
                if own && t.records.contains_key(&id) {
                    assert_eq!(r.status, StatusCode::NO_CONTENT, "{context}: {}", r.text);
                    tenants[me].records.remove(&id);
                    tenants[me].deleted.insert(id);
                } else {
                    assert_eq!(r.status, StatusCode::NOT_FOUND, "{context}: {}", r.text);
                }
            }
            // Erase a subject (rarely: it ends a subject's life).
            7 => {
                if rng.below(4) != 0 {
                    continue;
                }
                let t = &tenants[target];
                let Some(id) = any_id(&mut rng, t.subjects.keys().chain(&t.erased)) else {
                    continue;
                };
                let r = app
                    .send(
                        Method::DELETE,
                        &format!("/v1/subjects/{id}"),
                        Some(&key),
                        None,
                    )
                    .await;
                if own && t.subjects.contains_key(&id) {
                    assert_eq!(r.status, StatusCode::OK, "{context}: {}", r.text);
                    let t = &mut tenants[me];
                    t.subjects.remove(&id);
                    t.erased.insert(id.clone());
                    let gone: Vec<String> = t
                        .records
                        .iter()
                        .filter(|(_, s)| **s == id)
                        .map(|(r, _)| r.clone())
                        .collect();
                    for record in gone {
                        t.records.remove(&record);
                        t.deleted.insert(record);
                    }
                } else {
                    assert_eq!(r.status, StatusCode::NOT_FOUND, "{context}: {}", r.text);
                }
            }
            // Look a subject up by e-mail, or check their consent.
            _ => {
                let t = &tenants[target];
                let Some(id) = any_id(&mut rng, t.subjects.keys()) else {
                    continue;
                };
                let r = if rng.below(2) == 0 {
                    let email = t.subjects[&id].0.clone();
                    app.post("/v1/subjects/lookup", &key, json!({"email": email}))
                        .await
                } else {
                    app.get(
                        &format!("/v1/subjects/{id}/consent-check?purpose=contractors"),
                        &key,
                    )
                    .await
                };
                if own {
                    assert_eq!(r.status, StatusCode::OK, "{context}: {}", r.text);
                } else {
                    assert_eq!(r.status, StatusCode::NOT_FOUND, "{context}: {}", r.text);
                }
            }
        }
        if !own {
            refused += 1;
        }
    }
    // Every tenant holds exactly what its own operations left, nothing of the others'.
    for (i, t) in tenants.iter().enumerate() {
        let subjects = all_items(&app, "/v1/subjects", &t.key).await;
        assert_eq!(
            subjects,
            t.subjects.keys().cloned().collect(),
            "tenant {i} (seed {seed})"
        );
        let records = all_items(&app, "/v1/records", &t.key).await;
        assert_eq!(
            records,
            t.records.keys().cloned().collect(),
            "tenant {i} (seed {seed})"
        );
        let audit = app.get("/v1/audit/verify", &t.key).await;
        assert_eq!(audit.status, StatusCode::OK, "{}", audit.text);
        assert_eq!(audit.body["valid"], true, "tenant {i}: {}", audit.text);
    }
    assert!(
        refused > 1_000 || ops < 5_000,
        "too few cross-tenant attempts: {refused}"
    );
    app.stop().await;
}
