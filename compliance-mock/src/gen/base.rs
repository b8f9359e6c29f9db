//! What every generator shares: the people of the workspace and the
//! Zipf-like draw of who is active, and the timestamp rounding. A leaf:
//! the generators import it, it imports none of them.

use crate::rng::Rng;
use serde_json::Value;

/// A user as the generators need it.
#[derive(Clone)]
pub struct Person {
    pub id: String,
    pub email: String,
}

/// The parts of generation that `/_mock/advance` reuses after start-up.
#[derive(Clone)]
pub struct Generator {
    pub workspace_id: String,
    pub people: Vec<Person>,
    /// Cumulative Zipf-Mandelbrot weights over `people`: a few heavy users.
    cumulative: Vec<f64>,
    /// Chance that a user message carries an uploaded file.
    pub attachment_chance: f64,
}

impl Generator {
    pub fn new(workspace_id: &str, people: Vec<Person>) -> Generator {
        let mut total = 0.0;
        let cumulative = (0..people.len())
            .map(|k| {
                total += 1.0 / (k as f64 + 1.0 + 5.0);
                total
            })
            .collect();
        Generator {
            workspace_id: workspace_id.to_string(),
            people,
            cumulative,
            attachment_chance: 0.03,
        }
    }

    /// A user drawn from the Zipf-like distribution.
    pub fn person(&self, rng: &mut Rng) -> &Person {
        let total = *self.cumulative.last().expect("at least one user");
        let x = rng.f64() * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        &self.people[i.min(self.people.len() - 1)]
    }
}

/// The generator's view of a WorkspaceUser object.
pub fn person_of(user: &Value) -> Person {
    Person {
        id: user["id"].as_str().unwrap_or_default().to_string(),
        email: user["email"].as_str().unwrap_or_default().to_string(),
    }
}

/// Float seconds rounded to microseconds, as the API's timestamps are.
pub fn micros(t: f64) -> Value {
    serde_json::Number::from_f64((t * 1e6).round() / 1e6)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}
