//! Chat markdown, a safe subset: emphasis, strong, strikethrough, code spans, fenced code
//! blocks, lists, quotes, links and bare web addresses, parsed into a small tree that the chat
//! renders as DOM nodes (never as HTML text): raw HTML stays text, only `http`, `https` and
//! `mailto` become links, and an image is shown as a link to it, never loaded (it would tell
//! its host the reader's address).
//!
//! A parser of its own rather than `pulldown-cmark`: that crate (its full CommonMark grammar,
//! entity and Unicode tables) added 73 KB of gzip to the wasm, a third of the whole first
//! visit, for a subset a few hundred lines parse. The subset follows CommonMark where it
//! overlaps: a block starts at the start of a line, emphasis needs a closing delimiter, a
//! backslash escapes punctuation.

/// Nesting kept as elements; deeper structure stays text, so a hostile message of thousands
/// of `>` or `*` cannot make parsing or rendering recurse without bound.
pub const MAX_DEPTH: usize = 12;
/// Link targets longer than this stay text.
pub const MAX_URL_BYTES: usize = 2_048;

/// An element of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Paragraph,
    Emphasis,
    Strong,
    Strike,
    Quote,
    /// A list; `Some(start)` when numbered.
    List(Option<u64>),
    Item,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Text(String),
    Element(Kind, Vec<Node>),
    /// A link to a safe address (see [`safe_url`]).
    Link(String, Vec<Node>),
    Code(String),
    /// A code block's text (shown with a copy button).
    CodeBlock(String),
    Rule,
}

/// The address itself when it is safe to link: `http`, `https` or `mailto`, no whitespace or
/// control characters, not absurdly long.
pub fn safe_url(url: &str) -> Option<&str> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok = ["http://", "https://", "mailto:"]
        .iter()
        .any(|s| lower.starts_with(s));
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (scheme_ok && clean && url.len() <= MAX_URL_BYTES && url.len() > 8).then_some(url)
}

/// Splits text into plain runs and links around bare web addresses.
fn autolink(text: &str, out: &mut Vec<Node>) {
    // Lower-cased once (ASCII only, so byte offsets agree with `text`).
    let lower = text.to_ascii_lowercase();
    let mut at = 0;
    let mut plain_from = 0;
    while let Some(start) = ["https://", "http://"]
        .iter()
        .filter_map(|s| lower[at..].find(s).map(|p| at + p))
        .min()
    {
        let tail = &text[start..];
        let mut end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(tail.len());
        // Sentence punctuation after an address is not part of it.
        while end > 0 && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')', '\'']) {
            end -= 1;
        }
        if let Some(url) = safe_url(&tail[..end]) {
            if start > plain_from {
                out.push(Node::Text(text[plain_from..start].to_owned()));
            }
            out.push(Node::Link(url.to_owned(), vec![Node::Text(url.to_owned())]));
            plain_from = start + end;
        }
        // The scheme is ASCII: one byte on is a character boundary.
        at = start + end.max(1);
    }
    if plain_from < text.len() {
        out.push(Node::Text(text[plain_from..].to_owned()));
    }
}

/// Parses a chat message into the subset's tree.
pub fn parse(text: &str) -> Vec<Node> {
    let lines: Vec<&str> = text.lines().collect();
    blocks(&lines, 0)
}

/// A list item's marker: `- `, `* `, `+ ` or `1. ` / `1) `; the item's text and, for a
/// numbered one, its number.
fn list_item(line: &str) -> Option<(Option<u64>, &str)> {
    let t = line.trim_start();
    // Indented four or more, it is text.
    if line.len() - t.len() > 3 {
        return None;
    }
    for m in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(m) {
            return Some((None, rest));
        }
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = &t[digits..];
        if let Some(item) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some((t[..digits].parse().ok(), item));
        }
    }
    None
}

fn fence(line: &str) -> Option<&'static str> {
    let t = line.trim_start();
    if t.starts_with("```") {
        Some("```")
    } else if t.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

fn is_rule(line: &str) -> bool {
    let t: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    t.len() >= 3 && ['-', '*', '_'].iter().any(|c| t.iter().all(|x| x == c))
}

