//! Department classes: a configurable dictionary from free-text departments to classes.
