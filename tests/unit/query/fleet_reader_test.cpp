// FleetReader against a real redis-server holding keys written by hand in the mirror's
// layout (redis/keys.hpp): one day, a week whose uniques are the union of its days'
// HyperLogLogs, ties at the 10th place (one day and several), missing keys, real-time
// users summed over instances, the same JSON as the local dashboard for the same events,
// Redis going down and coming back, and a full queue.

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <random>
#include <thread>

#include "support/redis_server.hpp"
#include "tally/base/time.hpp"
#include "tally/query/fleet_reader.hpp"
#include "tally/query/query.hpp"
#include "tally/redis/keys.hpp"
#include "tally/store/store.hpp"

namespace tally::test {
namespace {

using query::FleetReader;
using query::FleetReaderOptions;
using redis::DayKeys;

constexpr auto kWait = std::chrono::seconds(10);

// 2025-11-17 is a Monday: the days of ISO week 2025-W47 are kMonday + 0..6.
const std::int64_t kMonday = *parse_day("2025-11-17");

struct Answer {
    std::optional<query::Dashboard> dashboard;
    std::string error;
};

query::DayRange range_of(std::string_view text) {
    auto range = query::parse_range(text, now_ms());
    EXPECT_TRUE(range) << text;
    return range.value_or(query::DayRange{});
}

class Reader : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!RedisServer::available())
            GTEST_SKIP() << "redis-server is not installed";
        redis_ = std::make_unique<RedisServer>();
        reader_ = std::make_unique<FleetReader>(options());
    }

    FleetReaderOptions options() const {
        FleetReaderOptions o;
        o.address = {redis_->host(), redis_->port(), 0};
        o.min_backoff = std::chrono::milliseconds(20);
        o.max_backoff = std::chrono::milliseconds(200);
        o.health_interval = std::chrono::milliseconds(100);
        o.instances_refresh = std::chrono::milliseconds(0);  // SMEMBERS on every read
        o.union_chunk = 2;  // several rounds of the threshold algorithm even on small sets
        return o;
    }

    /// One command, which must not fail.
    void run(const std::vector<std::string>& args) {
        std::vector<std::string_view> views(args.begin(), args.end());
        RedisReply reply = redis_->command_argv(views);
        ASSERT_NE(reply->type, REDIS_REPLY_ERROR) << reply_string(reply.get());
    }

    Answer read(FleetReader& reader, const std::string& site, const query::DayRange& range) {
        auto answer = std::make_shared<std::promise<Answer>>();
        auto future = answer->get_future();
        const bool queued = reader.read_dashboard(
            site, range, [answer](std::optional<query::Dashboard> d, std::string error) {
                answer->set_value({std::move(d), std::move(error)});
            });
        EXPECT_TRUE(queued);
        if (!queued || future.wait_for(kWait) != std::future_status::ready)
            return {std::nullopt, "no answer"};
        return future.get();
    }

    /// The dashboard's JSON, or the error.
    std::string json(const std::string& site, std::string_view range) {
        Answer a = read(*reader_, site, range_of(range));
        return a.dashboard ? query::to_json(*a.dashboard) : "error: " + a.error;
    }

    std::unique_ptr<RedisServer> redis_;
    std::unique_ptr<FleetReader> reader_;
};

