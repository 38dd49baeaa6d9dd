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

ActiveSessions::ActiveSessions()
    : partitions_(std::make_unique<std::array<Partition, kPartitions>>()) {}
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

void ActiveSessions::Site::sweep(std::int64_t now_minute) {
    if (now_minute <= last_sweep)
        return;
    last_sweep = now_minute;
    std::erase_if(sessions, [now_minute](const auto& item) {
        return item.second.minute <= now_minute - kWindowMinutes;
    });
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
    s.sweep(now_minute);

    auto it = s.sessions.find(session);
    if (it == s.sessions.end()) {
        s.sessions.emplace(std::string(session), Entry{minute, std::string(visitor)});
        s.count_in(minute);
    } else if (minute > it->second.minute || !in_window(it->second.minute, now_minute)) {
        s.uncount(it->second.minute);
        it->second.minute = minute;
        s.count_in(minute);
    }
}

std::uint64_t ActiveSessions::count(std::string_view site, std::int64_t now_ms) const {
    const std::int64_t now_minute = minute_number(now_ms);
    std::uint64_t total = 0;
    for (const Partition& partition : *partitions_) {
        std::lock_guard lock(partition.mutex);
        auto it = partition.sites.find(site);
        if (it == partition.sites.end())
            continue;
        for (std::size_t slot = 0; slot < kSlots; ++slot) {
            if (in_window(it->second.slot_minute[slot], now_minute))
                total += it->second.per_minute[slot];
        }
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
            s.sessions.emplace(std::move(saved.session),
                               Entry{saved.minute, std::move(saved.visitor)});
            s.count_in(saved.minute);
        } else if (saved.minute > it->second.minute) {
            s.uncount(it->second.minute);
            it->second.minute = saved.minute;
            s.count_in(saved.minute);
        }
    }
}

}  // namespace tally::store
