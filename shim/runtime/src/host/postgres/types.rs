//! PostgreSQL values as Spin's `spin:postgres@4.2.0` interface carries them, to and from
//! the wire types of `tokio-postgres`. The older interfaces (`@3.0.0`,
//! `fermyon:spin/postgres@2.0.0`) are mapped onto these in [`crate::host::postgres`].
//!
//! Columns: `bool`, `"char"`/`int2`/`int4`/`int8`, `float4`/`float8`, `text`/`varchar`/
//! `bpchar`/`name`, `bytea`, `date`, `time`, `timestamp`/`timestamptz` (as a date-time),
//! `uuid`, `jsonb`/`json`, `numeric` (as a base-10 string), `int4[]`, `int8[]`,
//! `numeric[]`, `text[]`/`varchar[]`/`bpchar[]`, `interval`; any other column arrives
//! as `unsupported` with its binary wire value. Range values are not converted yet
//! (parameters are refused as `bad-parameter`, columns arrive as `unsupported`).

use std::error::Error as StdError;

use bytes::BytesMut;
use chrono::{Datelike, Timelike};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::host::bindings::current::spin::postgres4_2_0::postgres::{
    DbDataType, DbValue, Interval, ParameterValue,
};

type BoxError = Box<dyn StdError + Sync + Send>;