TEST_F(Reader, OneDay) {
    const DayKeys k("shop", "2025-11-17");
    run({"INCRBY", k.pageviews, "7"});
    run({"PFADD", k.visitors, "u1", "u2", "u3"});
    run({"PFADD", k.sessions, "s1", "s2"});
    run({"ZINCRBY", k.pages, "4", "/"});
    run({"ZINCRBY", k.pages, "3", "/pricing"});
    run({"ZINCRBY", k.referrers, "7", "direct"});
    run({"ZINCRBY", k.countries, "2", "DE"});
    run({"ZINCRBY", k.countries, "2", "AT"});
    run({"HINCRBY", k.devices, "desktop", "5"});
    run({"HINCRBY", k.devices, "tablet", "2"});
    run({"HINCRBY", k.events, "signup", "2"});
    run({"HINCRBY", k.events, "buy", "1"});
    // Another site and another day are not read.
    run({"INCRBY", DayKeys("other", "2025-11-17").pageviews, "100"});
    run({"INCRBY", DayKeys("shop", "2025-11-18").pageviews, "100"});

    EXPECT_EQ(json("shop", "2025-11-17"),
              R"({"date":"2025-11-17","site":"shop","page_views":7,"unique_visitors":3,)"
              R"("unique_sessions":2,"top_pages":[["/",4],["/pricing",3]],)"
              R"("top_referrers":[["direct",7]],"devices":{"desktop":5,"mobile":0,"tablet":2},)"
              R"("countries":[["AT",2],["DE",2]],"real_time_users":0,)"
              R"("events":{"buy":1,"signup":2},"top_error_bound":0})");
    EXPECT_TRUE(reader_->up());
    EXPECT_EQ(reader_->reads(), 1u);
    EXPECT_EQ(reader_->errors(), 0u);
}

TEST_F(Reader, WeekSumsCountersAndUnitesHyperLogLogs) {
    for (int i = 0; i < 7; ++i) {
        const DayKeys k("shop", format_day(kMonday + i));
        run({"INCRBY", k.pageviews, std::to_string(i + 1)});  // 1 + ... + 7 = 28
        // Visitor v<i> and v<i+1> each day: 8 distinct over the week, 14 by a sum of days.
        run({"PFADD", k.visitors, "v" + std::to_string(i), "v" + std::to_string(i + 1)});
        run({"PFADD", k.sessions, "s" + std::to_string(i)});
        run({"ZINCRBY", k.pages, "1", "/every-day"});
        run({"ZINCRBY", k.pages, std::to_string(i), "/day-" + std::to_string(i)});
        run({"HINCRBY", k.devices, "mobile", "1"});
        run({"HINCRBY", k.events, i % 2 == 0 ? "even" : "odd", "1"});
    }
    // The days around the week are not in it.
    run({"INCRBY", DayKeys("shop", format_day(kMonday - 1)).pageviews, "1000"});
    run({"INCRBY", DayKeys("shop", format_day(kMonday + 7)).pageviews, "1000"});

    // One PFCOUNT over several keys: what Redis says the union is.
    std::vector<std::string> visitor_keys = {"PFCOUNT"};
    for (int i = 0; i < 7; ++i)
        visitor_keys.push_back(DayKeys("shop", format_day(kMonday + i)).visitors);
    std::vector<std::string_view> views(visitor_keys.begin(), visitor_keys.end());
    ASSERT_EQ(reply_integer(redis_->command_argv(views).get()), 8);

    EXPECT_EQ(json("shop", "2025-W47"),
              R"({"date":"2025-W47","site":"shop","page_views":28,"unique_visitors":8,)"
              R"("unique_sessions":7,"top_pages":[["/every-day",7],["/day-6",6],["/day-5",5],)"
              R"(["/day-4",4],["/day-3",3],["/day-2",2],["/day-1",1],["/day-0",0]],)"
              R"("top_referrers":[],"devices":{"desktop":0,"mobile":7,"tablet":0},)"
              R"("countries":[],"real_time_users":0,"events":{"even":4,"odd":3},)"
              R"("top_error_bound":0})");
    // The month holds the week (November 2025) and the two days around it.
    Answer month = read(*reader_, "shop", range_of("2025-11"));
    ASSERT_TRUE(month.dashboard) << month.error;
    EXPECT_EQ(month.dashboard->page_views, 2028u);
    EXPECT_EQ(month.dashboard->unique_visitors, 8u);
}

