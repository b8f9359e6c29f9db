//! What a record says about where it goes: only the fields that decide it
//! (user, time, id, version, and for daily summaries the number of
//! messages) are read, in one pass over the line. Everything else is skipped
//! by the parser, not built, and the record's bytes are later copied through
//! untouched. Also the time rules (Unix seconds or milliseconds, RFC 3339).

use crate::model::{Config, FieldPath, TimeUnit, UserRule};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;

/// What routing learned about one record.
#[derive(Debug, Clone)]
pub struct Meta {
    pub user: String,
    pub time: f64,
    pub date: NaiveDate,
    pub id: Option<String>,
    pub version: Option<f64>,
    pub messages: u32,
}

/// What can be read from a record already in an archive file; a missing
/// field there is not an error (the file is what it is).
#[derive(Debug, Clone, Default)]
pub struct LooseMeta {
    pub time: Option<f64>,
    pub id: Option<String>,
    pub version: Option<f64>,
    pub messages: u32,
}

pub struct Extractor {
    top: Vec<String>,
    user: UserRule,
    time: FieldPath,
    time_fallback: Option<FieldPath>,
    id: FieldPath,
    version: Option<FieldPath>,
    count_messages: bool,
    unit: TimeUnit,
    tz: chrono_tz::Tz,
}

/// The top-level values of the wanted fields, borrowed from the line.
struct Scanned<'a> {
    values: Vec<Option<&'a RawValue>>,
    messages: u32,
}

impl Extractor {
    /// The extractor of the configured fields (messages are counted for
    /// daily summaries only).
    pub fn for_config(cfg: &Config) -> Extractor {
        let mut ex = Extractor::new(
            cfg.user.clone(),
            cfg.time.clone(),
            cfg.id.clone(),
            cfg.version.clone(),
            cfg.daily_summaries && !cfg.assemble,
            cfg.time_unit,
            cfg.tz,
        );
        if let Some(f) = &cfg.time_fallback {
            if !ex.top.contains(&f.segs[0]) {
                ex.top.push(f.segs[0].clone());
            }
            ex.time_fallback = Some(f.clone());
        }
        ex
    }

    pub fn new(
        user: UserRule,
        time: FieldPath,
        id: FieldPath,
        version: Option<FieldPath>,
        count_messages: bool,
        unit: TimeUnit,
        tz: chrono_tz::Tz,
    ) -> Extractor {
        let mut top: Vec<String> = Vec::new();
        let user_top = match &user {
            UserRule::Path(p) => Some(p.segs[0].clone()),
            UserRule::AuditActor => Some("actor".to_owned()),
            UserRule::Fixed(_) => None,
        };
        for name in [
            user_top,
            Some(time.segs[0].clone()),
            Some(id.segs[0].clone()),
            version.as_ref().map(|v| v.segs[0].clone()),
        ]
        .into_iter()
        .flatten()
        {
            if !top.contains(&name) {
                top.push(name);
            }
        }
        Extractor {
            top,
            user,
            time,
            time_fallback: None,
            id,
            version,
            count_messages,
            unit,
            tz,
        }
    }

