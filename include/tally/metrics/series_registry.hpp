#pragma once
// The series registry: every (workspace, name, tags) the metrics engine knows, with a
// dense id, and every name with its type, default window and series.
//
// The first point of a name fixes its type (and so its kind); a point of another kind is
// refused. Caps bound memory whatever the traffic: at most max_series series, and at most
// max_series_per_name per name; a point that would create one more is refused and leaves
// nothing behind.
//
// Threads: ingest threads look series up here only on a miss in their shard's own cache
// (engine.hpp), so the registry's lock is taken for a new series, not per point. Readers
// (queries, export) take it shared and copy out what they need.
//
// The global last value of each gauge lives here, as an atomic, so that a StatsD "+N"
// change is applied to the value every shard saw last, whichever thread sends it. Series
// live in a deque, so the atomic stays put and a shard's cache can keep its address.

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tally/base/metric_point.hpp"

namespace tally::metrics {

using SeriesId = std::uint32_t;
using NameId = std::uint32_t;

struct RegistryLimits {
    std::size_t max_series = 100'000;
    std::size_t max_series_per_name = 10'000;
};

struct NameInfo {
    std::string workspace;
    std::string name;
    MetricType type = MetricType::gauge;
    MetricWindow window = MetricWindow::m1;
    std::vector<SeriesId> series;
};

struct SeriesInfo {
    NameId name = 0;
    std::vector<MetricTag> tags;
};

class SeriesRegistry {
  public:
    enum class Admission { ok, type_conflict, too_many_series, too_many_series_for_name };
    struct Found {
        Admission admission = Admission::ok;
        SeriesId id = 0;
        MetricKind kind = MetricKind::gauge;
        NameId name = 0;
        // The series' global last gauge value (set when admitted): its address never
        // changes, so a cached Found updates a gauge without the registry's lock.
        std::atomic<double>* gauge_last = nullptr;
    };

    explicit SeriesRegistry(RegistryLimits limits) : limits_(limits) {}

    /// The key that names a series: workspace, name and sorted tags, NUL-separated.
    static void series_key(const MetricPoint& point, std::string& out);

    /// The series `point` belongs to (its key from series_key), created when new and the
    /// caps allow (`ignore_caps`: a replayed point, answered once already, always counts).
    Found find_or_add(const MetricPoint& point, std::string_view key, bool ignore_caps);

    /// Sets a gauge's global last value; with `delta`, adds to it. Returns the new value.
    double update_gauge(SeriesId id, double value, bool delta);
    /// The same on the cell of a Found.
    static double update_gauge(std::atomic<double>& last, double value, bool delta);
    double gauge_value(SeriesId id) const;

    std::size_t series_count() const;
    std::size_t name_count() const;
    /// The names of `workspace`, with their series counts.
    std::vector<NameInfo> names(std::string_view workspace) const;
    std::optional<NameInfo> name(std::string_view workspace, std::string_view name) const;
    /// The names of `ids` (without their series lists); unknown ids are skipped.
    std::vector<NameInfo> names_by_id(const std::vector<NameId>& ids) const;
    /// Tags of each id (ids unknown are skipped).
    std::vector<SeriesInfo> series(const std::vector<SeriesId>& ids) const;
    /// Every name (all workspaces) and the tags of every series, for the export.
    void copy_all(std::vector<NameInfo>& names, std::vector<SeriesInfo>& series) const;

  private:
    struct Series {
        NameId name = 0;
        std::vector<MetricTag> tags;
        std::atomic<double> gauge_last{0};
    };

    RegistryLimits limits_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, SeriesId> by_key_;
    std::unordered_map<std::string, NameId> names_by_key_;  // workspace '\0' name
    std::vector<NameInfo> names_;
    std::deque<Series> series_;  // a deque: elements never move, so the atomics stay put
};

}  // namespace tally::metrics
