//! TMP(lead): CLI disabled on this branch.
fn main() {}
