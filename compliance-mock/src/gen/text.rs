//! Message text with the properties real exports have: mostly English
//! words, some non-ASCII (accents, CJK, emoji), punctuation, newlines,
//! tabs and fenced code, so a client's JSON handling is exercised.

use crate::rng::Rng;

const WORDS: &str = "the of and to in is that for it as with was on be by this are from at or an \
have not which but all were can has more one their if will there been would \
data model report revenue customer pipeline quarterly forecast analysis query \
summary draft email meeting policy compliance audit contract invoice vendor \
python rust sql function error exception table column index partition schema \
deploy kubernetes latency throughput memory cache request response token prompt \
please explain rewrite translate improve shorter longer bullet points example \
because however therefore although meanwhile additionally specifically roughly \
2025 Q3 KPI API JSON CSV S3 EU US GDPR SOC2 ISO27001 FY26 ARR MRR NPS OKR";

const INTL: &[&str] = &[
    "café",
    "naïve",
    "résumé",
    "Zürich",
    "São",
    "Paulo",
    "año",
    "straße",
    "Œuvre",
    "データ",
    "分析",
    "报告",
    "会议",
    "고객",
    "요약",
    "Москва",
    "отчёт",
    "ελληνικά",
    "مرحبا",
    "שלום",
    "हिन्दी",
    "😀",
    "🚀",
    "✅",
    "📊",
    "—",
    "“quoted”",
    "€100",
    "±5%",
];

const PUNCT: &[&str] = &[",", ",", ".", ".", ".", "?", ":", ";", "!"];

const CODE_SNIPPETS: &[&str] = &[
    "SELECT user_id, count(*) FROM \"events\" WHERE ts >= '2025-07-02' GROUP BY 1;",
    "print(\"hello, world\\n\")",
    "path = \"C:\\\\Users\\\\me\\\\report.csv\"",
    "if (x < 10 && y > \"z\") { return {\"ok\": true}; }",
    "fn main() {\n    println!(\"{}\", 42);\n}",
    "grep -E \"^[0-9]+\\t\" file.tsv | awk '{print $2}'",
    "{\"key\": \"value\", \"nested\": {\"list\": [1, 2, 3], \"null\": null}}",
];

pub const TITLES: &[&str] = &[
    "Quarterly revenue summary",
    "Email draft to vendor",
    "SQL query help",
    "Rust borrow checker",
    "Policy review",
    "Translate to Spanish",
    "Meeting notes",
    "Résumé feedback",
    "Bug in pipeline",
    "Kubernetes latency",
    "GDPR question",
    "データ分析",
    "Marketing plan 🚀",
    "Contract clause \"termination\"",
    "Explain partitioning",
    "Invoice reconciliation",
    "Slide outline",
    "Code review: main.rs",
    "Data cleanup, dedup & merge",
    "Customer FAQ",
];

/// Text of roughly `mean_chars` characters (log-normal length).
pub fn text(rng: &mut Rng, mean_chars: f64) -> String {
    if mean_chars <= 0.0 {
        return String::new();
    }
    let n_chars = rng.lognormal(mean_chars.ln() - 0.32, 0.8).max(8.0) as usize;
    let words: Vec<&str> = WORDS.split(' ').collect();
    let mut out = String::with_capacity(n_chars + 16);
    for _ in 0..(n_chars / 6).max(1) {
        // About 1.5% of the words are non-ASCII.
        if rng.chance(0.015) {
            out.push_str(rng.pick::<&str>(INTL));
        } else {
            out.push_str(rng.pick::<&str>(&words));
        }
        let x = rng.f64();
        if x < 0.08 {
            out.push_str(rng.pick::<&str>(PUNCT));
        }
        out.push_str(if x < 0.015 {
            "\n\n"
        } else if x < 0.02 {
            "\n- "
        } else if x < 0.021 {
            "\t"
        } else {
            " "
        });
    }
    let mut s = out.trim().to_string();
    if rng.chance(0.06) {
        s.push_str("\n\n```\n");
        s.push_str(rng.pick::<&str>(CODE_SNIPPETS));
        s.push_str("\n```\n");
    }
    if rng.chance(0.02) {
        // Empty message text happens (image-only prompts).
        s.clear();
    }
    s
}

/// A block of about `bytes` bytes of text, built by repeating generated
/// paragraphs: cheap enough for records of hundreds of MB.
pub fn bulk_text(rng: &mut Rng, bytes: usize) -> String {
    let mut para = String::new();
    while para.len() < 64 * 1024 {
        para.push_str(&text(rng, 2000.0));
        para.push_str("\n\n");
    }
    let mut out = String::with_capacity(bytes + para.len());
    while out.len() < bytes {
        out.push_str(&para);
    }
    let mut cut = bytes.min(out.len());
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    out
}
