#pragma once
// Rolling windows by event time (SPEC §3, the seed 002 API): who was active in the last
// 5 minutes, with how many sessions, and the pages viewed in the last 15 minutes.
//
// A ring of one-minute buckets keyed by absolute minute (epoch ms / 60000). A bucket is
// reused when the ring comes round to it, so memory is bounded by the traffic of the last
// kSlots minutes. Events more than 15 minutes old, or more than kFutureMinutes ahead of the
// newest minute seen, are not windowed. Queries union the buckets in range, so a session
// seen in three minutes counts once.

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
    static constexpr std::int64_t kActiveMinutes = 5;
    static constexpr std::int64_t kPagesMinutes = 15;
    static constexpr std::int64_t kFutureMinutes = 5;
    static constexpr std::size_t kSlots = kPagesMinutes + kFutureMinutes + 1;

    void record(const ingest::Event& event, std::int64_t now_ms);

    /// Adds session -> visitor for every session active in (now - 5 min, now + 5 min].
    void collect_sessions(std::int64_t now_ms, StringMap<std::string>& session_to_visitor) const;
    /// Adds page -> views for the pages viewed in (now - 15 min, now + 5 min].
    void collect_pages(std::int64_t now_ms, StringMap<std::uint64_t>& page_views) const;

private:
    struct Bucket {
        std::int64_t minute = -1;
        StringMap<std::string> session_to_visitor;
        StringMap<std::uint64_t> pages;
    };
    /// The bucket for `minute` (cleared when it held an older minute).
    Bucket& bucket_for(std::int64_t minute);

    std::array<Bucket, kSlots> buckets_;
};

}  // namespace tally::store
