#pragma once
// What the metric parsers (metric_json, statsd, influx_line) share, private to the module:
// number parsing with exact rules, safe quoting of client text inside messages, and the
// writer that reuses the points already in the caller's vector.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/metric_point.hpp"

namespace tally::ingest::detail {

/// `text` in double quotes for a message: at most 64 bytes (cut on a character boundary,
/// then "..."), and every byte that could break a JSON answer or a log line (control
/// characters, malformed UTF-8) replaced by '?'.
std::string quoted(std::string_view text);

/// The whole of `text` as a finite double (no sign '+', no "inf"/"nan", no spaces).
std::optional<double> parse_finite_double(std::string_view text);
/// The whole of `text` as a decimal integer, optional leading '-'.
std::optional<std::int64_t> parse_int64(std::string_view text);
/// The whole of `text` as unsigned decimal digits.
std::optional<std::uint64_t> parse_uint64(std::string_view text);

/// `value * factor` unless that overflows.
std::optional<std::int64_t> checked_mul(std::int64_t value, std::int64_t factor);

/// Hands out the slots of `out` from index `start`, reusing the points already there (and
/// their strings' and tag vectors' buffers) before growing the vector. finish() trims `out`
/// to what was committed.
class PointWriter {
  public:
    PointWriter(std::vector<MetricPoint>& out, std::size_t start) : out_(out), size_(start) {}

    /// The next slot, reset to a default point (buffers kept); committed by commit().
    MetricPoint& next();
    void commit() { ++size_; }
    /// A slot handed out earlier (a reference may not outlive the next next()).
    MetricPoint& at(std::size_t index) { return out_[index]; }
    /// Drops the committed points from `size` on (a line that turned out bad).
    void rollback(std::size_t size) { size_ = size; }
    std::size_t size() const { return size_; }
    void finish() { out_.resize(size_); }

  private:
    std::vector<MetricPoint>& out_;
    std::size_t size_;
};

/// Resets every field of `point` to its default, keeping the buffers. (Copying a point
/// into a reused slot needs nothing special: MetricPoint's copy assignment reuses them.)
void reset_point(MetricPoint& point);

}  // namespace tally::ingest::detail
