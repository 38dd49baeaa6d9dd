#pragma once
// DayImage, Shipped and DayDelta: how the mirror knows what to send to Redis, exactly once.
//
// The idea. Redis holds, for every key, the sum (or HyperLogLog union) of what each
// instance of the fleet has shipped. An instance never ships events; it ships the
// difference between the figures it holds now (a DayImage, read from the store) and the
// figures it has already shipped (Shipped). Shipped is saved in Redis itself, in the
// instance's checkpoint hash, by the same MULTI/EXEC that applies the increments, so the
// two can never disagree: if the transaction ran, both moved; if it did not, neither did.
// After a crash, a restart or a lost connection the mirror reads the checkpoint back and
// the next difference is again exactly what Redis lacks. Nothing is ever counted twice and
// nothing is lost, whatever was killed when; and because only differences travel, pending
// work while Redis is away is bounded by the number of keys, not by the number of events.
//
// What is mirrored of a day (the keys of src/redis/keys.hpp). Page views per minute (the day's and
// each hour's counters are sums of minutes, so only minutes are checkpointed), views per device,
// custom events per name, the three top lists per member, and the two HyperLogLogs.
// HyperLogLogs need no checkpoint: PFMERGE takes register maxima, so shipping the same
// registers twice changes nothing; the mirror only remembers the last registers it shipped
// to skip unchanged ones.
//
// Invariants
//   After a successful flush of a day, for every field f: shipped[f] == image[f] at the
//   time of the flush, and Redis holds sum over instances of shipped[f].
//   Counters only ever grow in the store, so a counter's delta is >= 0; it would be
//   negative only if the store lost events it had shipped (a machine crash under
//   fsync=interval or never), and then the negative delta is shipped too, so Redis keeps
//   equalling the instances' figures.
//   Top lists: exact while a day has at most the top-list capacity of distinct members
//   (limits.top_capacity); beyond that a member may be evicted from the Space-Saving sketch and
//   come back with a smaller count than it had: a top-list delta is therefore only shipped when
//   positive, so Redis keeps the largest count ever seen (within the sketch's N/m bound).
//
// Cost: an image holds the day's minute array (11.5 KiB), two HyperLogLogs (2 x 16 KiB)
// and one entry per event name and top-list member; it is built per changed day per flush
// and dropped after. A Shipped is kept per site-day for as long as the store keeps the day.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/sketch/hyperloglog.hpp"
#include "tally/store/day_state.hpp"

namespace tally::mirror {

using Counts = store::StringMap<std::uint64_t>;
using MinuteTotals = std::array<std::uint64_t, store::kMinutesPerDay>;

/// The additive figures of one site-day: what the checkpoint records.
struct DayCounters {
    MinuteTotals minutes{};  // page views per minute of the day
    std::array<std::uint64_t, kDeviceCount> devices{};
    Counts events;  // custom events by name
    Counts pages, referrers, countries;
};

/// One site-day as this instance holds it, summed over the store's shards.
struct DayImage : DayCounters {
    sketch::HyperLogLog visitors, sessions;

    /// Adds one shard's part of the day. The caller holds that shard's lock.
    void add(const store::DayState& part);
};

/// What this instance has shipped of one site-day (its checkpoint in Redis).
struct Shipped : DayCounters {
    // The registers last merged into Redis; nullopt when unknown (after a (re)connect),
    // which ships them again (harmless: PFMERGE is idempotent).
    std::optional<sketch::HyperLogLog> visitors, sessions;
};

/// Changes to ship for one site-day: field -> difference, only fields that changed.
/// Member names are views into the DayImage it was computed from.
struct DayDelta {
    std::vector<std::pair<int, std::int64_t>> minutes;  // minute of the day, difference
    std::array<std::int64_t, kDeviceCount> devices{};
    std::vector<std::pair<std::string_view, std::int64_t>> events;
    std::vector<std::pair<std::string_view, std::uint64_t>> pages, referrers, countries;
    bool visitors = false;  // the registers differ from the last shipped
    bool sessions = false;

    bool empty() const;
    /// How many Redis fields this delta changes (the mirror's "pending keys").
    std::size_t fields() const;
    /// The change to the day's page views (the sum of the minutes' changes).
    std::int64_t page_views() const;
    /// The change to each hour's page views, for the hours that changed.
    std::vector<std::pair<int, std::int64_t>> hours() const;
};

/// What `shipped` lacks of `image`.
DayDelta diff(const DayImage& image, const Shipped& shipped);

/// Records `delta` as shipped (after its transaction succeeded), with `image` the image it
/// was computed from.
void record_shipped(Shipped& shipped, const DayImage& image, const DayDelta& delta);

// The checkpoint hash: one field per shipped figure, the value its shipped total in
// decimal. "m:<minute of day>", "d:<device name>", "e:<event name>", "p:<page>",
// "r:<referrer>", "c:<country>".

/// Calls fn(field, value) for every field `delta` changes, with the values `shipped` will
/// hold once record_shipped(shipped, image, delta) has run.
void for_each_checkpoint_field(
    const Shipped& shipped, const DayDelta& delta,
    const std::function<void(const std::string& field, std::uint64_t value)>& fn);

/// Rebuilds a Shipped from a checkpoint hash's fields (HGETALL). Fields it does not know
/// and values that are not decimal numbers are skipped and counted in `*bad` (a damaged
/// checkpoint ships those fields again rather than stopping the mirror).
Shipped parse_checkpoint(const std::vector<std::pair<std::string, std::string>>& fields,
                         std::size_t* bad = nullptr);

}  // namespace tally::mirror
