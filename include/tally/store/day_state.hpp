#pragma once
// DayState: everything Tally knows about one site on one UTC day, in one shard.
//
// A day holds exact counters (page views per minute, custom events per name per minute,
// devices, with each device's and each event name's distinct visitors), two HyperLogLogs (visitors,
// sessions) and three Space-Saving top lists (pages, referrers, countries), each monitored member
// with its distinct visitors, plus the funnel log: every pageview and custom event as (time, step
// label) per funnel identity, which is what makes /funnel exact.
//
// A top-list member's visitors are counted from when the list began monitoring it: an evicted
// member loses its set and a newcomer starts empty. So a member's visitors may miss those of
// its views before it was monitored, at most its count's error (the list's floor, N/capacity),
// and are otherwise within CompactDistinctSet's bound (exact to 128, then 3.25 %).
//
// Invariants
//   page_views == sum(pageviews_per_minute) == sum(devices) == pages.total()
//              == referrers.total();  countries.total() <= page_views (country is optional).
//   events[n].total == sum(events[n].per_minute).
//   page_visitors, referrer_visitors, country_visitors hold only members their list monitors.
//
// Cost: about 32 KiB for the HyperLogLogs, 5.6 KiB per minute table (one for page views,
// one per custom event name), the top lists grow to their capacity (10,000 members by
// default, ~140 bytes each), and the funnel log 16 bytes per event plus one entry per
// identity (funnel_log's tables). The number of event names per day is capped by the store
// (limits.max_event_names_per_day), so a day's memory is bounded by that cap, the top-list
// capacity, and the day's event count for the funnel log, whose steps move to runs on disk
// (funnel_run.hpp) once the shard's logs pass their budget. Members' visitor sets cost at most
// 1.1 KiB each, so up to 3 x capacity x 1.1 KiB (33 MiB at the default 10,000) for a day whose
// lists are full of members with over 128 visitors each; a small site's cost far less. The
// property breakdowns are bounded by their own caps (property_breakdown.hpp).

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/sketch/compact_distinct_set.hpp"
#include "tally/sketch/distinct_set.hpp"
#include "tally/sketch/hyperloglog.hpp"
#include "tally/sketch/space_saving.hpp"
#include "tally/store/chunked_log.hpp"
#include "tally/store/intern_table.hpp"
#include "tally/store/property_breakdown.hpp"
#include "tally/store/string_map.hpp"

namespace tally::store {

inline constexpr int kMinutesPerDay = 1440;
using MinuteCounts = std::array<std::uint32_t, kMinutesPerDay>;

struct EventSeries {
    std::uint64_t total = 0;
    MinuteCounts per_minute{};
    sketch::DistinctSet visitors;  // who sent it (exact up to 512, then a HyperLogLog)
};

/// One step a funnel identity took: when, which label ("signup" or "pageview:/p") and
/// which identity (ids index FunnelLog's interned tables). 16 bytes, no padding.
struct FunnelStep {
    std::int64_t timestamp_ms;
    std::uint32_t label;
    std::uint32_t identity;
};

/// The exact per-identity event log behind /funnel: every step of the day, in arrival
/// order, with the labels and identities interned per day, so a step costs 16 bytes. Pages
/// beyond kMaxPageLabels distinct paths are not recorded (the store caps custom event
/// names separately), which bounds the label table.
///
/// The three tables (labels, identities, steps) only grow and live in ChunkedLogs, so a
/// snapshot takes a View under the shard's lock and serialises it after letting go
/// (chunked_log.hpp). The maps from name to id key on string_views into the chunked
/// tables, whose strings never move: one copy of each identity.
class FunnelLog {
  public:
    static constexpr std::size_t kMaxPageLabels = 50'000;

    FunnelLog() = default;
    FunnelLog(FunnelLog&&) noexcept = default;
    FunnelLog& operator=(FunnelLog&&) noexcept = default;

    void record(const Event& event);
    /// The label id of a step name ("signup", "pageview:/pricing"), or -1 if never seen.
    std::int64_t label_id(std::string_view step) const;

    std::size_t page_labels() const { return page_labels_; }
    const ChunkedLog<std::string>& labels() const { return label_names_; }  // index = id
    const ChunkedLog<std::string>& identities() const { return identity_names_; }
    const ChunkedLog<FunnelStep>& steps() const { return steps_; }

