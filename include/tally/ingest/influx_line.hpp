#pragma once
// InfluxDB line protocol -> metric points: the bodies of POST /write and /api/v2/write
// (Telegraf, the InfluxDB clients). Pure: the caller passes the receive time.
//
//   measurement[,tag=value...] field=value[,field=value...] [timestamp]
//
//  - Lines are separated by '\n' ("\r\n" fine); empty lines and lines starting with '#'
//    (comments) are skipped.
//  - Escapes: `\,` and `\ ` in the measurement; `\,` `\=` `\ ` in tag keys, tag values and
//    field keys; string field values are double-quoted with `\"` and `\\`. A backslash
//    before any other character is kept as it is, as InfluxDB does.
//  - Each numeric field (float `1.5` `-2.5` `1e3`, integer `42i`, unsigned `7u`) becomes a
//    gauge point named `measurement.field` with the line's tags. String and boolean fields
//    are skipped: a line whose fields are all strings or booleans is good and produces no
//    point (what InfluxDB-compatible metric stores do). A line with no field at all is bad.
//  - The timestamp is an integer in `precision` units; absent, the point gets now_ms.
//  - Every point must pass validate_metric_point (a name such as `my measurement.value`
//    is refused, as is a timestamp outside the accepted window), or the line is bad.
//  - The FIRST bad line stops the parse: the points of the good lines before it stand (they
//    are in `out`), nothing from it or after it is read, and `error` names it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/metric_point.hpp"

namespace tally::ingest {

/// The units of a line's timestamp: the `precision` query parameter.
enum class InfluxPrecision : std::uint8_t { ns, us, ms, s, m, h };

/// "ns" "us" "ms" "s" (InfluxDB 2), and InfluxDB 1's "n" "u" "m" "h"; nullopt for others
/// (the HTTP layer answers 400; an absent parameter means ns).
std::optional<InfluxPrecision> parse_precision(std::string_view text);

struct InfluxResult {
    std::size_t lines = 0;             // good data lines (comments and empty lines not counted)
    std::optional<std::string> error;  // "line N: why" (N counts from 1, every line counted)
};

/// Parses `body` into `out`, which is overwritten: on return it holds exactly the points of
/// the good lines (before the first bad one). The points already in `out` are reused (their
/// buffers kept), so a caller passing the same vector every time allocates next to nothing.
InfluxResult parse_influx_lines(std::string_view body, InfluxPrecision precision,
                                std::int64_t now_ms, std::vector<MetricPoint>& out);

}  // namespace tally::ingest
