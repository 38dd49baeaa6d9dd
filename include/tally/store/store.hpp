#pragma once
// The Store: all in-memory analytics, split into shards so ingest threads never serialise
// on one lock.
//
// Each HTTP I/O thread owns one shard (Request::worker) and is the only writer to it; the
// shard's mutex is there for readers (queries, snapshots, retention and the mirror), so on the
// hot path it is uncontended. A site's day is therefore spread over the shards, and every
// read merges them: counters add, HyperLogLogs take the register max (exact, the union of
// the sets), Space-Saving sketches merge within the sum of their error bounds, which is
// still N/m for the merged stream, and funnel logs are joined per identity.
//
// Caps (limits.max_sites, limits.max_event_names_per_day): the number of sites and of custom event
// names per site per day are limited. admit() checks them before an event is logged. A site or name
// the shard already holds was admitted before, so only the first event of a new site or name per
// shard takes the shared registry's lock.
//
// Live changes: while the /ws broadcaster runs (set_live_recording), apply() also notes in
// the shard's ChangeLog what each event changed (live_changes.hpp), under the lock it holds
// anyway; visit_live() hands the broadcaster all the shards at once to drain them.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/store/active_sessions.hpp"
#include "tally/store/day_state.hpp"
#include "tally/store/live_changes.hpp"
#include "tally/store/log_position.hpp"
#include "tally/store/windows.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::store {

struct StoreOptions {
    std::size_t shards = 1;
    std::size_t max_sites = 1000;
    std::size_t max_event_names_per_day = 1000;
    std::size_t top_capacity = sketch::SpaceSaving::kDefaultCapacity;
    std::size_t max_active_sessions = ActiveSessions::kDefaultMaxSessions;
};

enum class Admission { ok, too_many_sites, too_many_event_names };

/// Roll-up periods: a day that leaves retention is folded into its ISO week's and its
/// month's roll-up (counters summed, HyperLogLogs and top lists merged, no funnel).
enum class Period : std::uint8_t { week = 1, month = 2 };
/// The first day of `day`'s ISO week (its Monday) or month.
std::int64_t period_start(Period period, std::int64_t day);
/// The last day of the period that starts on `first`.
std::int64_t period_end(Period period, std::int64_t first);

/// The part of a site held by one shard.
struct SiteShard {
    std::map<std::int64_t, DayState> days;  // day number -> state
    Windows windows;
    std::map<std::int64_t, DayState> weeks;   // roll-ups by the week's Monday (day number)
    std::map<std::int64_t, DayState> months;  // roll-ups by the month's first day
    std::map<std::int64_t, DayState>& rollups(Period period) {
        return period == Period::week ? weeks : months;
    }
    const std::map<std::int64_t, DayState>& rollups(Period period) const {
        return period == Period::week ? weeks : months;
    }
};

struct RetireStats {
    std::size_t days = 0;     // day states folded and dropped
    std::size_t rollups = 0;  // roll-ups dropped
    /// The funnel runs of the dropped days, for the caller to delete.
    std::vector<std::string> funnel_run_files;
};

class Store {
  public:
    explicit Store(StoreOptions options);
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    std::size_t shard_count() const { return shards_.size(); }
    const StoreOptions& options() const { return options_; }

    /// Checks the caps for `event` and, when it passes, reserves its site and event name so
    /// later events of them pass without the registry. Call before logging the event.
    Admission admit(std::size_t shard, const Event& event);

    /// Counts `event` in `shard`. `now_ms` places it in the rolling windows.
    void apply(std::size_t shard, const Event& event, std::int64_t now_ms);
    /// apply() for `count` events, taking the shard's lock once. `logged`: where the shard's
    /// log writer ended after writing these events; recorded under the same lock, so a
    /// snapshot of the shard saves a position that matches its state exactly.
    void apply(std::size_t shard, const Event* events, std::size_t count, std::int64_t now_ms,
               const LogPosition* logged = nullptr);