/// The blocks of `lines`, at nesting `depth` (quotes and lists nest).
fn blocks(lines: &[&str], depth: usize) -> Vec<Node> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        if let Some(f) = fence(line) {
            let end = lines[i + 1..]
                .iter()
                .position(|l| l.trim_start().starts_with(f))
                .map_or(lines.len(), |p| i + 1 + p);
            let mut code = String::new();
            for l in &lines[i + 1..end] {
                code.push_str(l);
                code.push('\n');
            }
            out.push(Node::CodeBlock(code));
            i = end + 1;
            continue;
        }
        if line.trim_start().starts_with('>') {
            let end = lines[i..]
                .iter()
                .position(|l| !l.trim_start().starts_with('>'))
                .map_or(lines.len(), |p| i + p);
            let inner: Vec<&str> = lines[i..end]
                .iter()
                .map(|l| {
                    let t = &l.trim_start()[1..];
                    t.strip_prefix(' ').unwrap_or(t)
                })
                .collect();
            if depth < MAX_DEPTH {
                out.push(Node::Element(Kind::Quote, blocks(&inner, depth + 1)));
            } else {
                out.extend(blocks_flat(&inner));
            }
            i = end;
            continue;
        }
        if is_rule(line) {
            out.push(Node::Rule);
            i += 1;
            continue;
        }
        if let Some((number, _)) = list_item(line) {
            let mut items = Vec::new();
            while let Some((n, item)) = lines.get(i).and_then(|l| list_item(l)) {
                if n.is_some() != number.is_some() {
                    break;
                }
                let content = if depth < MAX_DEPTH {
                    blocks(&[item], depth + 1)
                } else {
                    inline(item, MAX_DEPTH)
                };
                // A one-line item holds its text, not a paragraph.
                let content = match content.as_slice() {
                    [Node::Element(Kind::Paragraph, c)] => c.clone(),
                    _ => content,
                };
                items.push(Node::Element(Kind::Item, content));
                i += 1;
            }
            out.push(Node::Element(Kind::List(number), items));
            continue;
        }
        // A paragraph: up to a blank line or the start of another block.
        let end = lines[i + 1..]
            .iter()
            .position(|l| {
                l.trim().is_empty()
                    || fence(l).is_some()
                    || l.trim_start().starts_with('>')
                    || list_item(l).is_some()
            })
            .map_or(lines.len(), |p| i + 1 + p);
        let mut text = lines[i..end].join("\n");
        // A heading reads as a strong paragraph.
        let heading = text.starts_with('#') && text.trim_start_matches('#').starts_with(' ');
        if heading {
            text = text.trim_start_matches('#').trim_start().to_owned();
        }
        let content = inline(&text, depth);
        let content = if heading {
            vec![Node::Element(Kind::Strong, content)]
        } else {
            content
        };
        out.push(Node::Element(Kind::Paragraph, content));
        i = end;
    }
    out
}

/// Blocks past the nesting bound: their lines as plain paragraphs.
fn blocks_flat(lines: &[&str]) -> Vec<Node> {
    vec![Node::Element(
        Kind::Paragraph,
        vec![Node::Text(lines.join("\n"))],
    )]
}

/// Delimiters of emphasis, longest first.
const DELIMITERS: [(&str, Kind); 5] = [
    ("**", Kind::Strong),
    ("__", Kind::Strong),
    ("~~", Kind::Strike),
    ("*", Kind::Emphasis),
    ("_", Kind::Emphasis),
];

/// Why an emphasis does not open at a place.
enum NoClose {
    /// Not here (the opening is followed by a space, or is inside a word).
    NotHere,
    /// No closing anywhere after: no later opening of this delimiter can close either.
    NoneAfter,
}

