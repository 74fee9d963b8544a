//! HTTP helpers for plugins: query parameters, headers, form posts, simple
//! responses, reading a platform API's JSON answer, and a constant-time
//! comparison for signatures.

use crate::{DeliveryOutcome, HttpRequest, HttpResponse, Pair};

impl HttpRequest {
    /// A request with no headers.
    pub fn new(method: &str, url: &str, body: Vec<u8>) -> Self {
        HttpRequest {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body,
        }
    }

    /// A `POST` of `params` as a form-encoded (UTF-8) body.
    pub fn form_post(url: &str, params: &[(String, String)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        HttpRequest::new("POST", url, body.into_bytes()).with_header(
            "content-type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
    }

    /// Add a header (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(Pair::new(name, value));
        self
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The query parameters of `url`, percent-decoded.
    pub fn query(&self) -> QueryParams {
        let query = self.url.split_once('?').map(|(_, q)| q).unwrap_or("");
        QueryParams::parse(query)
    }

    /// The path of `url`, without the query.
    pub fn path(&self) -> &str {
        let without_query = self.url.split('?').next().unwrap_or("");
        match without_query.find("://") {
            Some(scheme_end) => {
                let rest = &without_query[scheme_end + 3..];
                rest.find('/').map(|i| &rest[i..]).unwrap_or("/")
            }
            None => without_query,
        }
    }
}

impl HttpResponse {
    /// A response with a plain-text body.
    pub fn text(status: u16, body: &str) -> Self {
        HttpResponse {
            status,
            headers: vec![Pair::new("content-type", "text/plain; charset=utf-8")],
            body: body.as_bytes().to_vec(),
        }
    }

    /// A response with a JSON body.
    pub fn json(status: u16, body: &str) -> Self {
        HttpResponse {
            status,
            headers: vec![Pair::new("content-type", "application/json")],
            body: body.as_bytes().to_vec(),
        }
    }

    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body of a platform API's answer as JSON, or — when there is no
    /// usable answer — the retry it calls for: HTTP 429 or 5xx (the
    /// platform is busy or failing) or a body that is not JSON (a proxy's
    /// error page). `platform` names the platform in the reason.
    pub fn json_answer(&self, platform: &str) -> Result<serde_json::Value, DeliveryOutcome> {
        if self.status == 429 || self.status >= 500 {
            return Err(DeliveryOutcome::retry(format!(
                "{platform} answered HTTP {}",
                self.status
            )));
        }
        serde_json::from_slice(&self.body).map_err(|_| {
            DeliveryOutcome::retry(format!(
                "{platform} answered HTTP {} with a body that is not JSON",
                self.status
            ))
        })
    }
}

fn header<'a>(headers: &'a [Pair], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|pair| pair.name.eq_ignore_ascii_case(name))
        .map(|pair| pair.value.as_str())
}

/// Decoded query parameters, in order of appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parse `a=1&b=2` (without the leading `?`).
    pub fn parse(query: &str) -> Self {
        QueryParams(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Compare two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_decoded() {
        let request = HttpRequest::new("GET", "/hooks/x/s?echostr=a%2Bb%3D&nonce=1&e=", vec![]);
        let query = request.query();
        assert_eq!(query.get("echostr"), Some("a+b="));
        assert_eq!(query.get("nonce"), Some("1"));
        assert_eq!(query.get("e"), Some(""));
        assert_eq!(query.get("missing"), None);
        assert_eq!(request.path(), "/hooks/x/s");
    }

    #[test]
    fn path_of_absolute_url() {
        let request = HttpRequest::new("POST", "https://api.example.com/cgi-bin/token?x=1", vec![]);
        assert_eq!(request.path(), "/cgi-bin/token");
    }

    #[test]
    fn headers_are_case_insensitive() {
        let request = HttpRequest::new("POST", "/", vec![]).with_header("Event-Sign", "abc");
        assert_eq!(request.header("event-sign"), Some("abc"));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
