//! Fenced code blocks of a Markdown file, with the line each starts on.

#[derive(Debug, Clone)]
pub struct Fenced {
    /// The info string after the opening fence (```` ```sh norun: … ````).
    pub info: String,
    /// 1-based line of the first line inside the fence.
    pub line: usize,
    pub text: String,
}

/// Every ```` ``` ```` fenced block, in order (no nesting in Markdown).
pub fn fenced_blocks(markdown: &str) -> Vec<Fenced> {
    let mut out = Vec::new();
    let mut open: Option<Fenced> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match (&mut open, fence) {
            (None, true) => {
                open = Some(Fenced {
                    info: line.trim_start().trim_start_matches('`').trim().to_string(),
                    line: i + 2,
                    text: String::new(),
                })
            }
            (Some(_), true) => out.push(open.take().unwrap()),
            (Some(b), false) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, false) => {}
        }
    }
    out
}
