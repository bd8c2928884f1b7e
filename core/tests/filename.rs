//! Peer-supplied file names and types: every sanitizing rule, and which files render inline.

use hush_core::filename::{
    inline_kind, sanitize_file_name, InlineKind, FALLBACK_FILE_NAME, MAX_FILE_NAME_BYTES,
};

#[test]
fn sanitize_table() {
    // (input, expected, rule)
    let table: &[(&str, &str, &str)] = &[
        ("report.pdf", "report.pdf", "an ordinary name is unchanged"),
        (
            "Ünïcödé 文件.txt",
            "Ünïcödé 文件.txt",
            "non-ASCII letters are kept",
        ),
        ("../../etc/passwd", "passwd", "path components are dropped"),
        ("C:\\Windows\\evil.exe", "evil.exe", "Windows paths too"),
        (
            "dir/sub\\mixed.txt",
            "mixed.txt",
            "either separator, last one wins",
        ),
        ("uploads/", "file", "a trailing separator leaves nothing"),
        ("..", "file", "the parent directory is not a name"),
        (".", "file", "nor is the current directory"),
        (
            "...hidden",
            "hidden",
            "leading dots are stripped (no hidden files)",
        ),
        (". .bashrc", "bashrc", "leading dots and spaces together"),
        ("name. . ", "name", "trailing dots and spaces are stripped"),
        (
            "a.exe.",
            "a.exe",
            "a trailing dot cannot disguise the extension",
        ),
        (
            "  spaced  out.txt \t",
            "spaced  out.txt",
            "outer whitespace trimmed, inner kept",
        ),
        ("a\u{0000}b", "ab", "NUL is removed"),
        (
            "a\u{0007}\u{001B}[31mb",
            "a[31mb",
            "C0 controls (bell, escape) are removed",
        ),
        (
            "a\u{007F}b\u{0085}c\u{009B}d",
            "abcd",
            "DEL and C1 controls are removed",
        ),
        (
            "line\nbreak\r.txt",
            "linebreak.txt",
            "line breaks are removed",
        ),
        (
            "a\u{2028}b\u{2029}c",
            "abc",
            "line and paragraph separators are removed",
        ),
        (
            "photo\u{202E}gpj.exe",
            "photogpj.exe",
            "RLO cannot hide the real extension",
        ),
        (
            "a\u{202A}b\u{202B}c\u{202C}d\u{202D}e",
            "abcde",
            "embeddings and overrides",
        ),
        ("a\u{2066}b\u{2067}c\u{2068}d\u{2069}e", "abcde", "isolates"),
        ("a\u{200E}b\u{200F}c\u{061C}d", "abcd", "LRM, RLM and ALM"),
        (
            "in\u{200B}vis\u{200C}i\u{200D}ble\u{2060}.txt",
            "invisible.txt",
            "zero-width",
        ),
        ("\u{FEFF}bom.txt", "bom.txt", "a byte-order mark"),
        ("soft\u{00AD}hyphen", "softhyphen", "the soft hyphen"),
        (
            "tag\u{E0041}\u{E0042}s",
            "tags",
            "tag characters (invisible text)",
        ),
        (
            "<script>.html",
            "_script_.html",
            "Windows-forbidden characters become _",
        ),
        ("a:b\"c|d?e*f", "a_b_c_d_e_f", "all of them"),
        ("CON", "_CON", "device names are neutralised"),
        ("con", "_con", "in any case"),
        ("con.txt", "_con.txt", "also with an extension"),
        (
            "LPT1.tar.gz",
            "_LPT1.tar.gz",
            "also with several extensions",
        ),
        ("Com9", "_Com9", "COM ports"),
        ("com0.log", "_com0.log", "COM0"),
        ("lpt0", "_lpt0", "LPT0"),
        ("PRN", "_PRN", "PRN"),
        ("aux.c", "_aux.c", "AUX"),
        ("nul", "_nul", "NUL"),
        ("CON .txt", "_CON .txt", "a device name followed by spaces"),
        ("conin$", "_conin$", "CONIN$"),
        (
            "COM¹.txt",
            "_COM¹.txt",
            "superscript digits, which Windows also reserves",
        ),
        (
            "CONSOLE.txt",
            "CONSOLE.txt",
            "a longer word is not a device",
        ),
        ("COM10", "COM10", "COM10 is not a device"),
        (
            "my con.txt",
            "my con.txt",
            "a device name inside a name is fine",
        ),
        ("../CON", "_CON", "a device name after a path"),
        ("", FALLBACK_FILE_NAME, "empty falls back"),
        ("   ", FALLBACK_FILE_NAME, "whitespace only falls back"),
        (
            "\u{202E}\u{200B}\u{0000}",
            FALLBACK_FILE_NAME,
            "invisible only falls back",
        ),
        ("..\\..\\", FALLBACK_FILE_NAME, "separators only fall back"),
    ];
    for (input, expected, rule) in table {
        assert_eq!(sanitize_file_name(input), *expected, "{rule}: {input:?}");
    }
}

