//! hatake (being written).
