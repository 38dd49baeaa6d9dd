// The Plausible Stats API over a 30-day period: a benchmark, not a test.
//   stats_bench [events_per_day=1000000] [days=30] [requests=200]
// Builds `days` days of traffic ending today (80 % page views over 2,000 pages with a
// Zipf-like skew, 50 referrers, 30 countries, 200,000 visitors a day; 20 % custom events,
// half "signup" with a "plan" property) with the library, as a snapshot in a data dir;
// starts the real tallyd on it (2 threads) and times, over keep-alive HTTP, `requests`
// requests of each kind after 20 of warm-up: aggregate and breakdowns for period=30d, and
// the same aggregate for period=day as the baseline measured in the same run. Prints p50,
// p99 and max per kind, and the ratio of each p99 to the baseline's.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/tallyd.hpp"
#include "tally/base/time.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/store/store.hpp"

namespace {

using namespace tally;
using Clock = std::chrono::steady_clock;

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// `days` days of traffic, `per_day` events each, round-robin over the store's shards.
void fill(store::Store& store, std::int64_t per_day, int days, std::int64_t now) {
    static const char* kCountries[] = {"US", "DE", "FR", "GB", "IN", "BR", "JP", "NL", "CA", "SE"};
    static const char* kPlans[] = {"free", "pro", "team"};
    std::mt19937_64 rng(7);
    const std::int64_t today = day_of(now);
    std::size_t shard = 0;
    Event e;
    for (std::int64_t day = today - days + 1; day <= today; ++day) {
        const std::int64_t span = day == today ? now - day * kMsPerDay : kMsPerDay;
        for (std::int64_t i = 0; i < per_day; ++i) {
            const std::uint64_t r = rng();
            const std::uint64_t visitor = r % 200'000;
            e.site = "shop.example";
            e.timestamp_ms = day * kMsPerDay + static_cast<std::int64_t>((r >> 20) % static_cast<std::uint64_t>(span));
            e.visitor_id = std::to_string(visitor);
            e.session_id = e.visitor_id + "-" + std::to_string(day);
            e.user_id.clear();
            e.device = static_cast<Device>((r >> 8) % kDeviceCount);
            if ((r >> 40) % 5 != 0) {
                e.kind = EventKind::pageview;
                const double u = static_cast<double>((r >> 12) % 1'000'000) / 1e6;
                e.page = "/p" + std::to_string(static_cast<int>(2000 * u * u * u));
                e.referrer = (r >> 30) % 3 == 0 ? "direct" : "ref" + std::to_string((r >> 32) % 50) + ".example";
                e.country = kCountries[(r >> 36) % 10];
                e.event_name.clear();
                e.properties.clear();
            } else {
                e.kind = EventKind::custom;
                e.page.clear();
                e.referrer.clear();
                e.country.clear();
                e.event_name = (r >> 44) % 2 == 0 ? "signup" : "search";
                e.properties = e.event_name == "signup"
                                   ? std::string(R"({"plan":")") + kPlans[(r >> 48) % 3] + "\"}"
                                   : std::string();
            }
            store.apply(shard++ % store.shard_count(), e, now);
        }
        std::fprintf(stderr, "\rday %lld of %d", static_cast<long long>(day - today + days), days);
    }
    std::fprintf(stderr, "\n");
}

struct Timing {
    double p50, p99, max;
};

Timing time_requests(test::HttpClient& client, const std::string& target, int requests) {
    for (int i = 0; i < 20; ++i)
        client.get(target);
    std::vector<double> ms;
    for (int i = 0; i < requests; ++i) {
        const auto start = Clock::now();
        const auto r = client.get(target);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        if (r.status != 200) {
            std::fprintf(stderr, "%s: %d %s\n", target.c_str(), r.status, r.body.c_str());
            std::exit(1);
        }
    }
    std::sort(ms.begin(), ms.end());
    return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back()};
}

}  // namespace

