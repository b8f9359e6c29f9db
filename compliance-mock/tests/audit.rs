//! OpenAI organisation audit logs: newest first, after/before cursors,
//! first_id/last_id, bracketed filters, admin-key auth.

use crate::common::*;
use serde_json::Value;

fn all(m: &Mock, filters: &str, limit: usize) -> Vec<Value> {
    let mut out = vec![];
    let mut q = format!("limit={limit}&{filters}");
    loop {
        let r = m.audit(&q);
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        let p = r.json();
        assert_eq!(p["object"], "list");
        let data = p["data"].as_array().unwrap();
        assert_eq!(
            p["first_id"],
            data.first().map(|e| e["id"].clone()).unwrap_or(Value::Null)
        );
        assert_eq!(
            p["last_id"],
            data.last().map(|e| e["id"].clone()).unwrap_or(Value::Null)
        );
        out.extend(data.iter().cloned());
        if p["has_more"] == false {
            return out;
        }
        q = format!(
            "limit={limit}&{filters}&after={}",
            p["last_id"].as_str().unwrap()
        );
    }
}

#[test]
fn pages_are_newest_first_and_cover_the_truth() {
    let m = Mock::small(&[]);
    let truth = m.truth("audit_logs");
    assert!(truth.len() > 20);
    let got = all(&m, "", 7);
    assert_eq!(got, truth);
    let times: Vec<i64> = got
        .iter()
        .map(|e| e["effective_at"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "not newest first");
    for e in &got {
        let ty = e["type"].as_str().unwrap();
        assert!(e[ty].is_object(), "no {ty} detail property in {e}");
        assert!(e["id"].as_str().unwrap().starts_with("audit_log-"));
    }
    // `before` walks back towards newer entries.
    let third = got[10]["id"].as_str().unwrap();
    let p = m.audit(&format!("limit=3&before={third}")).json();
    assert_eq!(
        ids(p["data"].as_array().unwrap(), "id"),
        ids(&got[7..10], "id")
    );
    assert_eq!(p["has_more"], true);
}

#[test]
fn bracketed_filters_select_entries() {
    let m = Mock::small(&[]);
    let truth = m.truth("audit_logs");
    let t_mid = truth[truth.len() / 2]["effective_at"].as_i64().unwrap();
    let t_hi = truth[truth.len() / 4]["effective_at"].as_i64().unwrap();
    let got = all(
        &m,
        &format!("effective_at[gte]={t_mid}&effective_at[lt]={t_hi}"),
        5,
    );
    let want: Vec<&Value> = truth
        .iter()
        .filter(|e| (t_mid..t_hi).contains(&e["effective_at"].as_i64().unwrap()))
        .collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), want);

    let got = all(
        &m,
        "event_types[]=login.succeeded&event_types[]=login.failed",
        100,
    );
    assert!(!got.is_empty());
    assert_eq!(
        got.len(),
        truth
            .iter()
            .filter(|e| e["type"].as_str().unwrap().starts_with("login."))
            .count()
    );

    let with_project = truth
        .iter()
        .find(|e| e["project"]["id"].is_string())
        .unwrap();
    let pid = with_project["project"]["id"].as_str().unwrap();
    let got = all(&m, &format!("project_ids[]={pid}"), 100);
    assert!(got.iter().all(|e| e["project"]["id"] == pid) && !got.is_empty());

    let session = truth
        .iter()
        .find(|e| e["actor"]["type"] == "session")
        .unwrap();
    let (uid, email) = (
        session["actor"]["session"]["user"]["id"].as_str().unwrap(),
        session["actor"]["session"]["user"]["email"]
            .as_str()
            .unwrap(),
    );
    assert!(all(&m, &format!("actor_ids[]={uid}"), 100)
        .iter()
        .any(|e| e["id"] == session["id"]));
    let enc = email.replace('@', "%40");
    assert!(all(&m, &format!("actor_emails[]={enc}"), 100)
        .iter()
        .any(|e| e["id"] == session["id"]));
    let with_resource = truth
        .iter()
        .find(|e| e[e["type"].as_str().unwrap()]["id"].is_string())
        .unwrap();
    let rid = with_resource[with_resource["type"].as_str().unwrap()]["id"]
        .as_str()
        .unwrap();
    assert_eq!(
        all(&m, &format!("resource_ids[]={rid}"), 100)[0]["id"],
        with_resource["id"]
    );
    // Percent-encoded brackets are the same keys.
    assert_eq!(
        all(&m, "event_types%5B%5D=login.failed", 100),
        all(&m, "event_types[]=login.failed", 100)
    );
}

#[test]
fn bad_parameters_and_keys() {
    let m = Mock::small(&[]);
    for bad in [
        "limit=101",
        "limit=0",
        "event_types=login.failed",
        "effective_at=5",
        "gte=5",
        "effective_at[gte]=soon",
        "after=audit_log-nope",
    ] {
        let r = m.audit(bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.json()["error"]["type"], "invalid_request_error", "{bad}");
    }
    let r = m.get("/v1/organization/audit_logs", Some(KEY));
    assert_eq!(r.status, 403, "the compliance key is not an admin key");
    let r = m.get("/v1/organization/audit_logs", None);
    assert_eq!(r.status, 401);
    let r = m.get("/v1/organization/audit_logs", Some("sk-admin-wrong"));
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    assert_eq!(
        m.audit("").json()["data"].as_array().unwrap().len(),
        20,
        "default limit"
    );
}
