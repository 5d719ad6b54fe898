//! The console's HTML: one page layout, escaping for everything that came from outside (message
//! text, platform errors, ids), and the style sheet, served by the binary itself.

use std::fmt::Write as _;

/// `text` safe inside HTML text and attribute values (the email provider's escaper).
pub use cowork_providers::email::escape_html as escape;

/// A whole page: `title`, the navigation when signed in (with the sign-out form), and `body`
/// (already HTML).
pub fn page(title: &str, csrf: Option<&str>, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Open Cowork Gateway</title><link rel=\"stylesheet\" href=\"/console/style.css\"></head><body>",
        escape(title)
    );
    if let Some(csrf) = csrf {
        let _ = write!(
            out,
            "<header><nav aria-label=\"Console\"><a href=\"/console\">Bindings</a> \
             <a href=\"/console/deliveries\">Deliveries</a> <a href=\"/console/redrive\">Redrive</a> \
             <a href=\"/console/sessions\">Sessions</a></nav>\
             <form method=\"post\" action=\"/console/logout\">{}<button type=\"submit\">Sign out</button></form></header>",
            csrf_field(csrf)
        );
    }
    let _ = write!(out, "<main><h1>{}</h1>{body}</main></body></html>", escape(title));
    out
}

/// The hidden CSRF field of a form.
pub fn csrf_field(csrf: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", escape(csrf))
}

/// A message box (`kind`: `note` or `error`).
pub fn notice(kind: &str, text: &str) -> String {
    let role = if kind == "error" { "alert" } else { "status" };
    format!("<p class=\"{kind}\" role=\"{role}\">{}</p>", escape(text))
}

/// A table with `headers` and `rows` (cells already HTML); a line saying so when empty.
pub fn table(headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p>{}</p>", escape(empty));
    }
    let mut out = String::from("<div class=\"scroll\"><table><thead><tr>");
    for header in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(header));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The style sheet: readable at laptop and tablet widths, tables scroll inside their box so the
/// page never scrolls sideways, focus is always visible.
pub const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1b1f24;background:#f6f7f9}\
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;\
padding:.6rem 1rem;background:#1b1f24}\
header a{color:#fff;margin-right:1rem;text-decoration:none;font-weight:600}\
header a:hover,header a:focus{text-decoration:underline}\
main{max-width:72rem;margin:0 auto;padding:1rem}\
h1{font-size:1.4rem;margin:.5rem 0 1rem}\
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}\
.scroll{overflow-x:auto;background:#fff;border:1px solid #d8dce1;border-radius:6px}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #eceef1;vertical-align:top;overflow-wrap:anywhere}\
th{background:#f0f2f5;font-weight:600}\
form.filters,form.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:0 0 1rem}\
form.inline{display:inline-flex;margin:0 .5rem .5rem 0}\
label{display:flex;flex-direction:column;font-size:.85rem;gap:.2rem}\
input,select,button{font:inherit;padding:.35rem .5rem;border:1px solid #b9c0c8;border-radius:4px;background:#fff;max-width:100%}\
button{background:#24528f;color:#fff;border-color:#24528f;cursor:pointer}\
button.danger{background:#a4262c;border-color:#a4262c}\
header button{background:transparent;border-color:#8a939d}\
:focus-visible{outline:3px solid #f0b429;outline-offset:2px}\
.note{background:#e7f3ea;border:1px solid #9ccaa7;padding:.5rem .75rem;border-radius:4px}\
.error{background:#fbe9ea;border:1px solid #e3a1a5;padding:.5rem .75rem;border-radius:4px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:#fff;padding:.75rem;\
border:1px solid #d8dce1;border-radius:6px}\
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}\
code{font-size:.9em}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_is_escaped_everywhere() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        let html = page("<b>", Some("\"><x"), &table(&["<h>"], &[vec![escape("<td>")]], "none"));
        assert!(!html.contains("<b>") && !html.contains("<x") && !html.contains("<h>"), "{html}");
        assert!(table(&["a"], &[], "Nothing <here>").contains("Nothing &lt;here&gt;"));
    }
}
