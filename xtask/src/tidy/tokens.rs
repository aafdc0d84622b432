//! The rules that read Rust tokens (proc-macro2's lexer) rather than text: banned test attributes, clock and RNG reads outside the crates allowed to make them, and the runtime and HTTP crates in the sans-IO layers.
//!
//! Tokens, not substrings: a comment, a doc line or a string literal never fires a rule, an
//! identifier matches only whole (`getrandom` fires, `getrandom_shim` does not), and the
//! tokens inside a macro invocation (`format!`, `proptest!`) are read like any other code.

use std::str::FromStr as _;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

/// One token of a source file, with the nesting made explicit so that rules can walk a flat
/// list.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    Punct(char),
    Open(Delimiter),
    Close(Delimiter),
    Literal,
}

/// A source file as tokens, each with its line.
#[derive(Clone, Debug, Default)]
pub(super) struct Lexed {
    tokens: Vec<(Token, usize)>,
}

impl Lexed {
    /// Lexes `text`; an error when it is not Rust tokens (an unclosed delimiter, a bad literal).
    pub(super) fn new(text: &str) -> Result<Self, proc_macro2::LexError> {
        let mut lexed = Self::default();
        lexed.flatten(TokenStream::from_str(text)?);
        Ok(lexed)
    }

    fn flatten(&mut self, stream: TokenStream) {
        for tree in stream {
            match tree {
                TokenTree::Ident(ident) => self.push(Token::Ident(ident.to_string()), ident.span()),
                TokenTree::Punct(punct) => self.push(Token::Punct(punct.as_char()), punct.span()),
                TokenTree::Literal(literal) => self.push(Token::Literal, literal.span()),
                TokenTree::Group(group) => {
                    self.push(Token::Open(group.delimiter()), group.span_open());
                    self.flatten(group.stream());
                    self.push(Token::Close(group.delimiter()), group.span_close());
                }
            }
        }
    }

    fn push(&mut self, token: Token, span: proc_macro2::Span) {
        self.tokens.push((token, span.start().line));
    }

    fn ident(&self, index: usize) -> Option<&str> {
        match self.tokens.get(index) {
            Some((Token::Ident(name), _)) => Some(name),
            _ => None,
        }
    }

    fn is(&self, index: usize, token: &Token) -> bool {
        self.tokens
            .get(index)
            .is_some_and(|(found, _)| found == token)
    }

    fn line(&self, index: usize) -> usize {
        self.tokens.get(index).map_or(0, |(_, line)| *line)
    }

    /// `::` at `index`.
    fn is_path_separator(&self, index: usize) -> bool {
        self.is(index, &Token::Punct(':')) && self.is(index + 1, &Token::Punct(':'))
    }

    /// The index just after the group that opens at `open`.
    fn after_group(&self, open: usize) -> usize {
        let mut depth = 0usize;
        for (index, (token, _)) in self.tokens.iter().enumerate().skip(open) {
            match token {
                Token::Open(_) => depth += 1,
                Token::Close(_) => {
                    depth -= 1;
                    if depth == 0 {
                        return index + 1;
                    }
                }
                _ => (),
            }
        }
        self.tokens.len()
    }

    /// The attribute starting at `index` (`#[…]` or `#![…]`): whether it is inner, the range
    /// of its content, and the index after it.
    fn attribute(&self, index: usize) -> Option<Attribute> {
        if !self.is(index, &Token::Punct('#')) {
            return None;
        }
        let inner = self.is(index + 1, &Token::Punct('!'));
        let open = index + 1 + usize::from(inner);
        if !self.is(open, &Token::Open(Delimiter::Bracket)) {
            return None;
        }
        let end = self.after_group(open);
        Some(Attribute {
            inner,
            content: open + 1..end - 1,
            end,
        })
    }

    fn is_cfg_test(&self, attribute: &Attribute) -> bool {
        let content = &self.tokens[attribute.content.clone()];
        let tokens: Vec<&Token> = content.iter().map(|(token, _)| token).collect();
        tokens
            == [
                &Token::Ident("cfg".to_owned()),
                &Token::Open(Delimiter::Parenthesis),
                &Token::Ident("test".to_owned()),
                &Token::Close(Delimiter::Parenthesis),
            ]
    }

