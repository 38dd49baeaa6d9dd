#include "tally/store/windows.hpp"

#include "tally/base/time.hpp"

namespace tally::store {

Windows::Bucket& Windows::bucket_for(std::int64_t minute) {
    auto slot = static_cast<std::size_t>(minute % static_cast<std::int64_t>(kSlots));
    Bucket& bucket = buckets_[slot];
    if (bucket.minute != minute) {
        bucket.minute = minute;
        bucket.pages.clear();
        bucket.refused = 0;
    }
    return bucket;
}

void Windows::record(const Event& event, std::int64_t now_ms, std::size_t max_pages) {
    const std::int64_t now_minute = minute_number(now_ms);
    const std::int64_t minute = minute_number(event.timestamp_ms);
    if (minute <= now_minute - kPagesMinutes || minute > now_minute + kFutureMinutes)
        return;
    // A slot holding a newer minute than this event's belongs to the future side of the
    // ring; the event is too old for it (only possible for events near the window's edge).
    const Bucket& current =
        buckets_[static_cast<std::size_t>(minute % static_cast<std::int64_t>(kSlots))];
    if (current.minute > minute)
        return;

    if (event.kind != EventKind::pageview)
        return;
    Bucket& bucket = bucket_for(minute);
    auto it = bucket.pages.find(event.page);
    if (it == bucket.pages.end()) {
        if (bucket.pages.size() >= max_pages) {
            ++bucket.refused;
            return;
        }
        bucket.pages.emplace(event.page, 1);
    } else {
        ++it->second;
    }
}

std::uint64_t Windows::collect_pages(std::int64_t now_ms,
                                     StringMap<std::uint64_t>& page_views) const {
    const std::int64_t now_minute = minute_number(now_ms);
    std::uint64_t refused = 0;
    for (const Bucket& bucket : buckets_) {
        if (bucket.minute <= now_minute - kPagesMinutes ||
            bucket.minute > now_minute + kFutureMinutes) {
            continue;
        }
        for (const auto& [page, views] : bucket.pages)
            page_views[page] += views;
        refused += bucket.refused;
    }
    return refused;
}

void Windows::restore_bucket(std::int64_t minute, const StringMap<std::uint64_t>& pages) {
    if (minute < 0)
        return;
    const Bucket& current =
        buckets_[static_cast<std::size_t>(minute % static_cast<std::int64_t>(kSlots))];
    if (current.minute > minute)
        return;
    Bucket& bucket = bucket_for(minute);
    for (const auto& [page, views] : pages)
        bucket.pages[page] += views;
}

}  // namespace tally::store