    fn scan<'a>(&self, line: &'a [u8]) -> Result<Scanned<'a>, String> {
        let mut de = serde_json::Deserializer::from_slice(line);
        let seed = TopSeed {
            names: &self.top,
            count_messages: self.count_messages,
        };
        let scanned = seed.deserialize(&mut de).and_then(|s| de.end().map(|_| s));
        scanned.map_err(|e| {
            let first = line.iter().find(|b| !b.is_ascii_whitespace());
            if first != Some(&b'{') && serde_json::from_slice::<IgnoredAny>(line).is_ok() {
                "not a JSON object".to_owned()
            } else {
                format!("not JSON: {e}")
            }
        })
    }

    fn value<'a>(&self, s: &Scanned<'a>, path: &FieldPath) -> Option<ValueRef<'a>> {
        let i = self.top.iter().position(|n| *n == path.segs[0])?;
        let raw = s.values[i]?;
        if path.segs.len() == 1 {
            return Some(ValueRef::Raw(raw));
        }
        let mut v: Value = serde_json::from_str(raw.get()).ok()?;
        for seg in &path.segs[1..] {
            v = match v {
                Value::Object(mut m) => m.remove(seg)?,
                _ => return None,
            };
        }
        Some(ValueRef::Owned(v))
    }

    /// Route one input record, or say why it cannot be routed.
    pub fn meta(&self, line: &[u8]) -> Result<Meta, String> {
        let s = self.scan(line)?;
        let user = match &self.user {
            UserRule::Path(p) => match self.value(&s, p).map(|v| v.to_value()) {
                None | Some(Value::Null) => return Err(format!("missing user field `{}`", p.text)),
                Some(Value::String(u)) => u,
                Some(Value::Number(n)) => n.to_string(),
                Some(other) => {
                    return Err(format!(
                        "user field `{}` is not a string: {}",
                        p.text,
                        short(&other.to_string())
                    ))
                }
            },
            UserRule::AuditActor => {
                let actor = FieldPath {
                    segs: vec!["actor".into()],
                    text: "actor".into(),
                };
                audit_actor_user(self.value(&s, &actor).map(|v| v.to_value()))?
            }
            UserRule::Fixed(name) => (*name).to_owned(),
        };
        let time = match self.time_value(&s) {
            None | Some(Value::Null) => {
                return Err(format!("missing time field `{}`", self.time.text))
            }
            Some(v) => parse_time(&v, self.unit).ok_or_else(|| {
                format!(
                    "time field `{}`: cannot read {} as a time",
                    self.time.text,
                    short(&v.to_string())
                )
            })?,
        };
        let date = self
            .day_of(time)
            .ok_or_else(|| format!("time field `{}`: {time} is out of range", self.time.text))?;
        Ok(Meta {
            user,
            time,
            date,
            id: self.id_of(&s),
            version: self.version_of(&s),
            messages: s.messages,
        })
    }

    /// The time field's value, else the fallback's (when there is one).
    fn time_value(&self, s: &Scanned<'_>) -> Option<Value> {
        let v = self.value(s, &self.time).map(|v| v.to_value());
        match (v, &self.time_fallback) {
            (None | Some(Value::Null), Some(f)) => self.value(s, f).map(|v| v.to_value()),
            (v, _) => v,
        }
    }

    /// Read what is there from a record of an existing archive file.
    pub fn loose(&self, raw: &[u8]) -> LooseMeta {
        let Ok(s) = self.scan(raw) else {
            return LooseMeta::default();
        };
        LooseMeta {
            time: self.time_value(&s).and_then(|v| parse_time(&v, self.unit)),
            id: self.id_of(&s),
            version: self.version_of(&s),
            messages: s.messages,
        }
    }

    /// The id as its JSON text (`"1"` for a string, `1` for a number), so
    /// ids of different types stay different ids.
    fn id_of(&self, s: &Scanned<'_>) -> Option<String> {
        match self.value(s, &self.id)?.to_value() {
            Value::String(id) => serde_json::to_string(&id).ok(),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    fn version_of(&self, s: &Scanned<'_>) -> Option<f64> {
        let p = self.version.as_ref()?;
        parse_time(&self.value(s, p)?.to_value(), TimeUnit::Auto)
    }

    /// The calendar day of a Unix time in the configured zone.
    pub fn day_of(&self, secs: f64) -> Option<NaiveDate> {
        let utc = to_utc(secs)?;
        Some(utc.with_timezone(&self.tz).date_naive())
    }
}

enum ValueRef<'a> {
    Raw(&'a RawValue),
    Owned(Value),
}

impl ValueRef<'_> {
    fn to_value(&self) -> Value {
        match self {
            ValueRef::Raw(r) => serde_json::from_str(r.get()).unwrap_or(Value::Null),
            ValueRef::Owned(v) => v.clone(),
        }
    }
}

fn audit_actor_user(actor: Option<Value>) -> Result<String, String> {
    let Some(actor) = actor.filter(|a| !a.is_null()) else {
        return Ok("unknown-actor".to_owned());
    };
    if let Value::String(s) = &actor {
        return Ok(s.clone());
    }
    let text = |p: &str| match actor.pointer(p) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    for p in [
        "/session/user/id",
        "/session/user/email",
        "/api_key/user/id",
        "/api_key/user/email",
        "/api_key/service_account/id",
        "/api_key/id",
        "/type",
    ] {
        if let Some(u) = text(p) {
            return Ok(u);
        }
    }
    Err(format!(
        "audit log actor has no user, API key or type: {}",
        short(&actor.to_string())
    ))
}

/// A time as Unix seconds: numbers (seconds, or milliseconds when `auto`
/// sees a value of 1e11 or more, i.e. past the year 5138 in seconds),
/// numeric strings, or RFC 3339 strings.
pub fn parse_time(v: &Value, unit: TimeUnit) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
                return Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9);
            }
            s.trim().parse::<f64>().ok()?
        }
        _ => return None,
    };
    if !n.is_finite() {
        return None;
    }
    let secs = match unit {
        TimeUnit::S => n,
        TimeUnit::Ms => n / 1000.0,
        TimeUnit::Auto if n.abs() >= 1e11 => n / 1000.0,
        TimeUnit::Auto => n,
    };
    to_utc(secs).map(|_| secs)
}