    /// The same file without the items marked `#[cfg(test)]` (and without the rest of a module
    /// marked `#![cfg(test)]`): the code that ships.
    pub(super) fn without_test_items(&self) -> Self {
        let mut kept = Vec::new();
        let mut index = 0;
        while index < self.tokens.len() {
            let Some(attribute) = self
                .attribute(index)
                .filter(|attribute| self.is_cfg_test(attribute))
            else {
                kept.push(self.tokens[index].clone());
                index += 1;
                continue;
            };
            index = if attribute.inner {
                self.end_of_enclosing_group(attribute.end)
            } else {
                self.end_of_item(attribute.end)
            };
        }
        Self { tokens: kept }
    }

    /// The index of the `Close` that ends the group around `from` (or the end of the file).
    fn end_of_enclosing_group(&self, from: usize) -> usize {
        let mut depth = 0usize;
        for (index, (token, _)) in self.tokens.iter().enumerate().skip(from) {
            match token {
                Token::Open(_) => depth += 1,
                Token::Close(_) if depth == 0 => return index,
                Token::Close(_) => depth -= 1,
                _ => (),
            }
        }
        self.tokens.len()
    }

    /// The index after the item starting at `from`: after its `{…}` body or its `;`.
    fn end_of_item(&self, from: usize) -> usize {
        let mut index = from;
        while index < self.tokens.len() {
            match &self.tokens[index].0 {
                Token::Open(Delimiter::Brace) => return self.after_group(index),
                Token::Open(_) => index = self.after_group(index),
                Token::Punct(';') => return index + 1,
                Token::Close(_) => return index,
                _ => index += 1,
            }
        }
        index
    }

    fn attributes(&self) -> impl Iterator<Item = Attribute> + '_ {
        (0..self.tokens.len()).filter_map(|index| self.attribute(index))
    }
}

/// An attribute's place in a [`Lexed`].
#[derive(Debug)]
struct Attribute {
    inner: bool,
    content: std::ops::Range<usize>,
    end: usize,
}

/// Test attributes that hide a test's result.
const BANNED_TEST_ATTRIBUTES: &[(&str, &str)] = &[
    (
        "ignore",
        "assert the current (wrong) behaviour and add a FIXME instead of ignoring a test",
    ),
    (
        "should_panic",
        "assert on `Err`/`None`; a panic is never the expected outcome of input",
    ),
];

/// `#[ignore]`, `#[should_panic]`, and either of them behind `#[cfg_attr(…, …)]`.
pub(super) fn check_test_attributes(shown: &str, lexed: &Lexed, problems: &mut Vec<String>) {
    for attribute in lexed.attributes() {
        let first = attribute.content.start;
        let names: Vec<(&str, usize)> = match lexed.ident(first) {
            Some("cfg_attr") if lexed.is(first + 1, &Token::Open(Delimiter::Parenthesis)) => {
                // The attributes of `cfg_attr(predicate, attr, …)` follow the first top-level comma.
                let end = lexed.after_group(first + 1) - 1;
                let mut depth = 0usize;
                let mut after_predicate = false;
                let mut names = Vec::new();
                for index in first + 2..end {
                    match &lexed.tokens[index].0 {
                        Token::Open(_) => depth += 1,
                        Token::Close(_) => depth -= 1,
                        Token::Punct(',') if depth == 0 => after_predicate = true,
                        Token::Ident(name) if after_predicate => names.push((name.as_str(), index)),
                        _ => (),
                    }
                }
                names
            }
            Some(name) => vec![(name, first)],
            None => Vec::new(),
        };
        for (name, index) in names {
            if let Some((banned, why)) = BANNED_TEST_ATTRIBUTES
                .iter()
                .find(|(banned, _)| *banned == name)
            {
                problems.push(format!(
                    "rule `test-attributes`: {shown}:{} uses `{banned}` as a test attribute.\n  why: {why}.",
                    lexed.line(index)
                ));
            }
        }
    }
}

/// Types whose `now…` functions read the clock.
const CLOCK_TYPES: &[&str] = &[
    "SystemTime",
    "Instant",
    "Utc",
    "Local",
    "OffsetDateTime",
    "UtcDateTime",
];
/// Names that are (or seed from) the operating system's RNG wherever they appear.
const OS_RNG_NAMES: &[&str] = &[
    "thread_rng",
    "ThreadRng",
    "OsRng",
    "SysRng",
    "from_os_rng",
    "try_from_os_rng",
    "from_entropy",
    "getrandom",
];
/// Functions of `rand` that use the thread RNG (seeded from the OS).
const RAND_THREAD_FUNCTIONS: &[&str] =
    &["rng", "random", "random_range", "random_bool", "make_rng"];