    /// Sets shard `shard`'s log position (after recovery: the end of its writer's log).
    void set_log_position(std::size_t shard, LogPosition position);
    /// Shard `shard`'s log position; the caller holds that shard's lock (visit_shard).
    LogPosition log_position_locked(std::size_t shard) const {
        return shards_[shard % shards_.size()]->logged;
    }
    /// Events counted since the store was made (replay included), over every shard.
    std::uint64_t events_applied() const;

    /// Retention: every day before `first_kept_day` is folded into its week's and month's
    /// roll-ups and leaves the store (its memory is freed outside the shard's lock), then
    /// every roll-up whose period ended before `first_kept_rollup_day` goes too. One shard
    /// lock at a time.
    RetireStats retire(std::int64_t first_kept_day, std::int64_t first_kept_rollup_day);
    /// Day states and roll-ups held, summed over shards (each shard counts its own).
    std::size_t day_count() const;
    std::size_t rollup_count() const;
    /// Sites, day states and roll-ups in memory, as gauges.
    void register_metrics(telemetry::Metrics& metrics) const;

    /// Calls fn(const SiteShard&) for `site` in every shard that has it, under that shard's
    /// lock. Queries merge across shards with this; keep fn short, ingest waits on it.
    template <typename Fn>
    void visit_site(std::string_view site, Fn&& fn) const {
        for (const auto& shard : shards_) {
            std::lock_guard lock(shard->mutex);
            auto it = shard->sites.find(site);
            if (it != shard->sites.end())
                fn(it->second);
        }
    }

    /// Sessions active in the last minutes, across all shards.
    const ActiveSessions& active_sessions() const { return active_sessions_; }

    /// Calls fn(std::span<const SiteShard* const>) with `site`'s part in every shard that
    /// has it, holding all the shards' locks at once, so fn may keep views into them until
    /// it returns (no copies of top-list members). Safe from deadlock because nothing else
    /// ever holds two shard locks. Keep fn short: every ingest thread waits on it.
    template <typename Fn>
    void visit_site_all(std::string_view site, Fn&& fn) const {
        std::vector<std::unique_lock<std::mutex>> locks;
        std::vector<const SiteShard*> parts;
        locks.reserve(shards_.size());
        parts.reserve(shards_.size());
        for (const auto& shard : shards_) {
            locks.emplace_back(shard->mutex);
            auto it = shard->sites.find(site);
            if (it != shard->sites.end())
                parts.push_back(&it->second);
        }
        fn(std::span<const SiteShard* const>(parts));
    }

    /// Calls fn(const StringMap<SiteShard>&) with shard `index`'s sites under its lock (for
    /// snapshots). Keep fn short: that shard's ingest thread waits on it.
    template <typename Fn>
    void visit_shard(std::size_t index, Fn&& fn) const {
        const Shard& shard = *shards_[index % shards_.size()];
        std::lock_guard lock(shard.mutex);
        fn(shard.sites);
    }

    /// Restoring a snapshot. A day is placed in shard `shard % shard_count()` and merged
    /// with a state already there (a snapshot taken with more shards than now); the site
    /// and its event names are entered in the caps' registry, bypassing the caps, since
    /// they were admitted before.
    void restore_day(std::size_t shard, std::string_view site, std::int64_t day, DayState&& state);
    /// A rolling-window bucket of `site` back into shard `shard % shard_count()`.
    /// A roll-up back into shard `shard % shard_count()` (merged with one already there).
    void restore_rollup(std::size_t shard, std::string_view site, Period period,
                        std::int64_t first_day, DayState&& state);
    void restore_window_bucket(std::size_t shard, std::string_view site, std::int64_t minute,
                               const StringMap<std::uint64_t>& pages);
    void restore_active_sessions(std::vector<ActiveSessions::Saved> sessions) {
        active_sessions_.restore(std::move(sessions));
    }

