//! Identity resolution (名寄せ).