int main(int argc, char** argv) {
    const std::int64_t per_day = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
    const int days = argc > 2 ? std::atoi(argv[2]) : 30;
    const int requests = argc > 3 ? std::atoi(argv[3]) : 200;

    test::Tallyd daemon({"--threads", "2", "--log-level", "warn"});
    daemon.stop();
    const std::filesystem::path data = daemon.data_dir();
    std::filesystem::remove_all(data / "log");
    std::filesystem::remove_all(data / "snapshots");
    const std::int64_t now = wall_ms();
    {
        store::Store store(store::StoreOptions{2, 1000, 1000, 10'000});
        const auto start = Clock::now();
        fill(store, per_day, days, now);
        std::fprintf(stderr, "built in %.1f s; writing the snapshot\n",
                     std::chrono::duration<double>(Clock::now() - start).count());
        durability::write_snapshot(store, durability::SnapshotMeta{now, {{1, 0}, {1, 0}}, 0},
                                   data / "snapshots");
    }
    const auto start = Clock::now();
    daemon.restart();
    test::HttpClient wait(daemon.port());
    while (wait.get("/readyz").status != 200)
        ;
    std::printf("tallyd loaded %lld events (%d days) in %.1f s\n",
                static_cast<long long>(per_day * days), days,
                std::chrono::duration<double>(Clock::now() - start).count());

    test::HttpClient client(daemon.port());
    const std::string base = "/api/v1/stats/";
    const std::string site = "?site_id=shop.example";
    // What the timed requests read, so a run over an empty store cannot pass for a fast one.
    for (const char* shown : {"aggregate?site_id=shop.example&period=30d&metrics=pageviews,events",
                              "breakdown?site_id=shop.example&period=30d&property=event:page&"
                              "metrics=visitors,pageviews&limit=2"}) {
        std::printf("%s\n  -> %s\n", shown, client.get(base + shown).body.c_str());
    }
    const Timing baseline = time_requests(client, base + "aggregate" + site + "&period=day", requests);
    const std::pair<const char*, std::string> kinds[] = {
        {"aggregate 30d visitors,pageviews", "aggregate" + site + "&period=30d&metrics=visitors,pageviews"},
        {"aggregate 30d, compare", "aggregate" + site + "&period=30d&metrics=visitors,visits,pageviews,events&compare=previous_period"},
        {"breakdown 30d event:page", "breakdown" + site + "&period=30d&property=event:page&metrics=pageviews&limit=10"},
        {"breakdown 30d event:page, visitors", "breakdown" + site + "&period=30d&property=event:page&metrics=visitors,pageviews&limit=10"},
        {"breakdown 30d event:page, 100 rows", "breakdown" + site + "&period=30d&property=event:page&metrics=visitors,pageviews&limit=100"},
        {"breakdown 30d visit:source", "breakdown" + site + "&period=30d&property=visit:source&metrics=visitors,pageviews&limit=10"},
        {"breakdown 30d visit:country", "breakdown" + site + "&period=30d&property=visit:country&metrics=visitors,pageviews&limit=10"},
        {"breakdown 30d event:props:plan", "breakdown" + site + "&period=30d&property=event:props:plan&metrics=visitors,events"},
        {"timeseries 30d", "timeseries" + site + "&period=30d&metrics=visitors,pageviews"},
    };
    std::printf("%-36s %9s %9s %9s %10s\n", "request", "p50 ms", "p99 ms", "max ms", "p99/base");
    std::printf("%-36s %9.2f %9.2f %9.2f %10s\n", "baseline: aggregate day", baseline.p50,
                baseline.p99, baseline.max, "1.00");
    for (const auto& [name, target] : kinds) {
        const Timing t = time_requests(client, base + target, requests);
        std::printf("%-36s %9.2f %9.2f %9.2f %9.1fx\n", name, t.p50, t.p99, t.max,
                    t.p99 / baseline.p99);
    }
    return 0;
}
