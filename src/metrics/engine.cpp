#include "tally/metrics/engine.hpp"

#include <algorithm>

#include "tally/telemetry/metrics.hpp"

namespace tally::metrics {

namespace {

using Admission = SeriesRegistry::Admission;

std::variant<Tiers<CounterBucket>, Tiers<GaugeBucket>, Tiers<DistributionBucket>, Tiers<SetBucket>>
empty_tiers(MetricKind kind) {
    switch (kind) {
        case MetricKind::counter:
            return Tiers<CounterBucket>{};
        case MetricKind::gauge:
            return Tiers<GaugeBucket>{};
        case MetricKind::distribution:
            return Tiers<DistributionBucket>{};
        case MetricKind::set:
            return Tiers<SetBucket>{};
    }
    return Tiers<GaugeBucket>{};
}

Rejection refusal(Admission why, const MetricPoint& point, MetricKind known) {
    switch (why) {
        case Admission::type_conflict:
            return {"type_conflict", "type",
                    std::string("type conflicts: '") + point.name + "' is a " +
                        metric_kind_name(known) + " metric, this point is " +
                        metric_type_name(point.type)};
        case Admission::too_many_series:
            return {"too_many_series", "name",
                    "too many series: a new series of '" + point.name +
                        "' was refused by metrics.max_series"};
        case Admission::too_many_series_for_name:
            return {"too_many_series_per_name", "tags",
                    "too many series for '" + point.name +
                        "': a new tag combination was refused by metrics.max_series_per_name"};
        case Admission::ok:
            break;
    }
    return {};
}

// How far ahead a batch's lookups and updates fetch what they will need (in points): far
// enough for a fetch to arrive, near enough for it to stay cached.
constexpr std::size_t kPrefetchSlot = 8;
constexpr std::size_t kPrefetchKey = 4;
constexpr std::size_t kPrefetchState = 8;
constexpr std::size_t kPrefetchBuckets = 4;

void prefetch_state(const Shard& shard, SeriesId id) {
    if (id < shard.series.size())
        __builtin_prefetch(shard.series[id].get());
}

// The bucket each tier would add to next: a tier's newest.
void prefetch_buckets(const Shard& shard, SeriesId id) {
    if (id >= shard.series.size() || !shard.series[id])
        return;
    std::visit(
        [](const auto& tiers) {
            for (const auto& tier : tiers.tier) {
                if (!tier.empty())
                    __builtin_prefetch(&tier.entries().back());
            }
        },
        shard.series[id]->tiers);
}

// A StatsD "+N" becomes the absolute value it gives; every gauge point sets the series'
// global last value.
void resolve_gauge(const SeriesRegistry::Found& found, MetricPoint& point) {
    if (found.kind != MetricKind::gauge)
        return;
    point.value = SeriesRegistry::update_gauge(*found.gauge_last, point.value, point.gauge_delta);
    point.gauge_delta = false;
}

}  // namespace

SeriesState::SeriesState(MetricKind kind) : tiers(empty_tiers(kind)) {}

Engine::Engine(EngineOptions options) : options_(std::move(options)), registry_(options_.limits) {
    const std::size_t shards = std::max<std::size_t>(1, options_.shards);
    for (std::size_t i = 0; i < shards; ++i)
        shards_.push_back(std::make_unique<Shard>());
}

std::int64_t Engine::span_ms(std::size_t tier) const {
    if (tier < kFineTierSpanMs.size())
        return kFineTierSpanMs[tier];
    return std::int64_t{options_.retention_days} * 24 * 3'600'000;
}

std::optional<SeriesId> Engine::find_series(std::size_t writer, MetricPoint& point,
                                            bool ignore_caps, std::optional<Rejection>* why) {
    Shard& shard = *shards_[writer % shards_.size()];
    std::lock_guard cache(shard.known_mutex);
    const auto found =
        find_series_locked(shard, writer, point, shard.known.hash_of(point), ignore_caps, why);
    if (!found)
        return std::nullopt;
    resolve_gauge(*found, point);
    return found->id;
}

std::optional<SeriesRegistry::Found> Engine::find_series_locked(Shard& shard, std::size_t writer,
                                                                MetricPoint& point,
                                                                std::uint64_t hash,
                                                                bool ignore_caps,
                                                                std::optional<Rejection>* why) {
    SeriesRegistry::Found found;
    if (const SeriesRegistry::Found* known = shard.known.find(point, hash)) {
        found = *known;
        if (found.kind != kind_of(point.type))
            found.admission = Admission::type_conflict;
    } else {
        SeriesRegistry::series_key(point, shard.key_scratch);
        found = registry_.find_or_add(point, shard.key_scratch, ignore_caps);
        if (found.admission == Admission::ok) {
            shard.known.insert(hash, shard.key_scratch, found);
            note_series_name(writer, found.id, found.name);
        }
    }
    if (found.admission != Admission::ok) {
        rejected_[static_cast<std::size_t>(found.admission)].fetch_add(1,
                                                                       std::memory_order_relaxed);
        if (why != nullptr)
            *why = refusal(found.admission, point, found.kind);
        return std::nullopt;
    }
    return found;
}

void Engine::note_series_name(std::size_t shard_index, SeriesId id, NameId name) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    if (shard.series_name.size() <= id)
        shard.series_name.resize(id + 1);
    shard.series_name[id] = name;
}

