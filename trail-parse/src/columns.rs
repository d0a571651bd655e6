//! Column kinds and the `table!` macro that declares an output table once:
//! its Arrow schema, its row type and its builders come from one list.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use arrow_array::types::{ArrowPrimitiveType, Date32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{ArrayRef, ListArray, StructArray};
use arrow_schema::{DataType, Field, FieldRef, Fields, TimeUnit};

use crate::builders::{Bits, BoolBuilder, Offsets, PrimitiveBuilder, TextBuilder};

/// One column kind: how a row value is appended and what Arrow type it has.
pub(crate) trait Column {
    type Value<'a>: Default;
    type Builder;
    fn data_type() -> DataType;
    fn builder(capacity: usize) -> Self::Builder;
    /// A builder with room for `rows` values and `bytes` of variable-length data.
    fn sized(rows: usize, _bytes: usize) -> Self::Builder {
        Self::builder(rows)
    }
    /// Bytes of variable-length data appended so far.
    fn data_len(_builder: &Self::Builder) -> usize {
        0
    }
    fn append(builder: &mut Self::Builder, value: &Self::Value<'_>);
    fn finish(builder: &mut Self::Builder) -> ArrayRef;
    /// Bytes of variable-length data a value adds (to cap batch sizes).
    fn weight(_value: &Self::Value<'_>) -> usize {
        0
    }
}

/// UTF-8 text.
pub(crate) struct Text;
/// Boolean.
pub(crate) struct Bool;
/// Milliseconds since the epoch, UTC.
pub(crate) struct TimestampMs;
/// Fixed-width values of an Arrow primitive type, without a time zone.
pub(crate) struct Primitive<T>(PhantomData<T>);
/// Days since the epoch.
pub(crate) type Date = Primitive<Date32Type>;
/// 64-bit integer.
pub(crate) type Int = Primitive<Int64Type>;
/// `resources`: list of struct<arn, arn_prefix, account_id, type>.
pub(crate) struct Resources;

impl Column for Text {
    type Value<'a> = Option<Cow<'a, str>>;
    type Builder = TextBuilder;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(capacity: usize) -> TextBuilder {
        TextBuilder::with_capacity(capacity, capacity * 16)
    }
    fn sized(rows: usize, bytes: usize) -> TextBuilder {
        TextBuilder::with_capacity(rows, bytes)
    }
    fn data_len(builder: &TextBuilder) -> usize {
        builder.values_len()
    }
    #[inline(always)]
    fn append(builder: &mut TextBuilder, value: &Self::Value<'_>) {
        builder.append(value.as_deref());
    }
    fn finish(builder: &mut TextBuilder) -> ArrayRef {
        Arc::new(builder.finish())
    }
    fn weight(value: &Self::Value<'_>) -> usize {
        value.as_ref().map_or(0, |v| v.len())
    }
}

impl Column for Bool {
    type Value<'a> = Option<bool>;
    type Builder = BoolBuilder;
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn builder(capacity: usize) -> BoolBuilder {
        BoolBuilder::with_capacity(capacity)
    }
    #[inline(always)]
    fn append(builder: &mut BoolBuilder, value: &Option<bool>) {
        builder.append(*value);
    }
    fn finish(builder: &mut BoolBuilder) -> ArrayRef {
        Arc::new(builder.finish())
    }
}

impl Column for TimestampMs {
    type Value<'a> = Option<i64>;
    type Builder = PrimitiveBuilder<TimestampMillisecondType>;
    fn data_type() -> DataType {
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    }
    fn builder(capacity: usize) -> Self::Builder {
        PrimitiveBuilder::with_capacity(capacity)
    }
    #[inline(always)]
    fn append(builder: &mut Self::Builder, value: &Option<i64>) {
        builder.append(*value);
    }
    fn finish(builder: &mut Self::Builder) -> ArrayRef {
        Arc::new(builder.finish().with_timezone("UTC"))
    }
}

impl<T: ArrowPrimitiveType> Column for Primitive<T> {
    type Value<'a> = Option<T::Native>;
    type Builder = PrimitiveBuilder<T>;
    fn data_type() -> DataType {
        T::DATA_TYPE
    }
    fn builder(capacity: usize) -> Self::Builder {
        PrimitiveBuilder::with_capacity(capacity)
    }
    #[inline(always)]
    fn append(builder: &mut Self::Builder, value: &Self::Value<'_>) {
        builder.append(*value);
    }
    fn finish(builder: &mut Self::Builder) -> ArrayRef {
        Arc::new(builder.finish())
    }
}

/// One entry of a record's `resources` array.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Resource<'a> {
    pub arn: Option<Cow<'a, str>>,
    pub arn_prefix: Option<Cow<'a, str>>,
    pub account_id: Option<Cow<'a, str>>,
    pub kind: Option<Cow<'a, str>>,
}

fn resource_item() -> FieldRef {
    Arc::new(Field::new(
        "item",
        DataType::Struct(resource_fields()),
        true,
    ))
}

