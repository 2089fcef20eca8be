//! `-print-config-stderr`: the loaded config with every secret replaced by
//! `<secret>`, as Promtail prints it.
//!
//! Secrets are found by key name, anywhere in the document, so a key added
//! later (a server TLS `key`, a target's `basic_auth.password`) is covered
//! without a list to keep up to date: `password`, `key`, `credentials`,
//! anything named like a token or a secret, and HTTP header values that
//! carry credentials. Paths to secrets (`*_file`) are not secret. Passwords
//! in URLs (`http://user:pass@host`) are masked too.

use serde_yaml::Value;

/// What a secret is printed as.
pub const MASK: &str = "<secret>";

/// Renders `text` (already env-expanded YAML) with its secrets masked.
/// Text that does not parse is not printed back (it might hold a secret in
/// a place no key names); the caller reports the parse error instead.
pub fn redacted_yaml(text: &str) -> Option<String> {
    let mut value: Value = serde_yaml::from_str(text).ok()?;
    mask(&mut value, false);
    serde_yaml::to_string(&value).ok()
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    if key.ends_with("_file") || key.ends_with("_path") || key.ends_with("_type") {
        return false;
    }
    matches!(
        key.as_str(),
        "password" | "key" | "credentials" | "private_key"
    ) || ["token", "secret", "passwd", "api_key", "apikey"]
        .iter()
        .any(|word| key.contains(word))
}

/// Header names whose values are credentials.
fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["auth", "token", "key", "secret", "cookie", "password"]
        .iter()
        .any(|word| name.contains(word))
}

fn mask(value: &mut Value, in_headers: bool) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.as_str().unwrap_or_default();
                let secret = if in_headers {
                    is_secret_header(key)
                } else {
                    is_secret_key(key)
                };
                if secret && !v.is_null() && !v.is_mapping() && !v.is_sequence() {
                    *v = Value::String(MASK.into());
                } else if let Value::String(s) = v {
                    if let Some(masked) = mask_url_password(s) {
                        *s = masked;
                    }
                } else {
                    mask(v, key == "headers" || key == "http_headers");
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(|v| mask(v, false)),
        Value::Tagged(tagged) => mask(&mut tagged.value, in_headers),
        _ => {}
    }
}

/// `scheme://user:pass@host/...` → `scheme://user:<secret>@host/...`.
fn mask_url_password(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (user, _password) = userinfo.split_once(':')?;
    Some(format!(
        "{scheme}://{user}:{MASK}@{host}{}",
        &rest[authority_end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_wherever_they_are() {
        let text = r#"
server:
  http_listen_port: 9080
  http_tls_config:
    cert_file: /etc/tls/server.crt
    key_file: /etc/tls/server.key
    key: "-----BEGIN PRIVATE KEY-----"
clients:
  - url: http://user:hunter2@loki:3100/loki/api/v1/push
    basic_auth: {username: u, password: s3cr3t}
    bearer_token: tok123
    bearer_token_file: /run/token
    headers: {Authorization: "Bearer abc", X-Api-Key: k1, X-Team: web}
    tls_config: {key: inline-key, ca_file: /ca.pem}
    oauth2: {client_id: id, client_secret: shh}
scrape_configs:
  - job_name: app
    http:
      base_url: /app/
      basic_auth: {username: pusher, password: pushpass}
      labels: {keyboard: qwerty}
"#;
        let out = redacted_yaml(text).unwrap_or_default();
        for secret in [
            "hunter2",
            "s3cr3t",
            "tok123",
            "Bearer abc",
            "k1",
            "inline-key",
            "shh",
            "pushpass",
            "BEGIN PRIVATE KEY",
        ] {
            assert!(!out.contains(secret), "{secret} leaked:\n{out}");
        }
        for kept in [
            "/etc/tls/server.key",
            "/run/token",
            "username: u",
            "X-Team: web",
            "client_id: id",
            "keyboard: qwerty",
            "http://user:<secret>@loki:3100/loki/api/v1/push",
            "http_listen_port: 9080",
        ] {
            assert!(out.contains(kept), "{kept} missing:\n{out}");
        }
        assert_eq!(out.matches(MASK).count(), 9, "{out}");
    }

    #[test]
    fn unparsable_text_is_not_echoed() {
        assert_eq!(redacted_yaml("a: [unclosed"), None);
    }
}