std::optional<Rejection> Engine::admit(std::size_t writer, MetricPoint& point, SeriesId& id) {
    std::optional<Rejection> why;
    if (auto found = find_series(writer, point, /*ignore_caps=*/false, &why)) {
        id = *found;
        return std::nullopt;
    }
    return why;
}

std::size_t Engine::admit_all(std::size_t writer, std::span<MetricPoint> points,
                              std::vector<SeriesId>& ids,
                              std::vector<BatchItemRejection>& refused) {
    Shard& shard = *shards_[writer % shards_.size()];
    std::lock_guard cache(shard.known_mutex);
    // The hashes first, then the lookups, each starting the fetch of a later point's slot and
    // of the key in it, so that the batch's cache misses overlap.
    std::vector<std::uint64_t>& hashes = shard.hash_scratch;
    hashes.resize(points.size());
    shard.found_scratch.clear();
    for (std::size_t i = 0; i < points.size(); ++i)
        hashes[i] = shard.known.hash_of(points[i]);
    std::size_t admitted = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (i + kPrefetchSlot < points.size())
            shard.known.prefetch(hashes[i + kPrefetchSlot]);
        if (i + kPrefetchKey < points.size())
            shard.known.prefetch_key(hashes[i + kPrefetchKey]);
        std::optional<Rejection> why;
        const auto found = find_series_locked(shard, writer, points[i], hashes[i],
                                              /*ignore_caps=*/false, &why);
        if (!found) {
            refused.push_back({i, std::move(*why)});
            continue;
        }
        ids.push_back(found->id);
        shard.found_scratch.push_back(*found);
        if (admitted != i)
            std::swap(points[admitted], points[i]);
        ++admitted;
    }
    // Gauges last, in order, fetching a later point's registry cell (another miss) ahead.
    for (std::size_t i = 0; i < admitted; ++i) {
        if (i + kPrefetchSlot < admitted && shard.found_scratch[i + kPrefetchSlot].gauge_last)
            __builtin_prefetch(shard.found_scratch[i + kPrefetchSlot].gauge_last);
        resolve_gauge(shard.found_scratch[i], points[i]);
    }
    return admitted;
}

void Engine::apply(std::size_t writer, const MetricPoint* points, const SeriesId* ids,
                   std::size_t count, std::int64_t now_ms, const store::LogPosition* logged) {
    Shard& shard = *shards_[writer % shards_.size()];
    std::array<std::int64_t, kTierCount> first{};
    for (std::size_t t = 0; t < kTierCount; ++t)
        first[t] = first_bucket(t, now_ms);
    std::lock_guard lock(shard.mutex);
    for (std::size_t i = 0; i < count; ++i) {
        // A batch's series are scattered over the shard: fetch a later point's series state,
        // then its buckets, while this one is counted, so the cache misses overlap.
        if (i + kPrefetchState < count)
            prefetch_state(shard, ids[i + kPrefetchState]);
        if (i + kPrefetchBuckets < count)
            prefetch_buckets(shard, ids[i + kPrefetchBuckets]);
        add_to_shard(shard, ids[i], points[i], first);
    }
    if (logged != nullptr)
        shard.position = std::max(shard.position, *logged);
    applied_.fetch_add(count, std::memory_order_relaxed);
}

