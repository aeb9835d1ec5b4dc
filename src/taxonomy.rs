//! The incident taxonomy (GB/T 20986-2023 categories) and grades.
