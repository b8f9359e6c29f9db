//! The legacy stateful endpoints: pagination invariants, filters, nested
//! message paging, re-sent updates and parameter errors.

use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Complete a conversation whose nested messages are paged.
fn complete(m: &Mock, conv: &Value) -> Value {
    let mut conv = conv.clone();
    let id = conv["id"].as_str().unwrap().to_string();
    while conv["messages"]["has_more"] == true {
        let after = conv["messages"]["last_id"].as_str().unwrap().to_string();
        let r = m.ws(&format!(
            "conversations/{id}/messages?after={after}&limit=7"
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        let data = conv["messages"]["data"].as_array_mut().unwrap();
        data.extend(page["data"].as_array().unwrap().iter().cloned());
        conv["messages"]["has_more"] = page["has_more"].clone();
        conv["messages"]["last_id"] = page["last_id"].clone();
    }
    conv
}

#[test]
fn conversation_pages_cover_the_truth_exactly_once() {
    let m = Mock::small(&["--short-pages", "50"]);
    let truth = m.truth("conversations");
    assert!(truth.len() > 20, "too little data: {}", truth.len());
    let pages = m.list_pages("", "", 6);
    let mut seen = Vec::new();
    let mut short_with_more = 0;
    let mut nested_paged = 0;
    for p in &pages {
        let data = p["data"].as_array().unwrap();
        assert_eq!(p["object"], "list");
        assert!(p.get("first_id").is_none(), "legacy lists have no first_id");
        if p["has_more"] == true {
            assert!(!data.is_empty(), "an empty page that says has_more");
            assert_eq!(p["last_id"], data.last().unwrap()["id"]);
            if data.len() < 6 {
                short_with_more += 1;
            }
        }
        for c in data {
            assert_eq!(c["object"], "compliance.workspace.conversation");
            if c["messages"]["has_more"] == true {
                assert_eq!(c["messages"]["data"].as_array().unwrap().len(), 32);
                nested_paged += 1;
            }
            seen.push(complete(&m, c));
        }
    }
    assert_eq!(pages.last().unwrap()["has_more"], false);
    assert!(
        short_with_more > 0,
        "no short page with has_more true in {} pages",
        pages.len()
    );
    assert!(
        nested_paged > 0,
        "no conversation needed its messages paged"
    );
    assert_eq!(
        ids(&seen, "id"),
        ids(&truth, "id"),
        "listing order or membership differs from the truth"
    );
    assert_eq!(seen, truth, "a completed record differs from the truth");
    // The truth's records are complete.
    for c in &truth {
        let msgs = c["messages"]["data"].as_array().unwrap();
        assert_eq!(c["messages"]["has_more"], false);
        assert_eq!(
            c["messages"]["last_id"],
            msgs.last().map(|x| x["id"].clone()).unwrap_or(Value::Null)
        );
    }
}

#[test]
fn since_timestamp_filters_the_first_page_and_is_ignored_with_after() {
    let m = Mock::small(&["--short-pages", "0"]);
    let truth = m.truth("conversations");
    let mid = truth[truth.len() / 2]["last_active_at"]
        .as_f64()
        .unwrap()
        .floor() as i64;
    let expected: Vec<String> = truth
        .iter()
        .filter(|c| c["last_active_at"].as_f64().unwrap() >= mid as f64)
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let got: Vec<String> = m
        .list_pages(&format!("since_timestamp={mid}"), "", 4)
        .iter()
        .flat_map(|p| ids(p["data"].as_array().unwrap(), "id"))
        .collect();
    assert_eq!(got, expected);

    // With after, since_timestamp is ignored (a far-future value keeps everything).
    let first = m.ws("conversations?limit=3").json();
    let after = first["last_id"].as_str().unwrap();
    let both = m.ws(&format!(
        "conversations?limit=3&after={after}&since_timestamp=4102444800"
    ));
    assert_eq!(both.status, 200);
    let alone = m.ws(&format!("conversations?limit=3&after={after}"));
    assert_eq!(both.json(), alone.json());

    let strict = Mock::small(&["--strict"]);
    let first = strict.ws("conversations?limit=3").json();
    let after = first["last_id"].as_str().unwrap();
    let r = strict.ws(&format!(
        "conversations?limit=3&after={after}&since_timestamp=1"
    ));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["param"], "since_timestamp");
}

#[test]
fn users_filter_is_repeated_and_capped_at_99() {
    let m = Mock::small(&["--short-pages", "0"]);
    let truth = m.truth("conversations");
    let a = truth[0]["user_id"].as_str().unwrap().to_string();
    let b = truth
        .iter()
        .map(|c| c["user_id"].as_str().unwrap())
        .find(|u| *u != a)
        .unwrap()
        .to_string();
    let expected: Vec<String> = truth
        .iter()
        .filter(|c| c["user_id"] == a.as_str() || c["user_id"] == b.as_str())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let got: Vec<String> = m
        .list_pages("", &format!("users={a}&users={b}"), 2)
        .iter()
        .flat_map(|p| ids(p["data"].as_array().unwrap(), "id"))
        .collect();
    assert_eq!(got, expected);

    let many: String = (0..100).map(|i| format!("&users=user-{i}")).collect();
    let r = m.ws(&format!("conversations?limit=5{many}"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["param"], "users");
    let ok: String = (0..99).map(|i| format!("&users=user-{i}")).collect();
    assert_eq!(m.ws(&format!("conversations?limit=5{ok}")).status, 200);
}

#[test]
fn bad_parameters_get_400_or_fastapi_422() {
    let m = Mock::small(&[]);
    let r = m.ws("conversations?limit=501");
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    for k in ["message", "type", "param", "code"] {
        assert!(e.get(k).is_some(), "OpenAI error body lacks {k}: {e}");
    }
    assert_eq!(e["param"], "limit");
    for bad in [
        "limit=0",
        "limit=abc",
        "file_format=pdf",
        "since_timestamp=yesterday",
    ] {
        let r = m.ws(&format!("conversations?{bad}"));
        assert_eq!(r.status, 422, "{bad}: {}", r.text());
        let d = &r.json()["detail"][0];
        assert_eq!(d["loc"][0], "query", "{bad}: {d}");
        assert!(d["msg"].is_string() && d["type"].is_string());
    }
    let r = m.ws("conversations?after=not-a-conversation");
    assert_eq!(r.status, 400);
    assert_eq!(m.ws("conversations/nope/messages").status, 404);
}

#[test]
fn updated_conversations_are_re_sent_on_later_pages() {
    let m = Mock::small(&["--resend-updated", "100", "--short-pages", "0"]);
    let pages = m.list_pages("", "", 5);
    let mut versions: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &pages {
        for c in p["data"].as_array().unwrap() {
            versions
                .entry(c["id"].as_str().unwrap().to_string())
                .or_default()
                .push(complete(&m, c));
        }
    }
    let resent: Vec<_> = versions.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        !resent.is_empty(),
        "no conversation came back on a later page"
    );
    let truth: BTreeMap<String, Value> = m
        .truth("conversations")
        .into_iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c))
        .collect();
    assert_eq!(
        versions.keys().collect::<BTreeSet<_>>(),
        truth.keys().collect::<BTreeSet<_>>()
    );
    for (id, v) in &resent {
        let (old, new) = (&v[0], v.last().unwrap());
        assert!(
            new["last_active_at"].as_f64() > old["last_active_at"].as_f64(),
            "{id} re-sent but not newer"
        );
        assert_eq!(
            new, &truth[*id],
            "the newest version of {id} is not the truth"
        );
    }
    // The newest version of every conversation is what the truth holds.
    for (id, v) in &versions {
        assert_eq!(v.last().unwrap(), &truth[id], "{id}");
    }
}

