//! Program decoders (in progress).
