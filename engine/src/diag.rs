//! User-facing diagnostics, in the OpenTofu style: a short fixed summary, a full sentence of
//! detail pointing at the line and column, and a help line with the fix or a "did you mean".

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;

use crate::spec::yaml::Span;

/// The text of the spec file, shared by every diagnostic that points into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        SourceFile { name: name.into(), text: text.into() }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

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
    let _ = handler.render_report(&mut out, d);
    if let Some((file, line, col)) = d.location() {
        out = out.replacen('\n', &format!("\n  at {file}:{line}:{col}\n"), 1);
    }
    if d.span.is_none() {
        // No snippet to carry the detail: print it as its own line.
        out = out.replacen('\n', &format!("\n  {}\n", d.detail), 1);
    }
    out
}

/// Renders an error that is not about the spec (a held lock, a failed refresh...) the way
/// `main` prints it: `Error: <code>`, the message, its causes and the help.
pub fn render_error(e: &dyn Diagnostic, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
    let mut out = String::new();
    let _ = handler.render_report(&mut out, e);
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
    fn line_col_is_one_based() {
        let src = SourceFile::new("s.yaml", "a: 1\nbb: 2\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(5), (2, 1));
        assert_eq!(src.line_col(9), (2, 5));
    }
}
