//! A small HTML-to-text converter for WebFetch: keeps the readable text and the
//! document's structure (headings, paragraphs, list items, links) and drops scripts,
//! styles and markup. It is a tolerant scanner, not a full HTML parser: real pages
//! are often malformed, and all a model needs is the words in order.

/// Elements whose content is never text for a reader.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "head", "title", "iframe", "object", "canvas",
];

/// Elements that start and end a block of text.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "header",
    "hr",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "ul",
];

/// The readable text of `html`, with `# ` headings, `- ` list items and `[text](url)` links.
pub fn html_to_text(html: &str) -> String {
    let mut out = Writer::default();
    if let Some(title) = title(html) {
        out.text(&title);
        out.block_break();
    }
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.text(&decode_entities(&rest[..lt]));
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(tag) = Tag::parse(rest) else {
            // A lone `<` is text.
            out.text("<");
            rest = &rest[1..];
            continue;
        };
        rest = &rest[tag.len..];
        if !tag.closing && SKIPPED.contains(&tag.name.as_str()) {
            rest = skip_element(rest, &tag.name);
            continue;
        }
        out.tag(&tag);
    }
    out.text(&decode_entities(rest));
    out.finish()
}

/// The document's `<title>`, whitespace collapsed.
fn title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let close = open_end + lower[open_end..].find("</title")?;
    let text = decode_entities(&html[open_end..close]);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// Skips past `</name>` (case-insensitive), or to the end if it never closes.
fn skip_element<'a>(rest: &'a str, name: &str) -> &'a str {
    let lower = rest.to_ascii_lowercase();
    let needle = format!("</{name}");
    match lower.find(&needle) {
        Some(i) => {
            let after = &rest[i..];
            after.find('>').map_or("", |j| &after[j + 1..])
        }
        None => "",
    }
}

#[derive(Debug)]
struct Tag {
    name: String,
    closing: bool,
    attrs: String,
    /// Bytes from `<` to just past `>`.
    len: usize,
}

impl Tag {
    /// Parses a tag at the start of `text` (which begins with `<`).
    fn parse(text: &str) -> Option<Tag> {
        let bytes = text.as_bytes();
        let mut i = 1;
        let closing = bytes.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let special = matches!(bytes.get(i), Some(b'!') | Some(b'?'));
        if !special && !bytes.get(i).is_some_and(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let name_start = i;
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'!' | b'?' | b'-'))
        {
            i += 1;
        }
        let name = text[name_start..i].to_ascii_lowercase();
        // Find the closing `>`, skipping quoted attribute values.
        let mut quote: Option<u8> = None;
        let attrs_start = i;
        while let Some(&b) = bytes.get(i) {
            match (quote, b) {
                (Some(q), _) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(b),
                (None, b'>') => {
                    return Some(Tag {
                        name,
                        closing,
                        attrs: text[attrs_start..i].to_string(),
                        len: i + 1,
                    })
                }
                _ => {}
            }
            i += 1;
        }
        // Unterminated tag: swallow the rest rather than print markup.
        Some(Tag {
            name,
            closing,
            attrs: String::new(),
            len: text.len(),
        })
    }

    /// The value of attribute `key`, entity-decoded.
    fn attr(&self, key: &str) -> Option<String> {
        let lower = self.attrs.to_ascii_lowercase();
        let mut from = 0;
        while let Some(pos) = lower[from..].find(key) {
            let at = from + pos;
            from = at + key.len();
            let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
            let rest = lower[from..].trim_start();
            if !before_ok || !rest.starts_with('=') {
                continue;
            }
            let value_start = self.attrs.len() - rest.len() + 1;
            let value = self.attrs[value_start..].trim_start();
            let raw = match value.chars().next() {
                Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or(""),
                _ => value
                    .split(|c: char| c.is_whitespace())
                    .next()
                    .unwrap_or(""),
            };
            return Some(decode_entities(raw));
        }
        None
    }
}

/// Builds the text, tracking just enough state for whitespace and links.
#[derive(Default)]
struct Writer {
    out: String,
    pre_depth: usize,
    /// Open links: where their text starts in `out`, and their target.
    links: Vec<(usize, Option<String>)>,
}

impl Writer {
    fn text(&mut self, text: &str) {
        if self.pre_depth > 0 {
            self.out.push_str(text);
            return;
        }
        let mut words = text.split_whitespace().peekable();
        if words.peek().is_none() {
            if !text.is_empty() {
                self.space();
            }
            return;
        }
        if text.starts_with(char::is_whitespace) {
            self.space();
        }
        while let Some(word) = words.next() {
            self.out.push_str(word);
            if words.peek().is_some() {
                self.out.push(' ');
            }
        }
        if text.ends_with(char::is_whitespace) {
            self.space();
        }
    }