#[test]
fn sanitizing_is_idempotent() {
    // A name shown to the user is the name saved: sanitizing twice changes nothing.
    let inputs = [
        "../../etc/passwd",
        "photo\u{202E}gpj.exe",
        "con.txt",
        "name. . ",
        &"x".repeat(400),
        &format!("{}.png", "😀".repeat(70)),
        &format!("{}. .", "a".repeat(300)),
    ];
    for input in inputs {
        let once = sanitize_file_name(input);
        assert_eq!(sanitize_file_name(&once), once, "{input:?}");
    }
}

#[test]
fn long_names_are_capped_and_keep_a_short_extension() {
    let long = format!("{}.pdf", "a".repeat(400));
    let out = sanitize_file_name(&long);
    assert_eq!(out.len(), MAX_FILE_NAME_BYTES);
    assert!(out.ends_with(".pdf"));
    assert_eq!(out, format!("{}.pdf", "a".repeat(MAX_FILE_NAME_BYTES - 4)));

    // Exactly at the cap: untouched.
    let exact = format!("{}.txt", "b".repeat(MAX_FILE_NAME_BYTES - 4));
    assert_eq!(sanitize_file_name(&exact), exact);

    // An extension longer than 16 bytes is not kept: the whole name is cut instead.
    let long_ext = format!("{}.{}", "c".repeat(300), "e".repeat(17));
    let out = sanitize_file_name(&long_ext);
    assert_eq!(out, "c".repeat(MAX_FILE_NAME_BYTES));

    // A 16-byte extension is kept.
    let ext16 = format!("{}.{}", "d".repeat(300), "e".repeat(16));
    let out = sanitize_file_name(&ext16);
    assert_eq!(out.len(), MAX_FILE_NAME_BYTES);
    assert!(out.ends_with(&format!(".{}", "e".repeat(16))));

    // No extension at all.
    assert_eq!(sanitize_file_name(&"z".repeat(400)), "z".repeat(255));

    // Cutting must not leave a trailing dot or space behind.
    let dots = format!("{}. . x", "f".repeat(MAX_FILE_NAME_BYTES - 2));
    let out = sanitize_file_name(&dots);
    assert!(!out.ends_with(['.', ' ']), "{out:?}");
    assert!(out.len() <= MAX_FILE_NAME_BYTES);
}

#[test]
fn emoji_names_are_cut_on_a_char_boundary_at_the_byte_cap() {
    // 4-byte chars: the stem gets the most whole emoji that fit beside ".png".
    let name = format!("{}.png", "😀".repeat(70));
    let out = sanitize_file_name(&name);
    assert!(out.len() <= MAX_FILE_NAME_BYTES);
    assert_eq!(
        out,
        format!("{}.png", "😀".repeat((MAX_FILE_NAME_BYTES - 4) / 4))
    );
    // Without an extension, a 3-byte char that straddles the cap is dropped whole.
    let out = sanitize_file_name(&"€".repeat(100)); // 300 bytes
    assert_eq!(out, "€".repeat(MAX_FILE_NAME_BYTES / 3));
    // Mixed widths: one byte in front shifts every boundary.
    let out = sanitize_file_name(&format!("x{}", "😀".repeat(100)));
    assert_eq!(
        out,
        format!("x{}", "😀".repeat((MAX_FILE_NAME_BYTES - 1) / 4))
    );
}

