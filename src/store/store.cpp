#include "tally/store/store.hpp"

#include <algorithm>
#include "tally/store/funnel_run.hpp"
#include "tally/telemetry/metrics.hpp"

#include "tally/base/time.hpp"

namespace tally::store {

Store::Store(StoreOptions options)
    : options_(options), active_sessions_(options.max_active_sessions) {
    if (options_.shards == 0)
        options_.shards = 1;
    shards_.reserve(options_.shards);
    for (std::size_t i = 0; i < options_.shards; ++i)
        shards_.push_back(std::make_unique<Shard>());
}

Admission Store::admit(std::size_t shard_index, const Event& event) {
    const Shard& shard = *shards_[shard_index % shards_.size()];
    {
        std::lock_guard lock(shard.mutex);
        auto site = shard.sites.find(event.site);
        if (site != shard.sites.end()) {
            if (event.kind != EventKind::custom)
                return Admission::ok;
            auto day = site->second.days.find(day_of(event.timestamp_ms));
            if (day != site->second.days.end() &&
                day->second.events.find(event.event_name) != day->second.events.end()) {
                return Admission::ok;
            }
        }
    }
    return admit_in_registry(event);
}

Admission Store::admit_in_registry(const Event& event) {
    std::lock_guard lock(registry_.mutex);
    auto site = registry_.names.find(event.site);
    if (site == registry_.names.end()) {
        if (registry_.names.size() >= options_.max_sites)
            return Admission::too_many_sites;
        site = registry_.names.emplace(event.site, decltype(site->second){}).first;
    }
    if (event.kind != EventKind::custom)
        return Admission::ok;
    auto& names = site->second[day_of(event.timestamp_ms)];
    if (names.find(event.event_name) != names.end())
        return Admission::ok;
    if (names.size() >= options_.max_event_names_per_day)
        return Admission::too_many_event_names;
    names.emplace(event.event_name);
    return Admission::ok;
}

SiteShard& Store::site_of(Shard& shard, std::string_view site) {
    auto it = shard.sites.find(site);
    if (it == shard.sites.end())
        it = shard.sites.emplace(std::string(site), SiteShard{}).first;
    return it->second;
}

void Store::apply_locked(Shard& shard, const Event& event, std::int64_t now_ms,
                         std::size_t top_capacity, bool record) {
    SiteShard& site = site_of(shard, event.site);
    const std::int64_t day_number = day_of(event.timestamp_ms);
    auto day = site.days.find(day_number);
    if (day == site.days.end())
        day = site.days.try_emplace(day_number, top_capacity).first;
    day->second.apply(event);
    site.windows.record(event, now_ms, top_capacity);
    if (record) {
        auto changes = shard.changes.find(event.site);
        if (changes == shard.changes.end())
            changes = shard.changes.emplace(event.site, std::map<std::int64_t, ChangeSet>{}).first;
        changes->second[day_number].record(event);
    }
}

void Store::apply(std::size_t shard_index, const Event& event, std::int64_t now_ms) {
    apply(shard_index, &event, 1, now_ms);
}

void Store::apply(std::size_t shard_index, const Event* events, std::size_t count,
                  std::int64_t now_ms, const LogPosition* logged) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    {
        std::lock_guard lock(shard.mutex);
        // Read under the lock: the broadcaster turns recording on before it takes every
        // shard lock, so an apply after that critical section sees it on, and one before it
        // is in the state the snapshot is built from (see live/hub.hpp).
        const bool record = live_recording_.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < count; ++i)
            apply_locked(shard, events[i], now_ms, options_.top_capacity, record);
        shard.applied += count;
        if (logged != nullptr)
            shard.logged = *logged;
    }
    // Outside the shard's lock: ActiveSessions has locks of its own.
    for (std::size_t i = 0; i < count; ++i) {
        active_sessions_.record(events[i].site, events[i].session_id, events[i].visitor_id,
                                events[i].timestamp_ms, now_ms);
    }
}

void Store::set_log_position(std::size_t shard_index, LogPosition position) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    shard.logged = position;
}

std::uint64_t Store::events_applied() const {
    std::uint64_t total = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        total += shard->applied;
    }
    return total;
}

void Store::restore_day(std::size_t shard_index, std::string_view site, std::int64_t day,
                        DayState&& state) {
    {
        std::lock_guard lock(registry_.mutex);
        auto it = registry_.names.find(site);
        if (it == registry_.names.end())
            it = registry_.names.emplace(std::string(site), decltype(it->second){}).first;
        auto& names = it->second[day];
        for (const auto& [name, series] : state.events)
            names.emplace(name);
    }
    Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    SiteShard& site_shard = site_of(shard, site);
    auto day_it = site_shard.days.find(day);
    if (day_it == site_shard.days.end()) {
        site_shard.days.emplace(day, std::move(state));
    } else {
        day_it->second.merge(state);
    }
}

std::int64_t period_start(Period period, std::int64_t day) {
    if (period == Period::week)
        return day - (((day + 3) % 7) + 7) % 7;  // day 0 (1970-01-01) was a Thursday
    int year = 0;
    unsigned month = 0, dom = 0;
    civil_from_days(day, year, month, dom);
    return days_from_civil(year, month, 1);
}

