#include "tally/store/active_sessions.hpp"

#include <algorithm>
#include <functional>

#include "tally/base/time.hpp"

namespace tally::store {

namespace {
std::size_t slot_of(std::int64_t minute, std::size_t slots) {
    const auto n = static_cast<std::int64_t>(slots);
    return static_cast<std::size_t>(((minute % n) + n) % n);
}
}  // namespace

ActiveSessions::ActiveSessions(std::size_t max_sessions)
    : partition_cap_(std::max<std::size_t>(1, max_sessions / kPartitions)),
      partitions_(std::make_unique<std::array<Partition, kPartitions>>()) {}
ActiveSessions::~ActiveSessions() = default;

void ActiveSessions::Site::count_in(std::int64_t minute) {
    const std::size_t slot = slot_of(minute, kSlots);
    if (slot_minute[slot] != minute) {
        // The slot held a minute that has left the window: its sessions no longer count.
        slot_minute[slot] = minute;
        per_minute[slot] = 0;
    }
    ++per_minute[slot];
}

void ActiveSessions::Site::uncount(std::int64_t minute) {
    const std::size_t slot = slot_of(minute, kSlots);
    if (slot_minute[slot] == minute && per_minute[slot] > 0)
        --per_minute[slot];
}

std::size_t ActiveSessions::Site::sweep(std::int64_t now_minute) {
    if (now_minute <= last_sweep)
        return 0;
    last_sweep = now_minute;
    return std::erase_if(sessions, [now_minute](const auto& item) {
        return item.second.minute <= now_minute - kWindowMinutes;
    });
}

bool ActiveSessions::has_room(Partition& partition, std::int64_t now_minute) const {
    if (partition.held < partition_cap_)
        return true;
    if (partition.last_full_sweep < now_minute) {
        partition.last_full_sweep = now_minute;
        for (auto& [name, site] : partition.sites)
            partition.held -= site.sweep(now_minute);
    }
    return partition.held < partition_cap_;
}

void ActiveSessions::hold(Partition& partition, Site& s, std::string_view session,
                          std::string_view visitor, std::int64_t minute, std::int64_t now_minute) {
    if (!has_room(partition, now_minute)) {
        s.refused_minute = std::max(s.refused_minute, minute);
        refused_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    s.sessions.emplace(std::string(session), Entry{minute, std::string(visitor)});
    ++partition.held;
    s.count_in(minute);
}

void ActiveSessions::record(std::string_view site, std::string_view session,
                            std::string_view visitor, std::int64_t timestamp_ms,
                            std::int64_t now_ms) {
    const std::int64_t now_minute = minute_number(now_ms);
    const std::int64_t minute = minute_number(timestamp_ms);
    if (!in_window(minute, now_minute))
        return;

    Partition& partition = (*partitions_)[std::hash<std::string_view>{}(session) % kPartitions];
    std::lock_guard lock(partition.mutex);
    auto site_it = partition.sites.find(site);
    if (site_it == partition.sites.end())
        site_it = partition.sites.try_emplace(std::string(site)).first;
    Site& s = site_it->second;
    partition.held -= s.sweep(now_minute);

    auto it = s.sessions.find(session);
    if (it == s.sessions.end()) {
        hold(partition, s, session, visitor, minute, now_minute);
    } else if (minute > it->second.minute || !in_window(it->second.minute, now_minute)) {
        s.uncount(it->second.minute);
        it->second.minute = minute;
        s.count_in(minute);
    }
}

ActiveSessions::RealTime ActiveSessions::real_time(std::string_view site,
                                                   std::int64_t now_ms) const {
    const std::int64_t now_minute = minute_number(now_ms);
    RealTime out;
    for (const Partition& partition : *partitions_) {
        std::lock_guard lock(partition.mutex);
        auto it = partition.sites.find(site);
        if (it == partition.sites.end())
            continue;
        for (std::size_t slot = 0; slot < kSlots; ++slot) {
            if (in_window(it->second.slot_minute[slot], now_minute))
                out.sessions += it->second.per_minute[slot];
        }
        out.capped = out.capped || in_window(it->second.refused_minute, now_minute);
    }
    return out;
}

std::size_t ActiveSessions::held() const {
    std::size_t total = 0;
    for (const Partition& partition : *partitions_) {
        std::lock_guard lock(partition.mutex);
        total += partition.held;
    }
    return total;
}

void ActiveSessions::sessions_per_visitor(std::string_view site, std::int64_t now_ms,
                                          StringMap<std::uint64_t>& out) const {
    const std::int64_t now_minute = minute_number(now_ms);
    for (const Partition& partition : *partitions_) {
        std::lock_guard lock(partition.mutex);
        auto it = partition.sites.find(site);
        if (it == partition.sites.end())
            continue;
        for (const auto& [session, entry] : it->second.sessions) {
            if (in_window(entry.minute, now_minute))
                ++out[entry.visitor];
        }
    }
}

std::vector<ActiveSessions::Saved> ActiveSessions::save() const {
    std::vector<Saved> out;
    for (const Partition& partition : *partitions_) {
        std::lock_guard lock(partition.mutex);
        for (const auto& [site, s] : partition.sites) {
            for (const auto& [session, entry] : s.sessions)
                out.push_back(Saved{site, session, entry.visitor, entry.minute});
        }
    }
    return out;
}

void ActiveSessions::restore(std::vector<Saved> sessions) {
    std::stable_sort(sessions.begin(), sessions.end(),
                     [](const Saved& a, const Saved& b) { return a.minute < b.minute; });
    for (Saved& saved : sessions) {
        Partition& partition =
            (*partitions_)[std::hash<std::string_view>{}(saved.session) % kPartitions];
        std::lock_guard lock(partition.mutex);
        Site& s = partition.sites[saved.site];
        auto it = s.sessions.find(saved.session);
        if (it == s.sessions.end()) {
            // Beyond the budget (a smaller one than when saved), the oldest were restored
            // first and the newest are refused: the window's figure is flagged short.
            hold(partition, s, saved.session, saved.visitor, saved.minute, saved.minute);
        } else if (saved.minute > it->second.minute) {
            s.uncount(it->second.minute);
            it->second.minute = saved.minute;
            s.count_in(saved.minute);
        }
    }
}

}  // namespace tally::store
