//! File names and types received from peers.
//!
//! A peer chooses the name and the declared MIME type of every file it offers, so both are
//! hostile input. [`sanitize_file_name`] makes a name safe to show and to save under: it can
//! neither climb out of the download folder, nor hide its real extension behind bidi tricks or
//! invisible characters, nor hit a Windows device name or a name the filesystem refuses.
//! [`inline_kind`] decides whether a received file may be shown inline in the chat, and allows
//! only passive media formats whose name and declared type agree.

use crate::wire::is_bidi_control;

/// Longest file name we produce, in UTF-8 bytes: the per-name limit of ext4, APFS and (since
/// 255 UTF-8 bytes are never more than 255 UTF-16 units) NTFS.
pub const MAX_FILE_NAME_BYTES: usize = 255;
/// Longest extension (without the dot) kept when a name is shortened: long enough for real
/// extensions (`.markdown`, `.numbers`), short enough that shortening always leaves most of the
/// name.
pub const MAX_KEPT_EXTENSION_BYTES: usize = 16;
/// The name used when nothing of the peer's name survives.
pub const FALLBACK_FILE_NAME: &str = "file";

/// Characters Windows forbids in names (besides the path separators, which are handled first).
const WINDOWS_FORBIDDEN: &[char] = &['<', '>', ':', '"', '|', '?', '*'];
/// Windows device names that cannot be used as a file name, with or without an extension.
const RESERVED_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3",
    "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// How a received file may be shown in the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineKind {
    Image,
    Audio,
    Video,
    /// Not shown inline: offered as a download only.
    None,
}

/// Passive formats shown inline: (extension, MIME type, kind). A file qualifies only when both
/// its extension and its declared type match one row. No active formats (SVG, HTML, XML, PDF)
/// appear here: they can run script or load content when rendered.
const INLINE_TYPES: &[(&str, &str, InlineKind)] = &[
    ("png", "image/png", InlineKind::Image),
    ("jpg", "image/jpeg", InlineKind::Image),
    ("jpeg", "image/jpeg", InlineKind::Image),
    ("gif", "image/gif", InlineKind::Image),
    ("webp", "image/webp", InlineKind::Image),
    ("avif", "image/avif", InlineKind::Image),
    ("bmp", "image/bmp", InlineKind::Image),
    ("mp3", "audio/mpeg", InlineKind::Audio),
    ("ogg", "audio/ogg", InlineKind::Audio),
    ("oga", "audio/ogg", InlineKind::Audio),
    ("opus", "audio/ogg", InlineKind::Audio),
    ("opus", "audio/opus", InlineKind::Audio),
    ("wav", "audio/wav", InlineKind::Audio),
    ("wav", "audio/x-wav", InlineKind::Audio),
    ("wav", "audio/wave", InlineKind::Audio),
    ("m4a", "audio/mp4", InlineKind::Audio),
    ("m4a", "audio/x-m4a", InlineKind::Audio),
    ("aac", "audio/aac", InlineKind::Audio),
    ("mp4", "video/mp4", InlineKind::Video),
    ("webm", "video/webm", InlineKind::Video),
    ("webm", "audio/webm", InlineKind::Audio),
];

