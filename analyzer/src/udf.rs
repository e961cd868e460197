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

#[derive(Debug)]
struct NameUdf {
    name: &'static str,
    signature: Signature,
    apply: NameFn,
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
        Ok(DataType::Utf8)
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
        let out: StringArray = (0..args.number_rows)
            .map(|i| {
                for (slot, col) in row.iter_mut().zip(&ints) {
                    *slot = col.is_valid(i).then(|| col.value(i));
                }
                (self.apply)(&row)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }
}

fn udf(name: &'static str, arities: &[usize], apply: NameFn) -> ScalarUDF {
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
    ]
}
