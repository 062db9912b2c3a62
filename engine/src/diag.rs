//! User-facing diagnostics, in the OpenTofu style: a short fixed summary, a full sentence of
//! detail pointing at the line and column, and a help line with the fix or a "did you mean".

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, MietteError, MietteSpanContents, NamedSource, SourceCode, SpanContents};
use serde::Serialize;

pub use crate::source::{SourceFile, Span};

/// One problem a user can fix.
#[derive(Debug, Clone)]
pub struct SpecDiagnostic {
    /// Stable identifier (`spec::unknown-key`), documented in docs/diagnostics.md.
    pub code: &'static str,
    /// Short and fixed for a given code: "Unknown key".
    pub summary: String,
    /// A full sentence: what is wrong and why.
    pub detail: String,
    /// The fix, or "did you mean `x`?".
    pub help: Option<String>,
    pub span: Option<Span>,
    pub source: Option<SourceFile>,
}

impl SpecDiagnostic {
    pub fn new(code: &'static str, summary: &'static str, detail: impl Into<String>) -> Self {
        SpecDiagnostic { code, summary: summary.into(), detail: detail.into(), help: None, span: None, source: None }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn at(mut self, span: Option<Span>, source: &SourceFile) -> Self {
        self.span = span;
        self.source = Some(source.clone());
        self
    }

    /// File, line and column for plain and JSON output.
    pub fn location(&self) -> Option<(String, usize, usize)> {
        let (span, src) = (self.span?, self.source.as_ref()?);
        let (line, col) = src.line_col(span.offset);
        Some((src.name.clone(), line, col))
    }

    pub fn to_json(&self) -> DiagnosticJson {
        let loc = self.location();
        DiagnosticJson {
            code: self.code,
            summary: self.summary.clone(),
            detail: self.detail.clone(),
            help: self.help.clone(),
            file: loc.as_ref().map(|l| l.0.clone()),
            line: loc.as_ref().map(|l| l.1),
            column: loc.as_ref().map(|l| l.2),
        }
    }
}

/// The stable JSON shape of a diagnostic (`strata validate --json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiagnosticJson {
    pub code: &'static str,
    pub summary: String,
    pub detail: String,
    pub help: Option<String>,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for SpecDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

impl std::error::Error for SpecDiagnostic {}

impl Diagnostic for SpecDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| &s.text as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some(self.detail.clone()), span))))
    }

    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        None
    }
}

impl SpecDiagnostic {
    /// Renders with miette's graphical handler (used by `main` and golden tests).
    pub fn render(&self, color: bool) -> String {
        render_report(self, color)
    }
}

/// Every problem found in one pass over a spec.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<SpecDiagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: SpecDiagnostic) {
        self.items.push(d);
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }
    /// Sorted by position so output reads top to bottom.
    /// Sorted by position so output reads top to bottom; a problem found twice (by two checks
    /// that both see it) is reported once.
    pub fn sorted(mut self) -> Self {
        self.items.sort_by_key(|d| d.span.map_or(usize::MAX, |s| s.offset));
        let mut seen = std::collections::HashSet::new();
        self.items.retain(|d| seen.insert((d.code, d.span.map(|s| (s.offset, s.len)), d.detail.clone())));
        self
    }

    /// Renders every diagnostic, then a one-line count, as the CLI prints them.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&d.render(color));
            out.push('\n');
        }
        let n = self.items.len();
        out.push_str(&format!("Error: {n} problem{} found; nothing was changed.\n", if n == 1 { "" } else { "s" }));
        out
    }

    /// A named-source wrapper for callers that want the file name in the header.
    pub fn named_source(src: &SourceFile) -> NamedSource<Arc<str>> {
        NamedSource::new(&src.name, src.text.clone())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the spec", self.items.len())
    }
}

impl std::error::Error for Diagnostics {}

/// Renders one diagnostic with miette's graphical handler, with a file:line:col header.
pub fn render_report(d: &SpecDiagnostic, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
    let mut out = String::new();
    match d.span.zip(d.source.as_ref()).and_then(|(span, src)| Excerpt::clip(&src.text, span)) {
        Some(excerpt) => {
            let _ = handler.render_report(&mut out, &Clipped { d, excerpt });
        }
        None => {
            let _ = handler.render_report(&mut out, d);
        }
    }
    if let Some((file, line, col)) = d.location() {
        out = out.replacen('\n', &format!("\n  at {file}:{line}:{col}\n"), 1);
    }
    if d.span.is_none() {
        // No snippet to carry the detail: print it as its own line.
        out = out.replacen('\n', &format!("\n  {}\n", d.detail), 1);
    }
    out
}

