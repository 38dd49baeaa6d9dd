// Persistence (persistence.hpp): recovery at start, then snapshots and retention on a
// BackgroundLoop.

#include "tally/durability/persistence.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <tuple>

#include "tally/base/time.hpp"

namespace tally::durability {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

/// How often the thread checks whether a snapshot is due.
constexpr std::chrono::seconds kCheckInterval{1};
/// How often retention runs.
constexpr std::chrono::minutes kRetentionInterval{1};

}  // namespace

Persistence::Persistence(PersistenceOptions options, store::Store& store, EventLog& log,
                         LoggedState* side)
    : options_(std::move(options)), store_(store), log_(log), side_(side) {}

namespace {

/// Whether the record at `at` of `writer` comes before `positions[writer]` (a writer
/// without a position is replayed from its start).
bool before(const std::vector<LogPosition>& positions, std::size_t writer, const LogPosition& at) {
    return writer < positions.size() && at < positions[writer];
}

/// Element-wise minimum; a writer missing from either side starts at the beginning.
std::vector<LogPosition> earliest(const std::vector<LogPosition>& a,
                                  const std::vector<LogPosition>& b) {
    std::vector<LogPosition> out(std::min(a.size(), b.size()));
    for (std::size_t w = 0; w < out.size(); ++w)
        out[w] = std::min(a[w], b[w]);
    return out;
}

/// The (shard, site, day)s whose funnels recovery rebuilds, looked up per held record.
class FunnelRebuilds {
  public:
    FunnelRebuilds(const SnapshotMeta& meta, std::size_t shards) : shards_(shards, false) {
        for (const FunnelToRebuild& f : meta.funnels_to_rebuild) {
            shards_[f.shard % shards] = true;
            days_.emplace(f.shard % shards, f.site, f.day);
        }
    }
    bool empty() const { return days_.empty(); }
    bool shard(std::size_t shard) const { return shards_[shard]; }
    bool wanted(std::size_t shard, const Event& event) const {
        return shards_[shard] && days_.contains({shard, event.site, day_of(event.timestamp_ms)});
    }

  private:
    std::vector<bool> shards_;
    std::set<std::tuple<std::size_t, std::string, std::int64_t>> days_;
};

}  // namespace

void Persistence::begin_funnel_rebuilds(const SnapshotMeta& meta) {
    for (const FunnelToRebuild& f : meta.funnels_to_rebuild) {
        spdlog::error(
            "funnels: {} on {} (shard {}): {}; rebuilding that day's funnel from the "
            "event log",
            f.site, format_day(f.day), f.shard, f.why);
        store_.begin_funnel_rebuild(f.shard % store_.shard_count(), f.site, f.day);
    }
}

ReplayStats Persistence::replay(const SnapshotMeta& meta, const std::vector<LogPosition>& side_from,
                                std::int64_t now_ms, std::uint64_t& in_snapshot) {
    const std::size_t shards = store_.shard_count();
    const ReplayFilter filter(meta);
    const FunnelRebuilds rebuilds(meta, shards);
    std::vector<LogPosition> from =
        side_ == nullptr ? meta.log_positions : earliest(meta.log_positions, side_from);
    for (std::size_t w = 0; w < from.size(); ++w) {
        if (rebuilds.shard(w % shards))
            from[w] = LogPosition{};  // the whole log: the rebuilt days' held records
    }
    // Writers replay on their own threads (each into its own shard, under the shard locks
    // ingest uses), so a start-up replay uses every core.
    std::atomic<std::uint64_t> held{0};
    const auto on_event = [&](std::size_t writer, const LogPosition& at, const Event& event) {
        if (side_ != nullptr && !before(side_from, writer, at))
            side_->replay(writer, event, now_ms);
        // The snapshot saved this site's part of the shard after this record.
        if (before(meta.log_positions, writer, at) || filter.in_snapshot(writer, event.site, at)) {
            held.fetch_add(1, std::memory_order_relaxed);
            if (rebuilds.wanted(writer % shards, event))
                store_.record_funnel(writer % shards, event);
            return;
        }
        // Register the site and name with the caps; the event was answered 200 once, so
        // it is counted whatever the caps say now.
        (void)store_.admit(writer % shards, event);
        store_.apply(writer % shards, &event, 1, now_ms);
    };
    EventLog::ReplayPoint on_point;
    if (side_ != nullptr) {
        on_point = [&](std::size_t writer, const LogPosition& at, const MetricPoint& point) {
            if (before(side_from, writer, at))
                return;
            MetricPoint copy = point;
            side_->replay(writer, copy, now_ms);
        };
    }
    ReplayStats stats = log_.replay_from(
        from, on_event, std::max(1U, std::thread::hardware_concurrency()), on_point);
    in_snapshot = held.load();
    for (const FunnelToRebuild& f : meta.funnels_to_rebuild)
        store_.funnel_rebuilt(f.shard % shards, f.site, f.day);
    return stats;
}