/// Where the emphasis that `open` starts at `at` closes, by CommonMark's flanking rules: an
/// opening is followed by non-space, and when followed by punctuation it must follow space or
/// punctuation; a closing mirrors that. An underscore never opens or closes inside a word
/// (`snake_case`, `window.__name`).
fn closing(text: &str, at: usize, open: &str) -> Result<usize, NoClose> {
    let punct = |c: char| c.is_ascii_punctuation();
    let inner_start = at + open.len();
    let after = text[inner_start..]
        .chars()
        .next()
        .ok_or(NoClose::NoneAfter)?;
    let before_open = text[..at].chars().next_back();
    let left_flanking = !after.is_whitespace()
        && (!punct(after) || before_open.is_none_or(|c| c.is_whitespace() || punct(c)));
    let underscore = open.starts_with('_');
    if !left_flanking
        || (underscore
            && before_open.is_some_and(|c| c.is_alphanumeric() || punct(c) && c != '(' && c != '['))
    {
        return Err(NoClose::NotHere);
    }
    let mut from = inner_start + after.len_utf8();
    while let Some(p) = text[from..].find(open) {
        let close = from + p;
        let before = text[..close].chars().next_back();
        let next = text[close + open.len()..].chars().next();
        let right_flanking = before.is_some_and(|c| !c.is_whitespace())
            && (before.is_some_and(|c| !punct(c))
                || next.is_none_or(|c| c.is_whitespace() || punct(c)));
        let word_inside = underscore && next.is_some_and(char::is_alphanumeric);
        if right_flanking && !word_inside {
            return Ok(close);
        }
        from = close + open.len();
    }
    // Every candidate after here was tried; none closes, whatever opens later.
    Err(NoClose::NoneAfter)
}

/// `[text](url)` at `at` (the `[`): the text, the url and the end.
fn link_at(text: &str, at: usize) -> Option<(&str, &str, usize)> {
    let close = at + 1 + text[at + 1..].find(']')?;
    let rest = text[close + 1..].strip_prefix('(')?;
    let url_end = rest.find(')')?;
    let url = rest[..url_end].trim();
    Some((&text[at + 1..close], url, close + 2 + url_end + 1))
}

/// Inline content: code spans, links, images, autolinks, emphasis, escapes.
fn inline(text: &str, depth: usize) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    let mut plain = String::new();
    let flush = |plain: &mut String, out: &mut Vec<Node>| {
        if !plain.is_empty() {
            autolink(plain, out);
            plain.clear();
        }
    };
    // Each search below scans forward; one that found nothing from a place finds nothing from
    // any later place, so it is not repeated: a hostile line of thousands of unclosed `*`, `[`
    // or backticks parses in linear time.
    let mut dead = [false; DELIMITERS.len()];
    let mut dead_ticks: Vec<usize> = Vec::new();
    let last_bracket = text.rfind(']');
    let last_paren = text.rfind(')');
    let last_angle = text.rfind('>');
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let Some(c) = rest.chars().next() else { break };
        // A backslash makes the punctuation after it plain.
        if c == '\\' {
            if let Some(n) = rest[1..].chars().next().filter(char::is_ascii_punctuation) {
                plain.push(n);
                i += 1 + n.len_utf8();
                continue;
            }
        }
        if c == '`' {
            let ticks = rest.bytes().take_while(|b| *b == b'`').count();
            let fence = &rest[..ticks];
            let found = if dead_ticks.contains(&ticks) {
                None
            } else {
                rest[ticks..].find(fence)
            };
            if found.is_none() && !dead_ticks.contains(&ticks) {
                dead_ticks.push(ticks);
            }
            if let Some(p) = found {
                flush(&mut plain, &mut out);
                let code = &rest[ticks..ticks + p];
                let code = if code.len() > 2 && code.starts_with(' ') && code.ends_with(' ') {
                    &code[1..code.len() - 1]
                } else {
                    code
                };
                out.push(Node::Code(code.to_owned()));
                i += ticks + p + ticks;
                continue;
            }
            plain.push_str(fence);
            i += ticks;
            continue;
        }
        if c == '<' && last_angle.is_some_and(|a| a > i) {
            if let Some(end) = rest.find('>') {
                if let Some(url) = safe_url(&rest[1..end]) {
                    flush(&mut plain, &mut out);
                    out.push(Node::Link(url.to_owned(), vec![Node::Text(url.to_owned())]));
                    i += end + 1;
                    continue;
                }
            }
        }
        let image = c == '!' && rest[1..].starts_with('[');
        let closes = last_bracket.is_some_and(|b| b > i) && last_paren.is_some_and(|p| p > i);
        if (c == '[' || image) && closes {
            let at = i + usize::from(image);
            if let Some((label, url, end)) = link_at(text, at) {
                flush(&mut plain, &mut out);
                let mut children = if depth < MAX_DEPTH {
                    // No link inside a link: the label's own addresses stay text.
                    inline_no_links(label, depth + 1)
                } else {
                    vec![Node::Text(label.to_owned())]
                };
                if image {
                    children.insert(0, Node::Text("image: ".into()));
                }
                match safe_url(url) {
                    Some(url) if depth < MAX_DEPTH => {
                        out.push(Node::Link(url.to_owned(), children))
                    }
                    _ => out.push(Node::Text(text[i..end].to_owned())),
                }
                i = end;
                continue;
            }
        }
        if depth < MAX_DEPTH {
            let mut found = None;
            for (k, (d, kind)) in DELIMITERS.iter().enumerate() {
                if dead[k] || !rest.starts_with(d) {
                    continue;
                }
                match closing(text, i, d) {
                    Ok(close) => {
                        found = Some((*d, *kind, close));
                        break;
                    }
                    Err(NoClose::NoneAfter) => dead[k] = true,
                    Err(NoClose::NotHere) => {}
                }
            }
            if let Some((open, kind, close)) = found {
                flush(&mut plain, &mut out);
                let inner = &text[i + open.len()..close];
                out.push(Node::Element(kind, inline(inner, depth + 1)));
                i = close + open.len();
                continue;
            }
        }
        plain.push(c);
        i += c.len_utf8();
    }
    flush(&mut plain, &mut out);
    out
}