pub fn to_utc(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

/// RFC 3339 UTC, to the microsecond at most (what a float of Unix seconds
/// can carry), with as many fractional digits as needed.
pub fn rfc3339(secs: f64) -> String {
    DateTime::from_timestamp_micros((secs * 1e6).round() as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

fn short(s: &str) -> String {
    if s.len() <= 80 {
        return s.to_owned();
    }
    let mut end = 80;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

// ---- the one-pass scanner ----

struct TopSeed<'s> {
    names: &'s [String],
    count_messages: bool,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Scanned<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = Scanned<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.names.len()];
        let mut messages = 0;
        while let Some(key) = map.next_key_seed(KeySeed {
            names: self.names,
            count_messages: self.count_messages,
        })? {
            match key {
                Key::Wanted(i) => values[i] = Some(map.next_value::<&'de RawValue>()?),
                Key::Messages => messages = map.next_value_seed(CountMessages)?,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Scanned { values, messages })
    }
}

enum Key {
    Wanted(usize),
    Messages,
    Other,
}

struct KeySeed<'s> {
    names: &'s [String],
    count_messages: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Key, E> {
        if let Some(i) = self.names.iter().position(|n| n == k) {
            Ok(Key::Wanted(i))
        } else if self.count_messages && k == "messages" {
            Ok(Key::Messages)
        } else {
            Ok(Key::Other)
        }
    }
}

/// Counts `messages.data` (or a bare `messages` array) without building it.
struct CountMessages;

impl<'de> DeserializeSeed<'de> for CountMessages {
    type Value = u32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CountMessages {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("messages")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u32, A::Error> {
        let mut n = 0;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == "data" {
                n = map.next_value_seed(CountMessages)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(n)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u32, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
    fn visit_unit<E>(self) -> Result<u32, E> {
        Ok(0)
    }
    fn visit_bool<E>(self, _: bool) -> Result<u32, E> {
        Ok(0)
    }
    fn visit_i64<E>(self, _: i64) -> Result<u32, E> {
        Ok(0)
    }
    fn visit_u64<E>(self, _: u64) -> Result<u32, E> {
        Ok(0)
    }
    fn visit_f64<E>(self, _: f64) -> Result<u32, E> {
        Ok(0)
    }
    fn visit_str<E>(self, _: &str) -> Result<u32, E> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(user: &str, time: &str) -> Extractor {
        Extractor::new(
            UserRule::Path(FieldPath::parse(user).unwrap()),
            FieldPath::parse(time).unwrap(),
            FieldPath::parse("id").unwrap(),
            Some(FieldPath::parse("last_active_at").unwrap()),
            true,
            TimeUnit::Auto,
            chrono_tz::UTC,
        )
    }

    #[test]
    fn routes_nested_and_counts_messages() {
        let e = ex("actor.user_id", "ts");
        let m = e
            .meta(br#"{"id":"a\"b","actor":{"user_id":"u1"},"ts":"2026-01-28T23:59:59.5+00:00","messages":{"data":[1,{"x":[2]},3]},"last_active_at":5}"#)
            .unwrap();
        assert_eq!(m.user, "u1");
        assert_eq!(m.date.to_string(), "2026-01-28");
        assert_eq!(m.id.as_deref(), Some(r#""a\"b""#));
        assert_eq!(m.messages, 3);
        assert_eq!(m.version, Some(5.0));
        let m = e
            .meta(br#"{"actor":{"user_id":7},"ts":1769644800000}"#)
            .unwrap();
        assert_eq!(
            (m.user.as_str(), m.date.to_string().as_str()),
            ("7", "2026-01-29")
        );
        assert!(e.meta(b"{\"ts\":1}").unwrap_err().contains("missing user"));
        assert!(e.meta(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(e.meta(b"{\"a\":").unwrap_err().starts_with("not JSON"));
        assert!(e
            .meta(br#"{"actor":{"user_id":"u"},"ts":"yesterday"}"#)
            .unwrap_err()
            .contains("cannot read"));
    }

    #[test]
    fn audit_actor() {
        let a = |v: &str| audit_actor_user(Some(serde_json::from_str(v).unwrap()));
        assert_eq!(
            a(r#"{"type":"session","session":{"user":{"id":"u1","email":"e"}}}"#).unwrap(),
            "u1"
        );
        assert_eq!(a(r#"{"type":"api_key","api_key":{"id":"key_1","type":"service_account","service_account":{"id":"svc"}}}"#).unwrap(), "svc");
        assert_eq!(
            a(r#"{"type":"api_key","api_key":{"user":{"email":"x@y"}}}"#).unwrap(),
            "x@y"
        );
        assert_eq!(a(r#"{"type":"weird"}"#).unwrap(), "weird");
        assert_eq!(audit_actor_user(None).unwrap(), "unknown-actor");
    }
}
