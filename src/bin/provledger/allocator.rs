//! The process's allocator: jemalloc, with its background thread returning freed memory to the
//! system (after its default 10 s decay), so the resident size follows what is in use. With
//! glibc's allocator the server's resident size kept creeping up under a steady load; see the
//! README's Soak. The `bench` tool includes this file too, since it runs the server in its own
//! process.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
