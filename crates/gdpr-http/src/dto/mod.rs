//! The wire types: what the API reads and writes, converted by hand to and from the domain's
//! types at the edge (`convert.rs`). Only this module knows the JSON shape. One file per
//! resource family, as in `api/`; request types are `…In` (they refuse unknown fields and take
//! text as [`Text`]: a tidy test checks every file here), response types `…Out`.
//!
//! The wire types carry personal data in clear, so none of them derives `Debug`: nothing can
//! print one by accident.

mod accountability;
mod admin;
mod breaches;
mod consent;
mod forms;
mod requests;
mod retention;
mod shaped;
mod subjects;
mod text;
mod webhooks;

pub(crate) use accountability::*;
pub(crate) use admin::*;
pub(crate) use breaches::*;
pub(crate) use consent::*;
pub(crate) use forms::*;
pub(crate) use requests::*;
pub(crate) use retention::*;
pub(crate) use shaped::*;
pub(crate) use subjects::*;
pub(crate) use text::*;
pub(crate) use webhooks::*;

/// Declares a wire enum mirroring a domain enum, with conversions both ways.
macro_rules! mirror {
    ($(#[$doc:meta])* $dto:ident <=> $domain:path { $($(#[$vdoc:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        #[oai(rename_all = "snake_case")]
        pub(crate) enum $dto {
            $($(#[$vdoc])* $variant),+
        }

        impl From<$dto> for $domain {
            fn from(v: $dto) -> Self {
                match v { $($dto::$variant => <$domain>::$variant),+ }
            }
        }

        impl From<$domain> for $dto {
            fn from(v: $domain) -> Self {
                match v { $(<$domain>::$variant => $dto::$variant),+ }
            }
        }
    };
}

pub(crate) use mirror;