/// `resources`: a list offset and a validity bit per row, four text columns per item.
pub(crate) struct ResourcesBuilder {
    offsets: Offsets,
    valid: Bits,
    arn: TextBuilder,
    arn_prefix: TextBuilder,
    account_id: TextBuilder,
    kind: TextBuilder,
    items: usize,
}

impl ResourcesBuilder {
    fn with_capacity(rows: usize) -> Self {
        ResourcesBuilder {
            offsets: Offsets::with_capacity(rows),
            valid: Bits::with_capacity(rows),
            arn: TextBuilder::with_capacity(rows, rows * 16),
            arn_prefix: TextBuilder::with_capacity(rows, 0),
            account_id: TextBuilder::with_capacity(rows, 0),
            kind: TextBuilder::with_capacity(rows, 0),
            items: 0,
        }
    }

    fn append(&mut self, value: Option<&[Resource<'_>]>) {
        for item in value.unwrap_or_default() {
            self.arn.append(item.arn.as_deref());
            self.arn_prefix.append(item.arn_prefix.as_deref());
            self.account_id.append(item.account_id.as_deref());
            self.kind.append(item.kind.as_deref());
            self.items += 1;
        }
        self.offsets.push(self.items);
        self.valid.push(value.is_some());
    }

    fn finish(&mut self) -> ListArray {
        let offsets = self.offsets.finish(self.items, "resources");
        self.items = 0;
        let items = StructArray::new(
            resource_fields(),
            vec![
                Arc::new(self.arn.finish()) as ArrayRef,
                Arc::new(self.arn_prefix.finish()),
                Arc::new(self.account_id.finish()),
                Arc::new(self.kind.finish()),
            ],
            None,
        );
        ListArray::new(
            resource_item(),
            offsets,
            Arc::new(items),
            self.valid.finish_nulls(),
        )
    }
}

fn resource_fields() -> Fields {
    Fields::from(vec![
        Field::new("arn", DataType::Utf8, true),
        Field::new("arn_prefix", DataType::Utf8, true),
        Field::new("account_id", DataType::Utf8, true),
        Field::new("type", DataType::Utf8, true),
    ])
}

impl Column for Resources {
    type Value<'a> = Option<Vec<Resource<'a>>>;
    type Builder = ResourcesBuilder;
    fn data_type() -> DataType {
        DataType::List(resource_item())
    }
    fn builder(capacity: usize) -> Self::Builder {
        ResourcesBuilder::with_capacity(capacity)
    }
    fn append(builder: &mut Self::Builder, value: &Self::Value<'_>) {
        builder.append(value.as_deref());
    }
    fn finish(builder: &mut Self::Builder) -> ArrayRef {
        Arc::new(builder.finish())
    }
    fn weight(value: &Self::Value<'_>) -> usize {
        value.as_ref().map_or(0, |items| {
            items
                .iter()
                .map(|r| r.arn.as_ref().map_or(0, |s| s.len()) + 16)
                .sum()
        })
    }
}

/// Declare an output table: a `Row` struct with one public field per column,
/// a builder that appends rows and finishes a `RecordBatch`, and the schema.
macro_rules! table {
    (
        $(#[$row_meta:meta])* row $row:ident;
        $(#[$builder_meta:meta])* builder $builder:ident;
        columns { $( $(#[$col_meta:meta])* $col:ident : $kind:ty ),* $(,)? }
    ) => {
        $(#[$row_meta])*
        #[derive(Default, Debug)]
        pub(crate) struct $row<'a> {
            $( $(#[$col_meta])* pub $col: <$kind as $crate::columns::Column>::Value<'a>, )*
            #[allow(dead_code)]
            _marker: std::marker::PhantomData<&'a ()>,
        }

        $(#[$builder_meta])*
        pub(crate) struct $builder {
            $( $col: <$kind as $crate::columns::Column>::Builder, )*
            rows: usize,
            bytes: usize,
            /// Per column, bytes of text per byte of JSON read, learned from
            /// earlier batches (empty until then); then rows per byte of JSON.
            shares: Vec<f64>,
            rows_per_byte: f64,
            /// Rows the empty builders were last sized for (0: not sized).
            sized_rows: usize,
        }

        impl $builder {
            pub(crate) fn new(capacity: usize) -> Self {
                Self {
                    $( $col: <$kind as $crate::columns::Column>::builder(capacity), )*
                    rows: 0,
                    bytes: 0,
                    shares: Vec::new(),
                    rows_per_byte: 0.0,
                    sized_rows: 0,
                }
            }

            /// Learn how the rows appended so far, read from `json_bytes` of
            /// JSON, split across columns (call before `finish_columns`).
            /// A large batch without rows counts too (a table most objects
            /// have no rows for should not be sized for the few that do).
            #[allow(dead_code)]
            pub(crate) fn learn(&mut self, json_bytes: u64) {
                if json_bytes == 0 || (self.rows == 0 && json_bytes < 64 << 10) {
                    return;
                }
                let per = 1.0 / json_bytes as f64;
                let now = [ $( <$kind as $crate::columns::Column>::data_len(&self.$col) as f64 * per, )* ];
                if self.shares.is_empty() {
                    self.shares = now.to_vec();
                    self.rows_per_byte = self.rows as f64 * per;
                } else {
                    for (share, now) in self.shares.iter_mut().zip(now) {
                        *share = (*share + now) / 2.0;
                    }
                    self.rows_per_byte = (self.rows_per_byte + self.rows as f64 * per) / 2.0;
                }
            }

            /// Make room, in the empty builders, for the rows of about
            /// `json_bytes` of JSON but no more than `max_rows` rows, as
            /// learned: growing the buffers value by value would copy them
            /// again and again.
            #[allow(dead_code, unused_assignments)]
            pub(crate) fn presize(&mut self, json_bytes: usize, max_rows: usize) {
                // Small batches grow cheaply; sizing ~60 builders would cost more.
                if self.shares.is_empty() || self.rows != 0 || json_bytes < 64 << 10 {
                    return;
                }
                let mut json = json_bytes as f64 * 1.1;
                if self.rows_per_byte * json > max_rows as f64 {
                    json = max_rows as f64 / self.rows_per_byte;
                }
                let rows = (self.rows_per_byte * json) as usize + 8;
                if self.sized_rows >= rows {
                    // Sized already and still empty (a batch without rows here).
                    return;
                }
                self.sized_rows = rows;
                let mut i = 0;
                $(
                    self.$col = <$kind as $crate::columns::Column>::sized(
                        rows,
                        (self.shares[i] * json) as usize,
                    );
                    i += 1;
                )*
            }

            /// The Arrow fields, in column order.
            pub(crate) fn fields() -> Vec<arrow_schema::Field> {
                vec![ $( arrow_schema::Field::new(
                    stringify!($col),
                    <$kind as $crate::columns::Column>::data_type(),
                    true,
                ), )* ]
            }

            pub(crate) fn append(&mut self, row: &$row<'_>) {
                $(
                    self.bytes += <$kind as $crate::columns::Column>::weight(&row.$col);
                    <$kind as $crate::columns::Column>::append(&mut self.$col, &row.$col);
                )*
                self.rows += 1;
            }

            pub(crate) fn len(&self) -> usize {
                self.rows
            }

            #[allow(dead_code)]
            pub(crate) fn bytes(&self) -> usize {
                self.bytes
            }

            /// The rows appended so far as columns, leaving the builder empty.
            pub(crate) fn finish_columns(&mut self) -> Vec<arrow_array::ArrayRef> {
                self.rows = 0;
                self.bytes = 0;
                self.sized_rows = 0;
                vec![ $( <$kind as $crate::columns::Column>::finish(&mut self.$col), )* ]
            }
        }
    };
}

pub(crate) use table;

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{ListBuilder, StringBuilder, StructBuilder};
    use arrow_array::Array;

    fn item<'a>(arn: Option<&'a str>, kind: Option<&'a str>) -> Resource<'a> {
        Resource {
            arn: arn.map(Cow::Borrowed),
            arn_prefix: arn.map(|a| Cow::Borrowed(&a[..4])),
            account_id: None,
            kind: kind.map(Cow::Borrowed),
        }
    }

    /// The same list of structs as arrow's list and struct builders make.
    #[test]
    fn resources_agree_with_arrow_builders() {
        let rows: Vec<Option<Vec<Resource>>> = vec![
            None,
            Some(vec![]),
            Some(vec![
                item(Some("arn:aws:s3:::bucket"), Some("AWS::S3::Bucket")),
                item(None, Some("AWS::S3::Object")),
            ]),
            None,
            Some(vec![item(Some("arn:aws:glue:x"), None)]),
        ];
        let mut ours = Resources::builder(2);
        let mut theirs = ListBuilder::new(StructBuilder::from_fields(resource_fields(), 0));
        for _batch in 0..2 {
            for row in &rows {
                Resources::append(&mut ours, row);
                match row {
                    None => theirs.append_null(),
                    Some(items) => {
                        let structs = theirs.values();
                        for r in items {
                            for (i, v) in [&r.arn, &r.arn_prefix, &r.account_id, &r.kind]
                                .into_iter()
                                .enumerate()
                            {
                                if let Some(b) = structs.field_builder::<StringBuilder>(i) {
                                    b.append_option(v.as_deref());
                                }
                            }
                            structs.append(true);
                        }
                        theirs.append(true);
                    }
                }
            }
            let ours = Resources::finish(&mut ours);
            ours.to_data().validate_full().unwrap();
            assert_eq!(ours.data_type(), &Resources::data_type());
            assert_eq!(ours.as_ref(), &theirs.finish() as &dyn Array);
        }
    }
}
