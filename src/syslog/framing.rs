//! RFC 6587 framing (in progress).
