//! Decoding the suricata-verify captures in /work/shared/corpus.