    /// Funnel steps beyond memory (funnel_run.hpp): a day's log chosen to move to a run.
    struct FunnelToMove {
        std::string site;
        std::int64_t day = 0;
        FunnelLog::View log;  // read after the lock; its first `steps` steps go to the run
        std::size_t steps = 0;
        std::size_t bytes = 0;  // the log's memory_bytes() when taken
    };
    /// When shard `shard`'s funnel logs hold more than `budget_bytes`, its largest one;
    /// nullopt otherwise.
    std::optional<FunnelToMove> funnel_to_move(std::size_t shard, std::size_t budget_bytes) const;
    /// Gives `moved`'s day its run, which drops the run's steps from memory. False when the
    /// day has left meanwhile (retention): the caller deletes the run.
    bool funnel_moved(std::size_t shard, const FunnelToMove& moved,
                      std::shared_ptr<const FunnelRun> run);
    /// What a shard's funnels hold: bytes in memory, runs and their bytes on disk.
    struct FunnelFootprint {
        std::size_t memory_bytes = 0;
        std::size_t runs = 0;
        std::size_t disk_bytes = 0;
    };
    FunnelFootprint funnel_footprint(std::size_t shard) const;
    /// Every funnel run the store holds (file names), e.g. to delete the others.
    std::vector<std::string> funnel_run_files() const;
    /// Rebuilding a day's funnel from the event log (its runs were damaged): forget its
    /// steps and runs and mark it incomplete, then record_funnel() each of its logged events,
    /// then funnel_rebuilt(). False when the shard holds no such day.
    bool begin_funnel_rebuild(std::size_t shard, std::string_view site, std::int64_t day);
    void record_funnel(std::size_t shard, const Event& event);
    void funnel_rebuilt(std::size_t shard, std::string_view site, std::int64_t day);

    /// The sites known to the store, sorted.
    std::vector<std::string> sites() const;

    /// Turns the recording of live changes on or off (off by default: nothing drains them).
    /// Takes effect for the apply() calls that lock a shard after this call.
    void set_live_recording(bool on) { live_recording_.store(on, std::memory_order_relaxed); }

  private:
    struct Shard {
        mutable std::mutex mutex;
        StringMap<SiteShard> sites;
        ChangeLog changes;          // since the last visit_live(); empty while recording is off
        LogPosition logged;         // the shard's writer's log end its state includes
        std::uint64_t applied = 0;  // events counted
    };

  public:
    /// Every shard, while visit_live() holds all their locks.
    class LiveView {
      public:
        /// `site`'s part in every shard that has it.
        std::vector<const SiteShard*> site(std::string_view site) const;
        /// Moves every shard's change log out; they start again empty.
        std::vector<ChangeLog> take_changes();

      private:
        friend class Store;
        explicit LiveView(const std::vector<std::unique_ptr<Shard>>& shards) : shards_(shards) {}
        const std::vector<std::unique_ptr<Shard>>& shards_;
    };

    /// Calls fn(LiveView&) holding every shard's lock (see visit_site_all): the broadcaster
    /// drains the changes and reads the new totals in one critical section, so that each
    /// event is in exactly one of a snapshot and the delta after it. Keep fn short.
    template <typename Fn>
    void visit_live(Fn&& fn) {
        std::vector<std::unique_lock<std::mutex>> locks;
        locks.reserve(shards_.size());
        for (const auto& shard : shards_)
            locks.emplace_back(shard->mutex);
        LiveView view(shards_);
        fn(view);
    }

  private:
    struct Registry {
        mutable std::mutex mutex;
        StringMap<std::map<std::int64_t, std::set<std::string, std::less<>>>> names;  // by site
    };

    Admission admit_in_registry(const Event& event);
    /// `site`'s part of `shard`, created when absent; the caller holds shard.mutex.
    static SiteShard& site_of(Shard& shard, std::string_view site);
    /// `site`'s state of `day` in the shard, or null; the caller holds shard.mutex.
    static DayState* day_locked(Shard& shard, std::string_view site, std::int64_t day);
    /// Counts `event` in the shard; the caller holds shard.mutex.
    static void apply_locked(Shard& shard, const Event& event, std::int64_t now_ms,
                             std::size_t top_capacity, bool record);

    StoreOptions options_;
    std::vector<std::unique_ptr<Shard>> shards_;
    ActiveSessions active_sessions_;
    Registry registry_;
    std::atomic<bool> live_recording_{false};
};

}  // namespace tally::store
