//! The [`crate::names`] tables as SQL functions, registered in every
//! session:
//!
//! | function | example |
//! |---|---|
//! | `af_name(family)` | `af_name(10)` = `'AF_INET6'` |
//! | `sock_type_name(sock_type)` | `sock_type_name(1)` = `'SOCK_STREAM'` |
//! | `proto_name(protocol)` | `proto_name(6)` = `'IPPROTO_TCP'` |
//! | `proto_short(protocol)`, `proto_short(family, protocol)` | `proto_short(1, 0)` = `'UNIX'` |
//! | `errno_name(errno)` | `errno_name(111)` = `'ECONNREFUSED'` |
//! | `errno_message(errno)` | `errno_message(111)` = `'Connection refused'`, `errno_message(0)` = `'Success'` |
//! | `hist_low(v)`, `hist_high(v)` | the power-of-2 bucket of bpftrace's `hist()` holding `v`: `hist_low(1000)` = 512, `hist_high(1000)` = 1024; 0 and 1 have buckets of their own (`[0]`: 0, 1), negative values `(..., 0)`: NULL, 0 |
//!
//! They take any integer type (the capture's columns are `UInt16`, `Int32`)
//! and return NULL for NULL; the `*_name` functions also return NULL for a
//! number Linux doesn't name, so `coalesce(af_name(f), CAST(f AS VARCHAR))`
//! shows every value.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, StringArray, cast::AsArray, types::Int64Type};
use arrow_schema::DataType;
use datafusion::arrow::compute::cast;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::names;

/// How one function turns its (integer) arguments into text.
type NameFn = fn(&[Option<i64>]) -> Option<String>;

/// What a function makes of its (integer) arguments.
#[derive(Debug, Clone, Copy)]
enum Apply {
    /// Text (the naming functions).
    Text(NameFn),
    /// A number (`hist_low`, `hist_high`).
    Int(fn(&[Option<i64>]) -> Option<i64>),
}

#[derive(Debug)]
struct NameUdf {
    name: &'static str,
    signature: Signature,
    apply: Apply,
}

// DataFusion compares functions to deduplicate plans; the name says which
// function this is (comparing `apply` pointers would not be meaningful).
impl PartialEq for NameUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for NameUdf {}

impl std::hash::Hash for NameUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for NameUdf {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.apply {
            Apply::Text(_) => DataType::Utf8,
            Apply::Int(_) => DataType::Int64,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // One array per argument, `number_rows` long: a scalar argument (a
        // literal, or coalesce() over a batch that is all NULL) is repeated.
        // (values_to_arrays() would make all-scalar arguments 1 row long.)
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<Result<Vec<_>>>()?;
        // The signature coerces to Int64 already; cast again so a plan that
        // skipped coercion still can't make us misread a column.
        let ints: Vec<Int64Array> = arrays
            .iter()
            .map(|a| {
                Ok(cast(a, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone())
            })
            .collect::<Result<_>>()?;
        let mut row = vec![None; ints.len()];
        let mut args_of = |i: usize| {
            for (slot, col) in row.iter_mut().zip(&ints) {
                *slot = col.is_valid(i).then(|| col.value(i));
            }
            row.clone()
        };
        let out: ArrayRef = match self.apply {
            Apply::Text(apply) => Arc::new(
                (0..args.number_rows)
                    .map(|i| apply(&args_of(i)))
                    .collect::<StringArray>(),
            ),
            Apply::Int(apply) => Arc::new(
                (0..args.number_rows)
                    .map(|i| apply(&args_of(i)))
                    .collect::<Int64Array>(),
            ),
        };
        Ok(ColumnarValue::Array(out))
    }
}

fn udf(name: &'static str, arities: &[usize], apply: NameFn) -> ScalarUDF {
    udf_of(name, arities, Apply::Text(apply))
}

fn udf_of(name: &'static str, arities: &[usize], apply: Apply) -> ScalarUDF {
    let signatures = arities
        .iter()
        .map(|&n| TypeSignature::Uniform(n, vec![DataType::Int64]))
        .collect();
    ScalarUDF::from(NameUdf {
        name,
        signature: Signature::one_of(signatures, Volatility::Immutable),
        apply,
    })
}

/// NULL in, NULL out: the first argument, if not NULL.
fn first(args: &[Option<i64>]) -> Option<i64> {
    args.first().copied().flatten()
}

/// All the naming functions, to register in a session.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        udf("af_name", &[1], |a| {
            names::af_name(first(a)?).map(str::to_string)
        }),
        udf("sock_type_name", &[1], |a| {
            names::sock_type_name(first(a)?).map(str::to_string)
        }),
        udf("proto_name", &[1], |a| {
            names::proto_name(first(a)?).map(str::to_string)
        }),
        udf("proto_short", &[1, 2], |a| match a {
            [protocol] => names::proto_short(None, (*protocol)?).map(str::to_string),
            [family, protocol] => {
                names::proto_short(Some((*family)?), (*protocol)?).map(str::to_string)
            }
            _ => None,
        }),
        udf("errno_name", &[1], |a| {
            names::errno_name(first(a)?).map(str::to_string)
        }),
        udf("errno_message", &[1], |a| {
            Some(names::errno_message(first(a)?))
        }),
        udf_of("hist_low", &[1], Apply::Int(|a| hist_bucket(first(a)?).0)),
        udf_of("hist_high", &[1], Apply::Int(|a| hist_bucket(first(a)?).1)),
    ]
}

/// The power-of-2 bucket of bpftrace's `hist()` that `v` falls in, as
/// (lowest value, highest + 1): `(None, Some(0))` for negative values
/// (`(..., 0)`), `(0, 1)` for 0 (`[0]`), `(1, 2)` for 1 (`[1]`), `(2^k,
/// 2^(k+1))` for 2^k <= v < 2^(k+1) (`[2^k, 2^(k+1))`); the top bucket's
/// end, 2^63, is NULL.
pub fn hist_bucket(v: i64) -> (Option<i64>, Option<i64>) {
    match v {
        ..0 => (None, Some(0)),
        0 | 1 => (Some(v), Some(v + 1)),
        _ => {
            let low = 1i64 << v.ilog2();
            (Some(low), low.checked_mul(2))
        }
    }
}

#[cfg(test)]
mod hist_tests {
    use super::hist_bucket;

    #[test]
    fn buckets_are_bpftraces() {
        assert_eq!(hist_bucket(-5), (None, Some(0)));
        assert_eq!(hist_bucket(0), (Some(0), Some(1)));
        assert_eq!(hist_bucket(1), (Some(1), Some(2)));
        assert_eq!(hist_bucket(2), (Some(2), Some(4)));
        assert_eq!(hist_bucket(3), (Some(2), Some(4)));
        assert_eq!(hist_bucket(1000), (Some(512), Some(1024)));
        assert_eq!(hist_bucket(1024), (Some(1024), Some(2048)));
        assert_eq!(hist_bucket((1 << 53) - 1), (Some(1 << 52), Some(1 << 53)));
        assert_eq!(hist_bucket(i64::MAX), (Some(1 << 62), None));
    }
}