/// Longest source line a report shows whole. miette prints every line of a snippet in full, so
/// a report about a value on a 400 KB line would print 400 KB; longer lines are clipped.
const MAX_LINE_CHARS: usize = 120;

/// How much of a clipped line a report shows, and how much of that comes before the span.
const CLIP_WIDTH: usize = 100;
const CLIP_BEFORE: usize = 40;

/// The snippet of a report whose lines are too long to show: the line of the span and the
/// lines around it, each clipped to the same window of [`CLIP_WIDTH`] characters around the span,
/// with `…` where text was cut. Line numbers and the header's column stay the file's.
#[derive(Debug)]
struct Excerpt {
    text: String,
    /// 0-based line number of the first line of `text`.
    first_line: usize,
    /// The span, within `text`.
    label: Span,
    /// 0-based line and column (in characters) of the span in the file.
    line: usize,
    column: usize,
}

impl Excerpt {
    /// `None` when every line the report would show is short enough to show whole.
    fn clip(text: &str, span: Span) -> Option<Excerpt> {
        let mut offset = span.offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line_end = |at: usize| text[at..].find('\n').map_or(text.len(), |i| at + i);
        let start = line_start(offset);
        let end = line_end(offset);
        let mut span_end = (offset + span.len).min(text.len());
        while !text.is_char_boundary(span_end) {
            span_end -= 1;
        }
        // miette shows the span's lines and one line of context either side.
        let shown_from = if start == 0 { 0 } else { line_start(start - 1) };
        let last_end = line_end(span_end.max(offset));
        let shown_to = if last_end < text.len() { line_end(last_end + 1) } else { last_end };
        if text[shown_from..shown_to]
            .split('\n')
            .all(|l| l.len() <= MAX_LINE_CHARS || l.chars().count() <= MAX_LINE_CHARS)
        {
            return None;
        }
        let column = text[start..offset].chars().count();
        let line = text[..start].matches('\n').count();
        let window = column.saturating_sub(CLIP_BEFORE);
        let mut out = String::new();
        let mut first_line = line;
        if start > 0 {
            first_line -= 1;
            out.push_str(&clip_line(&text[shown_from..start - 1], window).0);
            out.push('\n');
        }
        let (clipped, from, to) = clip_line(&text[start..end], window);
        let line_text = &text[start..end];
        let char_at = |c: usize| line_text.char_indices().nth(c).map_or(line_text.len(), |(i, _)| i);
        // The label: the part of the span on its first line that is inside the window.
        let prefix = if from > 0 { '…'.len_utf8() } else { 0 };
        let label_from = column.clamp(from, to);
        let label_to = (column + text[offset..span_end.min(end).max(offset)].chars().count()).clamp(label_from, to);
        let label = Span {
            offset: out.len() + prefix + char_at(label_from) - char_at(from),
            len: char_at(label_to) - char_at(label_from),
        };
        out.push_str(&clipped);
        if end < text.len() {
            out.push('\n');
            out.push_str(&clip_line(&text[end + 1..line_end(end + 1)], window).0);
        }
        Some(Excerpt { text: out, first_line, label, line, column })
    }
}

/// A line as an excerpt shows it: whole if short, else the [`CLIP_WIDTH`] characters from
/// `window` (moved left when the line ends before the window would), with `…` at a cut end.
/// Returns the text and the window's first and last character.
fn clip_line(line: &str, window: usize) -> (String, usize, usize) {
    let chars = line.chars().count();
    if chars <= MAX_LINE_CHARS {
        return (line.to_string(), 0, chars);
    }
    let from = window.min(chars.saturating_sub(CLIP_WIDTH));
    let to = (from + CLIP_WIDTH).min(chars);
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.extend(line.chars().skip(from).take(to - from));
    if to < chars {
        out.push('…');
    }
    (out, from, to)
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        _span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        // Without context, miette is asking where the span is, for the `[line:column]` header:
        // the file's position, not the excerpt's.
        let (line, column) = if context_lines_before == 0 && context_lines_after == 0 {
            (self.line, self.column)
        } else {
            (self.first_line, 0)
        };
        let lines = self.text.lines().count().max(1);
        Ok(Box::new(MietteSpanContents::new(self.text.as_bytes(), (0, self.text.len()).into(), line, column, lines)))
    }
}

/// A diagnostic rendered with an [`Excerpt`] in place of the whole file.
#[derive(Debug)]
struct Clipped<'a> {
    d: &'a SpecDiagnostic,
    excerpt: Excerpt,
}

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.d, f)
    }
}

impl std::error::Error for Clipped<'_> {}

