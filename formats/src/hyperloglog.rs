//! Redis HyperLogLog (hyperloglog.c).
