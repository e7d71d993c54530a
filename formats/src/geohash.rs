//! Redis's geohash (geohash.c, geohash_helper.c) and the number texts of the
//! GEO replies (geo.c), reproduced operation for operation: the same bit
//! tricks and the same floating-point operations in the same order, so that
//! scores, positions, hashes, distances and search results match a
//! redis-server to the last digit.
//!
//! A GEO position is a sorted-set score: 26 bits of longitude and 26 bits of
//! latitude (over Web Mercator's ±85.05112878°) interleaved into 52 bits.
//! A search scans at most nine score ranges (one grid cell and its
//! neighbours, [`areas_for`]) and keeps the members [`within`] the shape; the
//! caller does the scanning, sorting and limiting.
//!
//! Redis 7.2 is the reference. Where 7.0 differs it is said at the spot: the
//! distance of two points on one meridian, the BYBOX test and the distance
//! text (`%.4f` in 7.0).

use std::f64::consts::PI;
use std::fmt;

/// Longitude bounds of a GEO position (geohash.h).
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// Latitude bounds: Web Mercator (EPSG:900913) cannot reach the poles.
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Bits per coordinate in a score: 26 * 2 = 52, exact in an f64.
pub const STEP_MAX: u8 = 26;
/// Earth's quadratic mean radius (WGS-84) that every distance uses.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
/// Half the equator in Web Mercator metres: the span of a step-1 cell.
const MERCATOR_MAX: f64 = 20037726.37;
/// Redis's `D_R` (`M_PI / 180.0`), not its unused `DEG_TO_RAD` literal.
const D_R: f64 = PI / 180.0;

/// The error reply of a GEOADD or FROMLONLAT position outside the grid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutOfRange {
    pub lon: f64,
    pub lat: f64,
}

impl fmt::Display for OutOfRange {
    /// extractLongLatOrReply's `%f,%f`: Rust's `{:.6}` rounds the exact
    /// binary value half to even, as glibc does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ERR invalid longitude,latitude pair {:.6},{:.6}",
            self.lon, self.lat
        )
    }
}

impl std::error::Error for OutOfRange {}

/// A distance unit of GEODIST, BYRADIUS and BYBOX (extractUnitOrReply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Meters,
    Kilometers,
    Feet,
    Miles,
}

/// The error reply to an unknown unit.
pub const UNIT_ERROR: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";

impl Unit {
    /// Parses a unit argument as Redis does: case-insensitively (7.0 and
    /// 7.2) and, since Redis compares C strings, only up to a first NUL.
    pub fn parse(arg: &[u8]) -> Option<Unit> {
        let name = arg.split(|&b| b == 0).next().unwrap_or_default();
        [
            (&b"m"[..], Unit::Meters),
            (b"km", Unit::Kilometers),
            (b"ft", Unit::Feet),
            (b"mi", Unit::Miles),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, unit)| unit)
    }

    /// Metres in one unit: Redis multiplies by it to get metres and divides
    /// distances by it for the reply.
    pub fn meters(self) -> f64 {
        match self {
            Unit::Meters => 1.0,
            Unit::Kilometers => 1000.0,
            Unit::Feet => 0.3048,
            Unit::Miles => 1609.34,
        }
    }
}

/// The area of a GEOSEARCH, in `unit`s. The unit is kept apart rather than
/// folded into metres because Redis applies it at several places (the
/// half-diagonal of a box is taken before the conversion) and the results
/// must round alike.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// BYRADIUS (and GEORADIUS).
    Radius { radius: f64, unit: Unit },
    /// BYBOX: the full width and height, centred on the search point.
    Box { width: f64, height: f64, unit: Unit },
}

/// A score range to scan: `min <= score < max` (geoGetPointsInRange).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
}

/// The score ranges a search scans, in Redis's order: the centre cell, then
/// N, S, E, W, NE, NW, SE, SW, without the neighbours the shape cannot reach
/// and without a neighbour equal to the one scanned before it. Redis stops
/// scanning early only for COUNT ... ANY, so with ANY the order decides
/// which members are returned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Areas {
    ranges: [ScoreRange; 9],
    len: usize,
}

impl Areas {
    pub fn ranges(&self) -> &[ScoreRange] {
        self.ranges.get(..self.len).unwrap_or_default()
    }
}