impl Diagnostic for Clipped<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.d.code()
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.d.help()
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.excerpt)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let label = LabeledSpan::new_with_span(Some(self.d.detail.clone()), self.excerpt.label);
        Some(Box::new(std::iter::once(label)))
    }
}

/// The summary of each runtime error code: short and fixed, as a spec diagnostic's is, so the
/// `×` line says what kind of failure it is and the message below it says what happened.
/// docs/diagnostics.md lists the same pairs (engine/tests/diagnostic_codes.rs checks them).
const RUNTIME_SUMMARIES: &[(&str, &str)] = &[
    ("cli::invalid-spec", "Invalid spec"),
    ("cli::usage", "Invalid usage"),
    ("cli::io", "File not usable"),
    ("cli::gate-refused", "Canary step refused"),
    ("cli::gate-unavailable", "SLO gate unavailable"),
    ("cli::sandbox", "Sandbox problem"),
    ("state::locked", "State is locked"),
    ("state::lock-mismatch", "Lock id does not match"),
    ("state::fenced", "State changed underneath"),
    ("state::corrupt", "State does not parse"),
    ("state::io", "State storage failed"),
    ("state::config", "State backend misconfigured"),
    ("state::rejected", "State push rejected"),
    ("plan::refresh-failed", "Refresh failed"),
    ("plan::unknown-target", "Unknown target"),
    ("plan::missing-provider", "Provider not configured"),
    ("apply::stale-plan", "Saved plan is stale"),
    ("apply::state-not-saved", "State not saved"),
    ("ops::lock::held", "State is locked"),
    ("ops::lock::timeout", "Lock wait timed out"),
    ("ops::lock::interrupted", "Lock wait interrupted"),
    ("ops::plan::stale", "Saved plan is stale"),
    ("ops::plan::failed", "Saved plan check failed"),
    ("ops::import::not-in-spec", "Not in the spec"),
    ("ops::import::already-managed", "Already managed"),
    ("ops::import::adopt-failed", "Import failed"),
    ("ops::state::not-in-state", "Not in the state"),
    ("ops::state::destination-exists", "Destination exists"),
    ("ops::state::nothing-to-pull", "No state stored"),
    ("ops::state::backend", "State backend failed"),
    ("ops::migrate::no-source", "No state to migrate"),
    ("ops::migrate::same-place", "Same source and destination"),
    ("ops::migrate::destination-not-empty", "Destination holds a state"),
];

/// The fixed summary of a runtime error code, if it is one of strata's.
pub fn runtime_summary(code: &str) -> Option<&'static str> {
    RUNTIME_SUMMARIES.iter().find(|(c, _)| *c == code).map(|(_, s)| *s)
}

/// A runtime error seen through its code's summary: the summary is the `×` line, the error's
/// own message (and its causes) the chain below it; code and help are the error's.
struct Summarized<'a> {
    summary: &'static str,
    error: &'a (dyn Diagnostic + 'static),
}

impl fmt::Debug for Summarized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.summary)
    }
}

impl fmt::Display for Summarized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.summary)
    }
}

impl std::error::Error for Summarized<'_> {
    // The message and its causes as a plain chain (a `diagnostic_source` would be rendered as a
    // nested report, repeating code and help).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.error)
    }
}

impl Diagnostic for Summarized<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.code()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.help()
    }
    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.url()
    }
}

/// Renders an error that is not about the spec (a held lock, a failed refresh...) the way
/// `main` prints it: `Error: <code>`, the code's fixed summary, then the message, its causes
/// and the help. An error whose code has no summary (a plugin's own) shows its message as the
/// `×` line.
pub fn render_error(e: &(dyn Diagnostic + 'static), color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(usize::MAX / 4).with_links(false);
    let mut out = String::new();
    let summary = e.code().and_then(|c| runtime_summary(&c.to_string()));
    let _ = match summary {
        Some(summary) => handler.render_report(&mut out, &Summarized { summary, error: e }),
        None => handler.render_report(&mut out, e),
    };
    let prefix = if color { "\x1b[31mError:\x1b[0m" } else { "Error:" };
    format!("{prefix} {}\n", out.trim())
}

/// "did you mean" over a candidate list: the closest candidate by Jaro-Winkler similarity, if
/// close enough to be a plausible typo.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate [`did_you_mean`] would suggest. Ties go to the smallest candidate, so the
/// answer does not depend on iteration order.
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let input = input.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&input, &c.to_lowercase());
        let better = match best {
            None => score > 0.0,
            Some((b, bc)) => score > b || (score == b && c < bc),
        };
        if better {
            best = Some((score, c));
        }
    }
    best.filter(|(s, _)| *s >= 0.8).map(|(_, c)| c)
}

