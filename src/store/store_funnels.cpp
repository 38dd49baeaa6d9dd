// The store's side of funnel steps on disk: choosing a day's log to move, taking its run
// in, what the funnels hold, and rebuilding a day whose runs were lost.

#include "tally/base/time.hpp"
#include "tally/store/funnel_run.hpp"
#include "tally/store/store.hpp"

namespace tally::store {

namespace {

// A log with fewer steps is not worth a file: what a move frees is its steps and their
// identities, and a log of a few steps holds mostly labels, which stay.
constexpr std::size_t kMinStepsToMove = 4096;

}  // namespace

DayState* Store::day_locked(Shard& shard, std::string_view site, std::int64_t day) {
    const auto part = shard.sites.find(site);
    if (part == shard.sites.end())
        return nullptr;
    const auto it = part->second.days.find(day);
    return it == part->second.days.end() ? nullptr : &it->second;
}

std::optional<Store::FunnelToMove> Store::funnel_to_move(std::size_t shard_index,
                                                         std::size_t budget_bytes) const {
    const Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    std::size_t total = 0;
    const std::string* best_site = nullptr;
    std::int64_t best_day = 0;
    const DayState* best = nullptr;
    for (const auto& [site, part] : shard.sites) {
        for (const auto& [day, state] : part.days) {
            total += state.funnel.memory_bytes();
            if (state.funnel.steps().size() >= kMinStepsToMove &&
                (best == nullptr || state.funnel.memory_bytes() > best->funnel.memory_bytes())) {
                best = &state;
                best_site = &site;
                best_day = day;
            }
        }
    }
    if (total <= budget_bytes || best == nullptr)
        return std::nullopt;
    const FunnelLog::View view = best->funnel.view();
    return FunnelToMove{*best_site, best_day, view, view.steps.size(), best->funnel.memory_bytes()};
}

bool Store::funnel_moved(std::size_t shard_index, const FunnelToMove& moved,
                         std::shared_ptr<const FunnelRun> run) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    FunnelLog old;  // freed after the lock
    {
        std::lock_guard lock(shard.mutex);
        DayState* state = day_locked(shard, moved.site, moved.day);
        if (state == nullptr)
            return false;
        FunnelLog rest = state->funnel.without_first(moved.steps);
        old = std::exchange(state->funnel, std::move(rest));
        state->funnel_runs.push_back(std::move(run));
    }
    return true;
}

Store::FunnelFootprint Store::funnel_footprint(std::size_t shard_index) const {
    const Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    FunnelFootprint footprint;
    for (const auto& [site, part] : shard.sites) {
        for (const auto& [day, state] : part.days) {
            footprint.memory_bytes += state.funnel.memory_bytes();
            footprint.runs += state.funnel_runs.size();
            for (const auto& run : state.funnel_runs)
                footprint.disk_bytes += run->bytes();
        }
    }
    return footprint;
}

std::vector<std::string> Store::funnel_run_files() const {
    std::vector<std::string> files;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        for (const auto& [site, part] : shard->sites) {
            for (const auto& [day, state] : part.days) {
                for (const auto& run : state.funnel_runs)
                    files.push_back(run->file());
            }
        }
    }
    return files;
}

bool Store::begin_funnel_rebuild(std::size_t shard_index, std::string_view site, std::int64_t day) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    DayState* state = day_locked(shard, site, day);
    if (state == nullptr)
        return false;
    state->funnel = FunnelLog{};
    state->funnel_runs.clear();
    state->funnel_incomplete = true;
    return true;
}

void Store::record_funnel(std::size_t shard_index, const Event& event) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    if (DayState* state = day_locked(shard, event.site, day_of(event.timestamp_ms)))
        state->funnel.record(event);
}

void Store::funnel_rebuilt(std::size_t shard_index, std::string_view site, std::int64_t day) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    if (DayState* state = day_locked(shard, site, day))
        state->funnel_incomplete = false;
}

}  // namespace tally::store
