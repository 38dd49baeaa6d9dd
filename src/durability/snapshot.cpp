#include "tally/durability/snapshot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <set>
#include <system_error>
#include <tuple>

#include "tally/durability/crc32c.hpp"
#include "tally/base/names.hpp"
#include "tally/base/time.hpp"

namespace tally::durability {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "TALLYSNP";
constexpr std::string_view kEndMagic = "TALLYEND";
constexpr std::size_t kHeaderSize = 16;
constexpr std::size_t kSectionHeaderSize = 16;
constexpr std::size_t kTrailerSize = 20;

enum class Section : std::uint32_t {
    meta = 1,
    day = 2,
    windows = 3,
    sessions = 4,
    rollup = 5,
    funnel = 6,
    site_mark = 7
};

// ---- writing ----

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

/// A day's state but its funnel log (bounded by the caps and the top-list capacity): the
/// payload of a day section after its key, and of a roll-up section.
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
struct PendingDay {
    std::uint32_t shard;
    std::string site;
    std::int64_t day;
    const store::DayState* state;
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

/// A day's funnel log to write once the shard's lock is released.
struct PendingFunnel {
    std::uint32_t shard;
    std::string site;
    std::int64_t day;
    store::FunnelLog::View view;
};

void encode_funnel(std::string& out, const PendingFunnel& funnel) {
    const std::size_t start = begin_section(out, Section::funnel);
    put_u32(out, funnel.shard);
    put_str(out, funnel.site);
    put_i64(out, funnel.day);
    put_funnel(out, funnel.view);
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

// ---- reading ----

/// Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). Every string
/// the store holds came through a JSON parser that checks this, and the JSON writers of the
/// read side throw on anything else, so a snapshot string that is not UTF-8 is corruption.
bool valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int extra;
        unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0)
                lo = 0xA0;
            if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0)
                lo = 0x90;
            if (c == 0xF4)
                hi = 0x8F;
        } else {
            return false;
        }
        if (end - p <= extra || p[1] < lo || p[1] > hi)
            return false;
        for (int i = 2; i <= extra; ++i) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
        }
        p += extra + 1;
    }
    return true;
}

/// Bounds-checked reads over one section's payload; a failed read sticks and returns
/// zeros, so callers check ok() once after a group of reads.
class Reader {
  public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}
    bool ok() const { return ok_; }
    bool done() const { return pos_ == bytes_.size(); }
    std::size_t left() const { return bytes_.size() - pos_; }

    std::uint32_t u32() { return static_cast<std::uint32_t>(fixed(4)); }
    std::uint64_t u64() { return fixed(8); }
    std::int64_t i64() { return static_cast<std::int64_t>(fixed(8)); }
    std::string_view bytes(std::size_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return {};
        }
        const std::string_view out = bytes_.substr(pos_, n);
        pos_ += n;
        return out;
    }
    /// A string: u32 length, then that many bytes of UTF-8.
    std::string_view str() {
        const std::string_view s = bytes(u32());
        if (!valid_utf8(s))
            ok_ = false;
        return s;
    }
    /// A count of items each at least `min_item` bytes long: one larger than what is left
    /// can only be corruption, so loops over it stay bounded by the input.
    std::uint64_t count(std::uint64_t n, std::size_t min_item) {
        if (!ok_ || n > left() / min_item) {
            ok_ = false;
            return 0;
        }
        return n;
    }
    void fail() { ok_ = false; }

  private:
    std::uint64_t fixed(int width) {
        if (!ok_ || static_cast<std::size_t>(width) > left()) {
            ok_ = false;
            return 0;
        }
        std::uint64_t v = 0;
        for (int i = width - 1; i >= 0; --i)
            v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ + static_cast<std::size_t>(i)]);
        pos_ += static_cast<std::size_t>(width);
        return v;
    }

    std::string_view bytes_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

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

