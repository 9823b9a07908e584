//! The watch cache: one per storage prefix, serving lists and watches from memory.
