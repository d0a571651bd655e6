//! Column builders for appending one row at a time, cheaper than arrow's
//! general builders on this path: every append is inlined, a null costs one
//! offset (or a default value) and nothing else (its validity bit is already
//! zero), and finishing hands the vectors to Arrow without a copy.
//!
//! A row of `events` appends to some sixty columns, most of them null: the
//! arrow builders' out-of-line `append_null` and their null-buffer bookkeeping
//! were about 3% of the cycles of a run.

use std::marker::PhantomData;

use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{BooleanArray, PrimitiveArray, StringArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

/// A bitmap grown one bit at a time (also the values of a boolean column):
/// the current word is filled in place and stored every 64 bits.
#[derive(Debug, Default)]
pub(crate) struct Bits {
    words: Vec<u64>,
    current: u64,
    len: usize,
}

impl Bits {
    pub(crate) fn with_capacity(bits: usize) -> Self {
        Bits {
            words: Vec::with_capacity(bits.div_ceil(64)),
            current: 0,
            len: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, bit: bool) {
        self.current |= u64::from(bit) << (self.len % 64);
        self.len += 1;
        if self.len % 64 == 0 {
            self.words.push(self.current);
            self.current = 0;
        }
    }

    /// The bits so far, leaving this empty.
    fn finish(&mut self) -> BooleanBuffer {
        let len = self.len;
        let mut words = std::mem::take(&mut self.words);
        if len % 64 != 0 {
            words.push(self.current);
        }
        // Arrow bitmaps are least-significant bit first within each byte:
        // little-endian words are exactly that.
        let words: Vec<u64> = words.into_iter().map(u64::to_le).collect();
        self.current = 0;
        self.len = 0;
        BooleanBuffer::new(Buffer::from_vec(words), 0, len)
    }

    /// The bits so far as validity (`None` when every value is valid).
    pub(crate) fn finish_nulls(&mut self) -> Option<NullBuffer> {
        let bits = self.finish();
        let nulls = NullBuffer::new(bits);
        (nulls.null_count() > 0).then_some(nulls)
    }
}

/// Where each variable-length value ends (in text bytes, in list items),
/// starting from 0: Arrow's 32-bit offsets.
#[derive(Debug)]
pub(crate) struct Offsets {
    ends: Vec<i32>,
}

impl Offsets {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        let mut ends = Vec::with_capacity(rows + 1);
        ends.push(0);
        Offsets { ends }
    }

    /// The next value ends at `end`. Batches are capped far below 2^31 bytes
    /// or items (`DecoderBuilder::with_batch_bytes`), and [`Offsets::finish`]
    /// checks it before the offsets are used, so no check per value.
    #[inline(always)]
    pub(crate) fn push(&mut self, end: usize) {
        self.ends.push(end as i32);
    }

    /// The offsets so far, the last value ending at `end`; this starts over.
    /// Callers push the running length of what they append, so the offsets
    /// start at 0 and never decrease.
    pub(crate) fn finish(&mut self, end: usize, what: &str) -> OffsetBuffer<i32> {
        assert!(i32::try_from(end).is_ok(), "over 2^31 {what} in one batch");
        let ends = ScalarBuffer::from(std::mem::replace(&mut self.ends, vec![0]));
        debug_assert!(ends.windows(2).all(|w| 0 <= w[0] && w[0] <= w[1]));
        // SAFETY: the first offset is 0 and each later one is a running
        // length, never smaller than the one before; the last is `end`, which
        // fits an i32 (checked above), so no earlier cast wrapped either.
        #[allow(unsafe_code)]
        unsafe {
            OffsetBuffer::new_unchecked(ends)
        }
    }
}

/// UTF-8 text: offsets, bytes and validity.
#[derive(Debug)]
pub(crate) struct TextBuilder {
    offsets: Offsets,
    values: Vec<u8>,
    valid: Bits,
}

impl TextBuilder {
    /// Room for `rows` values holding `bytes` of text in all.
    pub(crate) fn with_capacity(rows: usize, bytes: usize) -> Self {
        TextBuilder {
            offsets: Offsets::with_capacity(rows),
            values: Vec::with_capacity(bytes),
            valid: Bits::with_capacity(rows),
        }
    }

    #[inline(always)]
    pub(crate) fn append(&mut self, value: Option<&str>) {
        if let Some(text) = value {
            self.values.extend_from_slice(text.as_bytes());
        }
        self.offsets.push(self.values.len());
        self.valid.push(value.is_some());
    }

    /// Bytes of text appended so far.
    pub(crate) fn values_len(&self) -> usize {
        self.values.len()
    }

    /// The values so far, leaving the builder empty.
    pub(crate) fn finish(&mut self) -> StringArray {
        let offsets = self.offsets.finish(self.values.len(), "bytes of text");
        let values = Buffer::from_vec(std::mem::take(&mut self.values));
        let nulls = self.valid.finish_nulls();
        // SAFETY: `Offsets::finish` checked the offsets (from 0, never
        // decreasing, the last one the length of `values`); every appended
        // slice was a `&str`, so `values` is UTF-8 and each offset falls on a
        // character boundary; there is one validity bit per value.
        #[allow(unsafe_code)]
        unsafe {
            StringArray::new_unchecked(offsets, values, nulls)
        }
    }
}

/// Fixed-width values: a null is the type's default value, flagged invalid.
#[derive(Debug)]
pub(crate) struct PrimitiveBuilder<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    valid: Bits,
    _type: PhantomData<T>,
}

