//! The typed `pipeline_stages` config: [`StageConfig`], one variant per
//! stage type, each holding that stage's serde struct (defined beside the
//! stage in `stages/<type>.rs`). A `match` stage holds its nested
//! `Vec<StageConfig>`, so a whole stage list is one typed value.
//!
//! Deserialising checks only shape and types: a stage is a map with one key,
//! the stage type; its value is the stage's struct (a YAML null, as in
//! `- docker:`, is the empty map). Errors raised here carry the deserializer's
//! key path and line (the binary wraps the whole file in
//! `serde_path_to_error`). Checks that need more than types (regexes,
//! selectors, templates, ranges) belong to each stage's `build`.
//!
//! Stage structs never use `deny_unknown_fields`: Promtail ignores unknown
//! keys inside a stage, so they are left for the caller to collect (the
//! binary wraps the deserializer in `serde_ignored` and warns).
//!
//! This module must never build stages or touch entries.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, value, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::stages::cri::CriConfig;
use crate::stages::decolorize::DecolorizeConfig;
use crate::stages::docker::DockerConfig;
use crate::stages::drop::DropConfig;
use crate::stages::eventlogmessage::EventLogMessageConfig;
use crate::stages::geoip::GeoipConfig;
use crate::stages::json::JsonConfig;
use crate::stages::labeldrop::LabelListConfig;
use crate::stages::labels::LabelMapConfig;
use crate::stages::limit::LimitConfig;
use crate::stages::logfmt::LogfmtConfig;
use crate::stages::matcher::MatchConfig;
use crate::stages::metrics::MetricsConfig;
use crate::stages::multiline::MultilineConfig;
use crate::stages::output::OutputConfig;
use crate::stages::pack::PackConfig;
use crate::stages::regex::RegexConfig;
use crate::stages::replace::ReplaceConfig;
use crate::stages::sampling::SamplingConfig;
use crate::stages::static_labels::StaticLabelsConfig;
use crate::stages::template::TemplateConfig;
use crate::stages::tenant::TenantConfig;
use crate::stages::timestamp::TimestampConfig;

/// One item of `pipeline_stages` (or of a `match` stage's `stages`).
#[derive(Debug, Clone)]
pub enum StageConfig {
    Cri(CriConfig),
    Decolorize(DecolorizeConfig),
    Docker(DockerConfig),
    Drop(DropConfig),
    EventLogMessage(EventLogMessageConfig),
    Geoip(GeoipConfig),
    Json(JsonConfig),
    LabelAllow(LabelListConfig),
    LabelDrop(LabelListConfig),
    Labels(LabelMapConfig),
    Limit(LimitConfig),
    Logfmt(LogfmtConfig),
    Match(MatchConfig),
    Metrics(MetricsConfig),
    Multiline(MultilineConfig),
    Output(OutputConfig),
    Pack(PackConfig),
    Regex(RegexConfig),
    Replace(ReplaceConfig),
    Sampling(SamplingConfig),
    StaticLabels(StaticLabelsConfig),
    /// Also accepted under its deprecated name `non_indexed_labels`.
    StructuredMetadata(LabelMapConfig),
    Template(TemplateConfig),
    Tenant(TenantConfig),
    Timestamp(TimestampConfig),
}

/// Every stage type name [`StageConfig`] accepts (besides the deprecated
/// alias `non_indexed_labels`), for the unknown-type error.
pub(crate) const STAGE_TYPES: &[&str] = &[
    "cri",
    "decolorize",
    "docker",
    "drop",
    "eventlogmessage",
    "geoip",
    "json",
    "labelallow",
    "labeldrop",
    "labels",
    "limit",
    "logfmt",
    "match",
    "metrics",
    "multiline",
    "output",
    "pack",
    "regex",
    "replace",
    "sampling",
    "static_labels",
    "structured_metadata",
    "template",
    "tenant",
    "timestamp",
];

/// The message for a stage item that is not a map with exactly one key.
const SHAPE: &str = "a stage must be a map with one key, the stage type";

impl StageConfig {
    /// The stage type, as written in the config (the canonical name for
    /// `non_indexed_labels`); names the stage in errors and `-inspect`.
    pub fn type_name(&self) -> &'static str {
        match self {
            StageConfig::Cri(_) => "cri",
            StageConfig::Decolorize(_) => "decolorize",
            StageConfig::Docker(_) => "docker",
            StageConfig::Drop(_) => "drop",
            StageConfig::EventLogMessage(_) => "eventlogmessage",
            StageConfig::Geoip(_) => "geoip",
            StageConfig::Json(_) => "json",
            StageConfig::LabelAllow(_) => "labelallow",
            StageConfig::LabelDrop(_) => "labeldrop",
            StageConfig::Labels(_) => "labels",
            StageConfig::Limit(_) => "limit",
            StageConfig::Logfmt(_) => "logfmt",
            StageConfig::Match(_) => "match",
            StageConfig::Metrics(_) => "metrics",
            StageConfig::Multiline(_) => "multiline",
            StageConfig::Output(_) => "output",
            StageConfig::Pack(_) => "pack",
            StageConfig::Regex(_) => "regex",
            StageConfig::Replace(_) => "replace",
            StageConfig::Sampling(_) => "sampling",
            StageConfig::StaticLabels(_) => "static_labels",
            StageConfig::StructuredMetadata(_) => "structured_metadata",
            StageConfig::Template(_) => "template",
            StageConfig::Tenant(_) => "tenant",
            StageConfig::Timestamp(_) => "timestamp",
        }
    }
}