// ZREVRANGE breaks ties by member descending; the dashboard by member ascending.
TEST_F(Reader, TiesAtTheTenthPlaceGoToTheSmallestNames) {
    const DayKeys monday("shop", format_day(kMonday));
    const DayKeys tuesday("shop", format_day(kMonday + 1));
    query::Ranked expected;
    for (int i = 0; i < 8; ++i) {
        const std::string page = "/top" + std::to_string(i);
        run({"ZINCRBY", monday.pages, std::to_string(100 - i), page});
        expected.emplace_back(page, 100 - i);
    }
    for (const char* page : {"/f", "/e", "/d", "/c", "/b", "/a"})
        run({"ZINCRBY", monday.pages, "10", page});
    run({"ZINCRBY", monday.pages, "1", "/low"});
    expected.emplace_back("/a", 10);
    expected.emplace_back("/b", 10);

    Answer day = read(*reader_, "shop", range_of(format_day(kMonday)));
    ASSERT_TRUE(day.dashboard) << day.error;
    EXPECT_EQ(day.dashboard->top_pages, expected);

    // Over two days (ZUNION): the same members, split across the days, tie the same way.
    for (int i = 0; i < 8; ++i) {
        run({"ZINCRBY", monday.referrers, std::to_string(50), "r" + std::to_string(i)});
        run({"ZINCRBY", tuesday.referrers, std::to_string(50 - i), "r" + std::to_string(i)});
    }
    for (const char* host : {"z", "y", "x", "w"}) {
        run({"ZINCRBY", monday.referrers, "3", host});
        run({"ZINCRBY", tuesday.referrers, "2", host});
    }
    Answer week = read(*reader_, "shop", range_of("2025-W47"));
    ASSERT_TRUE(week.dashboard) << week.error;
    query::Ranked referrers;
    for (int i = 0; i < 8; ++i)
        referrers.emplace_back("r" + std::to_string(i), 100 - i);
    referrers.emplace_back("w", 5);
    referrers.emplace_back("x", 5);
    EXPECT_EQ(week.dashboard->top_referrers, referrers);

    // Eleven countries tied on both days. The first read of 10 a day (ZREVRANGE: C10 down
    // to C01) sees ten whose total equals the threshold: C00, unseen, may tie them with a
    // smaller name, so the algorithm must read on.
    query::Ranked countries;
    for (int i = 0; i <= 10; ++i) {
        const std::string code = "C" + std::string(i < 10 ? "0" : "") + std::to_string(i);
        run({"ZINCRBY", monday.countries, "1", code});
        run({"ZINCRBY", tuesday.countries, "1", code});
        if (i < 10)
            countries.emplace_back(code, 2);
    }
    FleetReaderOptions o = options();
    o.union_chunk = 10;
    FleetReader reader(o);
    Answer tied = read(reader, "shop", range_of("2025-W47"));
    ASSERT_TRUE(tied.dashboard) << tied.error;
    EXPECT_EQ(tied.dashboard->countries, countries);
}

// Several days' top lists (UnionTop's threshold algorithm) against the brute-force sum,
// on random sets full of ties, with every chunk size from one member up.
TEST_F(Reader, TopOfSeveralDaysEqualsTheBruteForceSum) {
    std::mt19937_64 rng(7);
    std::vector<std::unique_ptr<FleetReader>> readers;
    for (std::size_t chunk : {1, 3, 64}) {
        FleetReaderOptions o = options();
        o.union_chunk = chunk;
        readers.push_back(std::make_unique<FleetReader>(o));
    }
    for (int round = 0; round < 30; ++round) {
        const std::string site = "u" + std::to_string(round);
        std::map<std::string, std::uint64_t> sums;
        const auto members = rng() % 60;
        const auto max_score = 1 + rng() % 4;  // few distinct scores: many ties
        for (int day = 0; day < 7; ++day) {
            const DayKeys k(site, format_day(kMonday + day));
            for (std::uint64_t m = 0; m < members; ++m) {
                if (rng() % 3 == 0)
                    continue;  // not every member every day
                const std::uint64_t score = rng() % (max_score + 1);
                const std::string name = "m" + std::to_string(m);
                run({"ZINCRBY", k.pages, std::to_string(score), name});
                sums[name] += score;
            }
        }
        query::Ranked expected(sums.begin(), sums.end());
        std::stable_sort(expected.begin(), expected.end(),
                         [](const auto& a, const auto& b) { return a.second > b.second; });
        expected.resize(std::min(expected.size(), query::kTopListSize));
        for (auto& reader : readers) {
            Answer a = read(*reader, site, range_of("2025-W47"));
            ASSERT_TRUE(a.dashboard) << a.error;
            EXPECT_EQ(a.dashboard->top_pages, expected) << "round " << round;
        }
    }
}