    fn space(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with(char::is_whitespace) {
            self.out.push(' ');
        }
    }

    fn line_break(&mut self) {
        self.trim_trailing_spaces();
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn block_break(&mut self) {
        self.line_break();
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn trim_trailing_spaces(&mut self) {
        let kept = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(kept);
    }

    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        match name {
            "br" => self.line_break(),
            "li" if !tag.closing => {
                self.line_break();
                self.out.push_str("- ");
            }
            "li" => self.line_break(),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.block_break();
                if !tag.closing {
                    let level = usize::from(name.as_bytes()[1] - b'0');
                    self.out.push_str(&"#".repeat(level));
                    self.out.push(' ');
                }
            }
            "td" | "th" if !tag.closing => self.space(),
            "img" => {
                if let Some(alt) = tag.attr("alt").filter(|a| !a.trim().is_empty()) {
                    self.space();
                    self.out.push_str(&format!("[image: {}]", alt.trim()));
                    self.space();
                }
            }
            "a" if !tag.closing => {
                let href = tag.attr("href").filter(|h| {
                    !h.is_empty() && !h.starts_with('#') && !h.starts_with("javascript:")
                });
                self.links.push((self.out.len(), href));
            }
            "a" => self.close_link(),
            "pre" => {
                self.block_break();
                if tag.closing {
                    self.pre_depth = self.pre_depth.saturating_sub(1);
                } else {
                    self.pre_depth += 1;
                }
            }
            _ if BLOCKS.contains(&name) => self.block_break(),
            _ => {}
        }
    }

    fn close_link(&mut self) {
        let Some((start, href)) = self.links.pop() else {
            return;
        };
        let Some(href) = href else { return };
        let text = self.out[start..].trim().to_string();
        if text.is_empty() || text == href {
            return;
        }
        let trailing = &self.out[start..];
        let lead = trailing.len() - trailing.trim_start().len();
        self.out.truncate(start + lead);
        self.out.push_str(&format!("[{text}]({href})"));
    }

    fn finish(self) -> String {
        let mut result = String::with_capacity(self.out.len());
        let mut blank_run = 0;
        for line in self.out.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                blank_run += 1;
                if blank_run > 1 {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            result.push_str(line);
            result.push('\n');
        }
        result.trim().to_string()
    }
}

/// Decodes character references: the common named ones and all numeric ones.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..]
            .find(';')
            .filter(|&semi| semi > 0 && semi <= 32)
            .and_then(|semi| decode_one(&rest[1..=semi]).map(|c| (c, semi + 2)));
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_one(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "times" => '×',
        "deg" => '°',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "para" => '¶',
        "rarr" => '→',
        "larr" => '←',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_structure_and_drops_markup() {
        let html = r##"<!DOCTYPE html><html><head><title>My  Page</title>
            <style>body { color: red }</style><script>var x = "<p>";</script></head>
            <body><h1>Hello &amp; welcome</h1><p>First   para
            continues.</p><!-- hidden --><ul><li>one</li><li>two</li></ul>
            <p>See <a href="https://example.com/docs">the docs</a> and
            <a href="#top">top</a>.<br>New line</p></body></html>"##;
        assert_eq!(
            html_to_text(html),
            "My Page\n\n# Hello & welcome\n\nFirst para continues.\n\n- one\n- two\n\n\
             See [the docs](https://example.com/docs) and top.\nNew line"
        );
    }

    #[test]
    fn pre_keeps_whitespace() {
        let html = "<p>code:</p><pre>fn main() {\n    x &lt; 1\n}</pre><p>after</p>";
        assert_eq!(
            html_to_text(html),
            "code:\n\nfn main() {\n    x < 1\n}\n\nafter"
        );
    }

    #[test]
    fn entities_decode_and_unknown_ones_stay() {
        assert_eq!(
            decode_entities("a &lt;b&gt; &#65;&#x42; &nbsp;&bogus; & x &mdash;"),
            "a <b> AB  &bogus; & x —"
        );
    }

    #[test]
    fn tolerates_broken_markup() {
        assert_eq!(html_to_text("a < b and <p>c"), "a < b and\n\nc");
        assert_eq!(html_to_text("<div>x<script>never closed"), "x");
        assert_eq!(
            html_to_text("text <img alt='a cat' src=x> end"),
            "text [image: a cat] end"
        );
        assert_eq!(html_to_text("<a href=\"/x\">"), "");
    }

    #[test]
    fn table_cells_are_separated() {
        let html = "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>";
        assert_eq!(html_to_text(html), "A B\n\n1 2");
    }
}