Persistence::~Persistence() {
    stop();
}

Persistence::Recovery Persistence::recover(std::int64_t now_ms) {
    const auto started = Clock::now();
    Recovery recovery;
    LoadReport report;
    const std::optional<SnapshotMeta> loaded =
        load_newest_snapshot(options_.snapshot_dir, store_, &report, options_.funnel_dir);
    recovery.snapshot = report.loaded;
    recovery.skipped = report.skipped;
    for (const auto& [path, why] : report.skipped) {
        // Renamed aside (kept for a post-mortem): left in place it would count as one of
        // the kept snapshots, and the next writes would delete the good ones first.
        fs::path aside = path;
        aside += ".damaged";
        std::error_code ec;
        fs::rename(path, aside, ec);
        spdlog::error("snapshot {} is damaged ({}); moved to {}, trying an older one",
                      path.string(), why, aside.filename().string());
    }

    const std::size_t shards = store_.shard_count();
    const SnapshotMeta meta = loaded ? *loaded : SnapshotMeta{};
    begin_funnel_rebuilds(meta);
    recovery.funnels_rebuilt = meta.funnels_to_rebuild;
    const std::vector<LogPosition> side_from =
        side_ != nullptr ? side_->load(options_.snapshot_dir) : std::vector<LogPosition>{};
    recovery.replay = replay(meta, side_from, now_ms, recovery.in_snapshot);
    log_.open();
    for (std::size_t i = 0; i < shards; ++i)
        store_.set_log_position(i, log_.end_position(i));
    extra_positions_.clear();
    for (std::size_t w = shards; w < recovery.replay.ends.size(); ++w)
        extra_positions_.push_back(recovery.replay.ends[w]);
    if (side_ != nullptr) {
        std::vector<LogPosition> ends = recovery.replay.ends;
        for (std::size_t w = 0; w < shards; ++w) {
            if (w >= ends.size())
                ends.push_back(log_.end_position(w));
            else
                ends[w] = log_.end_position(w);
        }
        side_->recovered(ends);
        side_at_last_ = side_->applied();
        // Without a snapshot of its own the side state was rebuilt from the whole log, and
        // retention would have to keep every segment until its first snapshot: take it now.
        if (side_from.empty())
            side_->save(options_.snapshot_dir, options_.snapshots_kept, now_ms);
    }

    recovery.ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    for (const auto& damage : recovery.replay.damage) {
        spdlog::warn(
            "event log: {}: {} record at offset {}, cut {} damaged or torn byte(s) from there to "
            "the end; every complete record before it was kept",
            damage.file.string(), damage.torn ? "torn" : "damaged", damage.offset,
            damage.cut_bytes);
    }
    spdlog::info(
        "recovery: snapshot {}, replayed {} event(s) ({} bytes of log after it; {} "
        "more already in the snapshot), {:.0f} ms",
        recovery.snapshot.empty() ? std::string("none") : recovery.snapshot.string(),
        recovery.replay.records - recovery.in_snapshot, recovery.replay.bytes, recovery.in_snapshot,
        recovery.ms);
    events_at_last_ = store_.events_applied();
    last_snapshot_ = Clock::now();
    retain(now_ms);
    last_retention_ = Clock::now();
    return recovery;
}

SnapshotMeta Persistence::meta(std::int64_t now_ms) const {
    SnapshotMeta meta;
    meta.created_ms = now_ms;
    // Shards' positions are filled in under their locks; writers past them keep theirs.
    meta.log_positions.resize(store_.shard_count());
    meta.log_positions.insert(meta.log_positions.end(), extra_positions_.begin(),
                              extra_positions_.end());
    return meta;
}