/// GEOADD's score bits for a position (geohashEncodeWGS84 at step 26, then
/// geohashAlign52Bits, a no-op at step 26). Redis stores them through the
/// decimal text, so the sorted-set score is `bits as f64`: both round to
/// nearest even, which loses the lowest bit above 2^53 (longitude 180).
pub fn encode(lon: f64, lat: f64) -> Result<u64, OutOfRange> {
    encode_in(WGS84_LONG, WGS84_LAT, lon, lat, STEP_MAX)
        .map(|hash| hash.bits)
        .ok_or(OutOfRange { lon, lat })
}

/// The bits decodeGeohash reads from any sorted-set score: C's
/// `(uint64_t)score` as gcc compiles it for x86-64, which Redis applies to
/// scores a GEOADD never made too (negative, fractional, infinite, past
/// 2^64). Below 2^63 the value is truncated to a signed 64-bit integer, else
/// 2^63 is taken off first and its bit flipped back; `cvttsd2si` gives
/// `i64::MIN` for what it cannot represent.
pub fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let cvttsd2si = |x: f64| {
        if (-TWO_63..TWO_63).contains(&x) {
            x as i64
        } else {
            i64::MIN
        }
    };
    if score >= TWO_63 {
        cvttsd2si(score - TWO_63) as u64 ^ (1 << 63)
    } else {
        cvttsd2si(score) as u64
    }
}

/// The position GEOPOS, WITHCOORD and searches use for score bits: the
/// centre of the step-26 cell, clamped to the grid's bounds (the top row and
/// column, reached only at exactly LAT_MAX or 180, have centres past them).
pub fn decode(bits: u64) -> (f64, f64) {
    let area = decode_in(
        WGS84_LONG,
        WGS84_LAT,
        HashBits {
            bits,
            step: STEP_MAX,
        },
    );
    let lon = (area.longitude.min + area.longitude.max) / 2.0;
    let lat = (area.latitude.min + area.latitude.max) / 2.0;
    (lon.clamp(LONG_MIN, LONG_MAX), lat.clamp(LAT_MIN, LAT_MAX))
}

