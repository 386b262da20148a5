//! Mails in the outbox as a person's mail program shows them: the headers and the decoded
//! text part (quoted-printable or base64, as lettre chose), so tests read words, not encodings.

use base64::Engine as _;

/// The headers of `raw` and its text/plain part, decoded.
pub fn readable(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
    let boundary = head.split("boundary=").nth(1).map(|rest| {
        rest.trim_start_matches('"')
            .split(['"', '\n', ';'])
            .next()
            .unwrap_or_default()
            .to_owned()
    });
    let parts: Vec<(String, String)> = match boundary {
        Some(boundary) => body
            .split(&format!("--{boundary}"))
            .filter_map(|part| part.trim_start_matches('\n').split_once("\n\n"))
            .map(|(h, c)| (h.to_owned(), c.to_owned()))
            .collect(),
        None => vec![(head.to_owned(), body.to_owned())],
    };
    let text = parts
        .iter()
        .find(|(h, _)| h.to_ascii_lowercase().contains("content-type: text/plain"))
        .map(|(h, content)| decode(h, content))
        .unwrap_or_default();
    format!("{head}\n\n{text}")
}

fn decode(headers: &str, content: &str) -> String {
    let headers = headers.to_ascii_lowercase();
    if headers.contains("content-transfer-encoding: quoted-printable") {
        let bytes = quoted_printable::decode(content, quoted_printable::ParseMode::Robust)
            .unwrap_or_else(|_| content.as_bytes().to_vec());
        String::from_utf8_lossy(&bytes).into_owned()
    } else if headers.contains("content-transfer-encoding: base64") {
        let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        content.to_owned()
    }
}
