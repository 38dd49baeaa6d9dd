#pragma once
// The pages viewed in the last 15 minutes, by event time (GET /api/v1/dashboard/page-views and
// active-users). (Who was active in the last 5 minutes is ActiveSessions: sessions must be counted
// once across shards, page views simply add.)
//
// A ring of one-minute buckets keyed by absolute minute (epoch ms / 60000). A bucket is
// reused when the ring comes round to it, so memory is bounded by the pages of the last
// kSlots minutes, and each minute holds at most `max_pages` distinct pages (the top-list
// capacity, limits.top_capacity): a flood of distinct paths cannot grow it further. A view
// of a page new to a full minute is not windowed and the minute counts it as refused, so
// the answer can say it is incomplete. Events more than 15 minutes old, or more than
// kFutureMinutes ahead of now, are not windowed.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/store/day_state.hpp"

namespace tally::store {

class Windows {
  public:
    static constexpr std::int64_t kPagesMinutes = 15;
    static constexpr std::int64_t kFutureMinutes = 5;
    static constexpr std::size_t kSlots = kPagesMinutes + kFutureMinutes + 1;

    void record(const Event& event, std::int64_t now_ms, std::size_t max_pages);

    /// Adds page -> views for the pages viewed in (now - 15 min, now + 5 min]; returns the
    /// views those minutes refused (pages past their cap).
    std::uint64_t collect_pages(std::int64_t now_ms, StringMap<std::uint64_t>& page_views) const;

    /// Calls fn(minute, pages) for every bucket that holds a minute (for snapshots).
    template <typename Fn>
    void for_each_bucket(Fn&& fn) const {
        for (const Bucket& bucket : buckets_) {
            if (bucket.minute >= 0)
                fn(bucket.minute, bucket.pages);
        }
    }

    /// Adds a saved bucket back, as record() would have: into its slot when that holds the
    /// same or an older minute (an older one is cleared), dropped when the slot holds a
    /// newer minute. Restoring two shards into one adds their views. `minute` must be >= 0.
    void restore_bucket(std::int64_t minute, const StringMap<std::uint64_t>& pages);

  private:
    struct Bucket {
        std::int64_t minute = -1;
        StringMap<std::uint64_t> pages;
        std::uint64_t refused = 0;  // views of pages past the cap, not in `pages`
    };
    /// The bucket for `minute` (cleared when it held an older minute).
    Bucket& bucket_for(std::int64_t minute);

    std::array<Bucket, kSlots> buckets_;
};

}  // namespace tally::store
