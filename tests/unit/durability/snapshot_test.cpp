// Snapshots: a store survives write + load with every query answering the same, across a
// change of shard count; a corrupt newest file falls back to the previous one; retention.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "../store/events.hpp"
#include "support/process.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/query/query.hpp"

namespace tally::durability {
namespace {

using test::custom;
using test::kNoon;
using test::page;

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kNow = kNoon + 30 * kMinute;  // 2023-11-14T12:30Z
constexpr std::size_t kTopCapacity = 8;

/// Feeds `store` a varied load, round-robin over its shards: two sites, three days,
/// custom events, cookieless and signed-in visitors, and one day with far more distinct
/// pages and referrers than kTopCapacity, so its top lists carry Space-Saving errors.
void feed(store::Store& store, int rounds, std::int64_t now = kNow) {
    std::size_t shard = 0;
    auto apply = [&](const Event& e) {
        ASSERT_EQ(store.admit(shard, e), store::Admission::ok);
        store.apply(shard++, e, now);
    };
    for (int r = 0; r < rounds; ++r) {
        for (int i = 0; i < 60; ++i) {
            const std::string user = i % 3 == 0 ? "" : "u" + std::to_string(i % 17);
            const std::string session = "s" + std::to_string(i % 23) + "-" + std::to_string(r);
            // Skewed pages: a few heavy ones, many rare ones (i*i % 41 spreads the tail).
            const std::string path = "/p" + std::to_string(i < 30 ? i % 4 : i * i % 41);
            const std::int64_t ts = kNow - (i % 50) * kMinute - r * 1000;
            Event e = page(path, user, session, ts, "a");
            if (user.empty())
                e.visitor_id = "cookieless" + std::to_string(i % 29);
            e.referrer = i % 5 == 0 ? "direct" : "ref" + std::to_string(i % 13) + ".example";
            e.country = i % 4 == 0 ? "" : (i % 3 == 0 ? "DE" : "FR");
            e.device = static_cast<Device>(i % kDeviceCount);
            apply(e);
            if (i % 4 == 0) {
                Event signup = custom("signup", e.visitor_id, session, ts + 5, "a");
                signup.properties = "{\"plan\":\"" + std::string(i % 3 == 0 ? "pro" : "free") +
                                    "\",\"seats\":" + std::to_string(i % 5) + "}";
                apply(signup);
            }
            if (i % 8 == 0)
                apply(custom("buy", e.visitor_id, session, ts + 9, "a"));
        }
        // Other days of the same week and month, and a second site with exact lists.
        for (int d = 1; d <= 2; ++d) {
            apply(page("/old", "u1", "old" + std::to_string(r), kNoon - d * kMsPerDay, "a"));
            apply(custom("buy", "u1", "old" + std::to_string(r), kNoon - d * kMsPerDay + 1, "a"));
        }
        apply(page("/b" + std::to_string(r % 3), "v" + std::to_string(r), "bs", kNow - 2000, "b"));
        apply(custom("play", "v" + std::to_string(r), "bs", kNow - 1000, "b"));
    }
}

struct Answers {
    std::vector<std::string> sites;
    std::vector<std::string> dashboards;
    std::vector<std::string> series;
    std::vector<query::Ranked> funnels;
    std::vector<std::vector<std::pair<std::string, std::uint64_t>>> active;
    std::vector<std::uint64_t> real_time;
    std::vector<query::Ranked> recent;
    bool operator==(const Answers&) const = default;
};

// Field by field, so a failure shows what differs.
void PrintTo(const Answers& a, std::ostream* os) {
    *os << "sites " << ::testing::PrintToString(a.sites) << "\ndashboards "
        << ::testing::PrintToString(a.dashboards) << "\nseries "
        << ::testing::PrintToString(a.series) << "\nfunnels " << ::testing::PrintToString(a.funnels)
        << "\nactive " << ::testing::PrintToString(a.active) << "\nreal_time "
        << ::testing::PrintToString(a.real_time) << "\nrecent "
        << ::testing::PrintToString(a.recent);
}

/// Every read the API offers, over every site, as comparable values. With
/// `exact_top_lists_only`, the dashboards of the site whose top lists overflowed are
/// compared without those lists (see snapshot.hpp on loading into fewer shards).
Answers answers(const store::Store& store, bool exact_top_lists_only = false) {
    Answers out;
    out.sites = store.sites();
    const std::int64_t today = day_of(kNoon);
    for (const std::string& site : {std::string("a"), std::string("b")}) {
        for (const std::string& range :
             {format_day(today), format_day(today - 1), format_day(today - 2),
              std::string("2023-W46"), std::string("2023-11")}) {
            auto r = query::parse_range(range, kNow);
            EXPECT_TRUE(r) << range;
            query::Dashboard d = query::build_dashboard(store, site, *r, kNow);
            d.properties = query::properties(store, site, *r, "signup");
            if (exact_top_lists_only && site == "a") {
                d.top_pages.clear();
                d.top_referrers.clear();
                d.countries.clear();
                d.top_error_bound = 0;
            }
            out.dashboards.push_back(query::to_json(d));
            const query::VisitorsBy by = query::visitors_by(store, site, *r);
            std::string visitors = std::to_string(by.pageviews);
            for (const std::uint64_t n : by.devices)
                visitors += " " + std::to_string(n);
            for (const auto& [name, n] : by.events)
                visitors += " " + name + "=" + std::to_string(n);
            out.dashboards.push_back(visitors);
            if (exact_top_lists_only && site == "a")
                continue;
            for (auto list :
                 {query::TopList::pages, query::TopList::referrers, query::TopList::countries}) {
                std::string rows;
                for (const query::TopListRow& row :
                     query::top_list_rows(store, site, *r, list, 100, query::WithVisitors::yes))
                    rows += row.member + "=" + std::to_string(row.count) + "/" +
                            std::to_string(row.visitors) + " ";
                out.dashboards.push_back(rows);
            }
        }
        for (const std::string& name :
             {std::string(""), std::string("signup"), std::string("buy")}) {
            for (auto agg : {query::Aggregation::sum, query::Aggregation::max}) {
                query::TimeseriesRequest req;
                req.event_name = name;
                req.from_ms = (today - 2) * kMsPerDay;
                req.to_ms = (today + 1) * kMsPerDay;
                req.bucket_ms = 15 * kMinute;
                req.aggregation = agg;
                out.series.push_back(query::to_json(query::timeseries(store, site, req)));
            }
        }
        for (std::int64_t day : {today, today - 1}) {
            out.funnels.push_back(
                query::funnel(store, site, day, {"pageview:/p1", "signup", "buy"}));
            out.funnels.push_back(query::funnel(store, site, day, {"buy", "buy"}));
        }
        for (std::int64_t now : {kNow, kNow + 3 * kMinute}) {
            std::vector<std::pair<std::string, std::uint64_t>> users;
            for (const auto& u : query::active_users(store, site, now))
                users.emplace_back(u.user_id, u.session_count);
            out.active.push_back(users);
            out.real_time.push_back(query::real_time_users(store, site, now));
            out.recent.push_back(query::recent_top_pages(store, site, now, 100));
        }
    }
    return out;
}

store::StoreOptions options(std::size_t shards) {
    store::StoreOptions o;
    o.shards = shards;
    o.top_capacity = kTopCapacity;
    return o;
}

SnapshotMeta meta(std::int64_t created) {
    return SnapshotMeta{created, {{3, 4096}, {7, 123}}, 0};
}

TEST(Snapshot, TheFixtureOverflowsItsTopLists) {
    store::Store s(options(2));
    feed(s, 5);
    auto r = query::parse_range(format_day(day_of(kNoon)), kNow);
    const query::Dashboard d = query::build_dashboard(s, "a", *r, kNow);
    EXPECT_GT(d.top_error_bound, 0u);
    EXPECT_GT(d.real_time_users, 0u);
}

TEST(Snapshot, RoundTripIntoMoreShardsAnswersExactlyTheSame) {
    test::TempDir dir;
    store::Store original(options(2));
    feed(original, 5);
    const WrittenSnapshot written = write_snapshot(original, meta(kNow), dir.path());
    EXPECT_TRUE(std::filesystem::exists(written.path));
    EXPECT_EQ(written.stats.bytes, std::filesystem::file_size(written.path));

    for (std::size_t shards : {std::size_t{2}, std::size_t{3}, std::size_t{5}}) {
        store::Store loaded(options(shards));
        LoadReport report;
        auto m = load_newest_snapshot(dir.path(), loaded, &report);
        ASSERT_TRUE(m) << shards;
        EXPECT_EQ(m->log_positions, meta(kNow).log_positions);
        EXPECT_EQ(m->created_ms, kNow);
        EXPECT_EQ(m->shards, 2u);
        EXPECT_EQ(report.loaded, written.path);
        EXPECT_TRUE(report.skipped.empty());
        EXPECT_EQ(answers(loaded), answers(original)) << shards;
    }
}

TEST(Snapshot, RoundTripIntoFewerShardsKeepsEveryExactFigure) {
    test::TempDir dir;
    store::Store original(options(3));
    feed(original, 5);
    write_snapshot(original, meta(kNow), dir.path());
    store::Store loaded(options(1));
    ASSERT_TRUE(load_newest_snapshot(dir.path(), loaded));
    EXPECT_EQ(answers(loaded, true), answers(original, true));
}

TEST(Snapshot, LoadedStoreKeepsCountingLikeTheOriginal) {
    // The restored sketches behave exactly like the saved ones: feeding both the same
    // events afterwards keeps every answer equal, Space-Saving evictions included.
    test::TempDir dir;
    store::Store original(options(2));
    feed(original, 3);
    write_snapshot(original, meta(kNow), dir.path());
    store::Store loaded(options(2));
    ASSERT_TRUE(load_newest_snapshot(dir.path(), loaded));
    feed(original, 4);
    feed(loaded, 4);
    EXPECT_EQ(answers(loaded), answers(original));
}

TEST(Snapshot, PositionsComeFromTheCallbackPerShardAndSite) {
    test::TempDir dir;
    store::Store s(options(3));
    feed(s, 1);
    std::vector<std::size_t> asked;
    std::uint64_t calls = 0;
    auto position = [&](std::size_t shard) {
        asked.push_back(shard);
        return LogPosition{shard + 10, calls++};
    };
    write_snapshot(s, meta(kNow), dir.path(), 3, position);
    // Once per shard for its position, then once per site it holds, shard by shard.
    EXPECT_TRUE(std::is_sorted(asked.begin(), asked.end()));
    store::Store loaded(options(1));
    auto m = load_newest_snapshot(dir.path(), loaded);
    ASSERT_TRUE(m);
    std::vector<LogPosition> first(3);
    for (std::size_t call = 0; call < asked.size(); ++call) {
        if (call == 0 || asked[call] != asked[call - 1])
            first[asked[call]] = LogPosition{asked[call] + 10, call};
    }
    EXPECT_EQ(m->log_positions, first);
    ASSERT_EQ(m->site_positions.size(), asked.size() - 3);
    for (const SitePosition& mark : m->site_positions) {
        EXPECT_EQ(mark.position.segment, mark.shard + 10);
        EXPECT_TRUE(first[mark.shard] < mark.position) << mark.site;
    }
}

TEST(Snapshot, EmptyStore) {
    store::Store empty(options(2));
    const std::string bytes = encode_snapshot(empty, meta(1));
    store::Store loaded(options(1));
    std::string error;
    auto m = decode_snapshot(bytes, loaded, &error);
    ASSERT_TRUE(m) << error;
    EXPECT_TRUE(loaded.sites().empty());
}

TEST(Snapshot, MissingDirectoryLoadsNothing) {
    store::Store s(options(1));
    LoadReport report;
    EXPECT_FALSE(load_newest_snapshot("/nonexistent/tally-snapshots", s, &report));
    EXPECT_TRUE(report.skipped.empty());
}

TEST(Snapshot, CorruptNewestFallsBackToThePrevious) {
    test::TempDir dir;
    store::Store s(options(2));
    feed(s, 2);
    const Answers first = answers(s);
    const WrittenSnapshot older = write_snapshot(s, meta(kNow), dir.path());
    feed(s, 2);
    const WrittenSnapshot newer = write_snapshot(s, meta(kNow + 1), dir.path());
    ASSERT_NE(answers(s), first);

    std::string good;
    {
        std::ifstream in(newer.path, std::ios::binary);
        good.assign(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_EQ(good.size(), newer.stats.bytes);
    auto check = [&](const std::string& damaged, const std::string& what) {
        {
            std::ofstream out(newer.path, std::ios::binary | std::ios::trunc);
            out.write(damaged.data(), static_cast<std::streamsize>(damaged.size()));
        }
        store::Store loaded(options(2));
        LoadReport report;
        auto m = load_newest_snapshot(dir.path(), loaded, &report);
        ASSERT_TRUE(m) << what;
        EXPECT_EQ(m->created_ms, kNow) << what;
        EXPECT_EQ(report.loaded, older.path) << what;
        ASSERT_EQ(report.skipped.size(), 1u) << what;
        EXPECT_EQ(report.skipped[0].first, newer.path) << what;
        EXPECT_FALSE(report.skipped[0].second.empty()) << what;
        EXPECT_EQ(answers(loaded), first) << what;
    };
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{15}, std::size_t{40},
                            good.size() / 3, good.size() / 2, good.size() - 21, good.size() - 1}) {
        check(good.substr(0, cut), "truncated at " + std::to_string(cut));
    }
    for (std::size_t at : {std::size_t{0}, std::size_t{9}, std::size_t{17}, std::size_t{30},
                           good.size() / 4, good.size() / 2, good.size() - 30, good.size() - 3}) {
        std::string flipped = good;
        flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
        check(flipped, "flipped at " + std::to_string(at));
    }
    std::string extended = good + "x";
    check(extended, "one byte appended");
}

TEST(Snapshot, DecodeRefusesEveryTruncationAndLeavesTheStoreUntouched) {
    store::Store s(options(2));
    feed(s, 1);
    const std::string bytes = encode_snapshot(s, meta(5));
    store::Store target(options(2));
    // Every byte of the frame ends, and a stride through the rest.
    for (std::size_t cut = 0; cut < bytes.size(); cut += cut < 64 ? 1 : 997) {
        std::string error;
        EXPECT_FALSE(decode_snapshot(std::string_view(bytes).substr(0, cut), target, &error))
            << cut;
        EXPECT_FALSE(error.empty());
    }
    for (std::size_t cut = bytes.size() - 64; cut < bytes.size(); ++cut)
        EXPECT_FALSE(decode_snapshot(std::string_view(bytes).substr(0, cut), target)) << cut;
    EXPECT_TRUE(target.sites().empty());
    ASSERT_TRUE(decode_snapshot(bytes, target));
    EXPECT_EQ(answers(target), answers(s));
}

TEST(Snapshot, RetentionKeepsTheNewestN) {
    test::TempDir dir;
    store::Store s(options(1));
    feed(s, 1);
    std::ofstream(std::filesystem::path(dir.path()) / "snapshot-42.tmp") << "killed mid-write";
    std::vector<std::filesystem::path> written;
    for (int i = 0; i < 5; ++i)
        written.push_back(write_snapshot(s, meta(kNow + i), dir.path(), 3).path);
    const auto left = list_snapshots(dir.path());
    ASSERT_EQ(left.size(), 3u);
    EXPECT_EQ(left[0], written[4]);
    EXPECT_EQ(left[1], written[3]);
    EXPECT_EQ(left[2], written[2]);
    EXPECT_EQ(written[4].filename().string(), "snapshot-20231114T123000004-00000005.snap");
    for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
        EXPECT_EQ(entry.path().extension(), ".snap");  // no .tmp left behind, not even stale
    store::Store loaded(options(1));
    auto m = load_newest_snapshot(dir.path(), loaded);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->created_ms, kNow + 4);
}

TEST(SpaceSavingRestore, BehavesLikeTheOriginal) {
    sketch::SpaceSaving a(4);
    for (int i = 0; i < 50; ++i)
        a.add("m" + std::to_string(i * 7 % 9), static_cast<std::uint64_t>(1 + i % 3));
    ASSERT_FALSE(a.exact());
    std::vector<sketch::SpaceSaving::Entry> entries;
    a.for_each_in_eviction_order([&](std::string_view m, std::uint64_t c, std::uint64_t e) {
        entries.push_back({std::string(m), c, e});
    });
    auto b = sketch::SpaceSaving::restore(a.capacity(), a.total(), a.error_bound(), entries);
    ASSERT_TRUE(b);
    for (int i = 0; i < 30; ++i) {
        const std::string m = "n" + std::to_string(i % 6);
        a.add(m);
        b->add(m);
    }
    EXPECT_EQ(a.total(), b->total());
    EXPECT_EQ(a.error_bound(), b->error_bound());
    auto ta = a.top(10), tb = b->top(10);
    ASSERT_EQ(ta.size(), tb.size());
    for (std::size_t i = 0; i < ta.size(); ++i) {
        EXPECT_EQ(ta[i].member, tb[i].member);
        EXPECT_EQ(ta[i].count, tb[i].count);
        EXPECT_EQ(ta[i].error, tb[i].error);
    }
}

TEST(SpaceSavingRestore, RefusesBrokenInvariants) {
    using E = sketch::SpaceSaving::Entry;
    EXPECT_TRUE(sketch::SpaceSaving::restore(2, 5, 0, {E{"a", 2, 0}, E{"b", 3, 0}}));
    EXPECT_FALSE(sketch::SpaceSaving::restore(0, 0, 0, {}));                            // capacity
    EXPECT_FALSE(sketch::SpaceSaving::restore(1, 5, 0, {E{"a", 2, 0}, E{"b", 3, 0}}));  // too many
    EXPECT_FALSE(sketch::SpaceSaving::restore(2, 5, 0, {E{"a", 3, 0}, E{"b", 2, 0}}));  // order
    EXPECT_FALSE(sketch::SpaceSaving::restore(2, 5, 0, {E{"a", 2, 0}, E{"a", 3, 0}}));  // dup
    EXPECT_FALSE(sketch::SpaceSaving::restore(2, 4, 0, {E{"a", 2, 0}, E{"b", 3, 0}}));  // > total
    EXPECT_FALSE(sketch::SpaceSaving::restore(2, 5, 0, {E{"a", 2, 1}, E{"b", 3, 0}}));  // > floor
    EXPECT_FALSE(sketch::SpaceSaving::restore(2, 5, 3, {E{"a", 2, 1}, E{"b", 3, 0}}));  // floor>min
    EXPECT_FALSE(sketch::SpaceSaving::restore(2, 5, 0, {E{"a", 0, 0}}));                // zero
}

}  // namespace
}  // namespace tally::durability
