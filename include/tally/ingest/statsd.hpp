#pragma once
// DogStatsD text -> metric points: what arrives in a UDP datagram (--statsd) or in the body
// of POST /api/v1/statsd. Pure: the caller passes the receive time.
//
// A datagram holds lines separated by '\n' ("\r\n" and a trailing '\n' are fine, empty
// lines are ignored):
//
//   name:value[:value...]|type[|@rate][|#tag:v,tag2][|T<unix seconds>][|other...]
//
//  - type `c` -> count, `g` -> gauge, `ms` `h` `d` -> percentile, `s` -> unique. Each
//    value of a line is one point; `@rate` (0 < rate <= 1) gives the points of `c`, `ms`,
//    `h` and `d` the weight 1/rate (gauges and sets keep weight 1).
//  - A gauge value "+N" or "-N" is a change of the gauge (gauge_delta, value +N or -N); a
//    plain value sets it. Other types read "+N" as N.
//  - A set line carries one member: all the text between the name's ':' and the first '|'
//    (members may contain ':').
//  - Tags split at ',', each at its FIRST ':' (values may hold ':', e.g. URLs). A bare
//    `key` (no ':') is the tag key="true": DogStatsD's valueless tags have no place in a
//    series whose tag values are 1..128 bytes, and "true" keeps them filterable. Empty
//    entries (",,", a trailing ',') are skipped; `key:` with an empty value makes the line
//    bad. A tag key Tally refuses, a repeated key or more than 16 tags make the line bad.
//  - `|T<unix seconds>` sets the timestamp (default: now_ms); it must fall within the
//    accepted window. Other fields (`|c:` container, `|e:`, `|card:`, ...) are ignored.
//  - Telegraf's variant puts tags in the name: `name,k=v,k2=v2:1|c` (a bare `k` is "true"
//    as above); they merge with any `|#` tags.
//  - Events (`_e{...`) and service checks (`_sc|...`) are counted and ignored.
//  - A line that breaks a rule (format, name, tags, value, timestamp: every point passes
//    validate_metric_point) is skipped and counted; the other lines stand.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/metric_point.hpp"

namespace tally::ingest {

struct StatsdResult {
    std::size_t lines = 0;           // non-empty lines, whatever became of them
    std::size_t accepted = 0;        // metric lines that produced points
    std::size_t points = 0;          // points produced (a line of 3 values is 3)
    std::size_t bad = 0;             // lines skipped as malformed or invalid
    std::size_t events = 0;          // `_e{` lines, ignored
    std::size_t service_checks = 0;  // `_sc|` lines, ignored
    std::string first_error;         // "line N: why" for the first bad line (N counts from 1,
                                     // empty lines included); "" when none
};

/// Parses `text` into `out`, which is overwritten: on return it holds exactly this text's
/// points, in order. The points already in `out` are reused (their buffers kept), so a
/// caller passing the same vector for every datagram allocates next to nothing.
StatsdResult parse_statsd(std::string_view text, std::int64_t now_ms,
                          std::vector<MetricPoint>& out);

/// Parses `text` into the slots of `out` from `used` on: on return out[used, used +
/// points) holds this text's points, in order. `out` only grows, and the points after
/// them keep their buffers for the next text, so a caller gathering many datagrams into
/// one vector allocates next to nothing (parse_statsd trims `out`, and the points it
/// trims off take their buffers with them).
StatsdResult parse_statsd_into(std::string_view text, std::int64_t now_ms,
                               std::vector<MetricPoint>& out, std::size_t used);

}  // namespace tally::ingest