/// Every clock or OS-RNG read in `lexed`: line and what it is.
fn clock_and_rng_reads(lexed: &Lexed) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for index in 0..lexed.tokens.len() {
        let line = lexed.line(index);
        if let Some(name) = lexed.ident(index) {
            if CLOCK_TYPES.contains(&name) {
                let function = lexed
                    .ident(index + 3)
                    .filter(|_| lexed.is_path_separator(index + 1));
                if let Some(function) = function.filter(|function| function.starts_with("now")) {
                    found.push((line, format!("`{name}::{function}` reads the clock")));
                }
                if lexed.ident(index + 1) == Some("as") {
                    found.push((line, format!("renaming `{name}` hides its clock reads")));
                }
            }
            if OS_RNG_NAMES.contains(&name) {
                found.push((line, format!("`{name}` is the operating system's RNG")));
            }
            if name == "rand" && lexed.is_path_separator(index + 1) {
                let after = index + 3;
                let names: Vec<&str> = if lexed.is(after, &Token::Open(Delimiter::Brace)) {
                    (after..lexed.after_group(after))
                        .filter_map(|inner| lexed.ident(inner))
                        .collect()
                } else {
                    lexed.ident(after).into_iter().collect()
                };
                for function in names {
                    if RAND_THREAD_FUNCTIONS.contains(&function) {
                        found.push((
                            line,
                            format!("`rand::{function}` uses the thread RNG, seeded from the OS"),
                        ));
                    }
                }
            }
        }
        if lexed.is(index, &Token::Punct('.'))
            && lexed.ident(index + 1) == Some("elapsed")
            && lexed.is(index + 2, &Token::Open(Delimiter::Parenthesis))
        {
            found.push((line, "`.elapsed()` reads the clock".to_owned()));
        }
    }
    found
}

/// Clock and OS-RNG reads in the shipped code of `krate`, a crate not allowed to make them.
pub(super) fn check_clock_and_rng(
    shown: &str,
    krate: &str,
    shipped: &Lexed,
    problems: &mut Vec<String>,
) {
    for (line, what) in clock_and_rng_reads(shipped) {
        problems.push(format!(
            "rule `clock-and-rng`: {shown}:{line}: {what}, and {krate} may not read a clock or \
             the OS RNG outside its tests.\n  why: time and randomness are injected (a `now` \
             argument, the facade's `Clock`, a seeded RNG), so they can be controlled in tests \
             and replayed; docs/architecture.md lists the crates allowed to read them."
        ));
    }
}

/// Crates the sans-IO layers never name: an async runtime or an HTTP client.
const SANS_IO_BANNED: &[(&str, &str)] = &[
    ("tokio", "the sans-IO layers have no async runtime"),
    ("reqwest", "the sans-IO layers never do HTTP themselves"),
    ("hyper", "the sans-IO layers never do HTTP themselves"),
];

