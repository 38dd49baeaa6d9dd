#pragma once
// Tally's own metrics, rendered in the Prometheus text format for GET /metrics.
//
// Every counter is kept per I/O worker (each on its own cache lines) and summed only when
// /metrics is read, so the hot path does one uncontended relaxed increment per figure.
// The label values are fixed at start-up (routes, statuses, reject reasons), which keeps the
// series count bounded whatever clients send. Figures owned by other modules (open
// connections, log bytes, WebSocket clients, Redis state) are read through callbacks that
// each module registers for itself at start-up (its register_metrics(Metrics&)).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/event.hpp"

namespace tally::telemetry {

/// Why an input was refused, as the `reason` label. Unknown reasons count as "other".
inline constexpr std::array<std::string_view, 9> kRejectReasons = {
    "bad_json",       "missing_field",        "invalid_field",   "out_of_window", "too_large",
    "too_many_sites", "too_many_event_names", "log_unavailable", "other"};

/// Why an input was answered as usual but not counted, as the `reason` label: a crawler's
/// User-Agent, Plausible's engagement reports, Umami's identify calls.
inline constexpr std::array<std::string_view, 3> kDropReasons = {"bot", "engagement", "identify"};

/// The status codes tracked one by one; any other lands in "other".
inline constexpr std::array<unsigned, 18> kStatuses = {200, 201, 202, 204, 304, 400, 401, 403, 404,
                                                       405, 409, 413, 429, 431, 500, 503, 101, 0};

/// Upper bounds (seconds) of the request latency histogram's buckets (+Inf implied).
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

class Metrics {
  public:
    /// `workers`: the number of writers that count (I/O threads and the demo's).
    explicit Metrics(std::size_t workers);
    ~Metrics();
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    /// The route labels, fixed for the process's life: once, after the routes are known
    /// and before any request is counted.
    void set_routes(std::vector<std::string> routes);

    void count_ingested(std::size_t worker, EventKind kind, std::uint64_t n = 1);
    void count_rejected(std::size_t worker, std::string_view reason, std::uint64_t n = 1);
    /// `reason` is one of kDropReasons (another is not counted).
    void count_dropped(std::size_t worker, std::string_view reason, std::uint64_t n = 1);
    void count_request(std::size_t worker, std::size_t route, unsigned status,
                       std::chrono::nanoseconds latency);

    /// A gauge or counter computed when /metrics is read.
    void add_callback(std::string name, std::string help, std::string type,
                      std::function<double()> value);

    /// Sums of what was counted (tests and the dashboard use these).
    std::uint64_t ingested(EventKind kind) const;
    std::uint64_t rejected(std::string_view reason) const;
    std::uint64_t dropped(std::string_view reason) const;

    /// The Prometheus text exposition (format 0.0.4).
    std::string render() const;

  private:
    // The HTTP families of render(): requests by route and status, latency histograms.
    void render_http(std::string& out) const;
    struct Worker;
    std::size_t reason_index(std::string_view reason) const;
    std::size_t status_index(unsigned status) const;

    std::vector<std::string> routes_;
    std::vector<std::unique_ptr<Worker>> workers_;
    struct Callback {
        std::string name, help, type;
        std::function<double()> value;
    };
    std::vector<Callback> callbacks_;
};

}  // namespace tally::telemetry
