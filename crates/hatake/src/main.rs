//! The `hatake` binary: parses the command line and hands over to the library.

// Imports allocate and free many small values across threads (read on one, matched on
// another, written on a third); mimalloc keeps that cheap where the system allocator's
// arenas cost about a tenth of an import's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    hatake::main()
}
