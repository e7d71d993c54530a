//! The wire protocol: requests parsed from a connection's read buffer, and
//! replies encoded as RESP2 or RESP3.

mod reply;
mod request;

pub use reply::{encode_push_of_bulks, encode_reply, format_double, Reply};
pub use request::{peek_gets, ProtocolError, RequestLimits, RequestParser};