impl<T: ArrowPrimitiveType> PrimitiveBuilder<T> {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        PrimitiveBuilder {
            values: Vec::with_capacity(rows),
            valid: Bits::with_capacity(rows),
            _type: PhantomData,
        }
    }

    #[inline(always)]
    pub(crate) fn append(&mut self, value: Option<T::Native>) {
        self.values.push(value.unwrap_or_default());
        self.valid.push(value.is_some());
    }

    /// The values so far, leaving the builder empty.
    pub(crate) fn finish(&mut self) -> PrimitiveArray<T> {
        let values = ScalarBuffer::from(std::mem::take(&mut self.values));
        PrimitiveArray::new(values, self.valid.finish_nulls())
    }
}

/// Booleans: two bitmaps.
#[derive(Debug)]
pub(crate) struct BoolBuilder {
    values: Bits,
    valid: Bits,
}

impl BoolBuilder {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        BoolBuilder {
            values: Bits::with_capacity(rows),
            valid: Bits::with_capacity(rows),
        }
    }

    #[inline(always)]
    pub(crate) fn append(&mut self, value: Option<bool>) {
        self.values.push(value == Some(true));
        self.valid.push(value.is_some());
    }

    /// The values so far, leaving the builder empty.
    pub(crate) fn finish(&mut self) -> BooleanArray {
        BooleanArray::new(self.values.finish(), self.valid.finish_nulls())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder};
    use arrow_array::types::Int64Type;
    use arrow_array::Array;
    use proptest::prelude::*;

    proptest! {
        /// The same arrays as arrow's builders, over several batches from one builder.
        #[test]
        fn agree_with_arrow_builders(
            batches in prop::collection::vec(
                prop::collection::vec(prop::option::of(("[a-zé€]{0,9}", any::<i64>(), any::<bool>())), 0..200),
                1..4,
            )
        ) {
            let mut text = TextBuilder::with_capacity(4, 8);
            let mut ints = PrimitiveBuilder::<Int64Type>::with_capacity(4);
            let mut bools = BoolBuilder::with_capacity(0);
            for rows in batches {
                let (mut t, mut i, mut b) = (StringBuilder::new(), Int64Builder::new(), BooleanBuilder::new());
                for (n, row) in rows.iter().enumerate() {
                    // Columns null in different rows, as in real data.
                    let s = row.as_ref().map(|r| r.0.as_str());
                    let v = row.as_ref().filter(|_| n % 3 != 0).map(|r| r.1);
                    let f = row.as_ref().filter(|_| n % 5 != 1).map(|r| r.2);
                    text.append(s);
                    t.append_option(s);
                    ints.append(v);
                    i.append_option(v);
                    bools.append(f);
                    b.append_option(f);
                }
                let ours = text.finish();
                ours.to_data().validate_full().unwrap();
                prop_assert_eq!(&ours, &t.finish());
                prop_assert_eq!(ours.null_count(), rows.iter().filter(|r| r.is_none()).count());
                prop_assert_eq!(ints.finish(), i.finish());
                prop_assert_eq!(bools.finish(), b.finish());
            }
        }
    }

    #[test]
    fn all_valid_has_no_null_buffer() {
        let mut text = TextBuilder::with_capacity(0, 0);
        for _ in 0..130 {
            text.append(Some("x"));
        }
        assert_eq!(text.values_len(), 130);
        let array = text.finish();
        assert!(array.nulls().is_none());
        assert_eq!(array.len(), 130);
        assert_eq!(text.values_len(), 0);
        assert_eq!(text.finish().len(), 0);
    }
}