/// The known stage type closest to a misspelt one, if any is close.
pub(crate) fn closest_stage_type(name: &str) -> Option<&'static str> {
    STAGE_TYPES
        .iter()
        .map(|known| (strsim::damerau_levenshtein(name, known), *known))
        .filter(|(distance, known)| *distance <= 2.max(known.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// The unknown-type message, with a suggestion when one is close.
fn unknown_type(name: &str) -> String {
    format!(
        "unsupported stage type {name:?}{}; valid types are {}",
        closest_stage_type(name)
            .map(|s| format!(", did you mean {s:?}?"))
            .unwrap_or_default(),
        STAGE_TYPES.join(", ")
    )
}

impl<'de> Deserialize<'de> for StageConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `any`, not `map`: a scalar or list item then reaches the visitor,
        // which refuses it with the shape message.
        d.deserialize_any(StageVisitor)
    }
}

struct StageVisitor;

impl<'de> Visitor<'de> for StageVisitor {
    type Value = StageConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SHAPE)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StageConfig, A::Error> {
        let Some(kind) = map.next_key::<String>()? else {
            return Err(de::Error::custom(SHAPE));
        };
        let stage = match kind.as_str() {
            "cri" => StageConfig::Cri(map.next_value_seed(Body::new())?),
            "decolorize" => StageConfig::Decolorize(map.next_value_seed(Body::new())?),
            "docker" => StageConfig::Docker(map.next_value_seed(Body::new())?),
            "drop" => StageConfig::Drop(map.next_value_seed(Body::new())?),
            "eventlogmessage" => StageConfig::EventLogMessage(map.next_value_seed(Body::new())?),
            "geoip" => StageConfig::Geoip(map.next_value_seed(Body::new())?),
            "json" => StageConfig::Json(map.next_value_seed(Body::new())?),
            "labelallow" => StageConfig::LabelAllow(map.next_value_seed(Body::new())?),
            "labeldrop" => StageConfig::LabelDrop(map.next_value_seed(Body::new())?),
            "labels" => StageConfig::Labels(map.next_value_seed(Body::new())?),
            "limit" => StageConfig::Limit(map.next_value_seed(Body::new())?),
            "logfmt" => StageConfig::Logfmt(map.next_value_seed(Body::new())?),
            "match" => StageConfig::Match(map.next_value_seed(Body::new())?),
            "metrics" => StageConfig::Metrics(map.next_value_seed(Body::new())?),
            "multiline" => StageConfig::Multiline(map.next_value_seed(Body::new())?),
            "output" => StageConfig::Output(map.next_value_seed(Body::new())?),
            "pack" => StageConfig::Pack(map.next_value_seed(Body::new())?),
            "regex" => StageConfig::Regex(map.next_value_seed(Body::new())?),
            "replace" => StageConfig::Replace(map.next_value_seed(Body::new())?),
            "sampling" => StageConfig::Sampling(map.next_value_seed(Body::new())?),
            "static_labels" => StageConfig::StaticLabels(map.next_value_seed(Body::new())?),
            "structured_metadata" | "non_indexed_labels" => {
                StageConfig::StructuredMetadata(map.next_value_seed(Body::new())?)
            }
            "template" => StageConfig::Template(map.next_value_seed(Body::new())?),
            "tenant" => StageConfig::Tenant(map.next_value_seed(Body::new())?),
            "timestamp" => StageConfig::Timestamp(map.next_value_seed(Body::new())?),
            other => return Err(de::Error::custom(unknown_type(other))),
        };
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(SHAPE));
        }
        Ok(stage)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<StageConfig, E> {
        Err(E::custom(SHAPE))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<StageConfig, E> {
        Err(E::custom(SHAPE))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<StageConfig, E> {
        Err(E::custom(SHAPE))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<StageConfig, E> {
        Err(E::custom(SHAPE))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<StageConfig, E> {
        Err(E::custom(SHAPE))
    }

    fn visit_unit<E: de::Error>(self) -> Result<StageConfig, E> {
        Err(E::custom(SHAPE))
    }

    fn visit_none<E: de::Error>(self) -> Result<StageConfig, E> {
        Err(E::custom(SHAPE))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<StageConfig, A::Error> {
        Err(de::Error::custom(SHAPE))
    }
}

/// A stage's value: its config struct, or the empty config for a YAML null.
struct Body<T>(PhantomData<T>);

impl<T> Body<T> {
    fn new() -> Self {
        Body(PhantomData)
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Body<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Body<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the stage's config")
    }

    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        T::deserialize(Empty(PhantomData))
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        T::deserialize(Empty(PhantomData))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::deserialize(d)
    }
}

/// An empty config: an empty map, or an empty list for the stages that
/// take a list (`labeldrop`), so `- labeldrop:` reports the missing names.
struct Empty<E>(PhantomData<E>);

impl<'de, E: de::Error> Deserializer<'de> for Empty<E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_map(value::MapDeserializer::new(std::iter::empty::<((), ())>()))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_seq(value::SeqDeserializer::new(std::iter::empty::<()>()))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests;
