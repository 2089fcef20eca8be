//! sprig v3's `TxtFuncMap`, function by function, with the semantics of
//! its Go source (argument order, `cast`-style conversions, what a
//! function returns instead of failing).
//!
//! Refused at load: the key and certificate generators and the ciphers
//! (see [`refused`]). Where Go mutates a map in place (`set`, `unset`,
//! `merge*`) the function returns the new map and the template's variable
//! is unchanged: template values here are immutable.

mod convert;
mod date;
mod decimal;
mod lists;
mod numeric;
mod other;
mod strings;

use std::cell::RefCell;
use std::collections::HashMap;

use gotmpl::FuncMap;
use regex::Regex;

use super::args::{fail, Res};

pub(super) fn register_all(m: &mut FuncMap) {
    strings::register_all(m);
    numeric::register_all(m);
    lists::register_all(m);
    other::register_all(m);
    date::register_all(m);
}

/// sprig functions pushtail refuses at load, with the reason.
pub(super) fn refused(name: &str) -> Option<&'static str> {
    const KEYS: &str = "it generates keys or certificates, which has no place in a log pipeline";
    const CIPHER: &str = "it encrypts or derives secrets, which has no place in a log pipeline";
    Some(match name {
        "genPrivateKey"
        | "genCA"
        | "genCAWithKey"
        | "genSelfSignedCert"
        | "genSelfSignedCertWithKey"
        | "genSignedCert"
        | "genSignedCertWithKey"
        | "buildCustomCert" => KEYS,
        "derivePassword" | "encryptAES" | "decryptAES" => CIPHER,
        "getHostByName" => "it does a DNS lookup per entry, and the pipeline does no I/O",
        _ => return None,
    })
}

/// Runs `f` with `pat` compiled as a Go regexp ([`crate::go::re2`]). Compiled regexes are kept per thread (a
/// template usually passes the same literal pattern for every entry), so
/// the hot path compiles each pattern once.
pub(super) fn with_regex(pat: &str, f: impl FnOnce(&Regex) -> Res) -> Res {
    const MAX_CACHED: usize = 64;
    thread_local! {
        static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pat) {
            let re = crate::go::re2::compile(pat).map_err(|e| {
                fail(format!(
                    "regexp: Compile({pat:?}): {}",
                    e.to_string().trim()
                ))
            })?;
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(pat.to_owned(), re);
        }
        match cache.get(pat) {
            Some(re) => f(re),
            None => Err(fail("regex cache")),
        }
    })
}
