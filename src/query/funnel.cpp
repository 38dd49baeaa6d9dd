#include <algorithm>

#include "tally/query/query.hpp"
#include "tally/store/funnel_run.hpp"

namespace tally::query {

namespace {

/// One identity's events that match some step, as (time, distinct-step-name index).
using Trail = std::vector<std::pair<std::int64_t, std::uint32_t>>;

/// How many steps `trail` completes in order, each at or after the previous one's time.
/// Greedy earliest matching is optimal for an ordered subsequence: taking the earliest
/// possible event for each step never leaves fewer choices for the next.
std::size_t steps_completed(Trail& trail, const std::vector<std::uint32_t>& step_names) {
    std::sort(trail.begin(), trail.end());
    // Per distinct name, its event times in order; and how many of them are used up.
    std::vector<std::vector<std::int64_t>> times;
    for (const auto& [ts, name] : trail) {
        if (name >= times.size())
            times.resize(name + 1);
        times[name].push_back(ts);
    }
    std::vector<std::size_t> used(times.size(), 0);
    std::int64_t previous = INT64_MIN;
    std::size_t done = 0;
    for (std::uint32_t name : step_names) {
        if (name >= times.size())
            break;
        const auto& list = times[name];
        auto it = std::lower_bound(list.begin() + static_cast<std::ptrdiff_t>(used[name]),
                                   list.end(), previous);
        if (it == list.end())
            break;
        previous = *it;
        used[name] = static_cast<std::size_t>(it - list.begin()) + 1;  // one event, one step
        ++done;
    }
    return done;
}

/// Identities' trails, joined across shards and runs by the identity's string.
class Trails {
  public:
    Trail& of(std::string_view identity) {
        auto it = trails_.find(identity);
        if (it == trails_.end())
            it = trails_.emplace(std::string(identity), Trail{}).first;
        return it->second;
    }
    store::StringMap<Trail>& all() { return trails_; }

  private:
    store::StringMap<Trail> trails_;
};

/// Distinct step names (a name may stand at several steps: "a,b,a") into `names`, and each
/// step's index among them.
std::vector<std::uint32_t> distinct_names(const std::vector<std::string>& steps,
                                          std::vector<std::string>& names) {
    std::vector<std::uint32_t> step_names;
    for (const auto& step : steps) {
        auto it = std::find(names.begin(), names.end(), step);
        if (it == names.end()) {
            names.push_back(step);
            it = names.end() - 1;
        }
        step_names.push_back(static_cast<std::uint32_t>(it - names.begin()));
    }
    return step_names;
}

/// A shard's log's steps that match a name, into their identities' trails.
void add_log_steps(const store::FunnelLog& log, const std::vector<std::string>& names,
                   Trails& trails) {
    // This shard's label id -> distinct-name index.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> wanted;
    for (std::uint32_t i = 0; i < names.size(); ++i) {
        const std::int64_t id = log.label_id(names[i]);
        if (id >= 0)
            wanted.emplace_back(static_cast<std::uint32_t>(id), i);
    }
    if (wanted.empty())
        return;
    // Steps in arrival order; this log's identity id -> its trail, found once.
    std::vector<Trail*> by_id(log.identities().size(), nullptr);
    log.steps().for_each([&](const store::FunnelStep& step) {
        for (const auto& [label, name] : wanted) {
            if (step.label != label)
                continue;
            Trail*& trail = by_id[step.identity];
            if (trail == nullptr)
                trail = &trails.of(log.identities()[step.identity]);
            trail->emplace_back(step.timestamp_ms, name);
        }
    });
}

/// A run's steps that match a name, into their identities' trails.
void add_run_steps(const store::FunnelRun& run, const std::vector<std::string>& names,
                   Trails& trails) {
    // This run's identity -> its trail, found once.
    std::vector<Trail*> by_id(run.identities(), nullptr);
    for (std::uint32_t i = 0; i < names.size(); ++i) {
        run.for_each_step(names[i], [&](std::uint32_t identity, std::int64_t ts) {
            Trail*& trail = by_id[identity];
            if (trail == nullptr)
                trail = &trails.of(run.identity_name(identity));
            trail->emplace_back(ts, i);
        });
    }
}

}  // namespace

Ranked funnel(const store::Store& store, std::string_view site, std::int64_t day,
              const std::vector<std::string>& steps, bool* incomplete) {
    std::vector<std::string> names;
    const std::vector<std::uint32_t> step_names = distinct_names(steps, names);

    // Join the shards' logs and runs per identity, keeping only events that match a step.
    // Runs are read after the shards' locks: they never change, and the mapping stays
    // while the query holds them.
    Trails trails;
    std::vector<std::shared_ptr<const store::FunnelRun>> runs;
    bool lost = false;
    store.visit_site(site, [&](const store::SiteShard& shard) {
        auto it = shard.days.find(day);
        if (it == shard.days.end())
            return;
        runs.insert(runs.end(), it->second.funnel_runs.begin(), it->second.funnel_runs.end());
        lost = lost || it->second.funnel_incomplete;
        add_log_steps(it->second.funnel, names, trails);
    });
    for (const auto& run : runs)
        add_run_steps(*run, names, trails);
    if (incomplete != nullptr)
        *incomplete = lost;

    std::vector<std::uint64_t> reached(steps.size(), 0);
    for (auto& [identity, trail] : trails.all()) {
        const std::size_t done = steps_completed(trail, step_names);
        for (std::size_t k = 0; k < done; ++k)
            ++reached[k];
    }
    Ranked result;
    for (std::size_t k = 0; k < steps.size(); ++k)
        result.emplace_back(steps[k], reached[k]);
    return result;
}

}  // namespace tally::query