/// Inline content of a link's label: everything but links (their text stays).
fn inline_no_links(text: &str, depth: usize) -> Vec<Node> {
    inline(text, depth)
        .into_iter()
        .flat_map(|n| match n {
            Node::Link(_, children) => children,
            other => vec![other],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deepest nesting in a tree.
    fn depth(nodes: &[Node]) -> usize {
        nodes
            .iter()
            .map(|n| match n {
                Node::Element(_, c) | Node::Link(_, c) => 1 + depth(c),
                _ => 1,
            })
            .max()
            .unwrap_or(0)
    }

    fn text_of(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| match n {
                Node::Text(t) | Node::Code(t) | Node::CodeBlock(t) => t.clone(),
                Node::Element(_, c) | Node::Link(_, c) => text_of(c),
                Node::Rule => "\n".into(),
            })
            .collect()
    }

    fn links(nodes: &[Node], out: &mut Vec<String>) {
        for n in nodes {
            match n {
                Node::Link(u, c) => {
                    out.push(u.clone());
                    links(c, out);
                }
                Node::Element(_, c) => links(c, out),
                _ => {}
            }
        }
    }

    fn all_links(md: &str) -> Vec<String> {
        let mut out = Vec::new();
        links(&parse(md), &mut out);
        out
    }

    #[test]
    fn the_subset_is_recognised() {
        let t = parse("*em* **strong** ~~gone~~ `code`");
        let Node::Element(Kind::Paragraph, c) = &t[0] else {
            panic!("a paragraph: {t:?}");
        };
        assert!(matches!(&c[0], Node::Element(Kind::Emphasis, _)));
        assert!(c
            .iter()
            .any(|n| matches!(n, Node::Element(Kind::Strong, _))));
        assert!(c
            .iter()
            .any(|n| matches!(n, Node::Element(Kind::Strike, _))));
        assert!(c.iter().any(|n| *n == Node::Code("code".into())));
        let t = parse("```rust\nlet x = 1;\n```");
        assert_eq!(t, vec![Node::CodeBlock("let x = 1;\n".into())]);
        let t = parse("> quoted\n\n1. one\n2. two\n\n- a\n- b");
        assert!(matches!(&t[0], Node::Element(Kind::Quote, _)));
        assert!(matches!(&t[1], Node::Element(Kind::List(Some(1)), items) if items.len() == 2));
        assert!(matches!(&t[2], Node::Element(Kind::List(None), _)));
    }

    /// Invariant: raw HTML is shown as text; it never becomes an element.
    #[test]
    fn raw_html_stays_text() {
        let md = "<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)> there";
        let t = parse(md);
        let shown = text_of(&t);
        assert!(shown.contains("<script>alert(1)</script>"));
        assert!(shown.contains("<img src=x onerror=alert(1)>"));
        assert!(all_links(md).is_empty());
    }

    /// Invariant: only http, https and mailto become links; images become links, never
    /// images, and unsafe ones stay text.
    #[test]
    fn only_safe_addresses_become_links() {
        assert_eq!(
            all_links("[a](https://example.org/x) [b](javascript:alert(1)) [c](data:text/html,x) [d](mailto:a@b.org) [e](HTTP://EXAMPLE.ORG)"),
            ["https://example.org/x", "mailto:a@b.org", "HTTP://EXAMPLE.ORG"]
        );
        let img = parse("![cat](https://example.org/cat.png)");
        assert_eq!(
            all_links("![cat](https://example.org/cat.png)"),
            ["https://example.org/cat.png"]
        );
        assert!(text_of(&img).contains("image: cat"));
        assert!(all_links("![x](javascript:alert(1))").is_empty());
        assert_eq!(
            all_links("see https://example.org/a_b?c=d, and http://x.test/."),
            ["https://example.org/a_b?c=d", "http://x.test/"]
        );
        assert!(
            all_links("`https://example.org` and\n\n```\nhttps://in.code/block\n```").is_empty()
        );
        assert_eq!(
            all_links("[https://outer.example](https://inner.example)"),
            ["https://inner.example"],
            "no link inside a link"
        );
    }

    /// Invariant: nesting is bounded whatever the input, and no text is lost by it.
    #[test]
    fn deep_nesting_is_flattened() {
        let md = format!("{}deep", "> ".repeat(5_000));
        let t = parse(&md);
        // Quotes to MAX_DEPTH, then a paragraph and its text.
        assert!(depth(&t) <= MAX_DEPTH + 2, "depth {}", depth(&t));
        assert!(text_of(&t).contains("deep"));
        let md = format!("{}x{}", "*".repeat(3_000), "*".repeat(3_000));
        assert!(depth(&parse(&md)) <= MAX_DEPTH + 2);
    }

    /// Invariant: text that is not markdown stays as written.
    #[test]
    fn plain_text_stays_plain() {
        for plain in [
            "snake_case_name here",
            "a * b * c",
            "2 * 3 = 6",
            "[not a link]",
            "<b>x</b>",
        ] {
            let t = parse(plain);
            assert_eq!(text_of(&t), plain, "{t:?}");
            assert_eq!(depth(&t), 2, "a paragraph of text: {t:?}");
        }
        assert_eq!(text_of(&parse("\\*not em\\*")), "*not em*");
    }

    /// Invariant: hostile input parses in linear time: 64 KiB of unclosed delimiters would
    /// take minutes if each opening searched the rest of the line again.
    #[test]
    fn unclosed_delimiters_do_not_make_parsing_quadratic() {
        let started = std::time::Instant::now();
        for unit in [
            "**a ",
            "[a",
            "[a](",
            "`a ``b ",
            "<a ",
            "_a ",
            "~~a ",
            "http://a ",
        ] {
            let md = unit.repeat(64 * 1024 / unit.len());
            let t = parse(&md);
            assert!(!t.is_empty());
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn emphasis_follows_the_flanking_rules() {
        let em = |md: &str| {
            let t = parse(md);
            depth(&t) > 2
        };
        assert!(em("*a*") && em("**a**") && em("_a_") && em("__a__") && em("~~a~~"));
        assert!(em("(*a*)") && em("say *this*."));
        assert!(!em("window.__xss=1 and window.__xss=2"));
        assert!(!em("a_b_c"));
        assert!(!em("x * a * y"));
        assert!(!em("x=*1 y=*2"));
    }
}