struct StagedDay {
    std::uint32_t shard;
    std::string site;
    std::int64_t day;  // a roll-up's first day
    store::DayState state;
    std::uint8_t period = 0;  // 0: a day; else a roll-up's store::Period
    bool has_funnel = false;
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
    return in.ok() && in.done() && state.consistent();
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
    if (!funnel || !in.ok() || !in.done() || target.has_funnel)
        return false;
    target.state.funnel = std::move(*funnel);
    target.has_funnel = true;
    return true;
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

bool fail(std::string* error, std::string reason) {
    if (error)
        *error = std::move(reason);
    return false;
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

// ---- files ----

/// Parses "snapshot-<stamp>-<seq>.snap"; false for any other name.
bool parse_snapshot_name(const std::string& name, std::uint64_t& seq) {
    if (!name.starts_with("snapshot-") || !name.ends_with(".snap"))
        return false;
    const std::size_t end = name.size() - 5;
    const std::size_t dash = name.rfind('-', end);
    if (dash == std::string::npos || dash < 9 || dash + 1 >= end)
        return false;
    auto [p, ec] = std::from_chars(name.data() + dash + 1, name.data() + end, seq);
    return ec == std::errc{} && p == name.data() + end;
}

std::string timestamp(std::int64_t ms) {
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    ::gmtime_r(&seconds, &tm);
    char out[64];
    std::snprintf(out, sizeof(out), "%04d%02d%02dT%02d%02d%02d%03d", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(((ms % 1000) + 1000) % 1000));
    return out;
}

[[noreturn]] void throw_errno(const std::string& what, const fs::path& path) {
    throw std::system_error(errno, std::generic_category(), what + " " + path.string());
}

void sync_directory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        throw_errno("open", dir);
    const int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0)
        throw_errno("fsync", dir);
}

void write_file_synced(const fs::path& path, std::string_view bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw_errno("open", path);
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int saved = errno;
            ::close(fd);
            errno = saved;
            throw_errno("write", path);
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(fd) != 0) {
        const int saved = errno;
        ::close(fd);
        errno = saved;
        throw_errno("fsync", path);
    }
    if (::close(fd) != 0)
        throw_errno("close", path);
}

bool read_file(const fs::path& path, std::string& out, std::string& error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = "open: " + std::generic_category().message(errno);
        return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        error = "stat: " + std::generic_category().message(errno);
        ::close(fd);
        return false;
    }
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    out.resize(got);  // a file that shrank while read fails its checks
    return true;
}

std::chrono::nanoseconds thread_cpu_time() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

