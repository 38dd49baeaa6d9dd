#include "tally/telemetry/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace tally::telemetry {

namespace {
constexpr std::size_t kKinds = 2;
constexpr std::size_t kStatusSlots = kStatuses.size();            // last slot: "other"
constexpr std::size_t kBucketSlots = kLatencyBuckets.size() + 1;  // + the +Inf bucket

using Counter = std::atomic<std::uint64_t>;

void bump(Counter& c, std::uint64_t n = 1) {
    // Only this worker's thread writes the counter: a relaxed load+store is enough and
    // avoids a locked read-modify-write.
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::string format_double(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    return buf;
}
}  // namespace

struct alignas(64) Metrics::Worker {
    std::array<Counter, kKinds> ingested{};
    std::array<Counter, kRejectReasons.size()> rejected{};
    std::array<Counter, kDropReasons.size()> dropped{};
    // Per route: request count by status, latency bucket counts, latency sum in ns.
    struct Route {
        std::array<Counter, kStatusSlots> by_status{};
        std::array<Counter, kBucketSlots> buckets{};
        Counter latency_ns{0};
    };
    std::vector<Route> routes;
    explicit Worker(std::size_t route_count) : routes(route_count) {}
};

Metrics::Metrics(std::size_t workers) {
    if (workers == 0)
        workers = 1;
    for (std::size_t i = 0; i < workers; ++i)
        workers_.push_back(std::make_unique<Worker>(0));
}

void Metrics::set_routes(std::vector<std::string> routes) {
    // Atomics cannot be moved, so the per-route counters are a new vector (its buffer is
    // what moves); nothing has been counted on a route yet.
    routes_ = std::move(routes);
    for (auto& worker : workers_)
        worker->routes = std::vector<Worker::Route>(routes_.size());
}

Metrics::~Metrics() = default;

std::size_t Metrics::reason_index(std::string_view reason) const {
    for (std::size_t i = 0; i + 1 < kRejectReasons.size(); ++i) {
        if (kRejectReasons[i] == reason)
            return i;
    }
    return kRejectReasons.size() - 1;
}

std::size_t Metrics::status_index(unsigned status) const {
    for (std::size_t i = 0; i + 1 < kStatuses.size(); ++i) {
        if (kStatuses[i] == status)
            return i;
    }
    return kStatuses.size() - 1;
}

void Metrics::count_ingested(std::size_t worker, EventKind kind, std::uint64_t n) {
    bump(workers_[worker % workers_.size()]->ingested[static_cast<std::size_t>(kind)], n);
}

void Metrics::count_rejected(std::size_t worker, std::string_view reason, std::uint64_t n) {
    // Rejections may be counted from any thread (e.g. a batch answered by the log), so use
    // a real atomic add here.
    workers_[worker % workers_.size()]->rejected[reason_index(reason)].fetch_add(
        n, std::memory_order_relaxed);
}

namespace {
std::size_t drop_index(std::string_view reason) {
    return static_cast<std::size_t>(std::find(kDropReasons.begin(), kDropReasons.end(), reason) -
                                    kDropReasons.begin());
}
}  // namespace

void Metrics::count_dropped(std::size_t worker, std::string_view reason, std::uint64_t n) {
    if (const std::size_t i = drop_index(reason); i < kDropReasons.size())
        workers_[worker % workers_.size()]->dropped[i].fetch_add(n, std::memory_order_relaxed);
}

std::uint64_t Metrics::dropped(std::string_view reason) const {
    const std::size_t i = drop_index(reason);
    std::uint64_t total = 0;
    for (const auto& w : workers_)
        total += i < kDropReasons.size() ? w->dropped[i].load(std::memory_order_relaxed) : 0;
    return total;
}

void Metrics::count_request(std::size_t worker, std::size_t route, unsigned status,
                            std::chrono::nanoseconds latency) {
    if (route >= routes_.size())
        return;
    Worker::Route& r = workers_[worker % workers_.size()]->routes[route];
    r.by_status[status_index(status)].fetch_add(1, std::memory_order_relaxed);
    const double seconds = std::chrono::duration<double>(latency).count();
    std::size_t bucket = 0;
    while (bucket < kLatencyBuckets.size() && seconds > kLatencyBuckets[bucket])
        ++bucket;
    r.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    r.latency_ns.fetch_add(static_cast<std::uint64_t>(latency.count()), std::memory_order_relaxed);
}

void Metrics::add_callback(std::string name, std::string help, std::string type,
                           std::function<double()> value) {
    callbacks_.push_back({std::move(name), std::move(help), std::move(type), std::move(value)});
}

std::uint64_t Metrics::ingested(EventKind kind) const {
    std::uint64_t total = 0;
    for (const auto& w : workers_) {
        total += w->ingested[static_cast<std::size_t>(kind)].load(std::memory_order_relaxed);
    }
    return total;
}

std::uint64_t Metrics::rejected(std::string_view reason) const {
    std::uint64_t total = 0;
    const std::size_t i = reason_index(reason);
    for (const auto& w : workers_)
        total += w->rejected[i].load(std::memory_order_relaxed);
    return total;
}

void Metrics::render_http(std::string& out) const {
    auto line = [&out](const std::string& s) {
        out += s;
        out += '\n';
    };
    line("# HELP tally_http_requests_total HTTP requests answered, by route and status code.");
    line("# TYPE tally_http_requests_total counter");
    for (std::size_t r = 0; r < routes_.size(); ++r) {
        for (std::size_t s = 0; s < kStatusSlots; ++s) {
            std::uint64_t total = 0;
            for (const auto& w : workers_)
                total += w->routes[r].by_status[s].load(std::memory_order_relaxed);
            if (total == 0)
                continue;
            const std::string code = s + 1 == kStatusSlots ? "other" : std::to_string(kStatuses[s]);
            line("tally_http_requests_total{route=\"" + routes_[r] + "\",code=\"" + code + "\"} " +
                 std::to_string(total));
        }
    }

    line("# HELP tally_http_request_duration_seconds Time from a complete request to its answer.");
    line("# TYPE tally_http_request_duration_seconds histogram");
    for (std::size_t r = 0; r < routes_.size(); ++r) {
        std::array<std::uint64_t, kBucketSlots> buckets{};
        std::uint64_t sum_ns = 0;
        for (const auto& w : workers_) {
            for (std::size_t b = 0; b < kBucketSlots; ++b) {
                buckets[b] += w->routes[r].buckets[b].load(std::memory_order_relaxed);
            }
            sum_ns += w->routes[r].latency_ns.load(std::memory_order_relaxed);
        }
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b < kBucketSlots; ++b) {
            cumulative += buckets[b];
            const std::string le =
                b < kLatencyBuckets.size() ? format_double(kLatencyBuckets[b]) : "+Inf";
            line("tally_http_request_duration_seconds_bucket{route=\"" + routes_[r] + "\",le=\"" +
                 le + "\"} " + std::to_string(cumulative));
        }
        line("tally_http_request_duration_seconds_sum{route=\"" + routes_[r] + "\"} " +
             format_double(static_cast<double>(sum_ns) / 1e9));
        line("tally_http_request_duration_seconds_count{route=\"" + routes_[r] + "\"} " +
             std::to_string(cumulative));
    }
}