#[test]
fn inline_kind_table() {
    use InlineKind::*;
    let table: &[(&str, &str, InlineKind, &str)] = &[
        ("x.png", "image/png", Image, "matching image"),
        ("x.PNG", "IMAGE/PNG", Image, "case-insensitive"),
        ("x.jpg", "image/jpeg", Image, "jpg"),
        (
            "x.jpeg",
            "image/jpeg; charset=binary",
            Image,
            "parameters ignored",
        ),
        ("x.gif", "image/gif", Image, "gif"),
        ("x.webp", "image/webp", Image, "webp"),
        ("x.avif", "image/avif", Image, "avif"),
        ("x.bmp", "image/bmp", Image, "bmp"),
        ("song.mp3", "audio/mpeg", Audio, "mp3"),
        ("song.ogg", "audio/ogg", Audio, "ogg"),
        ("song.opus", "audio/ogg", Audio, "opus in ogg"),
        ("song.opus", "audio/opus", Audio, "opus"),
        ("song.wav", "audio/wav", Audio, "wav"),
        ("song.wav", "audio/x-wav", Audio, "wav, legacy type"),
        ("song.m4a", "audio/mp4", Audio, "m4a"),
        ("song.aac", "audio/aac", Audio, "aac"),
        ("clip.mp4", "video/mp4", Video, "mp4"),
        ("clip.webm", "video/webm", Video, "webm video"),
        ("clip.webm", "audio/webm", Audio, "webm audio"),
        ("image.svg", "image/svg+xml", None, "SVG can run script"),
        ("x.png", "image/svg+xml", None, "SVG behind a png name"),
        ("x.svg", "image/png", None, "png type behind an svg name"),
        ("x.png", "text/html", None, "HTML behind a png name"),
        ("page.html", "text/html", None, "HTML"),
        ("data.xml", "application/xml", None, "XML"),
        ("doc.pdf", "application/pdf", None, "PDF"),
        ("x.png", "image/jpeg", None, "extension and type disagree"),
        ("x.mp4", "audio/mpeg", None, "video name, audio type"),
        ("x.png", "", None, "no type"),
        ("png", "image/png", None, "no extension"),
        ("x.png.exe", "image/png", None, "the last extension counts"),
        (
            "x.exe\u{202E}gnp.",
            "image/png",
            None,
            "bidi tricks are removed first",
        ),
        (
            "x.png ",
            "image/png",
            Image,
            "trailing space is trimmed first",
        ),
        ("a/b/x.png", "image/png", Image, "path is dropped first"),
        ("x.png", "image/png+xml", None, "suffix-extended type"),
        ("x.png", "image/*", None, "wildcard type"),
    ];
    for (name, mime, kind, rule) in table {
        assert_eq!(inline_kind(name, mime), *kind, "{rule}: {name:?} {mime:?}");
    }
}

mod paths {
    use hush_core::filename::{base_name, sanitize_path, MAX_PATH_BYTES, MAX_PATH_DEPTH};

    #[test]
    fn keeps_a_tree() {
        assert_eq!(
            sanitize_path("photos/2024/beach.jpg"),
            "photos/2024/beach.jpg"
        );
        assert_eq!(sanitize_path("a\\b\\c.txt"), "a/b/c.txt");
        assert_eq!(base_name("photos/2024/beach.jpg"), "beach.jpg");
    }

    #[test]
    fn never_climbs_or_is_absolute() {
        for hostile in [
            "../../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "C:\\Windows\\system.ini",
            "\\\\server\\share\\x",
            "./././x",
            "..",
            "a/./b/../c",
        ] {
            let p = sanitize_path(hostile);
            assert!(!p.starts_with('/'), "{hostile} → {p}");
            assert!(
                !p.split('/').any(|c| c.is_empty() || c == "." || c == ".."),
                "{hostile} → {p}"
            );
            assert!(!p.contains('\\') && !p.contains(':'), "{hostile} → {p}");
        }
        assert_eq!(sanitize_path("../../etc/passwd"), "etc/passwd");
        assert_eq!(
            sanitize_path("C:\\Windows\\system.ini"),
            "Windows/system.ini"
        );
        assert_eq!(sanitize_path(".."), "file");
        assert_eq!(sanitize_path("a/CON/aux.txt"), "a/_CON/_aux.txt");
    }

    #[test]
    fn bounded() {
        let deep = "d/".repeat(1000) + "f";
        let p = sanitize_path(&deep);
        assert_eq!(p.split('/').count(), MAX_PATH_DEPTH + 1);
        let long = format!("{}/f", vec!["x".repeat(250); 40].join("/"));
        let p = sanitize_path(&long);
        assert!(p.len() <= MAX_PATH_BYTES, "{}", p.len());
        assert!(p.ends_with("/f"));
    }
}