std::string encode_snapshot(const store::Store& store, SnapshotMeta meta, SnapshotStats* stats,
                            const PositionUnderLock& position) {
    using Clock = std::chrono::steady_clock;
    meta.shards = static_cast<std::uint32_t>(store.shard_count());
    // Writers past the shard count (a previous run had more threads) keep the positions
    // the caller gave: their logs are wholly in the state.
    if (position && meta.log_positions.size() < store.shard_count())
        meta.log_positions.resize(store.shard_count());
    std::string out;
    out.append(kMagic);
    put_u32(out, kSnapshotVersion);
    put_u32(out, 0);

    // The meta section comes first but its positions are only known once every shard is
    // saved: reserve it here (its size does not depend on the values) and fill it in last.
    const std::size_t meta_start = begin_section(out, Section::meta);
    const std::size_t meta_body = out.size();
    put_i64(out, meta.created_ms);
    put_u32(out, meta.shards);
    put_u32(out, static_cast<std::uint32_t>(meta.log_positions.size()));
    out.append(meta.log_positions.size() * 16, '\0');
    end_section(out, meta_start);

    SnapshotStats local;
    std::vector<PendingFunnel> funnels;
    // Days before first_open_day can take no new event (ingest refuses events more than
    // 48 hours old, so the oldest day it writes is today - 2), and roll-ups change only in
    // retention, which runs on the snapshotting thread (see snapshot.hpp): both are
    // serialised after the lock, through pointers that stay valid because only retention
    // removes map nodes, and std::map insertions move none.
    const std::int64_t first_open_day = day_of(meta.created_ms) - 2;
    std::vector<PendingDay> settled;
    std::vector<PendingRollup> rollups;
    std::deque<PendingHll> hlls;  // a deque: 16 KiB elements are never moved
    // What is serialised under a shard's lock goes to its own buffer, appended to `out`
    // after the lock is released: growing `out` (tens of MiB on a busy day) under the lock
    // would copy everything written so far. Its capacity carries over to the next site.
    std::string locked;
    locked.reserve(1 << 20);
    // Holds a shard's lock for fn(sites), timing the hold (what ingest may wait).
    auto hold = [&](std::size_t i, const auto& fn) {
        Clock::duration held{};
        std::chrono::nanoseconds held_cpu{};
        store.visit_shard(i, [&](const store::StringMap<store::SiteShard>& sites) {
            const auto start = Clock::now();
            const auto start_cpu = thread_cpu_time();
            fn(sites);
            held = Clock::now() - start;
            held_cpu = thread_cpu_time() - start_cpu;
        });
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(held);
        local.max_lock_hold = std::max(local.max_lock_hold, ns);
        local.total_lock_hold += ns;
        local.max_lock_hold_cpu = std::max(local.max_lock_hold_cpu, held_cpu);
    };
    for (std::size_t i = 0; i < store.shard_count(); ++i) {
        const auto shard = static_cast<std::uint32_t>(i);
        // First hold: the shard's sites, and its position, from which recovery replays
        // this writer (every record before it is in the shard's state now).
        std::vector<std::string> names;
        hold(i, [&](const store::StringMap<store::SiteShard>& sites) {
            names.reserve(sites.size());
            for (const auto& [site, part] : sites)
                names.push_back(site);
            if (position)
                meta.log_positions[i] = position(i);
        });
        // Then one hold per site: its open days (bounded per day by the caps and the
        // top-list capacity), its windows, the funnel Views, and the position at that
        // moment (a site mark): recovery skips this site's records before it. Sites that
        // appear after the first hold are not saved; all their records come after it.
        for (const std::string& name : names) {
            locked.clear();
            hold(i, [&](const store::StringMap<store::SiteShard>& sites) {
                const auto it = sites.find(name);
                if (it == sites.end())
                    return;  // sites are never removed; kept for safety
                const store::SiteShard& part = it->second;
                for (const auto& [day, state] : part.days) {
                    if (day < first_open_day) {
                        settled.push_back(PendingDay{shard, name, day, &state});
                        continue;
                    }
                    encode_day(locked, shard, name, day, state, &hlls);
                    if (!state.funnel.steps().empty() || !state.funnel.labels().empty())
                        funnels.push_back(PendingFunnel{shard, name, day, state.funnel.view()});
                }
                for (store::Period period : {store::Period::week, store::Period::month}) {
                    for (const auto& [first, state] : part.rollups(period))
                        rollups.push_back(PendingRollup{shard, name, period, first, &state});
                }
                encode_windows(locked, shard, name, part.windows);
                if (position)
                    encode_site_mark(locked, shard, name, position(i));
            });
            fill_hlls(hlls);
            out += locked;
            // Outside the lock: the funnel logs (16 bytes per event: most of a busy day),
            // and the days and roll-ups that nothing but retention changes any more.
            for (const PendingFunnel& funnel : funnels)
                encode_funnel(out, funnel);
            for (const PendingDay& day : settled) {
                encode_day(out, day.shard, day.site, day.day, *day.state);
                const store::FunnelLog::View view = day.state->funnel.view();
                if (view.steps.size() != 0 || view.labels.size() != 0)
                    encode_funnel(out, PendingFunnel{day.shard, day.site, day.day, view});
            }
            for (const PendingRollup& rollup : rollups)
                encode_rollup(out, rollup.shard, rollup.site, rollup.period, rollup.first,
                              *rollup.state);
            funnels.clear();
            settled.clear();
            rollups.clear();
        }
    }

    std::vector<store::ActiveSessions::Saved> sessions = store.active_sessions().save();
    const std::size_t sessions_start = begin_section(out, Section::sessions);
    put_u64(out, sessions.size());
    for (const auto& s : sessions) {
        put_str(out, s.site);
        put_str(out, s.session);
        put_str(out, s.visitor);
        put_i64(out, s.minute);
    }
    end_section(out, sessions_start);

    std::string positions;
    for (const LogPosition& p : meta.log_positions) {
        put_u64(positions, p.segment);
        put_u64(positions, p.offset);
    }
    out.replace(meta_body + 16, positions.size(), positions);

    // Checksums outside every lock. The sections start right after the file header.
    const std::uint64_t sections = seal_sections(out, kHeaderSize);
    const std::uint32_t file_crc = crc32c(out);
    out.append(kEndMagic);
    put_u64(out, sections);
    put_u32(out, file_crc);

    local.bytes = out.size();
    if (stats)
        *stats = local;
    return out;
}

