#include "tally/write/write_path.hpp"

namespace tally::write {

namespace {

Rejection admission_rejection(store::Admission admission, const Event& event) {
    if (admission == store::Admission::too_many_sites) {
        return {"too_many_sites", "site",
                "too many sites: '" + event.site + "' was refused by limits.max_sites"};
    }
    return {"too_many_event_names", "event_name",
            "too many event names today for site '" + event.site + "': '" + event.event_name +
                "' was refused by limits.max_event_names_per_day"};
}

}  // namespace

WritePath::WritePath(store::Store& store, durability::EventLog& log, telemetry::Metrics& metrics,
                     metrics::Engine& engine, const metrics::Derivations& derivations)
    : store_(store), log_(log), metrics_(metrics), engine_(engine), derivations_(derivations) {
    for (std::size_t i = 0; i < engine_.shard_count(); ++i)
        scratch_.push_back(std::make_unique<Scratch>());
}

std::optional<Rejection> WritePath::admit(std::size_t writer, const Event& event) {
    const store::Admission admission = store_.admit(writer, event);
    if (admission == store::Admission::ok)
        return std::nullopt;
    return admission_rejection(admission, event);
}

bool WritePath::write(std::size_t writer, const Event* events, std::size_t count,
                      std::int64_t now_ms) {
    durability::LogPosition logged;  // recorded with the state: snapshots replay from it
    if (!log_.append(writer, events, count, &logged))
        return false;
    store_.apply(writer, events, count, now_ms, &logged);
    for (std::size_t i = 0; i < count; ++i)
        metrics_.count_ingested(writer, events[i].kind);
    derive(writer, events, count, now_ms, logged);
    count_throughput(writer, "events", count, now_ms);
    return true;
}

void WritePath::count_throughput(std::size_t writer, const char* kind, std::size_t count,
                                 std::int64_t now_ms) {
    MetricPoint& point = scratch_[writer % scratch_.size()]->throughput;
    point.name = "tally.ingest.throughput";
    point.type = MetricType::count;
    point.value = static_cast<double>(count);
    point.timestamp_ms = now_ms;
    point.tags.resize(1);
    point.tags[0].key = "kind";
    point.tags[0].value = kind;
    engine_.record_unlogged(writer, point, now_ms);
}

void WritePath::derive(std::size_t writer, const Event* events, std::size_t count,
                       std::int64_t now_ms, const durability::LogPosition& logged) {
    Scratch& scratch = *scratch_[writer % scratch_.size()];
    scratch.derived.clear();
    scratch.ids.clear();
    for (std::size_t i = 0; i < count; ++i)
        derivations_.points_of(events[i], scratch.derived);
    // Unlogged points over a cap are dropped (and counted as refused), as record_unlogged
    // does. The rest are applied in one go with the log position the events reached: the
    // engine's snapshot then holds these points exactly when its position says their events
    // are in it, so recovery, which replays events from that position to rebuild derived
    // points, counts each once (without the position the events were derived twice).
    scratch.refused.clear();
    const std::size_t kept =
        engine_.admit_all(writer, scratch.derived, scratch.ids, scratch.refused);
    engine_.apply(writer, scratch.derived.data(), scratch.ids.data(), kept, now_ms, &logged);
}

std::optional<std::size_t> WritePath::write_points(std::size_t writer,
                                                   std::span<MetricPoint> points,
                                                   std::vector<BatchItemRejection>& refused,
                                                   std::int64_t now_ms) {
    Scratch& scratch = *scratch_[writer % scratch_.size()];
    scratch.ids.clear();
    const std::size_t admitted = engine_.admit_all(writer, points, scratch.ids, refused);
    if (admitted == 0)
        return 0;
    durability::LogPosition logged;
    if (!log_.append(writer, points.data(), admitted, &logged))
        return std::nullopt;
    engine_.apply(writer, points.data(), scratch.ids.data(), admitted, now_ms, &logged);
    count_throughput(writer, "points", admitted, now_ms);
    return admitted;
}

void WritePath::record_own(std::size_t writer, MetricPoint& point, std::int64_t now_ms) {
    engine_.record_unlogged(writer, point, now_ms);
}

std::optional<Rejection> WritePath::admit_and_write(std::size_t writer, const Event& event,
                                                    std::int64_t now_ms) {
    if (auto refused = admit(writer, event))
        return refused;
    if (!write(writer, &event, 1, now_ms))
        return log_unavailable();
    return std::nullopt;
}

bool WritePath::waits_for_fsync() const {
    return log_.mode() == durability::FsyncMode::always;
}

void WritePath::when_durable(std::size_t writer, durability::EventLog::Durable done) {
    log_.when_durable(writer, std::move(done));
}

const Rejection& WritePath::log_unavailable() {
    static const Rejection rejection{"log_unavailable", "",
                                     "the event log cannot be written; nothing was counted"};
    return rejection;
}

const Rejection& WritePath::log_not_synced() {
    static const Rejection rejection{
        "log_unavailable", "",
        "the event log could not be synced to disk; the event may not survive a crash"};
    return rejection;
}

}  // namespace tally::write
