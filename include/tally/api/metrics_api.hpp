#pragma once
// The metrics service's HTTP API, behind the token like every read:
//
//   POST /api/v1/metrics                  JSON points        -> 200 {"accepted","rejected"}
//   POST /api/v1/statsd                   DogStatsD lines    -> 200 {"accepted","bad",...}
//   POST /write, /api/v2/write            InfluxDB lines     -> 204, or 400 naming a line
//   GET  /api/v1/metrics                  the names
//   GET  /api/v1/metrics/<name>/current   the last window, matching series merged
//   POST /api/v1/query                    windowed series, group_by, tag filters
//   GET  /api/v1/export/prometheus        every series for a Prometheus scrape
//
// Ingest parses (ingest/), then writes through the write path: refused points (a type
// conflict, a series cap) leave no trace, the accepted ones are in the event log before
// the answer (after the group fsync with durability.fsync=always). InfluxDB bodies may be
// gzip-compressed (Content-Encoding: gzip), at most 1 MiB once inflated.

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tally/api/authorization.hpp"
#include "tally/http/router.hpp"
#include "tally/ingest/parse.hpp"
#include "tally/metrics/engine.hpp"
#include "tally/telemetry/metrics.hpp"
#include "tally/write/write_path.hpp"

namespace tally::api {

class MetricsApi {
  public:
    MetricsApi(std::size_t workers, const Authorization& authorization,
               write::WritePath& write_path, const metrics::Engine& engine);

    void add_routes(http::Router& router);
    /// Refused inputs by format and reason.
    void register_metrics(telemetry::Metrics& metrics) const;

    void post_metrics(const http::Request& request, http::Responder respond);
    void post_statsd(const http::Request& request, http::Responder respond);
    void post_influx(const http::Request& request, http::Responder respond);
    http::Response list(const http::Request& request) const;
    http::Response current(const http::Request& request) const;
    http::Response query(const http::Request& request) const;
    http::Response export_prometheus(const http::Request& request) const;

  private:
    // Per I/O worker, used by its thread only: what parsing reuses between requests.
    struct Scratch {
        std::vector<MetricPoint> points;
        std::vector<BatchItemRejection> rejected;
        std::vector<BatchItemRejection> refused;
        std::vector<std::size_t> index;
        ingest::ParseBuffers buffers;
        std::string inflated;
    };

    /// Writes scratch.points; false (with the 503 given) when the log cannot be written.
    bool write(const http::Request& request, Scratch& scratch, std::int64_t now,
               const std::string& workspace, http::Responder& respond);
    /// Gives `response` once the request's points are logged per the fsync mode.
    void answer_when_logged(const http::Request& request, http::Responder respond,
                            http::Response&& response);

    const Authorization& authorization_;
    write::WritePath& write_path_;
    const metrics::Engine& engine_;
    std::vector<std::unique_ptr<Scratch>> scratch_;
    std::atomic<std::uint64_t> statsd_bad_lines_{0};
    std::atomic<std::uint64_t> statsd_ignored_{0};  // events and service checks
    std::atomic<std::uint64_t> influx_bad_bodies_{0};
    std::atomic<std::uint64_t> json_bad_points_{0};
};

}  // namespace tally::api