TEST_F(Reader, MissingKeysAreZeros) {
    query::Dashboard empty;
    empty.date = "2025-11-17";
    empty.site = "nobody";
    EXPECT_EQ(json("nobody", "2025-11-17"), query::to_json(empty));
    empty.date = "2025-W47";
    EXPECT_EQ(json("nobody", "2025-W47"), query::to_json(empty));
}

TEST_F(Reader, RealTimeUsersAreSummedOverInstancesForRangesHoldingToday) {
    run({"SET", redis::active_key("shop", "a"), "3", "PX", "60000"});
    run({"SADD", redis::instances_key("shop"), "a"});
    run({"SET", redis::active_key("shop", "b.2"), "4", "PX", "60000"});
    run({"SADD", redis::instances_key("shop"), "b.2"});
    run({"SET", redis::active_key("shop2", "a"), "100", "PX", "60000"});  // another site
    run({"SADD", redis::instances_key("shop2"), "a"});
    run({"SADD", redis::instances_key("shop"), "gone"});  // listed, its key expired: 0
    const std::int64_t today = day_of(now_ms());
    Answer now = read(*reader_, "shop", range_of("today"));
    ASSERT_TRUE(now.dashboard) << now.error;
    EXPECT_EQ(now.dashboard->real_time_users, 7u);
    Answer yesterday = read(*reader_, "shop", range_of(format_day(today - 1)));
    ASSERT_TRUE(yesterday.dashboard) << yesterday.error;
    EXPECT_EQ(yesterday.dashboard->real_time_users, 0u);
}

TEST_F(Reader, TheInstancesListIsKeptForAWhile) {
    FleetReaderOptions o = options();
    o.instances_refresh = std::chrono::hours(1);
    FleetReader reader(o);
    run({"SET", redis::active_key("shop", "a"), "3", "PX", "60000"});
    run({"SADD", redis::instances_key("shop"), "a"});
    Answer first = read(reader, "shop", range_of("today"));
    ASSERT_TRUE(first.dashboard) << first.error;
    EXPECT_EQ(first.dashboard->real_time_users, 3u);
    // A known instance's figure is read afresh; a new instance waits for the next SMEMBERS;
    // one whose key expired counts 0.
    run({"SET", redis::active_key("shop", "a"), "5", "PX", "60000"});
    run({"SADD", redis::instances_key("shop"), "a"});
    run({"SET", redis::active_key("shop", "b"), "4", "PX", "60000"});
    run({"SADD", redis::instances_key("shop"), "b"});
    Answer second = read(reader, "shop", range_of("today"));
    ASSERT_TRUE(second.dashboard) << second.error;
    EXPECT_EQ(second.dashboard->real_time_users, 5u);
    run({"DEL", redis::active_key("shop", "a")});
    Answer third = read(reader, "shop", range_of("today"));
    ASSERT_TRUE(third.dashboard) << third.error;
    EXPECT_EQ(third.dashboard->real_time_users, 0u);
    // The fixture's reader reads the instances set on every read.
    EXPECT_NE(json("shop", "today").find(R"("real_time_users":4,)"), std::string::npos);
}