/// GEOHASH's 11 characters: the decoded position re-encoded over the
/// standard latitude range [-90, 90] (scores use ±85.05), 26 steps, five
/// bits a character. 52 bits make 10.4 characters; the 11th is always '0'
/// (7.2 says so; 7.0 shifted by a negative count, which x86 turns into
/// `>> 61` and so into '0' as well).
pub fn geohash_string(bits: u64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode(bits);
    // A decoded position is always in range; Redis would read bits 0 if not.
    let hash = encode_in(WGS84_LONG, STANDARD_LAT, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut text = [b'0'; 11];
    for (i, c) in text.iter_mut().take(10).enumerate() {
        *c = ALPHABET[((hash >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    text
}

/// Great-circle distance in metres by the haversine formula
/// (geohashGetDistance), `lon1, lat1` being the search centre.
///
/// 7.2 short-cuts points on one meridian to the latitude arc; 7.0 ran the
/// full formula there, which can differ in the last bits.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// Whether `point` (a decoded position) is in `shape` around `center`, and
/// then its distance from the centre in metres (geoWithinShape). The reply
/// divides that by the unit's [`Unit::meters`].
///
/// A NaN distance (possible between near-antipodal points) counts as
/// within, as in Redis, whose test is `distance > radius`.
pub fn within(shape: &Shape, center: (f64, f64), point: (f64, f64)) -> Option<f64> {
    let ((x1, y1), (x2, y2)) = (center, point);
    match *shape {
        Shape::Radius { radius, unit } => {
            let d = distance(x1, y1, x2, y2);
            if d > radius * unit.meters() {
                None
            } else {
                Some(d)
            }
        }
        Shape::Box {
            width,
            height,
            unit,
        } => {
            let (width_m, height_m) = (width * unit.meters(), height * unit.meters());
            // geohashGetDistanceIfInRectangle, 7.2: the cheaper latitude
            // test first. 7.0 took both through the haversine formula
            // (lat_distance as distance(x2, y2, x2, y1)) before testing.
            if lat_distance(y2, y1) > height_m / 2.0 {
                return None;
            }
            if distance(x2, y2, x1, y2) > width_m / 2.0 {
                return None;
            }
            Some(distance(x1, y1, x2, y2))
        }
    }
}

/// The score ranges to scan for `shape` around `lon, lat`
/// (geohashCalculateAreasByShapeWGS84, then membersOfAllNeighbors and
/// scoresOfGeoHashBox).
pub fn areas_for(shape: &Shape, lon: f64, lat: f64) -> Result<Areas, OutOfRange> {
    let out_of_range = OutOfRange { lon, lat };
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape, lon, lat);
    // A box is covered as the circle through its corners.
    let (radius, unit) = match *shape {
        Shape::Radius { radius, unit } => (radius, unit),
        Shape::Box {
            width,
            height,
            unit,
        } => (
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
            unit,
        ),
    };
    let mut steps = estimate_steps_by_radius(radius * unit.meters(), lat);
    let mut hash = encode_in(WGS84_LONG, WGS84_LAT, lon, lat, steps).ok_or(out_of_range)?;
    let mut cells = neighbourhood(hash);

    // Near a cell's edge the estimated step can leave part of the shape
    // outside the nine cells: then take cells twice as large.
    let [north, south, east, west] =
        [N, S, E, W].map(|i| decode_in(WGS84_LONG, WGS84_LAT, cells[i]));
    let too_small = north.latitude.max < max_lat
        || south.latitude.min > min_lat
        || east.longitude.max < max_lon
        || west.longitude.min > min_lon;
    if steps > 1 && too_small {
        steps -= 1;
        hash = encode_in(WGS84_LONG, WGS84_LAT, lon, lat, steps).ok_or(out_of_range)?;
        cells = neighbourhood(hash);
    }

    // Skip the neighbours on a side the shape does not reach.
    let mut scan = [true; 9];
    if steps >= 2 {
        let area = decode_in(WGS84_LONG, WGS84_LAT, hash);
        let unreached = [
            (area.latitude.min < min_lat, [S, SW, SE]),
            (area.latitude.max > max_lat, [N, NE, NW]),
            (area.longitude.min < min_lon, [W, SW, NW]),
            (area.longitude.max > max_lon, [E, SE, NE]),
        ];
        for (beyond, side) in unreached {
            if beyond {
                side.iter().for_each(|&i| scan[i] = false);
            }
        }
    }

    let mut areas = Areas {
        ranges: [ScoreRange { min: 0.0, max: 0.0 }; 9],
        len: 0,
    };
    // Large shapes wrap around the globe, making neighbours equal; Redis
    // skips one equal to the last scanned (index 0 counting as none).
    let mut last = 0;
    for (i, cell) in cells.into_iter().enumerate() {
        if !scan[i] || (last != 0 && cell == cells[last]) {
            continue;
        }
        areas.ranges[areas.len] = ScoreRange {
            min: align_52_bits(cell) as f64,
            max: align_52_bits(HashBits {
                bits: cell.bits + 1,
                step: cell.step,
            }) as f64,
        };
        areas.len += 1;
        last = i;
    }
    Ok(areas)
}

/// GEODIST and WITHDIST text (addReplyDoubleDistance): four decimals.
///
/// 7.2 uses fixedpoint_d2string: the value times 10^4 rounded half to even
/// by llrint. 7.0 printed `%.4f`, which rounds the exact value instead; the
/// two can differ on a last digit, and 7.0 wrote "-0.0000" where this
/// writes "0.0000".
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_owned();
    }
    let scaled = llrint(d * 1e4);
    let sign = if scaled < 0 { "-" } else { "" };
    let digits = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", digits / 10_000, digits % 10_000)
}

/// GEOPOS and WITHCOORD text (addReplyHumanLongDouble, alike in 7.0 and
/// 7.2, in RESP2 as a bulk string and in RESP3 as a double): ld2string's
/// LD_STR_HUMAN, `%.17Lf` without trailing zeros, "-0" as "0". The long
/// double holds the f64 exactly, and Rust rounds the exact value half to
/// even as glibc does.
pub fn format_coordinate(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    let mut text = format!("{x:.17}");
    if text.contains('.') {
        text.truncate(text.trim_end_matches('0').trim_end_matches('.').len());
    }
    if text == "-0" {
        text.remove(0);
    }
    text
}

/// A grid cell: `step` bits of each coordinate, latitude in the even bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HashBits {
    bits: u64,
    step: u8,
}

#[derive(Clone, Copy, Debug)]
struct Range {
    min: f64,
    max: f64,
}

/// A cell's bounds in degrees.
#[derive(Clone, Copy, Debug)]
struct Area {
    longitude: Range,
    latitude: Range,
}

const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};
/// The latitude range of standard geohash strings.
const STANDARD_LAT: Range = Range {
    min: -90.0,
    max: 90.0,
};