/// `tokio`, `reqwest` or `hyper` anywhere in the sources of a sans-IO crate.
pub(super) fn check_sans_io(shown: &str, krate: &str, lexed: &Lexed, problems: &mut Vec<String>) {
    for index in 0..lexed.tokens.len() {
        let Some(name) = lexed.ident(index) else {
            continue;
        };
        if let Some((banned, why)) = SANS_IO_BANNED.iter().find(|(banned, _)| *banned == name) {
            problems.push(format!(
                "rule `sans-io`: {shown}:{} names `{banned}` in {krate}.\n  \
                 why: {why} (docs/architecture.md, Architecture Invariant of {krate}).",
                lexed.line(index)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute_problems(source: &str) -> Vec<String> {
        let mut problems = Vec::new();
        check_test_attributes("t.rs", &Lexed::new(source).unwrap(), &mut problems);
        problems
    }

    fn reads(source: &str) -> Vec<String> {
        clock_and_rng_reads(&Lexed::new(source).unwrap().without_test_items())
            .into_iter()
            .map(|(line, what)| format!("{line}: {what}"))
            .collect()
    }

    #[test]
    fn the_attribute_rule_fires_on_ignore_and_should_panic_however_written() {
        let ignored = format!("#[test]\n#[{}]\nfn slow() {{}}", "ignore");
        assert_eq!(attribute_problems(&ignored).len(), 1);
        let with_reason = format!("#[{} = \"slow\"]\nfn slow() {{}}", "ignore");
        assert_eq!(attribute_problems(&with_reason).len(), 1);
        let panicking = format!(
            "#[test]\n#[{}(expected = \"boom\")]\nfn f() {{}}",
            "should_panic"
        );
        let problems = attribute_problems(&panicking);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("t.rs:2"), "{problems:?}");
        let conditional = format!("#[cfg_attr(miri, {})]\nfn f() {{}}", "ignore");
        assert_eq!(attribute_problems(&conditional).len(), 1);
        let nested = format!(
            "#[cfg_attr(all(unix, miri), allow(dead_code), {})]",
            "should_panic"
        );
        assert_eq!(attribute_problems(&nested).len(), 1);
        let in_macro = format!(
            "proptest! {{ #[test] #[{}] fn p(x in 0..1) {{}} }}",
            "ignore"
        );
        assert_eq!(attribute_problems(&in_macro).len(), 1);
    }

    #[test]
    fn the_attribute_rule_leaves_other_attributes_comments_and_strings_alone() {
        let source = format!(
            "// #[{0}]\n/// #[{0}]\n#[cfg_attr(feature = \"{0}\", derive(Debug))]\n\
             #[test]\nfn f() {{ let _ = \"#[{0}]\"; }}",
            "ignore"
        );
        assert_eq!(attribute_problems(&source), Vec::<String>::new());
    }

    #[test]
    fn the_clock_rule_fires_on_every_way_to_read_a_clock_or_the_os_rng() {
        for source in [
            "fn f() { let t = std::time::SystemTime::now(); }",
            "fn f() { let t = Instant::now(); }",
            "fn f() { let t = time::OffsetDateTime::now_utc(); }",
            "fn f() { let age = UNIX_EPOCH.elapsed(); }",
            "fn f() { let age = started.elapsed().unwrap(); }",
            "use std::time::SystemTime as Wall;",
            "fn f() { let mut rng = rand::rng(); }",
            "use rand::{Rng, rng};",
            "fn f() { let x: u8 = rand::random(); }",
            "fn f() { let mut rng = rand::thread_rng(); }",
            "fn f() { let rng = StdRng::from_os_rng(); }",
            "fn f() { let rng = ChaCha20Rng::from_entropy(); }",
            "fn f() { let mut key = [0; 32]; OsRng.fill_bytes(&mut key); }",
            "fn f() { getrandom::fill(&mut seed).unwrap(); }",
            "fn f() { tracing::info!(\"at {:?}\", SystemTime::now()); }",
        ] {
            assert_eq!(reads(source).len(), 1, "{source}: {:?}", reads(source));
        }
    }

    #[test]
    fn the_clock_rule_leaves_injected_time_tests_comments_and_lookalikes_alone() {
        let source = "
            //! Never calls `SystemTime::now()`; see `rand::rng()`.
            /// Takes `now` from the caller, unlike `Instant::now`.
            fn deadline(now: Timestamp, clock: &dyn Clock) -> Timestamp {
                let message = \"OsRng and thread_rng are not used here\";
                let elapsed = clock.now().elapsed_since(now);
                let total = stats.elapsed + elapsed;
                let getrandom_shim = rand_chacha::ChaCha20Rng::from_seed(seed);
                now
            }
            #[cfg(test)]
            mod tests {
                fn a_test_may_read_the_clock() { let _ = std::time::SystemTime::now(); }
            }
            #[cfg(test)]
            fn helper() { let _ = rand::rng(); }
            fn shipped() {}
        ";
        assert_eq!(reads(source), Vec::<String>::new());
        let after_tests = format!("{source}\nfn late() {{ let _ = Instant::now(); }}");
        assert_eq!(
            reads(&after_tests).len(),
            1,
            "code after a test module is still read"
        );
    }

    #[test]
    fn a_module_marked_cfg_test_inside_is_test_code() {
        let source = "#![cfg(test)]\nfn f() { let _ = Instant::now(); }";
        assert_eq!(reads(source), Vec::<String>::new());
    }

    #[test]
    fn the_clock_rule_names_the_crate_and_the_line() {
        let mut problems = Vec::new();
        let lexed = Lexed::new("fn a() {}\nfn b() { let _ = Instant::now(); }").unwrap();
        check_clock_and_rng(
            "crates/servicenow-table/src/client.rs",
            "servicenow-table",
            &lexed,
            &mut problems,
        );
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("crates/servicenow-table/src/client.rs:2")
                && problems[0].contains("servicenow-table may not read a clock"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_sans_io_rule_fires_on_a_runtime_or_an_http_client() {
        let mut problems = Vec::new();
        let lexed = Lexed::new(
            "use tokio::sync::Mutex;\nfn f() { reqwest::get(\"x\"); }\n// hyper in a comment",
        )
        .unwrap();
        check_sans_io(
            "crates/servicenow-auth/src/machine.rs",
            "servicenow-auth",
            &lexed,
            &mut problems,
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