/// The closest resource address to `input`. Addresses share long prefixes (`resources.`), which
/// makes any two look alike, so the last segment is compared among addresses with the same
/// prefix; only when no address has that prefix are whole addresses compared.
pub fn closest_address<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let all: Vec<&'a str> = candidates.into_iter().collect();
    let Some((prefix, last)) = input.rsplit_once('.') else {
        return closest(input, all);
    };
    let siblings: Vec<(&'a str, &'a str)> =
        all.iter().filter_map(|c| c.rsplit_once('.').filter(|(p, _)| *p == prefix).map(|(_, l)| (l, *c))).collect();
    if siblings.is_empty() {
        return closest(input, all);
    }
    let name = closest(last, siblings.iter().map(|(l, _)| *l))?;
    siblings.iter().find(|(l, _)| *l == name).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk full")]
    struct Io;

    #[derive(Debug, thiserror::Error)]
    #[error("The state is locked by alice@ci since 12:00.")]
    struct Locked {
        #[source]
        cause: Io,
    }

    impl Diagnostic for Locked {
        fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
            Some(Box::new("state::locked"))
        }
        fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
            Some(Box::new("wait for the other run"))
        }
    }

    #[test]
    fn runtime_errors_show_the_codes_summary_then_the_message_and_causes() {
        let out = render_error(&Locked { cause: Io }, false);
        let lines: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], "Error: state::locked", "{out}");
        assert_eq!(lines[1], "× State is locked", "{out}");
        assert!(lines[2].ends_with("The state is locked by alice@ci since 12:00."), "{out}");
        assert!(lines[3].ends_with("disk full"), "{out}");
        assert_eq!(out.matches("help: wait for the other run").count(), 1, "{out}");
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(did_you_mean("splt", ["split", "routes", "timeout"]).as_deref(), Some("did you mean `split`?"));
        assert_eq!(did_you_mean("zzzz", ["split", "routes"]), None);
    }

    #[test]
    fn addresses_are_compared_by_their_last_segment() {
        let known = ["resources.a", "resources.b", "resources.database", "mesh.api.route"];
        assert_eq!(closest_address("resources.zz", known), None);
        assert_eq!(closest_address("resources.databse", known), Some("resources.database"));
        assert_eq!(closest_address("resource.database", known), Some("resources.database"));
    }

    #[test]
    fn ties_do_not_depend_on_order() {
        assert_eq!(closest("ab", ["ac", "aa"]), closest("ab", ["aa", "ac"]));
    }

    #[test]
    fn a_huge_line_is_clipped_around_the_span() {
        let text =
            format!("a: 1\nb: {{ x: \"{}\", prot: 1, y: \"{}\" }}\nc: 2\n", "x".repeat(200_000), "y".repeat(200_000));
        let offset = text.find("prot").unwrap();
        let src = SourceFile::new("s.yaml", text.as_str());
        let d = SpecDiagnostic::new("spec::unknown-key", "Unknown key", "`prot` is not a valid key.")
            .at(Some(Span { offset, len: 4 }), &src);
        let out = d.render(false);
        assert!(out.len() < 2_000, "{} bytes:\n{}", out.len(), &out[..out.len().min(3_000)]);
        assert!(out.contains("at s.yaml:2:"), "{out}");
        assert!(out.contains("…xxxx"), "{out}");
        assert!(out.contains("yyy…"), "{out}");
        // The label still underlines `prot`: its column in the excerpt is where `prot` is.
        let line = out.lines().find(|l| l.contains("prot: 1")).expect("the excerpt");
        let marks = out.lines().find(|l| l.contains("┬")).expect("the underline");
        let col = |s: &str, pat: &str| s[..s.find(pat).unwrap()].chars().count();
        assert_eq!(col(line, "prot"), col(marks, "─"), "{out}");
        // The lines around it are shown as usual; the line number is the file's.
        assert!(out.contains("1 │ a: 1") && out.contains("2 │ …") && out.contains("3 │ c: 2"), "{out}");
    }

    #[test]
    fn short_lines_are_not_clipped() {
        let text = "a: 1\nb: { prot: 1 }\n";
        let src = SourceFile::new("s.yaml", text);
        let d = SpecDiagnostic::new("spec::unknown-key", "Unknown key", "`prot` is not a valid key.")
            .at(Some(Span { offset: text.find("prot").unwrap(), len: 4 }), &src);
        let out = d.render(false);
        assert!(out.contains("2 │ b: { prot: 1 }") && !out.contains('…'), "{out}");
    }

    #[test]
    fn line_col_is_one_based() {
        let src = SourceFile::new("s.yaml", "a: 1\nbb: 2\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(5), (2, 1));
        assert_eq!(src.line_col(9), (2, 5));
    }
}