#[test]
fn file_format_id_gives_file_info_objects() {
    let m = Mock::small(&["--short-pages", "0"]);
    let listed = |q: &str| -> Vec<Value> {
        m.list_pages("", q, 500)
            .iter()
            .flat_map(|p| p["data"].as_array().unwrap().clone())
            .collect()
    };
    let files = |convs: &[Value]| -> Vec<Value> {
        convs
            .iter()
            .flat_map(|c| c["messages"]["data"].as_array().unwrap().clone())
            .flat_map(|msg| msg["files"]["data"].as_array().unwrap().clone())
            .collect()
    };
    let url_files = files(&listed(""));
    let id_files = files(&listed("file_format=id"));
    assert!(!url_files.is_empty(), "no message carries a file");
    assert_eq!(url_files.len(), id_files.len());
    for (u, i) in url_files.iter().zip(&id_files) {
        assert_eq!(
            u["object"],
            "compliance.workspace.conversation.message.file"
        );
        assert!(u.get("download_url").is_some());
        assert_eq!(
            i["object"],
            "compliance.workspace.conversation.message.file_info"
        );
        assert_eq!((&i["id"], &i["name"]), (&u["id"], &u["name"]));
        assert!(i["user_id"].as_str().unwrap().starts_with("user-"));
    }
}

#[test]
fn users_gpts_projects_memories_page_to_the_truth() {
    let m = Mock::small(&[]);
    for (stream, object) in [
        ("users", "compliance.workspace.user"),
        ("gpts", "compliance.workspace.gpt"),
        ("projects", "compliance.workspace.project"),
        ("memories", "compliance.workspace.user.memory"),
    ] {
        let truth = m.truth(stream);
        assert!(truth.len() >= 2, "{stream}: {}", truth.len());
        let mut got = vec![];
        let mut q = format!("{stream}?limit=2");
        loop {
            let p = m.ws(&q).json();
            got.extend(p["data"].as_array().unwrap().iter().cloned());
            if p["has_more"] == false {
                break;
            }
            q = format!("{stream}?limit=2&after={}", p["last_id"].as_str().unwrap());
        }
        assert_eq!(got, truth, "{stream}");
        assert!(got.iter().all(|v| v["object"] == object), "{stream}");
        let sorted = {
            let mut s = ids(&got, "id");
            s.sort();
            s
        };
        assert_eq!(
            ids(&got, "id"),
            sorted,
            "{stream} not in ascending id order"
        );
    }
    assert_eq!(m.ws("memories?limit=201").status, 400);
}
