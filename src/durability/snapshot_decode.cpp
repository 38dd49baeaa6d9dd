// Reading a snapshot back: each section's payload decoded and checked into a staging area,
// the whole file framed and checked before anything reaches the Store (decode_snapshot),
// and the ReplayFilter recovery builds from the decoded meta.

#include <map>
#include <set>
#include <tuple>

#include "snapshot_format.hpp"
#include "tally/base/names.hpp"
#include "tally/durability/crc32c.hpp"
#include "tally/durability/funnel_run_files.hpp"

namespace tally::durability {

namespace detail {

bool decode_meta(Reader& in, SnapshotMeta& meta) {
    meta.created_ms = in.i64();
    meta.shards = in.u32();
    const std::uint64_t n = in.count(in.u32(), 16);
    for (std::uint64_t i = 0; i < n; ++i) {
        LogPosition p;
        p.segment = in.u64();
        p.offset = in.u64();
        meta.log_positions.push_back(p);
    }
    return in.ok();
}

}  // namespace detail

using namespace detail;

namespace {

void read_minutes(Reader& in, store::MinuteCounts& minutes) {
    if (in.left() < minutes.size() * 4) {
        in.fail();
        return;
    }
    for (std::uint32_t& n : minutes)
        n = in.u32();
}

std::optional<sketch::SpaceSaving> read_space_saving(Reader& in) {
    const std::uint64_t capacity = in.u64();
    const std::uint64_t total = in.u64();
    const std::uint64_t floor = in.u64();
    const std::uint64_t n = in.count(in.u32(), 4 + 16);
    std::vector<sketch::SpaceSaving::Entry> entries;
    for (std::uint64_t i = 0; i < n && in.ok(); ++i) {
        sketch::SpaceSaving::Entry e;
        e.member = in.str();
        e.count = in.u64();
        e.error = in.u64();
        entries.push_back(std::move(e));
    }
    if (!in.ok() || capacity > SIZE_MAX)
        return std::nullopt;
    return sketch::SpaceSaving::restore(static_cast<std::size_t>(capacity), total, floor,
                                        std::move(entries));
}

std::optional<store::FunnelLog> read_funnel(Reader& in) {
    const std::uint64_t page_labels = in.u64();
    const std::uint64_t n_labels = in.count(in.u32(), 4);
    std::vector<std::string> labels;
    labels.reserve(static_cast<std::size_t>(n_labels));  // checked against the bytes left
    for (std::uint64_t i = 0; i < n_labels && in.ok(); ++i)
        labels.emplace_back(in.str());
    const std::uint64_t n_identities = in.count(in.u32(), 4);
    std::vector<std::string> identities;
    identities.reserve(static_cast<std::size_t>(n_identities));
    for (std::uint64_t i = 0; i < n_identities && in.ok(); ++i)
        identities.emplace_back(in.str());
    const std::uint64_t n_steps = in.count(in.u64(), 16);
    std::vector<store::FunnelStep> steps;
    steps.reserve(static_cast<std::size_t>(n_steps));
    for (std::uint64_t i = 0; i < n_steps && in.ok(); ++i) {
        const std::int64_t ts = in.i64();
        const std::uint32_t label = in.u32();
        steps.push_back(store::FunnelStep{ts, label, in.u32()});
    }
    if (!in.ok() || page_labels > n_labels)
        return std::nullopt;
    return store::FunnelLog::restore(std::move(labels), static_cast<std::size_t>(page_labels),
                                     std::move(identities), steps);
}

std::optional<sketch::HyperLogLog> read_hll(Reader& in) {
    const std::string_view bytes = in.bytes(sketch::HyperLogLog::kDenseSize);
    if (!in.ok() || bytes[4] != 0)  // always written dense
        return std::nullopt;
    return sketch::HyperLogLog::from_redis_bytes(bytes);
}

bool read_distinct_set(Reader& in, sketch::DistinctSet& out) {
    const std::string_view bytes = in.bytes(in.u32());
    if (!in.ok())
        return false;
    auto set = sketch::DistinctSet::decode(bytes);
    if (!set)
        return false;
    out = std::move(*set);
    return true;
}

bool read_property_value(Reader& in, store::PropertyValue& value) {
    value.count = in.u64();
    return read_distinct_set(in, value.visitors);
}

bool read_property_key(Reader& in, store::PropertyKey& slot) {
    if (!read_property_value(in, slot.other))
        return false;
    const std::uint64_t n = in.count(in.u32(), 4 + 8 + 4);
    if (n > store::PropertyBreakdown::kMaxValuesPerKey)
        return false;
    for (std::uint64_t i = 0; i < n && in.ok(); ++i) {
        const std::string_view value = in.str();
        store::PropertyValue stats;
        if (!read_property_value(in, stats) || !slot.values.emplace(value, std::move(stats)).second)
            return false;
    }
    return in.ok();
}

/// put_properties's bytes into `state`.
bool read_properties(Reader& in, store::DayState& state) {
    const std::uint64_t n_events = in.count(in.u32(), 4 + 8 + 4);
    for (std::uint64_t i = 0; i < n_events && in.ok(); ++i) {
        const std::string_view name = in.str();
        if (!valid_event_name(name) || state.properties.contains(name))
            return false;
        store::PropertyBreakdown& breakdown = state.properties[std::string(name)];
        breakdown.restore_refused(in.u64());
        const std::uint64_t n_keys = in.count(in.u32(), 4 + 12 + 4);
        for (std::uint64_t k = 0; k < n_keys && in.ok(); ++k) {
            const std::string_view key = in.str();
            if (!in.ok() || breakdown.keys().contains(key) ||
                !read_property_key(in, breakdown.restore_key(std::string(key)))) {
                return false;
            }
            ++state.property_keys;
        }
    }
    return in.ok();
}

/// put_member_visitors's bytes into `visitors`: only members `list` monitors, once each.
bool read_member_visitors(Reader& in, const sketch::SpaceSaving& list,
                          store::MemberVisitors& visitors) {
    const std::uint64_t n = in.count(in.u32(), 4 + 4 + 2);
    if (n > list.size())
        return false;
    for (std::uint64_t i = 0; i < n && in.ok(); ++i) {
        const std::string_view member = in.str();
        const std::string_view bytes = in.bytes(in.u32());
        if (!in.ok() || list.count_of(member) == 0)
            return false;
        auto set = sketch::CompactDistinctSet::decode(bytes);
        if (!set || !visitors.emplace(std::string(member), std::move(*set)).second)
            return false;
    }
    return in.ok();
}

/// put_visitor_tail's bytes into `state`; nothing left (an older snapshot) means none, and
/// version 1 has no members' visitors.
bool read_visitor_tail(Reader& in, store::DayState& state) {
    if (in.done())
        return true;
    const std::string_view version = in.bytes(1);
    if (!in.ok() || (version[0] != '\x01' && version[0] != '\x02'))
        return false;
    for (sketch::DistinctSet& set : state.device_visitors) {
        if (!read_distinct_set(in, set))
            return false;
    }
    const std::uint64_t n_events = in.count(in.u32(), 4 + 4);
    for (std::uint64_t i = 0; i < n_events && in.ok(); ++i) {
        auto it = state.events.find(in.str());
        if (it == state.events.end() || !read_distinct_set(in, it->second.visitors))
            return false;
    }
    if (!in.ok() || !read_properties(in, state))
        return false;
    return version[0] == '\x01' ||
           (read_member_visitors(in, state.pages, state.page_visitors) &&
            read_member_visitors(in, state.referrers, state.referrer_visitors) &&
            read_member_visitors(in, state.countries, state.country_visitors));
}

struct StagedDay {
    std::uint32_t shard;
    std::string site;
    std::int64_t day;  // a roll-up's first day
    store::DayState state;
    std::uint8_t period = 0;  // 0: a day; else a roll-up's store::Period
    bool has_funnel = false;
    struct RunRef {
        std::string file;
        std::uint64_t steps = 0;
        std::uint32_t checksum = 0;
    };
    std::vector<RunRef> runs = {};  // the funnel's runs, opened once the file checks out
};

struct StagedWindows {
    std::uint32_t shard;
    std::string site;
    std::vector<std::pair<std::int64_t, store::StringMap<std::uint64_t>>> buckets;
};

struct Staged {
    SnapshotMeta meta;
    std::vector<StagedDay> days;  // and roll-ups
    // (shard, site, day, period) -> index in days: each saved once; funnels join their day.
    std::map<std::tuple<std::uint32_t, std::string, std::int64_t, std::uint8_t>, std::size_t>
        day_index;
    std::vector<StagedWindows> windows;
    std::vector<store::ActiveSessions::Saved> sessions;
    std::set<std::pair<std::uint32_t, std::string>> marks_seen;
};

/// put_day_body's bytes into `state`; the caller checks in.ok().
bool read_day_body(Reader& in, store::DayState& state) {
    state.page_views = in.u64();
    read_minutes(in, state.pageviews_per_minute);
    for (std::uint64_t& n : state.devices)
        n = in.u64();
    const std::uint64_t n_events = in.count(in.u32(), 4 + 8 + 4 * store::kMinutesPerDay);
    for (std::uint64_t i = 0; i < n_events && in.ok(); ++i) {
        const std::string_view name = in.str();
        if (!valid_event_name(name))
            return false;
        store::EventSeries series;
        series.total = in.u64();
        read_minutes(in, series.per_minute);
        if (!state.events.emplace(std::string(name), series).second)
            return false;
    }
    auto visitors = read_hll(in);
    auto sessions = read_hll(in);
    if (!visitors || !sessions)
        return false;
    state.visitors = *visitors;
    state.sessions = *sessions;
    for (sketch::SpaceSaving* summary : {&state.pages, &state.referrers, &state.countries}) {
        auto restored = read_space_saving(in);
        if (!restored)
            return false;
        *summary = std::move(*restored);
    }
    return read_visitor_tail(in, state) && in.ok() && in.done() && state.consistent();
}

bool stage_day(Staged& staged, StagedDay day) {
    const auto key = std::make_tuple(day.shard, day.site, day.day, day.period);
    if (!staged.day_index.emplace(key, staged.days.size()).second)
        return false;  // saved twice
    staged.days.push_back(std::move(day));
    return true;
}

bool decode_day(Reader& in, Staged& staged) {
    const std::uint32_t shard = in.u32();
    const std::string_view site = in.str();
    const std::int64_t day = in.i64();
    if (!in.ok() || !valid_site(site))
        return false;
    store::DayState state(1);
    if (!read_day_body(in, state))
        return false;
    return stage_day(staged, StagedDay{shard, std::string(site), day, std::move(state)});
}

bool decode_rollup(Reader& in, Staged& staged) {
    const std::uint32_t shard = in.u32();
    const std::string_view site = in.str();
    const std::string_view period = in.bytes(1);
    const std::int64_t first = in.i64();
    if (!in.ok() || !valid_site(site))
        return false;
    const auto p = static_cast<std::uint8_t>(period[0]);
    if (p != static_cast<std::uint8_t>(store::Period::week) &&
        p != static_cast<std::uint8_t>(store::Period::month)) {
        return false;
    }
    if (store::period_start(static_cast<store::Period>(p), first) != first)
        return false;
    store::DayState state(1);
    if (!read_day_body(in, state))
        return false;
    return stage_day(staged, StagedDay{shard, std::string(site), first, std::move(state), p});
}

bool decode_site_mark(Reader& in, Staged& staged) {
    SitePosition mark;
    mark.shard = in.u32();
    mark.site = in.str();
    mark.position.segment = in.u64();
    mark.position.offset = in.u64();
    if (!in.ok() || !in.done() || !valid_site(mark.site))
        return false;
    if (!staged.marks_seen.emplace(mark.shard, mark.site).second)
        return false;  // each (shard, site) once
    staged.meta.site_positions.push_back(std::move(mark));
    return true;
}

bool decode_funnel(Reader& in, Staged& staged) {
    const std::uint32_t shard = in.u32();
    const std::string_view site = in.str();
    const std::int64_t day = in.i64();
    if (!in.ok())
        return false;
    auto it = staged.day_index.find(std::make_tuple(shard, std::string(site), day, 0));
    if (it == staged.day_index.end())
        return false;  // a funnel comes after its day
    StagedDay& target = staged.days[it->second];
    auto funnel = read_funnel(in);
    if (!funnel || !in.ok() || target.has_funnel)
        return false;
    if (!in.done()) {
        // The runs and the incomplete flag (absent from snapshots older than runs).
        const std::uint64_t runs = in.count(in.u32(), 16);
        for (std::uint64_t i = 0; i < runs && in.ok(); ++i) {
            StagedDay::RunRef ref;
            ref.file = in.str();
            ref.steps = in.u64();
            ref.checksum = in.u32();
            if (!valid_funnel_run_name(ref.file))
                return false;
            target.runs.push_back(std::move(ref));
        }
        const std::string_view incomplete = in.bytes(1);
        if (!in.ok() || static_cast<unsigned char>(incomplete[0]) > 1)
            return false;
        target.state.funnel_incomplete = incomplete[0] == 1;
    }
    if (!in.done())
        return false;
    target.state.funnel = std::move(*funnel);
    target.has_funnel = true;
    return true;
}

/// A day's runs from `dir`; when one does not open, or is not the run the snapshot names,
/// the day loads without its funnel, for recovery to rebuild.
void open_runs(StagedDay& d, const std::filesystem::path& dir, SnapshotMeta& meta) {
    std::vector<std::shared_ptr<const store::FunnelRun>> runs;
    for (const StagedDay::RunRef& ref : d.runs) {
        std::string why;
        auto run = dir.empty() ? nullptr : open_funnel_run(dir, ref.file, why);
        if (run != nullptr && (run->steps() != ref.steps || run->checksum() != ref.checksum ||
                               run->site() != d.site || run->day() != d.day)) {
            why = "not the run the snapshot names";
            run = nullptr;
        }
        if (run == nullptr) {
            meta.funnels_to_rebuild.push_back({d.shard, d.site, d.day, ref.file + ": " + why});
            d.state.funnel = store::FunnelLog{};
            d.state.funnel_incomplete = true;
            return;
        }
        runs.push_back(std::move(run));
    }
    d.state.funnel_runs = std::move(runs);
}

bool decode_windows(Reader& in, Staged& staged) {
    StagedWindows w;
    w.shard = in.u32();
    w.site = in.str();
    if (!valid_site(w.site))
        return false;
    const std::uint64_t n = in.count(in.u32(), 12);
    for (std::uint64_t i = 0; i < n && in.ok(); ++i) {
        const std::int64_t minute = in.i64();
        if (minute < 0)
            return false;
        store::StringMap<std::uint64_t> pages;
        const std::uint64_t m = in.count(in.u32(), 12);
        for (std::uint64_t j = 0; j < m && in.ok(); ++j) {
            const std::string_view page = in.str();
            const std::uint64_t views = in.u64();
            if (!pages.emplace(std::string(page), views).second)
                return false;
        }
        w.buckets.emplace_back(minute, std::move(pages));
    }
    if (!in.ok() || !in.done())
        return false;
    staged.windows.push_back(std::move(w));
    return true;
}

bool decode_sessions(Reader& in, Staged& staged) {
    const std::uint64_t n = in.count(in.u64(), 20);
    for (std::uint64_t i = 0; i < n && in.ok(); ++i) {
        store::ActiveSessions::Saved s;
        s.site = in.str();
        s.session = in.str();
        s.visitor = in.str();
        s.minute = in.i64();
        if (in.ok() && !valid_site(s.site))
            return false;
        staged.sessions.push_back(std::move(s));
    }
    return in.ok() && in.done();
}

/// Checks the frame of the whole file and decodes every section into `staged`.
bool stage(std::string_view bytes, Staged& staged, std::string* error) {
    if (bytes.size() < kHeaderSize + kTrailerSize)
        return fail(error, "too short for a header and trailer");
    Reader header(bytes.substr(0, kHeaderSize));
    if (header.bytes(8) != kMagic)
        return fail(error, "bad magic");
    if (const std::uint32_t version = header.u32(); version != kSnapshotVersion)
        return fail(error, "unsupported version " + std::to_string(version));
    if (header.u32() != 0)
        return fail(error, "unknown flags");

    const std::size_t body_end = bytes.size() - kTrailerSize;
    Reader trailer(bytes.substr(body_end));
    if (trailer.bytes(8) != kEndMagic)
        return fail(error, "no trailer (truncated?)");
    const std::uint64_t sections = trailer.u64();
    const std::uint32_t file_crc = trailer.u32();
    if (crc32c(bytes.substr(0, body_end)) != file_crc)
        return fail(error, "file checksum mismatch");

    std::size_t pos = kHeaderSize;
    std::uint64_t seen = 0;
    bool have_sessions = false;
    while (pos < body_end) {
        if (body_end - pos < kSectionHeaderSize)
            return fail(error, "torn section header at " + std::to_string(pos));
        Reader frame(bytes.substr(pos, kSectionHeaderSize));
        const std::uint32_t kind = frame.u32();
        const std::uint64_t length = frame.u64();
        const std::uint32_t crc = frame.u32();
        if (length > body_end - pos - kSectionHeaderSize)
            return fail(error, "section length past the end at " + std::to_string(pos));
        const std::string_view payload = bytes.substr(pos + kSectionHeaderSize, length);
        if (crc32c(payload, crc32c(bytes.substr(pos, 12))) != crc)
            return fail(error, "section checksum mismatch at " + std::to_string(pos));

        Reader in(payload);
        bool good = false;
        if (seen == 0) {
            good = kind == static_cast<std::uint32_t>(Section::meta) &&
                   decode_meta(in, staged.meta) && in.done();
        } else if (kind == static_cast<std::uint32_t>(Section::day)) {
            good = decode_day(in, staged);
        } else if (kind == static_cast<std::uint32_t>(Section::rollup)) {
            good = decode_rollup(in, staged);
        } else if (kind == static_cast<std::uint32_t>(Section::funnel)) {
            good = decode_funnel(in, staged);
        } else if (kind == static_cast<std::uint32_t>(Section::site_mark)) {
            good = decode_site_mark(in, staged);
        } else if (kind == static_cast<std::uint32_t>(Section::windows)) {
            good = decode_windows(in, staged);
        } else if (kind == static_cast<std::uint32_t>(Section::sessions) && !have_sessions) {
            have_sessions = true;
            good = decode_sessions(in, staged);
        }
        if (!good) {
            return fail(
                error, "bad section (kind " + std::to_string(kind) + ") at " + std::to_string(pos));
        }
        pos += kSectionHeaderSize + static_cast<std::size_t>(length);
        ++seen;
    }
    if (seen == 0)
        return fail(error, "no meta section");
    if (seen != sections)
        return fail(error, "trailer counts " + std::to_string(sections) + " sections, found " +
                               std::to_string(seen));
    return true;
}

}  // namespace

std::optional<SnapshotMeta> decode_snapshot(std::string_view bytes, store::Store& into,
                                            std::string* error,
                                            const std::filesystem::path& funnel_dir) {
    Staged staged;
    if (!stage(bytes, staged, error))
        return std::nullopt;
    for (StagedDay& d : staged.days) {
        if (d.period == 0) {
            open_runs(d, funnel_dir, staged.meta);
            into.restore_day(d.shard, d.site, d.day, std::move(d.state));
        } else {
            into.restore_rollup(d.shard, d.site, static_cast<store::Period>(d.period), d.day,
                                std::move(d.state));
        }
    }
    for (const StagedWindows& w : staged.windows) {
        for (const auto& [minute, pages] : w.buckets)
            into.restore_window_bucket(w.shard, w.site, minute, pages);
    }
    into.restore_active_sessions(std::move(staged.sessions));
    return staged.meta;
}

ReplayFilter::ReplayFilter(const SnapshotMeta& meta) {
    for (const SitePosition& mark : meta.site_positions) {
        if (mark.shard >= marks_.size())
            marks_.resize(mark.shard + 1);
        marks_[mark.shard][mark.site] = mark.position;
    }
}

bool ReplayFilter::in_snapshot(std::size_t writer, std::string_view site,
                               const LogPosition& at) const {
    if (writer >= marks_.size())
        return false;
    const auto it = marks_[writer].find(site);
    return it != marks_[writer].end() && at < it->second;
}

}  // namespace tally::durability
