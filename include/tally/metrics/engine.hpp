#pragma once
// The metrics engine: every series' buckets in three resolution tiers, sharded by writer
// the way the web-analytics store is, so ingest threads never serialise on one lock.
//
//   tier       bucket    kept for
//   ten_s      10 s      the last hour
//   minutes    1 min     the last 48 hours
//   hours      1 h       metrics.retention_days (default 30)
//
// A point updates the bucket of each tier whose span still covers its timestamp, so every
// tier holds exactly the merge of the finer ones over the same time (bucket merges are
// exact, buckets.hpp) and a query reads the coarsest tier whose width divides its window
// and that reaches back to its start (fewest buckets, same answer).
//
// Shards. Writer w (an I/O thread, the StatsD thread, --demo) owns shard w and is its only
// writer; the shard's mutex is there for readers (queries, export, snapshots, pruning),
// so on the hot path it is uncontended. A series thus has a part in each shard that saw
// it, and every read merges the parts. Each shard caches the series it has seen
// (series_cache.hpp), so only the first point of a series in a shard asks the shared
// registry.
//
// Memory is bounded by the caps (the registry's) times the tiers' spans: a series holds
// at most 360 + 2880 + 24 x retention_days buckets per shard, and only buckets that
// received points exist.
//
// The write path admits points (caps, type conflicts, resolving StatsD "+N" gauges to an
// absolute value, so that the log holds what to replay), logs them, then applies them
// with the log position reached, which a snapshot saves (engine_snapshot.hpp).

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "tally/base/metric_point.hpp"
#include "tally/base/rejection.hpp"
#include "tally/base/time.hpp"
#include "tally/metrics/buckets.hpp"
#include "tally/metrics/series_cache.hpp"
#include "tally/metrics/series_registry.hpp"
#include "tally/metrics/tier.hpp"
#include "tally/store/log_position.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::metrics {

struct EngineOptions {
    std::size_t shards = 1;
    RegistryLimits limits;
    int retention_days = 30;
};

enum class TierIndex : std::uint8_t { ten_s = 0, minutes = 1, hours = 2 };
inline constexpr std::size_t kTierCount = 3;
inline constexpr std::array<std::int64_t, kTierCount> kTierWidthMs = {10'000, 60'000, 3'600'000};
/// How far back each tier reaches (the hour tier's is the retention).
inline constexpr std::array<std::int64_t, 2> kFineTierSpanMs = {3'600'000,
                                                                std::int64_t{48} * 3'600'000};

template <typename Bucket>
struct Tiers {
    std::array<Tier<Bucket>, kTierCount> tier;
};

/// One series' part in one shard.
struct SeriesState {
    std::variant<Tiers<CounterBucket>, Tiers<GaugeBucket>, Tiers<DistributionBucket>,
                 Tiers<SetBucket>>
        tiers;
    // Since the series began (the Prometheus export's cumulative counters and summaries).
    double total_count = 0;
    double total_sum = 0;
    // The latest point's value and time (a gauge's exported value).
    double last = 0;
    std::int64_t last_ms = INT64_MIN;

    explicit SeriesState(MetricKind kind);
    MetricKind kind() const { return static_cast<MetricKind>(tiers.index()); }
};

struct Shard {
    mutable std::mutex mutex;
    std::vector<std::unique_ptr<SeriesState>> series;  // by SeriesId; null where unseen
    std::vector<NameId> series_name;                   // by SeriesId
    // The series this shard has seen, by key. Its own mutex: only the shard's writer uses
    // it, but a recovery with more log writers than shards may share a shard.
    std::mutex known_mutex;
    SeriesCache known;
    store::LogPosition position;     // the log end after the last batch
    std::vector<NameId> changed;     // names changed since the last drain
    std::vector<bool> changed_mark;  // by NameId: already in `changed`
    std::string key_scratch;         // under known_mutex: a new series' key
    // Under known_mutex: a batch's series hashes, and the answers for its admitted points.
    std::vector<std::uint64_t> hash_scratch;
    std::vector<SeriesRegistry::Found> found_scratch;
};