std::optional<SnapshotMeta> decode_snapshot(std::string_view bytes, store::Store& into,
                                            std::string* error) {
    Staged staged;
    if (!stage(bytes, staged, error))
        return std::nullopt;
    for (StagedDay& d : staged.days) {
        if (d.period == 0) {
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

std::vector<fs::path> list_snapshots(const fs::path& dir) {
    std::vector<std::pair<std::uint64_t, fs::path>> found;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::uint64_t seq = 0;
        if (parse_snapshot_name(it->path().filename().string(), seq))
            found.emplace_back(seq, it->path());
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second > b.second;
    });
    std::vector<fs::path> out;
    out.reserve(found.size());
    for (auto& [seq, path] : found)
        out.push_back(std::move(path));
    return out;
}

WrittenSnapshot write_snapshot(const store::Store& store, const SnapshotMeta& meta,
                               const fs::path& dir, std::size_t keep,
                               const PositionUnderLock& position) {
    WrittenSnapshot result;
    const std::string bytes = encode_snapshot(store, meta, &result.stats, position);

    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw std::system_error(ec, "create_directories " + dir.string());

    // A .tmp is what a writer killed mid-snapshot left; with one writer per directory, any
    // found now is garbage.
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.starts_with("snapshot-") && name.ends_with(".tmp")) {
            std::error_code ignored;
            fs::remove(it->path(), ignored);
        }
    }
    ec.clear();

    std::uint64_t seq = 1;
    const std::vector<fs::path> existing = list_snapshots(dir);
    if (!existing.empty()) {
        std::uint64_t newest = 0;
        parse_snapshot_name(existing.front().filename().string(), newest);
        seq = newest + 1;
    }
    const fs::path tmp = dir / ("snapshot-" + std::to_string(meta.created_ms) + ".tmp");
    char name[96];
    std::snprintf(name, sizeof(name), "snapshot-%s-%08llu.snap", timestamp(meta.created_ms).c_str(),
                  static_cast<unsigned long long>(seq));
    result.path = dir / name;

    try {
        write_file_synced(tmp, bytes);
    } catch (...) {
        fs::remove(tmp, ec);
        throw;
    }
    if (::rename(tmp.c_str(), result.path.c_str()) != 0) {
        const int saved = errno;
        fs::remove(tmp, ec);
        errno = saved;
        throw_errno("rename", tmp);
    }
    sync_directory(dir);

    // Retention: the newest `keep`, counting the one just written.
    const std::vector<fs::path> all = list_snapshots(dir);
    for (std::size_t i = std::max<std::size_t>(keep, 1); i < all.size(); ++i) {
        if (fs::remove(all[i], ec))
            result.removed.push_back(all[i]);
    }
    if (!result.removed.empty())
        sync_directory(dir);
    return result;
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

std::optional<SnapshotMeta> read_snapshot_meta(const fs::path& path, std::string* error) {
    // The header and the meta section only: a whole-file check would read every byte.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(error, "open: " + std::generic_category().message(errno));
        return std::nullopt;
    }
    std::string head(kHeaderSize + kSectionHeaderSize, '\0');
    const ssize_t n = ::pread(fd, head.data(), head.size(), 0);
    std::optional<SnapshotMeta> meta;
    if (n == static_cast<ssize_t>(head.size()) && head.starts_with(kMagic)) {
        Reader frame(std::string_view(head).substr(kHeaderSize));
        const std::uint32_t kind = frame.u32();
        const std::uint64_t length = frame.u64();
        const std::uint32_t crc = frame.u32();
        if (kind == static_cast<std::uint32_t>(Section::meta) && length <= (1u << 20)) {
            std::string payload(length, '\0');
            const auto at = static_cast<off_t>(head.size());
            if (::pread(fd, payload.data(), payload.size(), at) ==
                    static_cast<ssize_t>(payload.size()) &&
                crc32c(payload, crc32c(std::string_view(head).substr(kHeaderSize, 12))) == crc) {
                Reader in(payload);
                SnapshotMeta m;
                if (decode_meta(in, m) && in.done())
                    meta = std::move(m);
            }
        }
    }
    ::close(fd);
    if (!meta)
        fail(error, "no valid meta section");
    return meta;
}

std::optional<SnapshotMeta> load_newest_snapshot(const fs::path& dir, store::Store& into,
                                                 LoadReport* report) {
    for (const fs::path& path : list_snapshots(dir)) {
        std::string bytes;
        std::string error;
        if (read_file(path, bytes, error)) {
            if (auto meta = decode_snapshot(bytes, into, &error)) {
                if (report)
                    report->loaded = path;
                return meta;
            }
        }
        if (report)
            report->skipped.emplace_back(path, error);
    }
    return std::nullopt;
}

}  // namespace tally::durability
