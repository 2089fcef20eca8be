//! The `decolorize` stage: strips ANSI escape sequences (colours, cursor
//! moves, OSC titles) from the line, with the pattern Loki's decolorizer uses.
//!
//! Lines without an escape are not copied.

use std::sync::OnceLock;

use regex::bytes::Regex;
use serde::Deserialize;

use super::{BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;

/// ESC or CSI, optional intermediates, then either an OSC-style string
/// ended by BEL or a CSI sequence ended by its final byte.
const ANSI: &str = r"[\x{1b}\x{9b}][\[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[a-zA-Z\d]*)*)?\x{07})|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PRZcf-ntqry=><~]))";

/// The `decolorize` stage's config.
#[derive(Debug, Clone, Deserialize)]
pub struct DecolorizeConfig {}

struct Decolorize {
    re: &'static Regex,
}

fn ansi() -> Result<&'static Regex, regex::Error> {
    static RE: OnceLock<Regex> = OnceLock::new();
    if let Some(re) = RE.get() {
        return Ok(re);
    }
    let re = Regex::new(ANSI)?;
    Ok(RE.get_or_init(|| re))
}

pub(crate) fn build(
    _cfg: &DecolorizeConfig,
    _ctx: &BuildCtx,
) -> Result<Box<dyn Stage>, FieldError> {
    let re = ansi().map_err(FieldError::new)?;
    Ok(Box::new(Decolorize { re }))
}

impl Stage for Decolorize {
    fn process(&self, e: &mut StageEntry) {
        let line = e.line();
        if !self.re.is_match(line.as_bytes()) {
            return;
        }
        let stripped = self.re.replace_all(line.as_bytes(), &b""[..]);
        let text = String::from_utf8_lossy(&stripped).into_owned();
        e.set_line(text);
    }
}

#[cfg(test)]
mod tests {
    use crate::stages::testing::check_table;

    #[test]
    fn decolorize_table() {
        check_table(&[
            ("- decolorize:", &[], "plain", "{} plain"),
            (
                "- decolorize: {}",
                &[],
                "\x1b[31mred\x1b[0m text",
                "{} red text",
            ),
            (
                "- decolorize:",
                &[],
                "\x1b[1;32mbold green\x1b[m",
                "{} bold green",
            ),
            ("- decolorize:", &[], "a\x1b[2Kb\x1b[10;20Hc", "{} abc"),
            ("- decolorize:", &[], "\x1b]0;title\x07after", "{} after"),
            ("- decolorize:", &[], "\u{9b}31mcsi", "{} csi"),
        ]);
    }
}