class Engine {
  public:
    explicit Engine(EngineOptions options);
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    /// Finds or creates `point`'s series in `writer`'s shard: nullopt when admitted, with
    /// its id in `id`, else why not (a type conflict: 400; a cap: 429). A StatsD gauge
    /// change ("+N") is resolved here into the absolute value it gives.
    std::optional<Rejection> admit(std::size_t writer, MetricPoint& point, SeriesId& id);

    /// admit() for each of `points`, taking the shard cache's lock once: the admitted points
    /// are moved to the front, in order, with their ids appended to `ids`; each refused
    /// point's index in `points` and reason go to `refused`. Returns how many were admitted.
    std::size_t admit_all(std::size_t writer, std::span<MetricPoint> points,
                          std::vector<SeriesId>& ids, std::vector<BatchItemRejection>& refused);

    /// Counts admitted points (after they were logged up to `logged`, when given).
    void apply(std::size_t writer, const MetricPoint* points, const SeriesId* ids,
               std::size_t count, std::int64_t now_ms, const store::LogPosition* logged);

    /// A point replayed from the log, or one Tally keeps of itself (not logged): admitted
    /// past the caps when replayed; an unlogged point over a cap is dropped.
    void apply_replayed(std::size_t writer, MetricPoint& point, std::int64_t now_ms);
    bool record_unlogged(std::size_t writer, MetricPoint& point, std::int64_t now_ms);

    /// Drops buckets that left their tiers' spans.
    void prune(std::int64_t now_ms);

    /// The names changed since the last call (for live pushes), deduplicated.
    std::vector<NameId> drain_changed();

    const SeriesRegistry& registry() const { return registry_; }
    /// For loading a snapshot into an empty engine only.
    SeriesRegistry& registry_mutable() { return registry_; }
    void note_series_name(std::size_t shard, SeriesId id, NameId name);
    const EngineOptions& options() const { return options_; }
    std::size_t shard_count() const { return shards_.size(); }
    const Shard& shard(std::size_t index) const { return *shards_[index]; }
    Shard& shard(std::size_t index) { return *shards_[index]; }
    int retention_days() const { return options_.retention_days; }
    /// How far back tier `tier` reaches.
    std::int64_t span_ms(std::size_t tier) const;
    /// The oldest bucket tier `tier` keeps at `now_ms`: the one holding now - span. Points
    /// are added to a bucket, and buckets pruned, by this one rule, so every bucket a tier
    /// holds is complete, the first included.
    std::int64_t first_bucket(std::size_t tier, std::int64_t now_ms) const {
        return floor_div(now_ms - span_ms(tier), kTierWidthMs[tier]);
    }
    /// How many buckets tier `tier` holds at most: first_bucket() to now's, and one ahead
    /// for a clock a little in front of ours.
    std::size_t span_buckets(std::size_t tier) const {
        return static_cast<std::size_t>(span_ms(tier) / kTierWidthMs[tier]) + 2;
    }

    std::uint64_t points_applied() const { return applied_.load(std::memory_order_relaxed); }
    std::uint64_t rejected(SeriesRegistry::Admission why) const;
    /// Points, series, names and refusals by reason, for /metrics.
    void register_metrics(telemetry::Metrics& metrics) const;

  private:
    std::optional<SeriesId> find_series(std::size_t writer, MetricPoint& point, bool ignore_caps,
                                        std::optional<Rejection>* why);
    /// find_series() with the shard's known_mutex held, `hash` the shard cache's hash of
    /// the point, except that a gauge's value is left for the caller to resolve.
    std::optional<SeriesRegistry::Found> find_series_locked(Shard& shard, std::size_t writer,
                                                            MetricPoint& point, std::uint64_t hash,
                                                            bool ignore_caps,
                                                            std::optional<Rejection>* why);
    /// `first`: each tier's first_bucket() at the batch's time.
    void add_to_shard(Shard& shard, SeriesId id, const MetricPoint& point,
                      const std::array<std::int64_t, kTierCount>& first);

    EngineOptions options_;
    SeriesRegistry registry_;
    std::vector<std::unique_ptr<Shard>> shards_;
    std::atomic<std::uint64_t> applied_{0};
    std::array<std::atomic<std::uint64_t>, 4> rejected_{};  // by SeriesRegistry::Admission
};

}  // namespace tally::metrics