/// Makes a peer-supplied file name safe to display and to save under.
///
/// In order: keep only the part after the last `/` or `\`; drop control characters, bidi
/// controls and invisible characters; replace the characters Windows forbids with `_`; trim
/// whitespace, trailing dots and spaces and leading dots (no hidden files, no `..`); prefix a
/// Windows device name (`CON`, `con.txt`, `LPT1.tar.gz`) with `_`; cap the length at
/// [`MAX_FILE_NAME_BYTES`], keeping a short extension; fall back to [`FALLBACK_FILE_NAME`].
pub fn sanitize_file_name(name: &str) -> String {
    // Path components first: every separator is ASCII, so nothing later can create one.
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|&c| !is_hidden_or_control(c))
        .map(|c| {
            if WINDOWS_FORBIDDEN.contains(&c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut out = trim_dots_and_spaces(&cleaned).to_owned();
    if is_reserved_device_name(&out) {
        out.insert(0, '_');
    }
    let out = cap_length(out);
    if out.is_empty() {
        FALLBACK_FILE_NAME.to_owned()
    } else {
        out
    }
}

/// Most directory levels kept from a peer-supplied path (a folder sent as its files): deep
/// enough for real trees, and a hostile path cannot make us create thousands of directories.
pub const MAX_PATH_DEPTH: usize = 32;
/// Longest relative path we produce, in UTF-8 bytes (Linux's `PATH_MAX` less room for the
/// download directory itself).
pub const MAX_PATH_BYTES: usize = 2048;

/// Makes a peer-supplied relative path (`dir/sub/name.txt`, `/` or `\` separated) safe to show
/// and to recreate under a download directory: every component goes through
/// [`sanitize_file_name`]'s rules, components that name nothing or a parent (`.`, `..`, empty,
/// `C:`) are dropped, and at most [`MAX_PATH_DEPTH`] directories and [`MAX_PATH_BYTES`] bytes are
/// kept. The result joins its components with `/`, is never absolute, never climbs out of the
/// directory it is joined to, and its last component is the file's own name.
pub fn sanitize_path(path: &str) -> String {
    let mut parts: Vec<String> = path
        .split(['/', '\\'])
        .map(clean_component)
        .filter(|c| !c.is_empty())
        .collect();
    let Some(file) = parts.pop() else {
        return FALLBACK_FILE_NAME.to_owned();
    };
    // Keep the directories nearest the file when a path is too deep or too long.
    let skip = parts.len().saturating_sub(MAX_PATH_DEPTH);
    let mut dirs: Vec<String> = parts.split_off(skip);
    while !dirs.is_empty()
        && dirs.iter().map(|d| d.len() + 1).sum::<usize>() + file.len() > MAX_PATH_BYTES
    {
        dirs.remove(0);
    }
    dirs.push(file);
    dirs.join("/")
}

/// One path component made safe, or empty when nothing of it survives (or it named only the
/// current or parent directory, or a drive).
fn clean_component(c: &str) -> String {
    let cleaned: String = c
        .chars()
        .filter(|&c| !is_hidden_or_control(c))
        .map(|c| {
            if WINDOWS_FORBIDDEN.contains(&c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = trim_dots_and_spaces(&cleaned);
    // `C:` became `C_`: a drive prefix names no directory of the sender's tree.
    if trimmed.is_empty() || (trimmed.len() == 2 && trimmed.ends_with('_') && c.ends_with(':')) {
        return String::new();
    }
    let mut out = trimmed.to_owned();
    if is_reserved_device_name(&out) {
        out.insert(0, '_');
    }
    cap_length(out)
}

/// The file's own name: the last component of a (sanitized) path.
pub fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Characters that must not reach a file name: control characters (C0, DEL, C1, and the line
/// and paragraph separators), bidi controls (which can make `gpj.exe` read as `exe.jpg`), and
/// invisible format characters (zero-width ones, the soft hyphen, tag characters), which can
/// make two different names look the same.
fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || is_bidi_control(c)
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{00AD}' // soft hyphen
            | '\u{180E}' // Mongolian vowel separator
            | '\u{200B}'..='\u{200D}' // zero-width space, non-joiner, joiner
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{206A}'..='\u{206F}' // deprecated format characters
            | '\u{FEFF}' // zero-width no-break space (BOM)
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{E0000}'..='\u{E007F}' // tag characters
        )
}

/// Trims whitespace and dots at the start (a leading dot hides a file; `..` is the parent) and
/// whitespace and dots at the end (Windows drops trailing dots and spaces, so `a.exe.` would
/// become `a.exe`).
fn trim_dots_and_spaces(s: &str) -> &str {
    s.trim_matches(|c: char| c == '.' || c.is_whitespace())
}

/// Whether Windows would open a device instead of a file: the part before the first dot, with
/// trailing spaces ignored, is a device name in any case.
fn is_reserved_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    RESERVED_NAMES.iter().any(|r| stem.eq_ignore_ascii_case(r))
}

/// Cuts `name` to [`MAX_FILE_NAME_BYTES`] on a char boundary, keeping a short extension so the
/// file still opens with the right program.
fn cap_length(name: String) -> String {
    if name.len() <= MAX_FILE_NAME_BYTES {
        return name;
    }
    if let Some((stem, ext)) = name.rsplit_once('.') {
        if !stem.is_empty() && !ext.is_empty() && ext.len() <= MAX_KEPT_EXTENSION_BYTES {
            let room = MAX_FILE_NAME_BYTES - ext.len() - 1;
            let stem = trim_dots_and_spaces(truncate_on_char_boundary(stem, room));
            if !stem.is_empty() {
                return format!("{stem}.{ext}");
            }
        }
    }
    trim_dots_and_spaces(truncate_on_char_boundary(&name, MAX_FILE_NAME_BYTES)).to_owned()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate_on_char_boundary(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether a received file may be shown inline, and as what. Both the extension of the
/// sanitized name and the declared MIME type (parameters and case ignored) must name the same
/// passive format; anything else, including every active format, is [`InlineKind::None`].
pub fn inline_kind(name: &str, mime: &str) -> InlineKind {
    let name = sanitize_file_name(name);
    let Some((_, ext)) = name.rsplit_once('.') else {
        return InlineKind::None;
    };
    let ext = ext.to_ascii_lowercase();
    let mime = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    INLINE_TYPES
        .iter()
        .find(|(e, m, _)| *e == ext && *m == mime)
        .map_or(InlineKind::None, |&(_, _, kind)| kind)
}