    /// The log as it is now, readable after the owner's lock is released.
    struct View {
        std::size_t page_labels = 0;
        ChunkedLog<std::string>::View labels;
        ChunkedLog<std::string>::View identities;
        ChunkedLog<FunnelStep>::View steps;
    };
    View view() const {
        return View{page_labels_, label_names_.view(), identity_names_.view(), steps_.view()};
    }

    /// Rebuilds a log from its tables. nullopt when a label or identity repeats,
    /// page_labels exceeds the labels, or a step names a label or identity that does not
    /// exist.
    static std::optional<FunnelLog> restore(std::vector<std::string> labels,
                                            std::size_t page_labels,
                                            std::vector<std::string> identities,
                                            const std::vector<FunnelStep>& steps);

    /// Appends `other`'s steps (its ids translated to this log's). Steps are kept even past
    /// kMaxPageLabels: they were recorded once, under the cap.
    void merge(const FunnelLog& other);

    /// This log without its first `steps` steps (moved to a run): the same labels (so the
    /// page-label cap goes on counting the day's pages) and only the identities the
    /// remaining steps name.
    FunnelLog without_first(std::size_t steps) const;

    /// About what the log holds in memory: the steps, each string with its intern slot.
    std::size_t memory_bytes() const { return bytes_; }

  private:
    std::uint32_t intern_label(std::string_view label, std::size_t hash, bool is_page);
    std::uint32_t intern_identity(std::string_view identity);
    std::optional<std::uint32_t> find_label(std::string_view label, std::size_t hash) const {
        return labels_.find(
            label, hash, [this](std::uint32_t id) -> std::string_view { return label_names_[id]; });
    }

    static std::size_t string_cost(std::string_view s) {
        // The string, its heap block past the short-string buffer, two intern slots.
        return sizeof(std::string) + (s.size() > 15 ? s.size() + 1 : 0) + 32;
    }

    InternTable labels_;
    ChunkedLog<std::string> label_names_;
    std::size_t page_labels_ = 0;
    InternTable identities_;
    ChunkedLog<std::string> identity_names_;
    ChunkedLog<FunnelStep> steps_;
    std::size_t bytes_ = 0;
};

class FunnelRun;

/// The distinct visitors of each member a top list monitors (and of no other).
using MemberVisitors = StringMap<sketch::CompactDistinctSet>;

struct DayState {
    std::uint64_t page_views = 0;
    MinuteCounts pageviews_per_minute{};
    std::array<std::uint64_t, kDeviceCount> devices{};
    /// Each device's distinct visitors (page views'), for breakdowns by device.
    std::array<sketch::DistinctSet, kDeviceCount> device_visitors;
    StringMap<EventSeries> events;
    sketch::HyperLogLog visitors;
    sketch::HyperLogLog sessions;
    sketch::SpaceSaving pages;
    sketch::SpaceSaving referrers;
    sketch::SpaceSaving countries;
    MemberVisitors page_visitors;
    MemberVisitors referrer_visitors;
    MemberVisitors country_visitors;
    /// The day's funnel steps: those in memory, and those moved to runs on disk (in the
    /// order they were moved). /funnel reads both.
    FunnelLog funnel;
    std::vector<std::shared_ptr<const FunnelRun>> funnel_runs;
    /// Set when steps of this day were lost (a damaged run the event log could not rebuild):
    /// /funnel then says its answer is incomplete.
    bool funnel_incomplete = false;
    /// Custom properties by event name ("pageview" for a page view's), broken down by key
    /// and value (property_breakdown.hpp); property_keys counts their keys against the
    /// site's cap.
    StringMap<PropertyBreakdown> properties;
    std::size_t property_keys = 0;
    /// Events applied to this state since it was made in this process: the Redis mirror
    /// compares its sum over shards with the sum it last shipped to find changed days. Not
    /// saved in snapshots (a restart ships every day once anyway).
    std::uint64_t version = 0;

    explicit DayState(std::size_t top_capacity);

    /// Counts one event (already admitted by the store's caps).
    void apply(const Event& event);

    /// Folds another shard's state of the same site and day in, as reads merge shards:
    /// counters add, HyperLogLogs take maxima, top lists merge, funnel logs join. Used when
    /// a snapshot taken with more shards is loaded into fewer.
    /// Roll-ups (store.hpp) merge without the funnel log: they answer no funnels.
    void merge(const DayState& other, bool with_funnel = true);

    /// The invariants at the top of this file that a loaded state must keep.
    bool consistent() const;
};

}  // namespace tally::store