// The same events counted by a local Store and mirrored by hand into Redis (what the
// mirror ships when it has caught up) give byte-for-byte the same dashboard.
TEST_F(Reader, EqualsTheLocalDashboardForTheSameEvents) {
    store::Store store({2, 10, 100, 1000});
    std::mt19937_64 rng(42);
    std::vector<std::vector<std::string>> commands;
    for (int n = 0; n < 3000; ++n) {
        Event e;
        e.site = "shop";
        e.timestamp_ms = (kMonday + static_cast<std::int64_t>(rng() % 7)) * kMsPerDay +
                         static_cast<std::int64_t>(rng() % kMsPerDay);
        e.session_id = "s" + std::to_string(rng() % 400);
        e.visitor_id = "v" + std::to_string(rng() % 300);
        // Few distinct counts among many members: plenty of ties.
        const auto pick = rng() % 40;
        e.page = "/p" + std::to_string(pick * pick % 37);
        e.referrer = rng() % 3 == 0 ? "direct" : "r" + std::to_string(rng() % 25) + ".com";
        e.country = rng() % 4 == 0 ? "" : std::string{"DEFRUSATCH"}.substr(rng() % 5 * 2, 2);
        e.device = static_cast<Device>(rng() % 3);
        if (rng() % 5 == 0) {
            e.kind = EventKind::custom;
            e.event_name = "e" + std::to_string(rng() % 6);
        }
        store.apply(static_cast<std::size_t>(n % 2), e, e.timestamp_ms);

        const DayKeys k(e.site, format_day(day_of(e.timestamp_ms)));
        commands.push_back({"PFADD", k.visitors, e.visitor_id});
        commands.push_back({"PFADD", k.sessions, e.session_id});
        if (e.kind == EventKind::custom) {
            commands.push_back({"HINCRBY", k.events, e.event_name, "1"});
            continue;
        }
        commands.push_back({"INCRBY", k.pageviews, "1"});
        commands.push_back({"ZINCRBY", k.pages, "1", e.page});
        commands.push_back({"ZINCRBY", k.referrers, "1", e.referrer});
        if (!e.country.empty())
            commands.push_back({"ZINCRBY", k.countries, "1", e.country});
        commands.push_back({"HINCRBY", k.devices, device_name(e.device), "1"});
    }
    for (const auto& command : commands)
        redis_->append_argv(std::vector<std::string_view>(command.begin(), command.end()));
    for (std::size_t i = 0; i < commands.size(); ++i)
        ASSERT_NE(redis_->get_reply()->type, REDIS_REPLY_ERROR);

    std::vector<std::string> ranges = {"2025-W47", "2025-11"};
    for (int i = 0; i < 7; ++i)
        ranges.push_back(format_day(kMonday + i));
    for (const std::string& text : ranges) {
        const query::DayRange range = range_of(text);
        const query::Dashboard local = query::build_dashboard(store, "shop", range, now_ms());
        EXPECT_EQ(json("shop", text), query::to_json(local)) << text;
        Answer a = read(*reader_, "shop", range);
        ASSERT_TRUE(a.dashboard) << a.error;
        EXPECT_EQ(query::to_csv(*a.dashboard), query::to_csv(local)) << text;
    }
}

TEST_F(Reader, RedisDownIsAnErrorThenRecoversAfterARestart) {
    run({"INCRBY", DayKeys("shop", "2025-11-17").pageviews, "5"});
    ASSERT_NE(json("shop", "2025-11-17").find("\"page_views\":5,"), std::string::npos);

    redis_->stop();
    // A read made before: its last good figures, marked with their age, and the reason.
    Answer down = read(*reader_, "shop", range_of("2025-11-17"));
    ASSERT_TRUE(down.dashboard);
    EXPECT_EQ(down.dashboard->page_views, 5u);
    ASSERT_TRUE(down.dashboard->stale_seconds);
    EXPECT_LE(*down.dashboard->stale_seconds, 1);
    EXPECT_NE(query::to_json(*down.dashboard).find("\"stale_seconds\":"), std::string::npos);
    EXPECT_FALSE(down.error.empty());
    EXPECT_FALSE(reader_->up());
    EXPECT_FALSE(reader_->problem().empty());
    // A read never made: nothing kept, so an error, fast (the back-off), with the reason.
    Answer again = read(*reader_, "shop", range_of("2025-11-18"));
    EXPECT_FALSE(again.dashboard);
    EXPECT_NE(again.error.find(std::to_string(redis_->port())), std::string::npos) << again.error;
    EXPECT_EQ(reader_->stale_answers(), 1u);

    // Back (empty: no persistence) on the same port: up() returns without any read (the
    // idle health check reconnects), and reads answer again.
    redis_->start();
    run({"INCRBY", DayKeys("shop", "2025-11-17").pageviews, "9"});
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!reader_->up() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(reader_->up());
    EXPECT_EQ(reader_->problem(), "");
    Answer back = read(*reader_, "shop", range_of("2025-11-17"));
    ASSERT_TRUE(back.dashboard) << back.error;
    EXPECT_EQ(back.dashboard->page_views, 9u);
    EXPECT_FALSE(back.dashboard->stale_seconds);
    EXPECT_EQ(reader_->errors(), 2u);
}

