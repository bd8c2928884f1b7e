//! Chat markdown, a safe subset: emphasis, strong, strikethrough, code spans, fenced and
//! indented code blocks, lists, quotes, links and bare web addresses. Parsed by
//! `pulldown-cmark` into a small tree that the chat renders as DOM nodes (never as HTML
//! text): raw HTML stays text, only `http`, `https` and `mailto` become links, and an image
//! is shown as a link to it, never loaded (it would tell its host the reader's address).

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// Nesting kept as elements; deeper structure is flattened into its parent, so a hostile
/// message of thousands of `>` cannot make rendering recurse without bound.
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
    Break,
    Rule,
}

/// What an open frame becomes when it closes.
enum Frame {
    Element(Kind),
    Link(Option<String>),
    /// Its children join the parent (too deep, or not part of the subset).
    Flat,
    CodeBlock,
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
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let start = ["https://", "http://"]
            .iter()
            .filter_map(|s| lower.find(s))
            .min();
        let Some(start) = start else { break };
        let tail = &rest[start..];
        let mut end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(tail.len());
        // Sentence punctuation after an address is not part of it.
        while end > 0 && tail[..end].ends_with(['.', ',', ';', ':', '!', '?', ')', '\'']) {
            end -= 1;
        }
        let url = &tail[..end];
        match safe_url(url) {
            Some(url) => {
                if start > 0 {
                    out.push(Node::Text(rest[..start].to_owned()));
                }
                out.push(Node::Link(url.to_owned(), vec![Node::Text(url.to_owned())]));
            }
            None => out.push(Node::Text(rest[..start + end.max(1)].to_owned())),
        }
        rest = &rest[start + end.max(1)..];
    }
    if !rest.is_empty() {
        out.push(Node::Text(rest.to_owned()));
    }
}

/// Parses a chat message into the subset's tree.
pub fn parse(text: &str) -> Vec<Node> {
    let mut stack: Vec<(Frame, Vec<Node>)> = vec![(Frame::Flat, Vec::new())];
    let depth = |stack: &Vec<(Frame, Vec<Node>)>| {
        stack
            .iter()
            .filter(|(f, _)| !matches!(f, Frame::Flat))
            .count()
    };
    let in_link = |stack: &Vec<(Frame, Vec<Node>)>| {
        stack.iter().any(|(f, _)| matches!(f, Frame::Link(Some(_))))
    };
    for event in Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(tag) => {
                let frame = match tag {
                    Tag::Paragraph | Tag::Heading { .. } => Frame::Element(Kind::Paragraph),
                    Tag::Emphasis => Frame::Element(Kind::Emphasis),
                    Tag::Strong => Frame::Element(Kind::Strong),
                    Tag::Strikethrough => Frame::Element(Kind::Strike),
                    Tag::BlockQuote(_) => Frame::Element(Kind::Quote),
                    Tag::List(start) => Frame::Element(Kind::List(start)),
                    Tag::Item => Frame::Element(Kind::Item),
                    Tag::CodeBlock(CodeBlockKind::Fenced(_) | CodeBlockKind::Indented) => {
                        Frame::CodeBlock
                    }
                    Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                        Frame::Link(safe_url(&dest_url).map(str::to_owned))
                    }
                    _ => Frame::Flat,
                };
                let frame = match frame {
                    Frame::Element(_) | Frame::Link(Some(_)) if depth(&stack) >= MAX_DEPTH => {
                        Frame::Flat
                    }
                    Frame::Link(Some(_)) if in_link(&stack) => Frame::Flat,
                    f => f,
                };
                stack.push((frame, Vec::new()));
            }
            Event::End(end) => {
                if matches!(end, TagEnd::Image) {
                    if let Some((_, children)) = stack.last_mut() {
                        // An image shows as a link to it, with its description.
                        children.insert(0, Node::Text("image: ".into()));
                    }
                }
                if stack.len() < 2 {
                    continue;
                }
                let Some((frame, children)) = stack.pop() else {
                    continue;
                };
                let node = match frame {
                    Frame::Element(kind) => Some(Node::Element(kind, children)),
                    Frame::Link(Some(url)) => Some(Node::Link(url, children)),
                    Frame::CodeBlock => {
                        let code: String = children
                            .into_iter()
                            .map(|n| match n {
                                Node::Text(t) => t,
                                _ => String::new(),
                            })
                            .collect();
                        Some(Node::CodeBlock(code))
                    }
                    Frame::Link(None) | Frame::Flat => {
                        if let Some((_, parent)) = stack.last_mut() {
                            parent.extend(children);
                        }
                        None
                    }
                };
                if let (Some(node), Some((_, parent))) = (node, stack.last_mut()) {
                    parent.push(node);
                }
            }
            Event::Text(t) => {
                let raw = matches!(stack.last(), Some((Frame::CodeBlock, _))) || in_link(&stack);
                if let Some((_, children)) = stack.last_mut() {
                    if raw {
                        children.push(Node::Text(t.into_string()));
                    } else {
                        autolink(&t, children);
                    }
                }
            }
            // Raw HTML is shown as the text it is.
            Event::Html(t)
            | Event::InlineHtml(t)
            | Event::InlineMath(t)
            | Event::DisplayMath(t) => {
                if let Some((_, children)) = stack.last_mut() {
                    children.push(Node::Text(t.into_string()));
                }
            }
            Event::Code(t) => {
                if let Some((_, children)) = stack.last_mut() {
                    children.push(Node::Code(t.into_string()));
                }
            }
            Event::SoftBreak => {
                if let Some((_, children)) = stack.last_mut() {
                    children.push(Node::Text("\n".into()));
                }
            }
            Event::HardBreak => {
                if let Some((_, children)) = stack.last_mut() {
                    children.push(Node::Break);
                }
            }
            Event::Rule => {
                if let Some((_, children)) = stack.last_mut() {
                    children.push(Node::Rule);
                }
            }
            Event::FootnoteReference(t) => {
                if let Some((_, children)) = stack.last_mut() {
                    children.push(Node::Text(format!("[^{t}]")));
                }
            }
            Event::TaskListMarker(done) => {
                if let Some((_, children)) = stack.last_mut() {
                    children.push(Node::Text(if done { "☑ " } else { "☐ " }.into()));
                }
            }
        }
    }
    // Unbalanced frames cannot happen (the parser balances them); fold any left over.
    while stack.len() > 1 {
        if let Some((_, children)) = stack.pop() {
            if let Some((_, parent)) = stack.last_mut() {
                parent.extend(children);
            }
        }
    }
    stack.pop().map(|(_, c)| c).unwrap_or_default()
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
                Node::Break | Node::Rule => "\n".into(),
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
        let t = parse("```\nlet x = 1;\n```");
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
        assert!(all_links("`https://example.org` and\n\n    https://in.code/block").is_empty());
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
        assert!(depth(&t) <= MAX_DEPTH + 1, "depth {}", depth(&t));
        assert!(text_of(&t).contains("deep"));
        let md = format!("{}x{}", "*".repeat(3_000), "*".repeat(3_000));
        assert!(depth(&parse(&md)) <= MAX_DEPTH + 1);
    }
}
