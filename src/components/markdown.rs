//! Renders a chat message's markdown tree (`crate::markdown`) as DOM nodes: never HTML text.

use super::share::copy_to_clipboard;
use crate::markdown::{self, Kind, Node};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct MarkdownProps {
    pub text: AttrValue,
}

#[function_component(Markdown)]
pub fn markdown_view(props: &MarkdownProps) -> Html {
    let tree = use_memo(props.text.clone(), |t| markdown::parse(t));
    render(&tree)
}

fn render(nodes: &[Node]) -> Html {
    nodes.iter().map(node).collect::<Html>()
}

fn node(n: &Node) -> Html {
    match n {
        Node::Text(t) => html! { t.clone() },
        Node::Code(t) => html! { <code>{ t.clone() }</code> },
        Node::CodeBlock(t) => html! { <CodeBlock code={t.clone()} /> },
        Node::Rule => html! { <hr /> },
        Node::Link(url, children) => html! {
            <a href={url.clone()} target="_blank" rel="noopener noreferrer">{ render(children) }</a>
        },
        Node::Element(kind, children) => {
            let inner = render(children);
            match kind {
                Kind::Paragraph => html! { <p>{ inner }</p> },
                Kind::Emphasis => html! { <em>{ inner }</em> },
                Kind::Strong => html! { <strong>{ inner }</strong> },
                Kind::Strike => html! { <del>{ inner }</del> },
                Kind::Quote => html! { <blockquote>{ inner }</blockquote> },
                Kind::List(Some(start)) => html! { <ol start={start.to_string()}>{ inner }</ol> },
                Kind::List(None) => html! { <ul>{ inner }</ul> },
                Kind::Item => html! { <li>{ inner }</li> },
            }
        }
    }
}

#[derive(Properties, PartialEq)]
struct CodeProps {
    code: String,
}

/// A code block with a button that copies it.
#[function_component(CodeBlock)]
fn code_block(props: &CodeProps) -> Html {
    let copied = use_state(|| false);
    let on_copy = {
        let (copied, code) = (copied.clone(), props.code.clone());
        Callback::from(move |_: MouseEvent| copied.set(copy_to_clipboard(&code)))
    };
    html! {
        <div class="code-block">
            <pre><code>{ props.code.clone() }</code></pre>
            <button type="button" class="copy-code" onclick={on_copy}>
                { if *copied { "Copied" } else { "Copy code" } }
            </button>
        </div>
    }
}
