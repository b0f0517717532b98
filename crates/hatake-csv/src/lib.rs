//! Reading and writing CSV files: encoding detection, header guessing, formula-safe export and
//! the corporate-number bulk file. Works on bytes and strings; it does no IO of its own.
