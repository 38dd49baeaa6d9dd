// Writing a snapshot: the byte writers of each section's payload (snapshot.hpp lays them
// out) and encode_snapshot, which walks the Store shard by shard and site by site, holding a
// shard's lock only to copy what ingest can still change and serialising the rest after.

#include <time.h>

#include <algorithm>
#include <deque>

#include "snapshot_format.hpp"
#include "tally/base/time.hpp"
#include "tally/durability/crc32c.hpp"
#include "tally/store/funnel_run.hpp"

namespace tally::durability {

using namespace detail;

namespace {

void put_u32(std::string& out, std::uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i)
        b[i] = static_cast<char>(v >> (8 * i));
    out.append(b, 4);
}

void put_u64(std::string& out, std::uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i)
        b[i] = static_cast<char>(v >> (8 * i));
    out.append(b, 8);
}

void put_i64(std::string& out, std::int64_t v) {
    put_u64(out, static_cast<std::uint64_t>(v));
}

void put_str(std::string& out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

void put_minutes(std::string& out, const store::MinuteCounts& minutes) {
    // One resize, then the bytes in place: called under the shard lock for every open day.
    std::size_t at = out.size();
    out.resize(at + minutes.size() * 4);
    for (std::uint32_t n : minutes) {
        for (int i = 0; i < 4; ++i)
            out[at++] = static_cast<char>(n >> (8 * i));
    }
}

void put_space_saving(std::string& out, const sketch::SpaceSaving& summary) {
    put_u64(out, summary.capacity());
    put_u64(out, summary.total());
    put_u64(out, summary.error_bound());
    put_u32(out, static_cast<std::uint32_t>(summary.size()));
    summary.for_each_in_eviction_order(
        [&out](std::string_view member, std::uint64_t count, std::uint64_t error) {
            put_str(out, member);
            put_u64(out, count);
            put_u64(out, error);
        });
}

void put_funnel(std::string& out, const store::FunnelLog::View& funnel) {
    put_u64(out, funnel.page_labels);
    put_u32(out, static_cast<std::uint32_t>(funnel.labels.size()));
    funnel.labels.for_each([&out](const std::string& label) { put_str(out, label); });
    put_u32(out, static_cast<std::uint32_t>(funnel.identities.size()));
    funnel.identities.for_each([&out](const std::string& identity) { put_str(out, identity); });
    put_u64(out, funnel.steps.size());
    funnel.steps.for_each([&out](const store::FunnelStep& step) {
        put_i64(out, step.timestamp_ms);
        put_u32(out, step.label);
        put_u32(out, step.identity);
    });
}

void put_distinct_set(std::string& out, const sketch::DistinctSet& set);

void put_property_value(std::string& out, const store::PropertyValue& value) {
    put_u64(out, value.count);
    put_distinct_set(out, value.visitors);
}

void put_distinct_set(std::string& out, const sketch::DistinctSet& set) {
    std::string bytes;
    set.encode(bytes);
    put_str(out, bytes);
}

/// The property breakdowns.
void put_properties(std::string& out, const store::StringMap<store::PropertyBreakdown>& events) {
    put_u32(out, static_cast<std::uint32_t>(events.size()));
    for (const auto& [name, breakdown] : events) {
        put_str(out, name);
        put_u64(out, breakdown.keys_refused());
        put_u32(out, static_cast<std::uint32_t>(breakdown.keys().size()));
        for (const auto& [key, slot] : breakdown.keys()) {
            put_str(out, key);
            put_property_value(out, slot.other);
            put_u32(out, static_cast<std::uint32_t>(slot.values.size()));
            for (const auto& [value, stats] : slot.values) {
                put_str(out, value);
                put_property_value(out, stats);
            }
        }
    }
}

/// Each top-list member's visitors: a count, then (member, set) pairs.
void put_member_visitors(std::string& out, const store::MemberVisitors& visitors) {
    put_u32(out, static_cast<std::uint32_t>(visitors.size()));
    for (const auto& [member, set] : visitors) {
        put_str(out, member);
        std::string bytes;
        set.encode(bytes);
        put_str(out, bytes);
    }
}

/// What a day's body holds after its top lists: a version byte (2), each device's
/// visitors, each event name's visitors, the property breakdowns, then the visitors of the
/// pages', referrers' and countries' members. Version 1 ended after the property
/// breakdowns; snapshots from before these figures end after the top lists, and read as
/// days without them.
void put_visitor_tail(std::string& out, const store::DayState& state) {
    out.push_back('\x02');
    for (const sketch::DistinctSet& set : state.device_visitors)
        put_distinct_set(out, set);
    put_u32(out, static_cast<std::uint32_t>(state.events.size()));
    for (const auto& [name, series] : state.events) {
        put_str(out, name);
        put_distinct_set(out, series.visitors);
    }
    put_properties(out, state.properties);
    put_member_visitors(out, state.page_visitors);
    put_member_visitors(out, state.referrer_visitors);
    put_member_visitors(out, state.country_visitors);
}

/// Opens a section in `out`; end_section() fills in its length (the CRC comes later,
/// outside the shard's lock).
std::size_t begin_section(std::string& out, Section kind) {
    const std::size_t start = out.size();
    put_u32(out, static_cast<std::uint32_t>(kind));
    out.append(kSectionHeaderSize - 4, '\0');
    return start;
}

void end_section(std::string& out, std::size_t start) {
    const std::uint64_t length = out.size() - start - kSectionHeaderSize;
    for (int i = 0; i < 8; ++i)
        out[start + 4 + static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
}

/// Fills in the CRC of every section in `buffer` from `pos` on (framed by begin/end_section).
std::uint64_t seal_sections(std::string& buffer, std::size_t pos) {
    std::uint64_t count = 0;
    while (pos < buffer.size()) {
        std::uint64_t length = 0;
        for (int i = 7; i >= 0; --i) {
            length = (length << 8) |
                     static_cast<unsigned char>(buffer[pos + 4 + static_cast<std::size_t>(i)]);
        }
        std::uint32_t crc = crc32c(std::string_view(buffer.data() + pos, 12));
        crc = crc32c(std::string_view(buffer.data() + pos + kSectionHeaderSize, length), crc);
        for (int i = 0; i < 4; ++i)
            buffer[pos + 12 + static_cast<std::size_t>(i)] = static_cast<char>(crc >> (8 * i));
        pos += kSectionHeaderSize + length;
        ++count;
    }
    return count;
}

/// A HyperLogLog copied under the shard lock (16 KiB, a memcpy) whose dense bytes (a
/// slower 6-bit packing) are written into `buffer` at `offset` after the lock is released.
struct PendingHll {
    std::string* buffer;
    std::size_t offset;
    sketch::HyperLogLog hll;
};

void put_hll(std::string& out, const sketch::HyperLogLog& hll, std::deque<PendingHll>* defer) {
    if (defer == nullptr) {
        out.append(hll.dense_bytes());
        return;
    }
    defer->push_back(PendingHll{&out, out.size(), hll});
    out.append(sketch::HyperLogLog::kDenseSize, '\0');
}

void fill_hlls(std::deque<PendingHll>& pending) {
    for (PendingHll& p : pending) {
        const std::string bytes = p.hll.dense_bytes();
        p.buffer->replace(p.offset, bytes.size(), bytes);
    }
    pending.clear();
}

/// A day's state but its funnel log (bounded by the caps and the top-list capacity): the
/// payload of a day section after its key, and of a roll-up section. With `defer`, the
/// HyperLogLogs are copied and packed later (put_hll).
void put_day_body(std::string& out, const store::DayState& state,
                  std::deque<PendingHll>* defer = nullptr) {
    put_u64(out, state.page_views);
    put_minutes(out, state.pageviews_per_minute);
    for (std::uint64_t n : state.devices)
        put_u64(out, n);
    put_u32(out, static_cast<std::uint32_t>(state.events.size()));
    for (const auto& [name, series] : state.events) {
        put_str(out, name);
        put_u64(out, series.total);
        put_minutes(out, series.per_minute);
    }
    put_hll(out, state.visitors, defer);
    put_hll(out, state.sessions, defer);
    put_space_saving(out, state.pages);
    put_space_saving(out, state.referrers);
    put_space_saving(out, state.countries);
    put_visitor_tail(out, state);
}

void encode_day(std::string& out, std::uint32_t shard, std::string_view site, std::int64_t day,
                const store::DayState& state, std::deque<PendingHll>* defer = nullptr) {
    const std::size_t start = begin_section(out, Section::day);
    put_u32(out, shard);
    put_str(out, site);
    put_i64(out, day);
    put_day_body(out, state, defer);
    end_section(out, start);
}

void encode_rollup(std::string& out, std::uint32_t shard, std::string_view site,
                   store::Period period, std::int64_t first_day, const store::DayState& state) {
    const std::size_t start = begin_section(out, Section::rollup);
    put_u32(out, shard);
    put_str(out, site);
    out.push_back(static_cast<char>(period));
    put_i64(out, first_day);
    put_day_body(out, state);
    end_section(out, start);
}

/// A settled day (see encode_snapshot) or a roll-up, to write once the lock is released.
struct PendingFunnel;
struct PendingDay {
    std::uint32_t shard;
    std::string site;
    std::int64_t day;
    const store::DayState* state;
    std::shared_ptr<PendingFunnel> funnel;  // taken under the lock: the funnel can move to disk
};
struct PendingRollup {
    std::uint32_t shard;
    std::string site;
    store::Period period;
    std::int64_t first;
    const store::DayState* state;
};

/// Where `shard`'s writer was when `site`'s part of the shard was saved.
void encode_site_mark(std::string& out, std::uint32_t shard, std::string_view site,
                      const LogPosition& position) {
    const std::size_t start = begin_section(out, Section::site_mark);
    put_u32(out, shard);
    put_str(out, site);
    put_u64(out, position.segment);
    put_u64(out, position.offset);
    end_section(out, start);
}

/// A day's funnel to write once the shard's lock is released: the log's View and the runs
/// that hold the rest (named, with their steps and checksums, so a load checks it has them).
struct PendingFunnel {
    std::uint32_t shard;
    std::string site;
    std::int64_t day;
    store::FunnelLog::View view;
    std::vector<std::shared_ptr<const store::FunnelRun>> runs;
    bool incomplete = false;

    static bool needed(const store::DayState& state) {
        return !state.funnel.steps().empty() || !state.funnel.labels().empty() ||
               !state.funnel_runs.empty() || state.funnel_incomplete;
    }
    PendingFunnel(std::uint32_t shard_index, std::string site_name, std::int64_t day_number,
                  const store::DayState& state)
        : shard(shard_index),
          site(std::move(site_name)),
          day(day_number),
          view(state.funnel.view()),
          runs(state.funnel_runs),
          incomplete(state.funnel_incomplete) {}
};

void encode_funnel(std::string& out, const PendingFunnel& funnel) {
    const std::size_t start = begin_section(out, Section::funnel);
    put_u32(out, funnel.shard);
    put_str(out, funnel.site);
    put_i64(out, funnel.day);
    put_funnel(out, funnel.view);
    // Since runs exist: the runs, then whether steps were lost. Older snapshots end above.
    put_u32(out, static_cast<std::uint32_t>(funnel.runs.size()));
    for (const auto& run : funnel.runs) {
        put_str(out, run->file());
        put_u64(out, run->steps());
        put_u32(out, run->checksum());
    }
    out.push_back(funnel.incomplete ? '\1' : '\0');
    end_section(out, start);
}

void encode_windows(std::string& out, std::uint32_t shard, std::string_view site,
                    const store::Windows& windows) {
    std::uint32_t buckets = 0;
    windows.for_each_bucket([&buckets](std::int64_t, const auto&) { ++buckets; });
    if (buckets == 0)
        return;
    const std::size_t start = begin_section(out, Section::windows);
    put_u32(out, shard);
    put_str(out, site);
    put_u32(out, buckets);
    windows.for_each_bucket([&out](std::int64_t minute, const auto& pages) {
        put_i64(out, minute);
        put_u32(out, static_cast<std::uint32_t>(pages.size()));
        for (const auto& [page, views] : pages) {
            put_str(out, page);
            put_u64(out, views);
        }
    });
    end_section(out, start);
}

std::chrono::nanoseconds thread_cpu_time() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

/// One encode_snapshot: the file's bytes, built in the order snapshot.hpp describes
/// ("Writing"), with every shard's lock held as briefly as the format allows.
class SnapshotEncoder {
  public:
    SnapshotEncoder(const store::Store& store, SnapshotMeta meta, const PositionUnderLock& position)
        : store_(store),
          meta_(std::move(meta)),
          position_(position),
          first_open_day_(day_of(meta_.created_ms) - 2) {
        locked_.reserve(1 << 20);
    }

    std::string run(SnapshotStats* stats) {
        begin_file();
        for (std::size_t i = 0; i < store_.shard_count(); ++i) {
            for (const std::string& name : shard_sites(i))
                save_site(i, name);
        }
        write_sessions();
        fill_in_positions();
        end_file();
        stats_.bytes = out_.size();
        if (stats)
            *stats = stats_;
        return std::move(out_);
    }

  private:
    using Clock = std::chrono::steady_clock;

    /// The file header, then the meta section. The meta section comes first but its
    /// positions are only known once every shard is saved: it is reserved here (its size
    /// does not depend on the values) and filled in last (fill_in_positions).
    void begin_file() {
        out_.append(kMagic);
        put_u32(out_, kSnapshotVersion);
        put_u32(out_, 0);
        const std::size_t meta_start = begin_section(out_, Section::meta);
        meta_body_ = out_.size();
        put_i64(out_, meta_.created_ms);
        put_u32(out_, meta_.shards);
        put_u32(out_, static_cast<std::uint32_t>(meta_.log_positions.size()));
        out_.append(meta_.log_positions.size() * 16, '\0');
        end_section(out_, meta_start);
    }

    /// Holds shard `shard`'s lock for fn(sites), timing the hold (what ingest may wait).
    template <typename Fn>
    void hold(std::size_t shard, const Fn& fn) {
        Clock::duration held{};
        std::chrono::nanoseconds held_cpu{};
        store_.visit_shard(shard, [&](const store::StringMap<store::SiteShard>& sites) {
            const auto start = Clock::now();
            const auto start_cpu = thread_cpu_time();
            fn(sites);
            held = Clock::now() - start;
            held_cpu = thread_cpu_time() - start_cpu;
        });
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(held);
        stats_.max_lock_hold = std::max(stats_.max_lock_hold, ns);
        stats_.total_lock_hold += ns;
        stats_.max_lock_hold_cpu = std::max(stats_.max_lock_hold_cpu, held_cpu);
    }

    /// A shard's first hold: its sites, and its position, from which recovery replays this
    /// writer (every record before it is in the shard's state now).
    std::vector<std::string> shard_sites(std::size_t shard) {
        std::vector<std::string> names;
        hold(shard, [&](const store::StringMap<store::SiteShard>& sites) {
            names.reserve(sites.size());
            for (const auto& [site, part] : sites)
                names.push_back(site);
            if (position_)
                meta_.log_positions[shard] = position_(shard);
        });
        return names;
    }

    /// One site of a shard: a hold for what ingest can still change (copy_site_locked),
    /// then, with no lock, the rest (write_unlocked). Sites that appeared after the shard's
    /// first hold are not saved; all their records come after its position.
    void save_site(std::size_t shard, const std::string& name) {
        locked_.clear();
        hold(shard, [&](const store::StringMap<store::SiteShard>& sites) {
            const auto it = sites.find(name);
            if (it == sites.end())
                return;  // sites are never removed; kept for safety
            copy_site_locked(shard, name, it->second);
        });
        fill_hlls(hlls_);
        out_ += locked_;
        write_unlocked();
    }

    /// Under the shard's lock: the site's open days (bounded per day by the caps and the
    /// top-list capacity), its windows, the funnel Views, and the position at that moment
    /// (a site mark): recovery skips this site's records before it. Settled days and
    /// roll-ups are only noted, for write_unlocked().
    void copy_site_locked(std::size_t i, const std::string& name, const store::SiteShard& part) {
        const auto shard = static_cast<std::uint32_t>(i);
        for (const auto& [day, state] : part.days) {
            if (day < first_open_day_) {
                settled_.push_back(
                    PendingDay{shard, name, day, &state,
                               PendingFunnel::needed(state)
                                   ? std::make_shared<PendingFunnel>(shard, name, day, state)
                                   : nullptr});
                continue;
            }
            encode_day(locked_, shard, name, day, state, &hlls_);
            if (PendingFunnel::needed(state))
                funnels_.emplace_back(shard, name, day, state);
        }
        for (store::Period period : {store::Period::week, store::Period::month}) {
            for (const auto& [first, state] : part.rollups(period))
                rollups_.push_back(PendingRollup{shard, name, period, first, &state});
        }
        encode_windows(locked_, shard, name, part.windows);
        if (position_)
            encode_site_mark(locked_, shard, name, position_(i));
    }

    /// Outside the lock: the funnel logs (16 bytes per event: most of a busy day), and the
    /// days and roll-ups that nothing but retention changes any more.
    void write_unlocked() {
        for (const PendingFunnel& funnel : funnels_)
            encode_funnel(out_, funnel);
        for (const PendingDay& day : settled_) {
            encode_day(out_, day.shard, day.site, day.day, *day.state);
            if (day.funnel != nullptr)
                encode_funnel(out_, *day.funnel);
        }
        for (const PendingRollup& rollup : rollups_)
            encode_rollup(out_, rollup.shard, rollup.site, rollup.period, rollup.first,
                          *rollup.state);
        funnels_.clear();
        settled_.clear();
        rollups_.clear();
    }

    void write_sessions() {
        std::vector<store::ActiveSessions::Saved> sessions = store_.active_sessions().save();
        const std::size_t sessions_start = begin_section(out_, Section::sessions);
        put_u64(out_, sessions.size());
        for (const auto& s : sessions) {
            put_str(out_, s.site);
            put_str(out_, s.session);
            put_str(out_, s.visitor);
            put_i64(out_, s.minute);
        }
        end_section(out_, sessions_start);
    }

    /// The meta section's positions, now that every shard has given its own.
    void fill_in_positions() {
        std::string positions;
        for (const LogPosition& p : meta_.log_positions) {
            put_u64(positions, p.segment);
            put_u64(positions, p.offset);
        }
        out_.replace(meta_body_ + 16, positions.size(), positions);
    }

    /// Checksums, outside every lock (the sections start right after the file header),
    /// then the trailer.
    void end_file() {
        const std::uint64_t sections = seal_sections(out_, kHeaderSize);
        const std::uint32_t file_crc = crc32c(out_);
        out_.append(kEndMagic);
        put_u64(out_, sections);
        put_u32(out_, file_crc);
    }

    const store::Store& store_;
    SnapshotMeta meta_;
    const PositionUnderLock& position_;
    std::string out_;
    std::size_t meta_body_ = 0;  // where the meta section's payload starts in out_
    SnapshotStats stats_;

    // Days before first_open_day_ can take no new event (ingest refuses events more than
    // 48 hours old, so the oldest day it writes is today - 2), and roll-ups change only in
    // retention, which runs on the snapshotting thread (see snapshot.hpp): both are
    // serialised after the lock, through pointers that stay valid because only retention
    // removes map nodes, and std::map insertions move none. A settled day's funnel is the
    // exception: the spiller may move it to disk at any time, so its View and runs are
    // taken under the lock like an open day's.
    const std::int64_t first_open_day_;
    std::vector<PendingDay> settled_;
    std::vector<PendingRollup> rollups_;
    std::vector<PendingFunnel> funnels_;
    std::deque<PendingHll> hlls_;  // a deque: 16 KiB elements are never moved
    // What is serialised under a shard's lock goes to its own buffer, appended to out_
    // after the lock is released: growing out_ (tens of MiB on a busy day) under the lock
    // would copy everything written so far. Its capacity carries over to the next site.
    std::string locked_;
};

}  // namespace

std::string encode_snapshot(const store::Store& store, SnapshotMeta meta, SnapshotStats* stats,
                            const PositionUnderLock& position) {
    meta.shards = static_cast<std::uint32_t>(store.shard_count());
    // Writers past the shard count (a previous run had more threads) keep the positions
    // the caller gave: their logs are wholly in the state.
    if (position && meta.log_positions.size() < store.shard_count())
        meta.log_positions.resize(store.shard_count());
    return SnapshotEncoder(store, std::move(meta), position).run(stats);
}

}  // namespace tally::durability
