//! Record data is untrusted text: anyone who can write a field of a record chooses it. Before it
//! reaches a terminal, its control characters and escape sequences (ANSI CSI, OSC such as
//! hyperlinks or window titles, and the rest) are removed; before it reaches a CSV cell, a leading
//! `=`, `+`, `-` or `@` (and tab or carriage return) is neutralised so that a spreadsheet does not
//! run it as a formula; and an output file is created private (0600), new, and never through a
//! symbolic link.

use std::{
    borrow::Cow,
    fs::{File, OpenOptions},
    io,
    path::Path,
};

/// Text without control characters and terminal escape sequences, fit to print on a terminal.
///
/// Removed: every escape sequence (`ESC [ … final` CSI, `ESC ] … BEL|ESC \` OSC, `ESC P`/`X`/`^`/`_`
/// strings up to their terminator, and two-character `ESC x`), the 8-bit C1 forms of CSI (U+009B)
/// and OSC/DCS/SOS/PM/APC strings (U+009D, U+0090, U+0098, U+009E, U+009F), every other C0 and C1
/// control character and DEL, and the Unicode bidirectional overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069) that make text display in another order than it reads. Newlines, carriage
/// returns and tabs become spaces, so one value stays on one line. Everything else is kept.
pub(crate) fn terminal_text(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_care) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(character) = chars.next() {
        match character {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte in @..~.
                Some('[') => skip_csi(&mut chars),
                // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // nF sequences: intermediates (0x20–0x2F) then one final character.
                Some(' '..='/') => {
                    while chars.next_if(|next| (' '..='/').contains(next)).is_some() {}
                    chars.next();
                }
                // Any other two-character escape (ESC c, ESC 7, …), or a lone ESC at the end.
                Some(_) | None => (),
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\r' | '\t' => out.push(' '),
            other if needs_care(other) => (),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// Whether `character` is a control character, DEL, or a bidirectional override or isolate.
fn needs_care(character: char) -> bool {
    character.is_control()
        || ('\u{202a}'..='\u{202e}').contains(&character)
        || ('\u{2066}'..='\u{2069}').contains(&character)
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for next in chars.by_ref() {
        if ('@'..='~').contains(&next) {
            return;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(next) = chars.next() {
        match next {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => (),
        }
    }
}

/// What CSV output does with cells that a spreadsheet would read as a formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum CsvFormulas {
    /// Prefix a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return with `'`, so
    /// spreadsheets show it as text (OWASP's CSV injection advice). A negative number such as
    /// `-5` becomes `'-5` too.
    #[default]
    Neutralise,
    /// Write every cell exactly as the instance sent it (for programs that read the CSV, never
    /// for a file a person opens in a spreadsheet).
    Keep,
}

impl CsvFormulas {
    /// The cell as written under this setting.
    pub(crate) fn cell<'a>(self, text: &'a str) -> Cow<'a, str> {
        match self {
            Self::Keep => Cow::Borrowed(text),
            Self::Neutralise if starts_a_formula(text) => Cow::Owned(format!("'{text}")),
            Self::Neutralise => Cow::Borrowed(text),
        }
    }
}

/// Whether a spreadsheet may take `text` for a formula.
fn starts_a_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Creates `path` for output: mode 0600 on Unix, refusing an existing file (or symbolic link)
/// unless `overwrite`, and never following a symbolic link. With `overwrite`, an existing entry
/// (a symbolic link itself, not its target) is removed first and a new file created in its place.
///
/// # Errors
///
/// What the operating system says: `AlreadyExists` for an existing file without `overwrite`.
pub(crate) fn create_private_file(path: &Path, overwrite: bool) -> io::Result<File> {
    if overwrite {
        match std::fs::remove_file(path) {
            Ok(()) => (),
            Err(error) if error.kind() == io::ErrorKind::NotFound => (),
            Err(error) => return Err(error),
        }
    }
    let mut options = OpenOptions::new();
    // create_new is O_CREAT|O_EXCL: it fails on any existing entry, a symbolic link included.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_NOFOLLOW, belt and braces beside O_EXCL: a link at the path is never followed.
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_never_reach_the_terminal() {
        for (data, shown) in [
            ("plain text, ünïcode ✓", "plain text, ünïcode ✓"),
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("\u{1b}[2J\u{1b}[Hcleared", "cleared"),
            // OSC 8 hyperlink and OSC 0 window title, with BEL and with ST.
            (
                "\u{1b}]8;;https://evil.example\u{7}click\u{1b}]8;;\u{7}",
                "click",
            ),
            ("\u{1b}]0;pwned\u{1b}\\title", "title"),
            // 8-bit CSI and OSC.
            ("\u{9b}31mred", "red"),
            ("\u{9d}0;x\u{9c}after", "after"),
            // DCS string, nF and two-character escapes.
            ("\u{1b}Pq#0;2;0;0;0\u{1b}\\sixel", "sixel"),
            ("\u{1b}(0box\u{1b}cback", "boxback"),
            ("bell\u{7}back\u{8}del\u{7f}nul\u{0}", "bellbackdelnul"),
            ("line one\nline two\ttab\rcr", "line one line two tab cr"),
            ("abc\u{202e}fed\u{2066}x\u{2069}", "abcfedx"),
            ("trailing escape \u{1b}", "trailing escape "),
            ("\u{1b}[12;34", ""),
            ("\u{1b}[1;31mbold red", "bold red"),
        ] {
            assert_eq!(terminal_text(data), shown, "{data:?}");
        }
        assert!(matches!(terminal_text("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn formulas_are_neutralised_unless_kept() {
        for (cell, neutralised) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("INC0010001", "INC0010001"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(CsvFormulas::Neutralise.cell(cell), neutralised, "{cell:?}");
            assert_eq!(CsvFormulas::Keep.cell(cell), cell);
        }
    }

    #[cfg(unix)]
    #[test]
    fn output_files_are_private_new_and_never_through_a_link() {
        use std::os::unix::fs::{MetadataExt as _, symlink};

        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("out.csv");
        create_private_file(&path, false).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let again = create_private_file(&path, false).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);

        // A link planted at the path is refused, and its target is left alone.
        let target = directory.path().join("victim");
        std::fs::write(&target, "keep me").unwrap();
        let link = directory.path().join("link.csv");
        symlink(&target, &link).unwrap();
        assert!(create_private_file(&link, false).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");

        // Overwriting replaces the link itself, never writes through it.
        create_private_file(&link, true).unwrap();
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(std::fs::metadata(&link).unwrap().mode() & 0o777, 0o600);
    }
}
