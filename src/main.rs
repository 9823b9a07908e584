// Why mimalloc, and its settings: capstan::util::alloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    capstan::util::alloc::configure();
    std::process::exit(capstan::cli::main());
}
