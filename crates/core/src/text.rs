//! Text that people read and trust: names on the consent page, email
//! addresses that identify accounts.
//!
//! Unicode lets a string look like something it is not: bidirectional
//! overrides reorder what follows them (`Goo\u{202E}elg` renders as
//! "Google"), zero-width and filler characters hide inside an address, and
//! full-width forms (`ａｄｍｉｎ`) look like ASCII. One rule for all of it,
//! so every field that is shown or compared refuses the same characters.

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization as _;

/// Whether `c` is invisible, changes how the text around it is displayed,
/// or has no assigned meaning: controls, format characters (bidi
/// overrides, isolates and marks, zero-width spaces and joiners, the BOM,
/// soft hyphens), private-use and unassigned code points, line and
/// paragraph separators, and the letters and marks that render as nothing
/// (Hangul fillers, the braille blank, variation selectors, the combining
/// grapheme joiner).
pub fn is_deceptive(c: char) -> bool {
    use GeneralCategory::*;
    matches!(
        get_general_category(c),
        Control | Format | PrivateUse | Unassigned | Surrogate | LineSeparator | ParagraphSeparator
    ) || matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

/// Whether `s` is safe to show as a name: nothing deceptive, and no
/// whitespace but the ordinary space.
pub fn is_displayable(s: &str) -> bool {
    !s.chars()
        .any(|c| is_deceptive(c) || (c.is_whitespace() && c != ' '))
}

/// NFKC: compatibility forms (full-width letters, ligatures, superscripts)
/// folded to the characters they look like, so look-alikes compare equal.
pub fn fold(s: &str) -> String {
    s.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_and_invisible_characters_are_deceptive() {
        for c in [
            '\u{202E}',
            '\u{202A}',
            '\u{2066}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{3164}',
            '\u{115F}',
            '\u{2800}',
            '\u{FE0F}',
            '\u{E0041}',
            '\u{E000}',
            '\u{0007}',
            '\u{2028}',
        ] {
            assert!(is_deceptive(c), "U+{:04X}", c as u32);
        }
        for c in ['a', 'Ж', 'é', '中', '😀', ' ', '-', '\u{0301}'] {
            assert!(!is_deceptive(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn names_allow_scripts_and_spaces_but_not_tricks() {
        assert!(is_displayable("Claude Desktop"));
        assert!(is_displayable("Сервер файлов 文件服务器 🚀"));
        assert!(!is_displayable("Goo\u{202E}elg"));
        assert!(!is_displayable("Go\u{200B}ogle"));
        assert!(!is_displayable("tab\there"));
        assert!(!is_displayable("no\u{00A0}break"));
    }

    #[test]
    fn full_width_forms_fold_to_ascii() {
        assert_eq!(
            fold("ａｄｍｉｎ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
            "admin@example.com"
        );
        assert_eq!(fold("ﬁle"), "file");
    }
}