bool Persistence::snapshot(const char* why) {
    const std::uint64_t events = store_.events_applied();
    try {
        const WrittenSnapshot written =
            write_snapshot(store_, meta(now_ms()), options_.snapshot_dir, options_.snapshots_kept,
                           [this](std::size_t shard) { return store_.log_position_locked(shard); });
        events_at_last_ = events;
        last_snapshot_ = Clock::now();
        if (side_ != nullptr) {
            side_at_last_ = side_->applied();
            side_->save(options_.snapshot_dir, options_.snapshots_kept, now_ms());
        }
        spdlog::info("snapshot ({}): {} ({:.1f} MiB), shard lock held at most {:.2f} ms", why,
                     written.path.filename().string(),
                     static_cast<double>(written.stats.bytes) / (1 << 20),
                     static_cast<double>(written.stats.max_lock_hold.count()) / 1e6);
        return true;
    } catch (const std::exception& e) {
        spdlog::error("snapshot ({}) failed: {}", why, e.what());
        last_snapshot_ = Clock::now();  // retried after another interval, not in a loop
        return false;
    }
}

void Persistence::retain(std::int64_t now_ms) {
    const std::int64_t today = day_of(now_ms);
    const store::RetireStats retired = store_.retire(today - options_.retention_days + 1,
                                                     today - options_.rollup_retention_days + 1);
    if (side_ != nullptr)
        side_->retain(now_ms);
    for (const std::string& file : retired.funnel_run_files) {
        std::error_code ec;
        fs::remove(options_.funnel_dir / file, ec);
    }
    if (retired.days > 0 || retired.rollups > 0) {
        spdlog::info(
            "retention: {} day state(s) folded into roll-ups and dropped, {} roll-up(s) "
            "dropped",
            retired.days, retired.rollups);
    }

    // Log segments: only below every kept snapshot's position (a damaged newest snapshot
    // falls back to an older one and replays from its positions), and only when unsure
    // of no snapshot (one whose meta cannot be read keeps every segment).
    const std::vector<fs::path> kept = list_snapshots(options_.snapshot_dir);
    if (kept.empty())
        return;
    std::vector<LogPosition> keep_from;
    for (const fs::path& path : kept) {
        const auto m = read_snapshot_meta(path);
        if (!m)
            return;
        if (keep_from.empty()) {
            keep_from = m->log_positions;
        } else {
            // A writer a snapshot has no position for is replayed wholly from it.
            keep_from.resize(std::min(keep_from.size(), m->log_positions.size()));
            for (std::size_t w = 0; w < keep_from.size(); ++w)
                keep_from[w] = std::min(keep_from[w], m->log_positions[w]);
        }
    }
    if (side_ != nullptr) {
        const std::vector<LogPosition> side_needs = side_->needed_from(options_.snapshot_dir);
        if (side_needs.empty())
            return;
        keep_from = earliest(keep_from, side_needs);
    }
    const std::int64_t first_kept_ms = (today - options_.retention_days + 1) * kMsPerDay;
    for (const fs::path& path : log_.remove_segments(keep_from, first_kept_ms))
        spdlog::info("retention: removed log segment {}", path.filename().string());
}

void Persistence::start() {
    loop_.start(
        kCheckInterval, [this] { tick(); }, /*first_step_after_interval=*/true);
}

void Persistence::stop() {
    loop_.stop();
}

void Persistence::tick() {
    const auto now = Clock::now();
    const bool by_time = options_.snapshot_interval.count() > 0 &&
                         now - last_snapshot_ >= options_.snapshot_interval;
    const bool by_events =
        options_.snapshot_events > 0 &&
        (store_.events_applied() - events_at_last_ >= options_.snapshot_events ||
         (side_ != nullptr && side_->applied() - side_at_last_ >= options_.snapshot_events));
    if (by_time || by_events)
        snapshot(by_time ? "interval" : "events");
    if (now - last_retention_ >= kRetentionInterval) {
        retain(now_ms());
        last_retention_ = now;
    }
}

}  // namespace tally::durability
