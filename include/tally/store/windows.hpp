#pragma once
// The pages viewed in the last 15 minutes, by event time (SPEC §3, the seed 002 API).
// (Who was active in the last 5 minutes is ActiveSessions: sessions must be counted once
// across shards, page views simply add.)
//
// A ring of one-minute buckets keyed by absolute minute (epoch ms / 60000). A bucket is
// reused when the ring comes round to it, so memory is bounded by the pages of the last
// kSlots minutes. Events more than 15 minutes old, or more than kFutureMinutes ahead of now,
// are not windowed.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/ingest/event.hpp"
#include "tally/store/day_state.hpp"

namespace tally::store {

class Windows {
  public:
    static constexpr std::int64_t kPagesMinutes = 15;
    static constexpr std::int64_t kFutureMinutes = 5;
    static constexpr std::size_t kSlots = kPagesMinutes + kFutureMinutes + 1;

    void record(const ingest::Event& event, std::int64_t now_ms);

    /// Adds page -> views for the pages viewed in (now - 15 min, now + 5 min].
    void collect_pages(std::int64_t now_ms, StringMap<std::uint64_t>& page_views) const;

  private:
    struct Bucket {
        std::int64_t minute = -1;
        StringMap<std::uint64_t> pages;
    };
    /// The bucket for `minute` (cleared when it held an older minute).
    Bucket& bucket_for(std::int64_t minute);

    std::array<Bucket, kSlots> buckets_;
};

}  // namespace tally::store