std::string Metrics::render() const {
    std::string out;
    out.reserve(std::size_t{16} * 1024);
    auto line = [&out](const std::string& s) {
        out += s;
        out += '\n';
    };

    line("# HELP tally_events_ingested_total Events accepted and logged, by kind.");
    line("# TYPE tally_events_ingested_total counter");
    line("tally_events_ingested_total{kind=\"pageview\"} " +
         std::to_string(ingested(EventKind::pageview)));
    line("tally_events_ingested_total{kind=\"event\"} " +
         std::to_string(ingested(EventKind::custom)));

    line("# HELP tally_events_rejected_total Events refused, by reason.");
    line("# TYPE tally_events_rejected_total counter");
    for (std::size_t i = 0; i < kRejectReasons.size(); ++i) {
        std::uint64_t total = 0;
        for (const auto& w : workers_)
            total += w->rejected[i].load(std::memory_order_relaxed);
        line("tally_events_rejected_total{reason=\"" + std::string(kRejectReasons[i]) + "\"} " +
             std::to_string(total));
    }

    line(
        "# HELP tally_events_dropped_total Inputs answered as usual but not counted, by "
        "reason.");
    line("# TYPE tally_events_dropped_total counter");
    for (const std::string_view reason : kDropReasons) {
        line("tally_events_dropped_total{reason=\"" + std::string(reason) + "\"} " +
             std::to_string(dropped(reason)));
    }

    render_http(out);

    // A callback's name may carry labels ("x{reason=\"y\"}"); one family's samples are
    // registered one after another and share a single HELP and TYPE.
    std::string_view family_before;
    for (const auto& cb : callbacks_) {
        const std::string_view name(cb.name);
        const std::string_view family = name.substr(0, name.find('{'));
        if (family != family_before) {
            line("# HELP " + std::string(family) + " " + cb.help);
            line("# TYPE " + std::string(family) + " " + cb.type);
            family_before = family;
        }
        line(cb.name + " " + format_double(cb.value()));
    }
    return out;
}

}  // namespace tally::telemetry