/// Indices in [`neighbourhood`], Redis's scanning order.
const N: usize = 1;
const S: usize = 2;
const E: usize = 3;
const W: usize = 4;
const NE: usize = 5;
const NW: usize = 6;
const SE: usize = 7;
const SW: usize = 8;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// Interleaves the low 32 bits of x (even positions) and y (odd positions).
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// The inverse of [`interleave64`]: even bits in the low half, odd bits in
/// the high half.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// geohashEncode. Redis also rejects a position outside the given ranges,
/// but both ranges used here contain the grid's. NaN, which Redis's
/// argument parsing refuses, is refused here too.
fn encode_in(
    long_range: Range,
    lat_range: Range,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<HashBits> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (lon - long_range.min) / (long_range.max - long_range.min);
    // Fixed point on the step size; the conversion truncates like C's.
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    Some(HashBits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// geohashDecode: the bounds of a cell.
fn decode_in(long_range: Range, lat_range: Range, hash: HashBits) -> Area {
    let separated = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = separated as u32;
    let ilono = (separated >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    // `+ 1` is C's unsigned 32-bit addition: it wraps for a score whose
    // bits are all ones.
    let bound = |range: Range, scale: f64, i: u32| range.min + (f64::from(i) * 1.0 / cells) * scale;
    Area {
        latitude: Range {
            min: bound(lat_range, lat_scale, ilato),
            max: bound(lat_range, lat_scale, ilato.wrapping_add(1)),
        },
        longitude: Range {
            min: bound(long_range, long_scale, ilono),
            max: bound(long_range, long_scale, ilono.wrapping_add(1)),
        },
    }
}

/// geohash_move_x (`d` = ±1): the longitude bits, wrapping round the globe.
fn move_x(hash: HashBits, d: i8) -> HashBits {
    if d == 0 {
        return hash;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> (64 - u32::from(hash.step) * 2);
    HashBits {
        bits: x | y,
        step: hash.step,
    }
}

/// geohash_move_y (`d` = ±1): the latitude bits, wrapping from pole to pole.
fn move_y(hash: HashBits, d: i8) -> HashBits {
    if d == 0 {
        return hash;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> (64 - u32::from(hash.step) * 2);
    HashBits {
        bits: x | y,
        step: hash.step,
    }
}

/// A cell and its eight neighbours (geohashNeighbors) in the order
/// membersOfAllNeighbors scans them: centre, N, S, E, W, NE, NW, SE, SW.
fn neighbourhood(hash: HashBits) -> [HashBits; 9] {
    const MOVES: [(i8, i8); 9] = [
        (0, 0),
        (0, 1),
        (0, -1),
        (1, 0),
        (-1, 0),
        (1, 1),
        (-1, 1),
        (1, -1),
        (-1, -1),
    ];
    MOVES.map(|(dx, dy)| move_y(move_x(hash, dx), dy))
}

/// geohashAlign52Bits: a cell's bits as the lowest score inside it.
fn align_52_bits(hash: HashBits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// geohashEstimateStepsByRadius: the finest step whose cells are about as
/// large as the radius, one or two coarser towards the poles.
fn estimate_steps_by_radius(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return STEP_MAX;
    }
    let mut step: i32 = 1;
    // Redis loops for ever on a negative range, which its callers never
    // pass; stopping at 31 changes nothing else, as 31 - 4 already clamps
    // to 26.
    while range_meters < MERCATOR_MAX && step <= 30 {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// geohashBoundingBox: `[min_lon, min_lat, max_lon, max_lat]` around the
/// shape. The longitude span is taken at the edge nearer the pole.
fn bounding_box(shape: &Shape, lon: f64, lat: f64) -> [f64; 4] {
    let (half_height, half_width, unit) = match *shape {
        Shape::Radius { radius, unit } => (radius, radius, unit),
        Shape::Box {
            width,
            height,
            unit,
        } => (height / 2.0, width / 2.0, unit),
    };
    let height = unit.meters() * half_height;
    let width = unit.meters() * half_width;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
    let long_delta = if lat < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        lon - long_delta,
        lat - lat_delta,
        lon + long_delta,
        lat + lat_delta,
    ]
}

/// geohashGetLatDistance: the arc between two latitudes on one meridian.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// llrint as on x86-64: half to even, `i64::MIN` for NaN or out of range.
fn llrint(x: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let rounded = x.round_ties_even();
    if (-TWO_63..TWO_63).contains(&rounded) {
        rounded as i64
    } else {
        i64::MIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    // Replies of redis-server 7.0.15, recorded by a script that GEOADDs a
    // fixed point set and keeps every reply as the text sent.
    const POINTS: &str = include_str!("../tests/fixtures/geo/points.txt");
    const RAW: &str = include_str!("../tests/fixtures/geo/raw.txt");
    const DIST: &str = include_str!("../tests/fixtures/geo/dist.txt");
    const SEARCH: &str = include_str!("../tests/fixtures/geo/search.txt");
    const ERRORS: &str = include_str!("../tests/fixtures/geo/errors.txt");
    // Cells that Redis's own C code (geohash.c, geohash_helper.c and
    // membersOfAllNeighbors) scans for random shapes.
    const AREAS: &str = include_str!("../tests/fixtures/geo/areas.txt");

    fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| line.split(' ').collect())
    }

    fn num(text: &str) -> f64 {
        text.parse()
            .unwrap_or_else(|_| panic!("not a number: {text}"))
    }

    /// Members of the "geo" key and their scores, as stored by Redis.
    fn stored_points() -> BTreeMap<&'static str, f64> {
        records(POINTS).map(|f| (f[0], num(f[3]))).collect()
    }

    fn position(score: f64) -> (f64, f64) {
        decode(score_bits(score))
    }

    /// The fixtures come from 7.0; where 7.2 computes differently the tests
    /// check against 7.0's code, kept here.
    #[derive(Clone, Copy, Debug)]
    enum Version {
        V70,
        V72,
    }

    impl Version {
        fn distance(self, lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
            match self {
                Version::V72 => distance(lon1, lat1, lon2, lat2),
                Version::V70 => {
                    let (lat1r, lon1r) = (deg_rad(lat1), deg_rad(lon1));
                    let (lat2r, lon2r) = (deg_rad(lat2), deg_rad(lon2));
                    let u = ((lat2r - lat1r) / 2.0).sin();
                    let v = ((lon2r - lon1r) / 2.0).sin();
                    2.0 * EARTH_RADIUS_IN_METERS
                        * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
                }
            }
        }

        fn within(self, shape: &Shape, center: (f64, f64), point: (f64, f64)) -> Option<f64> {
            match (self, *shape) {
                (
                    Version::V70,
                    Shape::Box {
                        width,
                        height,
                        unit,
                    },
                ) => {
                    let ((x1, y1), (x2, y2)) = (center, point);
                    let lon_distance = self.distance(x2, y2, x1, y2);
                    let lat_distance = self.distance(x2, y2, x2, y1);
                    if lon_distance > width * unit.meters() / 2.0
                        || lat_distance > height * unit.meters() / 2.0
                    {
                        return None;
                    }
                    Some(self.distance(x1, y1, x2, y2))
                }
                (Version::V70, Shape::Radius { radius, unit }) => {
                    let d = self.distance(center.0, center.1, point.0, point.1);
                    (d <= radius * unit.meters()).then_some(d)
                }
                (Version::V72, _) => within(shape, center, point),
            }
        }

        fn format_distance(self, d: f64) -> String {
            match self {
                Version::V70 => format!("{d:.4}"),
                Version::V72 => format_distance(d),
            }
        }
    }

    #[test]
    fn scores_hashes_and_positions_match_redis() {
        for f in records(POINTS) {
            let [name, lon, lat, zscore, hash, pos_lon, pos_lat] = f[..] else {
                panic!("bad record {f:?}");
            };
            let bits = encode(num(lon), num(lat)).unwrap();
            assert_eq!(bits as f64, num(zscore), "{name}");
            let stored = score_bits(num(zscore));
            assert_eq!(
                std::str::from_utf8(&geohash_string(stored)),
                Ok(hash),
                "{name}"
            );
            let (x, y) = decode(stored);
            assert_eq!(
                (format_coordinate(x).as_str(), format_coordinate(y).as_str()),
                (pos_lon, pos_lat),
                "{name}"
            );
        }
    }

    #[test]
    fn any_score_decodes_as_redis_does() {
        let zero = position(0.0);
        for f in records(RAW) {
            let [name, score, hash, pos_lon, pos_lat, dist] = f[..] else {
                panic!("bad record {f:?}");
            };
            let bits = score_bits(num(score));
            assert_eq!(
                std::str::from_utf8(&geohash_string(bits)),
                Ok(hash),
                "{name}"
            );
            let (x, y) = decode(bits);
            assert_eq!(
                (format_coordinate(x).as_str(), format_coordinate(y).as_str()),
                (pos_lon, pos_lat),
                "{name}"
            );
            for version in [Version::V70, Version::V72] {
                let d = version.distance(x, y, zero.0, zero.1);
                assert_eq!(version.format_distance(d), dist, "{name} {version:?}");
            }
        }
    }

    #[test]
    fn distances_match_redis() {
        let points = stored_points();
        let units = [Unit::Meters, Unit::Kilometers, Unit::Miles, Unit::Feet];
        for f in records(DIST) {
            let (a, b) = (position(points[f[0]]), position(points[f[1]]));
            for (unit, text) in units.iter().zip(&f[2..]) {
                for version in [Version::V70, Version::V72] {
                    let d = version.distance(a.0, a.1, b.0, b.1) / unit.meters();
                    assert_eq!(version.format_distance(d), *text, "{f:?} {version:?}");
                }
            }
        }
    }

    /// Parses `FROMLONLAT lon lat | FROMMEMBER m`, then `BYRADIUS r unit |
    /// BYBOX w h unit`.
    fn search_args(args: &[&str], points: &BTreeMap<&str, f64>) -> ((f64, f64), Shape) {
        let unit = |text: &str| Unit::parse(text.as_bytes()).unwrap();
        let (center, rest) = match args {
            ["FROMLONLAT", lon, lat, rest @ ..] => ((num(lon), num(lat)), rest),
            ["FROMMEMBER", member, rest @ ..] => (position(points[member]), rest),
            _ => panic!("bad search {args:?}"),
        };
        let shape = match rest {
            ["BYRADIUS", r, u] => Shape::Radius {
                radius: num(r),
                unit: unit(u),
            },
            ["BYBOX", w, h, u] => Shape::Box {
                width: num(w),
                height: num(h),
                unit: unit(u),
            },
            _ => panic!("bad search {args:?}"),
        };
        (center, shape)
    }

    /// What GEOSEARCH returns: the members in the scanned ranges, in scan
    /// order, with their distance text and distance.
    fn search(
        version: Version,
        shape: &Shape,
        center: (f64, f64),
        points: &BTreeMap<&'static str, f64>,
    ) -> Vec<(&'static str, String, f64)> {
        let unit = match *shape {
            Shape::Radius { unit, .. } | Shape::Box { unit, .. } => unit,
        };
        let areas = areas_for(shape, center.0, center.1).unwrap();
        let mut found = Vec::new();
        for range in areas.ranges() {
            for (&name, &score) in points {
                if range.min <= score && score < range.max {
                    if let Some(d) = version.within(shape, center, position(score)) {
                        let text = version.format_distance(d / unit.meters());
                        found.push((name, text, d));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn searches_match_redis() {
        let points = stored_points();
        let mut searches = 0;
        for line in SEARCH.lines().filter(|line| !line.starts_with('#')) {
            let (args, replies) = line.split_once(" | ").unwrap();
            let args: Vec<&str> = args.split(' ').collect();
            let (center, shape) = search_args(&args, &points);
            let replied: Vec<(&str, &str)> = replies
                .split(' ')
                .filter(|r| !r.is_empty())
                .map(|r| r.split_once('=').unwrap())
                .collect();
            for version in [Version::V70, Version::V72] {
                let found = search(version, &shape, center, &points);
                let mut expected: Vec<(&str, &str)> =
                    found.iter().map(|(n, t, _)| (*n, t.as_str())).collect();
                let mut got = replied.clone();
                expected.sort_unstable();
                got.sort_unstable();
                assert_eq!(expected, got, "{line} {version:?}");
                // ASC: the reply's order is by our distance too.
                let by_name: BTreeMap<_, _> = found.iter().map(|(n, _, d)| (*n, *d)).collect();
                let order: Vec<f64> = replied.iter().map(|(n, _)| by_name[n]).collect();
                assert!(order.windows(2).all(|w| w[0] <= w[1]), "{line} {version:?}");
            }
            searches += 1;
        }
        assert!(searches > 300);
    }

    #[test]
    fn areas_match_redis() {
        let unit = |text: &str| Unit::parse(text.as_bytes()).unwrap();
        for line in AREAS.lines().filter(|line| !line.starts_with('#')) {
            let (args, cells) = line.split_once(" | ").unwrap();
            let (lon, lat, shape) = match args.split(' ').collect::<Vec<_>>()[..] {
                ["R", lon, lat, r, u] => (
                    lon,
                    lat,
                    Shape::Radius {
                        radius: num(r),
                        unit: unit(u),
                    },
                ),
                ["B", lon, lat, w, h, u] => (
                    lon,
                    lat,
                    Shape::Box {
                        width: num(w),
                        height: num(h),
                        unit: unit(u),
                    },
                ),
                _ => panic!("bad record {line}"),
            };
            let mut cells = cells.split(' ');
            let step: u8 = cells.next().unwrap().parse().unwrap();
            let expected: Vec<ScoreRange> = cells
                .map(|hex| {
                    let bits = u64::from_str_radix(hex, 16).unwrap();
                    ScoreRange {
                        min: align_52_bits(HashBits { bits, step }) as f64,
                        max: align_52_bits(HashBits {
                            bits: bits + 1,
                            step,
                        }) as f64,
                    }
                })
                .collect();
            let areas = areas_for(&shape, num(lon), num(lat)).unwrap();
            assert_eq!(areas.ranges(), expected, "{line}");
        }
    }

    #[test]
    fn error_texts_match_redis() {
        let points = stored_points();
        let (a, b) = (position(points["palermo"]), position(points["catania"]));
        for line in ERRORS.lines().filter(|line| !line.starts_with('#')) {
            let (args, reply) = line.split_once(" | ").unwrap();
            match args.split(' ').collect::<Vec<_>>()[..] {
                ["unit", name] => match Unit::parse(name.replace("\\0", "\0").as_bytes()) {
                    None => assert_eq!(reply.strip_prefix('-'), Some(UNIT_ERROR), "{line}"),
                    Some(unit) => {
                        let d = distance(a.0, a.1, b.0, b.1) / unit.meters();
                        assert_eq!(format_distance(d), reply, "{line}");
                    }
                },
                [lon, lat] => {
                    let err = encode(num(lon), num(lat)).unwrap_err();
                    assert_eq!(err.to_string(), reply, "{line}");
                }
                _ => panic!("bad record {line}"),
            }
        }
    }

    #[test]
    fn distance_text_rounds_as_7_2() {
        assert_eq!(format_distance(0.0), "0.0000");
        assert_eq!(format_distance(-0.0), "0.0000");
        assert_eq!(format_distance(166274.15156960033), "166274.1516");
        assert_eq!(format_distance(0.00123), "0.0012");
        assert_eq!(format_distance(-1.5), "-1.5000");
        assert_eq!(format_distance(-0.00001), "0.0000");
        // 0.00005 is a little above 5e-5, so %.4f (7.0) gives 0.0001, but
        // times 10^4 it is exactly 0.5, which llrint rounds to 0.
        assert_eq!(format!("{:.4}", 0.00005), "0.0001");
        assert_eq!(format_distance(0.00005), "0.0000");
        assert_eq!(format_distance(f64::NAN), "-922337203685477.5808");
    }

    #[test]
    fn coordinate_text_is_trimmed() {
        assert_eq!(format_coordinate(180.0), "180");
        assert_eq!(format_coordinate(-0.0), "0");
        assert_eq!(format_coordinate(-1e-20), "0");
        assert_eq!(format_coordinate(12.5), "12.5");
        assert_eq!(format_coordinate(2f64.powi(-18)), "0.00000381469726562");
        assert_eq!(format_coordinate(f64::INFINITY), "inf");
        assert_eq!(format_coordinate(f64::NAN), "nan");
    }

    #[test]
    fn units_parse_as_redis() {
        assert_eq!(Unit::parse(b"KM"), Some(Unit::Kilometers));
        assert_eq!(Unit::parse(b"mi\0junk"), Some(Unit::Miles));
        assert_eq!(Unit::parse(b"Ft"), Some(Unit::Feet));
        assert_eq!(Unit::parse(b"m"), Some(Unit::Meters));
        assert_eq!(Unit::parse(b""), None);
        assert_eq!(Unit::parse(b"\0m"), None);
        assert_eq!(Unit::parse(b"mm"), None);
    }

    #[test]
    fn scores_convert_as_x86_64_does() {
        assert_eq!(score_bits(2.5), 2);
        assert_eq!(score_bits(-1.0), u64::MAX);
        assert_eq!(score_bits(f64::INFINITY), 0);
        assert_eq!(score_bits(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(score_bits(f64::NAN), 1 << 63);
        assert_eq!(score_bits(9_223_372_036_854_775_808.0), 1 << 63);
        assert_eq!(score_bits(18_446_744_073_709_549_568.0), u64::MAX - 2047);
    }

    #[test]
    fn steps_stop_on_any_radius() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(-1.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(f64::NEG_INFINITY, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(f64::NAN, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(f64::MIN_POSITIVE, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(1.0, 0.0), 24);
        assert_eq!(estimate_steps_by_radius(1.0, 70.0), 23);
        assert_eq!(estimate_steps_by_radius(1.0, -81.0), 22);
        assert_eq!(estimate_steps_by_radius(5e6, 0.0), 2);
        assert_eq!(estimate_steps_by_radius(2e7, 0.0), 1);
    }

    #[test]
    fn a_world_wide_search_scans_each_cell_once() {
        let shape = Shape::Radius {
            radius: 30000.0,
            unit: Unit::Kilometers,
        };
        let areas = areas_for(&shape, 10.0, 10.0).unwrap();
        let mut ranges: Vec<(f64, f64)> = areas.ranges().iter().map(|r| (r.min, r.max)).collect();
        ranges.sort_by(|a, b| a.0.total_cmp(&b.0));
        let quarter = (1u64 << 50) as f64;
        let expected: Vec<(f64, f64)> = (0..4)
            .map(|i| (i as f64 * quarter, (i + 1) as f64 * quarter))
            .collect();
        assert_eq!(ranges, expected);
    }

    #[test]
    fn neighbours_wrap_round_the_grid() {
        let corner = HashBits { bits: 0, step: 2 };
        let cells = neighbourhood(corner);
        // Longitude is in the odd bits, latitude in the even ones.
        assert_eq!(
            cells[W],
            HashBits {
                bits: 0b1010,
                step: 2
            }
        );
        assert_eq!(
            cells[E],
            HashBits {
                bits: 0b0010,
                step: 2
            }
        );
        assert_eq!(
            cells[S],
            HashBits {
                bits: 0b0101,
                step: 2
            }
        );
        assert_eq!(
            cells[N],
            HashBits {
                bits: 0b0001,
                step: 2
            }
        );
        assert_eq!(
            cells[SW],
            HashBits {
                bits: 0b1111,
                step: 2
            }
        );
    }

    #[test]
    fn out_of_range_centres_are_refused() {
        let shape = Shape::Radius {
            radius: 1.0,
            unit: Unit::Meters,
        };
        assert!(areas_for(&shape, 180.5, 0.0).is_err());
        assert!(areas_for(&shape, 0.0, f64::NAN).is_err());
        assert!(encode(f64::NAN, 0.0).is_err());
    }

    proptest! {
        #[test]
        fn a_position_decodes_within_its_cell(lon in LONG_MIN..=LONG_MAX, lat in LAT_MIN..=LAT_MAX) {
            let bits = encode(lon, lat).unwrap();
            prop_assert!(bits < 1 << 54);
            let (x, y) = decode(score_bits(bits as f64));
            prop_assert!((x - lon).abs() <= 360.0 / f64::from(1 << 26));
            prop_assert!((y - lat).abs() <= 2.0 * LAT_MAX / f64::from(1 << 26));
            let hash = geohash_string(bits);
            prop_assert!(hash.iter().all(|c| b"0123456789bcdefghjkmnpqrstuvwxyz".contains(c)));
            prop_assert_eq!(hash[10], b'0');
        }

        #[test]
        fn any_score_decodes_in_range(score in any::<f64>()) {
            let (x, y) = decode(score_bits(score));
            prop_assert!((LONG_MIN..=LONG_MAX).contains(&x) && (LAT_MIN..=LAT_MAX).contains(&y));
            geohash_string(score_bits(score));
        }

        #[test]
        fn any_shape_gives_at_most_nine_ranges(
            lon in LONG_MIN..=LONG_MAX,
            lat in LAT_MIN..=LAT_MAX,
            a in any::<f64>(),
            b in any::<f64>(),
            boxed in any::<bool>(),
        ) {
            let shape = if boxed {
                Shape::Box { width: a, height: b, unit: Unit::Miles }
            } else {
                Shape::Radius { radius: a, unit: Unit::Feet }
            };
            let areas = areas_for(&shape, lon, lat).unwrap();
            prop_assert!(!areas.ranges().is_empty() && areas.ranges().len() <= 9);
            prop_assert!(areas.ranges().iter().all(|r| r.min < r.max && r.max <= (1u64 << 52) as f64));
            within(&shape, (lon, lat), (b.clamp(-180.0, 180.0), 0.0));
        }

        #[test]
        fn texts_are_total(x in any::<f64>()) {
            format_distance(x);
            format_coordinate(x);
        }
    }
}