/// The interface's name for a column type.
pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB | Type::JSON => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// Column `index` of `row`; `Err` names the column and why it does not convert.
pub fn value(row: &Row, index: usize) -> Result<DbValue, String> {
    let column = &row.columns()[index];
    let fail = |e: tokio_postgres::Error| format!("column `{}`: {e}", column.name());
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        index: usize,
        make: impl FnOnce(T) -> DbValue,
    ) -> Result<DbValue, tokio_postgres::Error> {
        Ok(row
            .try_get::<_, Option<T>>(index)?
            .map(make)
            .unwrap_or(DbValue::DbNull))
    }
    match *column.type_() {
        Type::BOOL => get(row, index, DbValue::Boolean),
        Type::CHAR => get(row, index, DbValue::Int8),
        Type::INT2 => get(row, index, DbValue::Int16),
        Type::INT4 => get(row, index, DbValue::Int32),
        Type::INT8 => get(row, index, DbValue::Int64),
        Type::FLOAT4 => get(row, index, DbValue::Floating32),
        Type::FLOAT8 => get(row, index, DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get(row, index, DbValue::Str),
        Type::BYTEA => get(row, index, DbValue::Binary),
        Type::DATE => get(row, index, |d: chrono::NaiveDate| DbValue::Date(date(d))),
        Type::TIME => get(row, index, |t: chrono::NaiveTime| DbValue::Time(time(t))),
        Type::TIMESTAMP => get(row, index, |t: chrono::NaiveDateTime| {
            DbValue::Datetime(datetime(t))
        }),
        Type::TIMESTAMPTZ => get(row, index, |t: chrono::DateTime<chrono::Utc>| {
            DbValue::Datetime(datetime(t.naive_utc()))
        }),
        Type::UUID => get(row, index, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        Type::JSONB | Type::JSON => get(row, index, |j: Json| DbValue::Jsonb(j.0)),
        Type::NUMERIC => get(row, index, |d: rust_decimal::Decimal| {
            DbValue::Decimal(d.to_string())
        }),
        Type::INT4_ARRAY => get(row, index, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get(row, index, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get(row, index, |a: Vec<Option<rust_decimal::Decimal>>| {
            DbValue::ArrayDecimal(a.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, index, DbValue::ArrayStr)
        }
        Type::INTERVAL => get(row, index, |i: PgInterval| DbValue::Interval(i.0)),
        _ => get(row, index, |raw: Raw| DbValue::Unsupported(raw.0)),
    }
    .map_err(fail)
}

/// Bytes a value holds on the host, to bound a result.
pub fn size_of(value: &DbValue) -> usize {
    let strings = |items: &[Option<String>]| items.iter().flatten().map(String::len).sum::<usize>();
    16 + match value {
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
        DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
        DbValue::ArrayInt32(a) => a.len() * 8,
        DbValue::ArrayInt64(a) => a.len() * 16,
        DbValue::ArrayDecimal(a) | DbValue::ArrayStr(a) => a.len() * 24 + strings(a),
        _ => 0,
    }
}

/// A parameter ready to send; `Err` says why the guest's value is not valid.
pub fn parameter(value: ParameterValue) -> Result<Box<dyn ToSql + Send + Sync>, String> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(v),
        ParameterValue::Int8(v) => Box::new(v),
        ParameterValue::Int16(v) => Box::new(v),
        ParameterValue::Int32(v) => Box::new(v),
        ParameterValue::Int64(v) => Box::new(v),
        ParameterValue::Floating32(v) => Box::new(v),
        ParameterValue::Floating64(v) => Box::new(v),
        ParameterValue::Str(v) => Box::new(v),
        ParameterValue::Binary(v) => Box::new(v),
        ParameterValue::Date((y, m, d)) => Box::new(
            chrono::NaiveDate::from_ymd_opt(y, m.into(), d.into())
                .ok_or(format!("invalid date {y}-{m}-{d}"))?,
        ),
        ParameterValue::Time((h, m, s, ns)) => Box::new(
            chrono::NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
                .ok_or(format!("invalid time {h}:{m}:{s}.{ns}"))?,
        ),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => Box::new(
            chrono::NaiveDate::from_ymd_opt(y, mo.into(), d.into())
                .and_then(|date| date.and_hms_nano_opt(h.into(), mi.into(), s.into(), ns))
                .ok_or(format!("invalid date-time {y}-{mo}-{d} {h}:{mi}:{s}.{ns}"))?,
        ),
        // Seconds since the Unix epoch, as Spin reads them.
        ParameterValue::Timestamp(secs) => Box::new(
            chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0)
                .ok_or(format!("invalid timestamp {secs}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(&v).map_err(|e| format!("invalid UUID {v:?}: {e}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(Json(v)),
        ParameterValue::Decimal(v) => Box::new(decimal(&v)?),
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::Interval(v) => Box::new(PgInterval(v)),
        ParameterValue::DbNull => Box::new(Null),
        ParameterValue::RangeInt32(_)
        | ParameterValue::RangeInt64(_)
        | ParameterValue::RangeDecimal(_) => {
            return Err("range parameters are not supported by this runtime yet".into());
        }
    })
}

fn decimal(text: &str) -> Result<rust_decimal::Decimal, String> {
    rust_decimal::Decimal::from_str_exact(text)
        .map_err(|e| format!("invalid decimal {text:?}: {e}"))
}

fn date(d: chrono::NaiveDate) -> (i32, u8, u8) {
    (d.year(), d.month() as u8, d.day() as u8)
}

fn time(t: chrono::NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

fn datetime(t: chrono::NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let ((y, mo, d), (h, mi, s, ns)) = (date(t.date()), time(t.time()));
    (y, mo, d, h, mi, s, ns)
}

/// SQL `NULL` for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// A JSON document as its text bytes (`jsonb` adds a version byte on the wire).
#[derive(Debug)]
struct Json(Vec<u8>);

impl ToSql for Json {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::JSONB {
            out.extend_from_slice(&[1]);
        }
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSONB | Type::JSON)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Json {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        match (ty, raw) {
            (&Type::JSONB, [1, text @ ..]) => Ok(Json(text.to_vec())),
            (&Type::JSONB, _) => Err("unknown jsonb format version".into()),
            _ => Ok(Json(raw.to_vec())),
        }
    }
    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSONB | Type::JSON)
    }
}

/// `interval` on the wire: microseconds, days, months (big-endian).
#[derive(Debug)]
struct PgInterval(Interval);

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.extend_from_slice(&self.0.micros.to_be_bytes());
        out.extend_from_slice(&self.0.days.to_be_bytes());
        out.extend_from_slice(&self.0.months.to_be_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let raw: [u8; 16] = raw.try_into().map_err(|_| "an interval is 16 bytes")?;
        let (micros, rest) = raw.split_at(8);
        let (days, months) = rest.split_at(4);
        Ok(PgInterval(Interval {
            micros: i64::from_be_bytes(micros.try_into()?),
            days: i32::from_be_bytes(days.try_into()?),
            months: i32::from_be_bytes(months.try_into()?),
        }))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// Any column's binary wire value, for types the interface has no case for.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_json_round_trip_through_the_wire_format() {
        let interval = Interval {
            micros: -1_500_000,
            days: 3,
            months: 14,
        };
        let mut wire = BytesMut::new();
        PgInterval(interval)
            .to_sql(&Type::INTERVAL, &mut wire)
            .unwrap();
        let back = PgInterval::from_sql(&Type::INTERVAL, &wire).unwrap().0;
        assert_eq!((back.micros, back.days, back.months), (-1_500_000, 3, 14));

        let mut wire = BytesMut::new();
        Json(br#"{"a":1}"#.to_vec())
            .to_sql(&Type::JSONB, &mut wire)
            .unwrap();
        assert_eq!(&wire[..], b"\x01{\"a\":1}");
        assert_eq!(
            Json::from_sql(&Type::JSONB, &wire).unwrap().0,
            br#"{"a":1}"#
        );
        assert!(Json::from_sql(&Type::JSONB, b"\x02{}").is_err());
    }

    #[test]
    fn invalid_parameters_say_what_is_wrong() {
        let bad = |p| parameter(p).err().unwrap();
        assert!(bad(ParameterValue::Date((2024, 2, 30))).contains("invalid date"));
        assert!(bad(ParameterValue::Uuid("nope".into())).contains("invalid UUID"));
        assert!(bad(ParameterValue::Decimal("1.2.3".into())).contains("invalid decimal"));
        assert!(bad(ParameterValue::RangeInt32((None, None))).contains("not supported"));
    }
}