// Three reads in a row failing on the connection open the circuit: reads stop trying Redis
// (no more connection attempts from them), the background probes close it when Redis is
// back. Kept figures older than stale_max are not served.
TEST_F(Reader, TheCircuitOpensAfterThreeFailuresAndAProbeClosesIt) {
    FleetReaderOptions o = options();
    o.stale_max = std::chrono::seconds(0);
    FleetReader reader(o);
    ASSERT_TRUE(read(reader, "shop", range_of("2025-11-17")).dashboard);
    redis_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past stale_max
    for (int i = 0; i < 3; ++i) {
        EXPECT_FALSE(reader.circuit_open()) << i;
        EXPECT_FALSE(read(reader, "shop", range_of("2025-11-17")).dashboard) << i;
    }
    EXPECT_TRUE(reader.circuit_open());
    Answer open = read(reader, "shop", range_of("2025-11-17"));
    EXPECT_FALSE(open.dashboard);
    EXPECT_NE(open.error.find("circuit open"), std::string::npos) << open.error;
    EXPECT_EQ(reader.stale_answers(), 0u);

    redis_->start();
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (reader.circuit_open() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(reader.circuit_open());
    EXPECT_TRUE(read(reader, "shop", range_of("2025-11-17")).dashboard);
}

TEST_F(Reader, AWrongTypeFailsTheReadButNotTheConnection) {
    run({"SET", DayKeys("shop", "2025-11-17").pages, "not a sorted set"});
    Answer a = read(*reader_, "shop", range_of("2025-11-17"));
    EXPECT_FALSE(a.dashboard);
    EXPECT_NE(a.error.find("WRONGTYPE"), std::string::npos) << a.error;
    EXPECT_TRUE(reader_->up());
    EXPECT_NE(json("shop", "2025-11-18").find("\"page_views\":0,"), std::string::npos);
}

TEST_F(Reader, AFullQueueRefusesAtOnceAndStopAnswersTheRest) {
    FleetReaderOptions o = options();
    o.queue_capacity = 2;
    FleetReader reader(o);
    // The first read's callback holds the reader's thread until released, so the reads
    // after it wait in the queue.
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> entered;
    const auto range = range_of("2025-11-17");
    ASSERT_TRUE(reader.read_dashboard("shop", range, [&](auto, auto) {
        entered.set_value();
        released.wait();
    }));
    ASSERT_EQ(entered.get_future().wait_for(kWait), std::future_status::ready);
    std::atomic<int> answered{0};
    auto count = [&](const std::optional<query::Dashboard>&, const std::string&) { ++answered; };
    EXPECT_TRUE(reader.read_dashboard("shop", range, count));
    EXPECT_TRUE(reader.read_dashboard("shop", range, count));
    EXPECT_FALSE(reader.read_dashboard("shop", range, count));  // full

    // stop() while the thread is busy: it finishes that read, and the queued ones are
    // answered (with "tallyd is stopping", unless the thread took them first), never
    // dropped.
    std::thread stopper([&] { reader.stop(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    release.set_value();
    stopper.join();
    EXPECT_EQ(answered.load(), 2);
    EXPECT_FALSE(reader.read_dashboard("shop", range, count));  // stopped
}

}  // namespace
}  // namespace tally::test
