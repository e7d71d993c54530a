//! Redis geohash (geohash.c, geohash_helper.c).