void Engine::apply_replayed(std::size_t writer, MetricPoint& point, std::int64_t now_ms) {
    if (auto id = find_series(writer, point, /*ignore_caps=*/true, nullptr))
        apply(writer, &point, &*id, 1, now_ms, nullptr);
}

bool Engine::record_unlogged(std::size_t writer, MetricPoint& point, std::int64_t now_ms) {
    auto id = find_series(writer, point, /*ignore_caps=*/false, nullptr);
    if (!id)
        return false;
    apply(writer, &point, &*id, 1, now_ms, nullptr);
    return true;
}

void Engine::add_to_shard(Shard& shard, SeriesId id, const MetricPoint& point,
                          const std::array<std::int64_t, kTierCount>& first) {
    if (shard.series.size() <= id)
        shard.series.resize(id + 1);
    std::unique_ptr<SeriesState>& state = shard.series[id];
    if (!state)
        state = std::make_unique<SeriesState>(kind_of(point.type));
    std::visit(
        [&](auto& tiers) {
            for (std::size_t t = 0; t < kTierCount; ++t) {
                const std::int64_t bucket = floor_div(point.timestamp_ms, kTierWidthMs[t]);
                if (bucket < first[t])
                    continue;  // older than this tier reaches: the coarser ones keep it
                tiers.tier[t].at(bucket, span_buckets(t)).add(point);
            }
        },
        state->tiers);
    state->total_count += point.weight;
    state->total_sum += point.value * point.weight;
    if (point.timestamp_ms >= state->last_ms) {
        state->last = point.value;
        state->last_ms = point.timestamp_ms;
    }
    const NameId name = id < shard.series_name.size() ? shard.series_name[id] : 0;
    if (shard.changed_mark.size() <= name)
        shard.changed_mark.resize(name + 1, false);
    if (!shard.changed_mark[name]) {
        shard.changed_mark[name] = true;
        shard.changed.push_back(name);
    }
}

void Engine::prune(std::int64_t now_ms) {
    for (auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        for (auto& state : shard->series) {
            if (!state)
                continue;
            std::visit(
                [&](auto& tiers) {
                    for (std::size_t t = 0; t < kTierCount; ++t)
                        tiers.tier[t].prune(first_bucket(t, now_ms));
                },
                state->tiers);
        }
    }
}

std::vector<NameId> Engine::drain_changed() {
    std::vector<NameId> names;
    for (auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        for (NameId name : shard->changed) {
            shard->changed_mark[name] = false;
            names.push_back(name);
        }
        shard->changed.clear();
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::uint64_t Engine::rejected(Admission why) const {
    return rejected_[static_cast<std::size_t>(why)].load(std::memory_order_relaxed);
}

void Engine::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_metric_points_applied_total",
                         "Metric points counted by the metrics engine.", "counter",
                         [this] { return static_cast<double>(points_applied()); });
    metrics.add_callback("tally_metric_series", "Metric series known.", "gauge",
                         [this] { return static_cast<double>(registry_.series_count()); });
    metrics.add_callback("tally_metric_names", "Metric names known.", "gauge",
                         [this] { return static_cast<double>(registry_.name_count()); });
    static constexpr std::array<std::pair<const char*, Admission>, 3> kReasons = {{
        {"type_conflict", Admission::type_conflict},
        {"too_many_series", Admission::too_many_series},
        {"too_many_series_per_name", Admission::too_many_series_for_name},
    }};
    for (const auto& [reason, why] : kReasons) {
        metrics.add_callback(
            std::string("tally_metric_points_rejected_total{reason=\"") + reason + "\"}",
            "Metric points refused by the engine, by reason.", "counter",
            [this, why = why] { return static_cast<double>(rejected(why)); });
    }
}

}  // namespace tally::metrics
