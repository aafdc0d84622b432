//! One-pass parse of a Table API row into the caller's type and the `sys_id` it carries.
//!
//! The stream needs each row's `sys_id` (its exactly-once rule) and the row as the caller's
//! `R`. Parsing the row twice (once for the `sys_id`, once for `R`) costs as much again as the
//! parse itself, so [`KeyedRow`] reads both in the same pass: it hands `R`'s `Deserialize` a
//! deserializer that forwards everything to serde_json's and, on the way, taps three places:
//!
//! - the row's map (`RowWatcher`): its keys are watched for `sys_id`, until it is found;
//! - a watched key (`KeyWatcher`): whether it is the wanted name;
//! - the value under `sys_id` (`ValueWatcher`): a string is the `sys_id`; an object (the
//!   `{"display_value","value","link"}` shape of `sysparm_display_value=all`) has its `value`
//!   member read when it is a string (`TextWatcher`).
//!
//! Nothing else is wrapped, so every other field is parsed by serde_json exactly as `R` asks.
//! Where `R` skips a tapped value (`deserialize_ignored_any`, e.g. a struct without a `sys_id`
//! field), the tap reads it with `deserialize_any` instead, which still skips it for `R`.

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor,
};

/// A row parsed into `R`, with its `sys_id` (when it had one as a string, or as an object with
/// a string `value`) read in the same pass.
#[derive(Debug)]
pub(crate) struct KeyedRow<R> {
    pub(crate) sys_id: Option<String>,
    pub(crate) row: R,
}

impl<'de, R: Deserialize<'de>> Deserialize<'de> for KeyedRow<R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut sys_id = None;
        let row = R::deserialize(Tap {
            inner: deserializer,
            watcher: RowWatcher(&mut sys_id),
        })?;
        Ok(Self { sys_id, row })
    }
}

/// What a tap does with the text and the maps it sees on their way to the caller. Each kind of
/// watcher is its own type, so every tap compiles to the check it needs and no more.
trait Watcher: Sized {
    /// A string (a key or a value) was read.
    fn saw_text(&mut self, _text: &str) {}

    /// A map was read: the visitor gets it, watched or as it is.
    fn visit_map<'de, V: Visitor<'de>, A: MapAccess<'de>>(
        self,
        visitor: V,
        map: A,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(map)
    }
}

/// A row: its `sys_id` entry (a string or an object with a `value`) goes into the target.
struct RowWatcher<'a>(&'a mut Option<String>);

/// A map key: `matched` says whether it is `wanted`.
struct KeyWatcher<'a> {
    wanted: &'static str,
    matched: &'a mut bool,
}

/// The value under `sys_id`: a string, or an object whose string `value` member is read.
struct ValueWatcher<'a>(&'a mut Option<String>);

/// The `value` member of a `sys_id` object: read only when it is a string.
struct TextWatcher<'a>(&'a mut Option<String>);

impl Watcher for RowWatcher<'_> {
    fn visit_map<'de, V: Visitor<'de>, A: MapAccess<'de>>(
        self,
        visitor: V,
        map: A,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(WatchedMap::new(map, "sys_id", self.0, true))
    }
}

impl Watcher for KeyWatcher<'_> {
    #[inline]
    fn saw_text(&mut self, text: &str) {
        *self.matched = text == self.wanted;
    }
}

impl Watcher for ValueWatcher<'_> {
    fn saw_text(&mut self, text: &str) {
        *self.0 = Some(text.to_owned());
    }

    fn visit_map<'de, V: Visitor<'de>, A: MapAccess<'de>>(
        self,
        visitor: V,
        map: A,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(WatchedMap::new(map, "value", self.0, false))
    }
}

impl Watcher for TextWatcher<'_> {
    fn saw_text(&mut self, text: &str) {
        *self.0 = Some(text.to_owned());
    }
}

/// A deserializer (`inner`) whose visitors report to `watcher`.
struct Tap<T, W> {
    inner: T,
    watcher: W,
}

/// Forwards `deserialize_*` methods to the inner deserializer with a tapped visitor.
macro_rules! forward_tapped {
    ($($method:ident($($argument:ident: $type:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($argument: $type,)* visitor: V) -> Result<V::Value, D::Error> {
                self.inner.$method($($argument,)* Tap { inner: visitor, watcher: self.watcher })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>, W: Watcher> Deserializer<'de> for Tap<D, W> {
    type Error = D::Error;

    forward_tapped! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    /// A skipped value is still read (and then skipped for the caller) so that the tap sees it.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(Tap {
            inner: visitor,
            watcher: self.watcher,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// Forwards `visit_*` methods that carry no text, map or nested deserializer.
macro_rules! forward_visits {
    ($($method:ident($type:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, value: $type) -> Result<V::Value, E> {
                self.inner.$method(value)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>, W: Watcher> Visitor<'de> for Tap<V, W> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(formatter)
    }

    forward_visits! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_str<E: de::Error>(mut self, value: &str) -> Result<V::Value, E> {
        self.watcher.saw_text(value);
        self.inner.visit_str(value)
    }

    fn visit_borrowed_str<E: de::Error>(mut self, value: &'de str) -> Result<V::Value, E> {
        self.watcher.saw_text(value);
        self.inner.visit_borrowed_str(value)
    }

    fn visit_string<E: de::Error>(mut self, value: String) -> Result<V::Value, E> {
        self.watcher.saw_text(&value);
        self.inner.visit_string(value)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Tap {
            inner: deserializer,
            watcher: self.watcher,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Tap {
            inner: deserializer,
            watcher: self.watcher,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, sequence: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(sequence)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.watcher.visit_map(self.inner, map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// A map whose entry under `wanted` is read into `target` on its way to the caller.
struct WatchedMap<'a, A> {
    inner: A,
    wanted: &'static str,
    target: &'a mut Option<String>,
    /// `true`: the entry may be a string or an object with a string `value`; `false`: only a
    /// string.
    object_allowed: bool,
    /// Whether the last key read was `wanted`.
    matched: bool,
}

impl<'a, A> WatchedMap<'a, A> {
    fn new(
        inner: A,
        wanted: &'static str,
        target: &'a mut Option<String>,
        object_allowed: bool,
    ) -> Self {
        Self {
            inner,
            wanted,
            target,
            object_allowed,
            matched: false,
        }
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for WatchedMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.matched = false;
        if self.target.is_some() {
            // Found: the rest of the map goes straight to the caller.
            return self.inner.next_key_seed(seed);
        }
        self.inner.next_key_seed(TappedSeed {
            inner: seed,
            watcher: KeyWatcher {
                wanted: self.wanted,
                matched: &mut self.matched,
            },
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        if !std::mem::take(&mut self.matched) {
            return self.inner.next_value_seed(seed);
        }
        let target = &mut *self.target;
        if self.object_allowed {
            self.inner.next_value_seed(TappedSeed {
                inner: seed,
                watcher: ValueWatcher(target),
            })
        } else {
            self.inner.next_value_seed(TappedSeed {
                inner: seed,
                watcher: TextWatcher(target),
            })
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

/// A seed whose deserializer reports to `watcher`.
struct TappedSeed<S, W> {
    inner: S,
    watcher: W,
}

impl<'de, S: DeserializeSeed<'de>, W: Watcher> DeserializeSeed<'de> for TappedSeed<S, W> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Tap {
            inner: deserializer,
            watcher: self.watcher,
        })
    }
}

#[cfg(test)]
mod tests;
