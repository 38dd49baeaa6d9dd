#pragma once
// Reading every rule's figure for one evaluation round, from memory, in batches.
//
// Cost is what decides the design: 10,000 rules every round must cost a few milliseconds
// and must not hold up ingest. So rules are never read one by one the way a /current
// request is:
//   - metric rules are grouped by (workspace, name): the name's series and their tags are
//     copied out of the registry once per group (one shared lock), and, when several rules
//     of the group filter by tags, indexed by tag=value once, so each rule finds its series
//     by a lookup instead of a scan of all of them;
//   - then the engine's shards are read once per round, not once per rule: each shard's
//     lock is taken for up to kJobsPerLock rules at a time (so a writer waits at most for
//     that many rules' buckets), and every rule's buckets in that shard are merged under it;
//   - analytics rules are grouped by site: each shard's part of the site is visited once per
//     round (Store::visit_site), copying the minute counters the site's rules need, then
//     each window is a difference of prefix sums; real-time users are read once per site.
//
// Windows. A metric rule's value is its aggregation over the trailing window, exactly like
// GET /api/v1/metrics/<name>/current: the 10-second bucket now is in and the ones before it
// that make up the window (minutes beyond an hour). An anomaly rule also reads the 60
// windows before the current one, from the finest tier that reaches back that far, aligned
// to that tier's buckets (so a 1m rule reads 60 whole minutes); a window without points is
// skipped (no data is not a zero). Analytics counts are exact to the minute: the window is
// the current minute and the ones before it; minutes before the site's first day in the
// store are not history (a new site is not an anomaly), otherwise a minute without events
// counts as zero. Analytics counts always have a value (zero when nothing came).
//
// State kept between rounds: scratch room (jobs, their series and windows in two flat
// arenas, so a steady round allocates almost nothing) and, per name rules read, a copy of
// its series' tags and the tag index, extended with the series that are new since the last
// round and dropped when no rule reads the name any more. That copy is bounded by the
// registry's caps (metrics.max_series).

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "tally/alerts/evaluation.hpp"
#include "tally/alerts/rule.hpp"
#include "tally/metrics/engine.hpp"
#include "tally/store/store.hpp"

namespace tally::alerts {

inline constexpr std::size_t kJobsPerLock = 512;

class ValueReader {
  public:
    ValueReader(const metrics::Engine& engine, const store::Store& store);
    ~ValueReader();

    /// Each rule's reading at `now_ms`: out[i] for rules[i] (out is resized). One read at a
    /// time (the scratch room is shared).
    void read(std::span<const Rule* const> rules, std::int64_t now_ms, std::vector<Reading>& out);

    struct Scratch;  // the jobs, arenas and cached series of a name (alert_values.cpp)

  private:
    void read_metrics(std::span<const Rule* const> rules, std::int64_t now_ms,
                      std::vector<Reading>& out);
    void read_analytics(std::span<const Rule* const> rules, std::int64_t now_ms,
                        std::vector<Reading>& out);

    const metrics::Engine& engine_;
    const store::Store& store_;
    std::mutex mutex_;  // one read at a time
    std::unique_ptr<Scratch> scratch_;
};

}  // namespace tally::alerts