std::int64_t period_end(Period period, std::int64_t first) {
    if (period == Period::week)
        return first + 6;
    int year = 0;
    unsigned month = 0, dom = 0;
    civil_from_days(first, year, month, dom);
    return (month == 12 ? days_from_civil(year + 1, 1, 1) : days_from_civil(year, month + 1, 1)) -
           1;
}

RetireStats Store::retire(std::int64_t first_kept_day, std::int64_t first_kept_rollup_day) {
    RetireStats stats;
    for (const auto& shard : shards_) {
        // Moved out under the lock, freed after it: a day's funnel log may hold millions of
        // steps, and ingest should not wait on free().
        std::vector<DayState> garbage;
        {
            std::lock_guard lock(shard->mutex);
            for (auto& [site, part] : shard->sites) {
                while (!part.days.empty() && part.days.begin()->first < first_kept_day) {
                    auto node = part.days.extract(part.days.begin());
                    const std::int64_t day = node.key();
                    for (Period period : {Period::week, Period::month}) {
                        const std::int64_t first = period_start(period, day);
                        if (period_end(period, first) < first_kept_rollup_day)
                            continue;  // would be dropped at once
                        auto& rollups = part.rollups(period);
                        auto it = rollups.find(first);
                        if (it == rollups.end())
                            it = rollups.try_emplace(first, options_.top_capacity).first;
                        it->second.merge(node.mapped(), /*with_funnel=*/false);
                    }
                    for (const auto& run : node.mapped().funnel_runs)
                        stats.funnel_run_files.push_back(run->file());
                    garbage.push_back(std::move(node.mapped()));
                    ++stats.days;
                }
                for (Period period : {Period::week, Period::month}) {
                    auto& rollups = part.rollups(period);
                    while (!rollups.empty() &&
                           period_end(period, rollups.begin()->first) < first_kept_rollup_day) {
                        auto node = rollups.extract(rollups.begin());
                        garbage.push_back(std::move(node.mapped()));
                        ++stats.rollups;
                    }
                }
            }
        }
        garbage.clear();
    }
    // The caps' registry forgets the names of days that left: they can take no new events.
    std::lock_guard lock(registry_.mutex);
    for (auto& [site, days] : registry_.names)
        days.erase(days.begin(), days.lower_bound(first_kept_day));
    return stats;
}

std::size_t Store::day_count() const {
    std::size_t n = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        for (const auto& [site, part] : shard->sites)
            n += part.days.size();
    }
    return n;
}

std::size_t Store::rollup_count() const {
    std::size_t n = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard->mutex);
        for (const auto& [site, part] : shard->sites)
            n += part.weeks.size() + part.months.size();
    }
    return n;
}

void Store::restore_rollup(std::size_t shard_index, std::string_view site, Period period,
                           std::int64_t first_day, DayState&& state) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    auto& rollups = site_of(shard, site).rollups(period);
    auto it = rollups.find(first_day);
    if (it == rollups.end()) {
        rollups.emplace(first_day, std::move(state));
    } else {
        it->second.merge(state, /*with_funnel=*/false);
    }
}

void Store::restore_window_bucket(std::size_t shard_index, std::string_view site,
                                  std::int64_t minute, const StringMap<std::uint64_t>& pages) {
    Shard& shard = *shards_[shard_index % shards_.size()];
    std::lock_guard lock(shard.mutex);
    site_of(shard, site).windows.restore_bucket(minute, pages);
}

std::vector<std::string> Store::sites() const {
    std::lock_guard lock(registry_.mutex);
    std::vector<std::string> result;
    result.reserve(registry_.names.size());
    for (const auto& [site, days] : registry_.names)
        result.push_back(site);
    std::sort(result.begin(), result.end());
    return result;
}

std::vector<const SiteShard*> Store::LiveView::site(std::string_view site) const {
    std::vector<const SiteShard*> parts;
    for (const auto& shard : shards_) {
        auto it = shard->sites.find(site);
        if (it != shard->sites.end())
            parts.push_back(&it->second);
    }
    return parts;
}

std::vector<ChangeLog> Store::LiveView::take_changes() {
    std::vector<ChangeLog> logs;
    logs.reserve(shards_.size());
    for (const auto& shard : shards_) {
        logs.push_back(std::move(shard->changes));
        shard->changes.clear();  // a moved-from map is valid but unspecified
    }
    return logs;
}

}  // namespace tally::store

namespace tally::store {

void Store::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_sites", "Sites known to the store.", "gauge",
                         [this] { return static_cast<double>(sites().size()); });
    metrics.add_callback("tally_day_states", "Per-shard day states in memory (retention).", "gauge",
                         [this] { return static_cast<double>(day_count()); });
    metrics.add_callback("tally_rollups", "Per-shard week and month roll-ups in memory.", "gauge",
                         [this] { return static_cast<double>(rollup_count()); });
    metrics.add_callback("tally_active_sessions",
                         "Sessions of the last minutes held for real_time_users "
                         "(limits.active_sessions).",
                         "gauge", [this] { return static_cast<double>(active_sessions_.held()); });
    metrics.add_callback(
        "tally_active_sessions_refused_total",
        "New sessions not held because limits.active_sessions was full (real_time_users is "
        "then flagged real_time_users_capped).",
        "counter", [this] { return static_cast<double>(active_sessions_.refused()); });
}

}  // namespace tally::store
