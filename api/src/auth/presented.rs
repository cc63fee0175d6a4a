//! Finding the token in a request, in the forms contaxy clients use.

use axum::http::{HeaderMap, Uri, header};
use contaxy_common::domain::TokenSecret;

/// The name contaxy gives its token header, query parameter and cookie.
pub const CT_TOKEN: &str = "ct_token";

/// The token presented with a request, looked for in this order (the first
/// found wins): `Authorization: Bearer <token>`, the `ct_token` header, the
/// `ct_token` query parameter, the `ct_token` cookie.
pub fn presented_token(headers: &HeaderMap, uri: &Uri) -> Option<TokenSecret> {
    bearer(headers)
        .or_else(|| {
            headers
                .get(CT_TOKEN)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .or_else(|| query_param(uri))
        .or_else(|| cookie(headers))
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .map(|value| TokenSecret::presented(&value))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.to_owned())
}

fn query_param(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == CT_TOKEN)
        .map(|(_, value)| value.into_owned())
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CT_TOKEN)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn found(headers: &[(&str, &str)], uri: &str) -> Option<String> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        presented_token(&map, &uri.parse().expect("uri")).map(|t| t.expose().to_owned())
    }

    #[test]
    fn every_contaxy_form_is_understood() {
        assert_eq!(
            found(&[("authorization", "Bearer abc")], "/x"),
            Some("abc".into())
        );
        assert_eq!(
            found(&[("authorization", "bearer abc")], "/x"),
            Some("abc".into())
        );
        assert_eq!(found(&[("ct_token", "abc")], "/x"), Some("abc".into()));
        assert_eq!(found(&[], "/x?a=1&ct_token=a%2Bb"), Some("a+b".into()));
        assert_eq!(
            found(&[("cookie", "x=1; ct_token=abc; y=2")], "/x"),
            Some("abc".into())
        );
    }

    #[test]
    fn the_first_form_wins_and_empty_or_foreign_forms_count_as_none() {
        assert_eq!(
            found(
                &[("authorization", "Bearer one"), ("ct_token", "two")],
                "/x?ct_token=three"
            ),
            Some("one".into())
        );
        assert_eq!(found(&[("authorization", "Basic dXNlcg==")], "/x"), None);
        assert_eq!(found(&[("authorization", "Bearer ")], "/x"), None);
        assert_eq!(found(&[("cookie", "other=1")], "/x?other=2"), None);
    }
}
