// Snapshot size and speed for one big day (tests/bench/README.md, "Snapshots"): by default
// 1,000,000 visitors viewing 100,000 distinct pages, two page views each, on one site and day,
// spread over the shards as the I/O threads would, every event also written to an event
// log as the daemon does. Prints:
//   - the snapshot's size, the time to write it (encode + write + fsync + rename) and to
//     load it, and the longest time one shard's lock was held while encoding (what ingest
//     may wait);
//   - the latency of one ingest apply (the shard lock plus the update) on a thread that
//     keeps ingesting, without snapshots and while snapshots are written back to back;
//   - restart time: load the snapshot (taken at 90 % of the day) + replay the log after
//     its positions, against replaying the whole log, and that both equal the original;
//   - the lock hold for many small days (300 sites x 30 days).
//
//   snapshot_bench [visitors] [pages] [shards] [dir]

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tally/base/time.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/query/query.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace tally;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// The k-th event of the synthetic day (k < 2 * visitors).
void make_event(long k, long visitors, long pages, std::int64_t day_start, Event& e) {
    const long v = k / 2;
    const long n = k % 2;
    e.site = "bench";
    e.visitor_id = "visitor-" + std::to_string(v);
    e.session_id = "session-" + std::to_string(v);
    e.user_id = v % 4 == 0 ? e.visitor_id : "";
    // Each page gets about the same share; a visitor's second view is elsewhere.
    e.page = "/page/" + std::to_string((v * 2 + n) * 7919 % pages);
    e.referrer = n == 0 ? "site" + std::to_string(v % 5000) + ".example" : "direct";
    e.country = v % 3 == 0 ? "" : (v % 3 == 1 ? "DE" : "US");
    e.device = static_cast<Device>(v % kDeviceCount);
    e.timestamp_ms = day_start + (v * kMsPerDay / visitors) + n * 1000;
}

struct Latency {
    double p50_us = 0, p99_us = 0, max_us = 0;
    std::size_t samples = 0;
};

Latency summarise(std::vector<double>& us) {
    Latency l;
    if (us.empty())
        return l;
    std::sort(us.begin(), us.end());
    l.samples = us.size();
    l.p50_us = us[us.size() / 2];
    l.p99_us = us[us.size() * 99 / 100];
    l.max_us = us.back();
    return l;
}

/// Applies events to shard 0 in batches of 8 (a request's worth) until `stop`, timing each
/// apply (waiting for the lock included), paced to about 20k batches a second.
std::vector<double> ingest_while(store::Store& store, std::atomic<bool>& stop, std::int64_t now,
                                 std::int64_t day_start) {
    std::vector<double> us;
    std::vector<Event> batch(8);
    long k = 0;
    while (!stop.load()) {
        for (auto& e : batch)
            make_event(k++ % 200'000, 100'000, 1000, day_start, e);
        const auto start = Clock::now();
        store.apply(0, batch.data(), batch.size(), now);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return us;
}

}  // namespace

int main(int argc, char** argv) {
    auto arg = [&](int i, long fallback) {
        return argc > i ? std::strtol(argv[i], nullptr, 10) : fallback;
    };
    const long visitors = arg(1, 1'000'000);
    const long pages = arg(2, 100'000);
    const long shards = arg(3, 2);
    const std::filesystem::path dir = argc > 4
                                          ? std::filesystem::path(argv[4])
                                          : std::filesystem::temp_directory_path() /
                                                ("snapshot_bench." + std::to_string(::getpid()));
    if (visitors <= 0 || pages <= 0 || shards <= 0) {
        std::fprintf(stderr, "usage: snapshot_bench [visitors] [pages] [shards] [dir]\n");
        return 2;
    }
    std::error_code ec;
    std::filesystem::remove_all(dir / "log", ec);
    std::filesystem::remove_all(dir / "snapshots", ec);

    const std::int64_t day_start = 1'700'000'000'000 / kMsPerDay * kMsPerDay;
    const std::int64_t now = day_start + kMsPerDay - 60'000;
    store::StoreOptions options;
    options.shards = static_cast<std::size_t>(shards);
    store::Store store(options);
    durability::EventLog log(
        durability::EventLogOptions{dir / "log", options.shards, durability::FsyncMode::never,
                                    std::chrono::milliseconds(100), 64ull << 20});
    log.open();

    const long events = visitors * 2;
    const long snapshot_at = events * 9 / 10;
    durability::SnapshotMeta meta{now, {}, 0};
    auto positions = [&store](std::size_t shard) { return store.log_position_locked(shard); };
    durability::WrittenSnapshot written;
    double write_ms = 0;
    double feed_ms = 0;

    auto start = Clock::now();
    Event e;
    for (long k = 0; k < events; ++k) {
        if (k == snapshot_at) {
            feed_ms += ms_since(start);
            const auto write_start = Clock::now();
            written = durability::write_snapshot(store, meta, dir / "snapshots", 2, positions);
            write_ms = ms_since(write_start);
            start = Clock::now();
        }
        make_event(k, visitors, pages, day_start, e);
        const auto shard = static_cast<std::size_t>((k / 2) % shards);
        durability::LogPosition logged;
        if (!log.append(shard, &e, 1, &logged)) {
            std::fprintf(stderr, "log append failed\n");
            return 1;
        }
        store.apply(shard, &e, 1, now, &logged);
    }
    feed_ms += ms_since(start);
    log.sync_all();
    std::printf("fed %ld events (%ld visitors, %ld pages, %ld shards) in %.0f ms, logged too\n",
                events, visitors, pages, shards, feed_ms);
    std::printf(
        "snapshot at 90%% of the day: %.1f MiB, written in %.0f ms "
        "(encode + write + fsync + rename)\n",
        static_cast<double>(written.stats.bytes) / (1 << 20), write_ms);

    // The whole day, and the shard-lock hold while encoding it.
    start = Clock::now();
    const durability::WrittenSnapshot full =
        durability::write_snapshot(store, meta, dir / "full", 1, positions);
    std::printf(
        "snapshot of the whole day: %.1f MiB, written in %.0f ms; shard lock held: "
        "max %.2f ms (%.2f ms of CPU), total %.2f ms over %ld shards\n",
        static_cast<double>(full.stats.bytes) / (1 << 20), ms_since(start),
        static_cast<double>(full.stats.max_lock_hold.count()) / 1e6,
        static_cast<double>(full.stats.max_lock_hold_cpu.count()) / 1e6,
        static_cast<double>(full.stats.total_lock_hold.count()) / 1e6, shards);

    // Ingest latency on shard 0, alone and while snapshots are written back to back.
    for (const bool snapshotting : {false, true}) {
        std::atomic<bool> stop{false};
        std::vector<double> us;
        std::thread ingest([&] { us = ingest_while(store, stop, now, day_start); });
        std::chrono::nanoseconds worst{0};
        std::chrono::nanoseconds worst_cpu{0};
        int taken = 0;
        const auto until = Clock::now() + std::chrono::seconds(4);
        while (Clock::now() < until) {
            if (snapshotting) {
                durability::SnapshotStats stats;
                (void)durability::encode_snapshot(store, meta, &stats, positions);
                worst = std::max(worst, stats.max_lock_hold);
                worst_cpu = std::max(worst_cpu, stats.max_lock_hold_cpu);
                ++taken;
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
        stop.store(true);
        ingest.join();
        const Latency l = summarise(us);
        std::printf(
            "ingest apply latency %s: p50 %.1f us, p99 %.1f us, max %.1f us "
            "(%zu batches of 8)",
            snapshotting ? "during snapshots" : "without snapshots", l.p50_us, l.p99_us, l.max_us,
            l.samples);
        if (snapshotting) {
            std::printf("; %d snapshots, shard lock held at most %.2f ms (%.2f ms of CPU)", taken,
                        static_cast<double>(worst.count()) / 1e6,
                        static_cast<double>(worst_cpu.count()) / 1e6);
        }
        std::printf("\n");
    }

    // Restart: the 90 % snapshot + the log after it, against the whole log.
    const auto range = query::parse_range(format_day(day_of(day_start)), now);
    store::Store reference(options);  // the day without the latency test's extra events
    {
        durability::EventLog replay_log(
            durability::EventLogOptions{dir / "log", options.shards, durability::FsyncMode::never,
                                        std::chrono::milliseconds(100), 64ull << 20});
        start = Clock::now();
        const durability::ReplayStats stats = replay_log.replay_from(
            {}, [&](std::size_t writer, const durability::LogPosition&, const Event& ev) {
                reference.apply(writer, &ev, 1, now);
            });
        std::printf("restart by replaying the whole log: %llu events in %.0f ms\n",
                    static_cast<unsigned long long>(stats.records), ms_since(start));
    }
    store::Store restarted(options);
    start = Clock::now();
    durability::LoadReport report;
    const auto loaded = durability::load_newest_snapshot(dir / "snapshots", restarted, &report);
    if (!loaded) {
        std::fprintf(stderr, "load failed\n");
        return 1;
    }
    const double load_ms = ms_since(start);
    durability::EventLog replay_log(
        durability::EventLogOptions{dir / "log", options.shards, durability::FsyncMode::never,
                                    std::chrono::milliseconds(100), 64ull << 20});
    const durability::ReplayFilter filter(*loaded);
    const durability::ReplayStats tail = replay_log.replay_from(
        loaded->log_positions,
        [&](std::size_t writer, const durability::LogPosition& at, const Event& ev) {
            if (!filter.in_snapshot(writer, ev.site, at))
                restarted.apply(writer, &ev, 1, now);
        });
    std::printf("restart from the snapshot: loaded in %.0f ms + replayed %llu events = %.0f ms\n",
                load_ms, static_cast<unsigned long long>(tail.records), ms_since(start));

    const bool same = query::to_json(query::build_dashboard(reference, "bench", *range, now)) ==
                      query::to_json(query::build_dashboard(restarted, "bench", *range, now));
    const auto funnel_steps = std::vector<std::string>{"pageview:/page/0", "pageview:/page/7919"};
    const bool same_funnel = query::funnel(reference, "bench", day_of(day_start), funnel_steps) ==
                             query::funnel(restarted, "bench", day_of(day_start), funnel_steps);
    std::printf("restarted dashboard equals the replayed one: %s; funnel: %s\n",
                same ? "yes" : "NO", same_funnel ? "yes" : "NO");

    // Many small days: 300 sites x 30 days x 10 page views, over the shards. Under the
    // lock only the days ingest can still change (the last three) are serialised.
    {
        store::Store many(options);
        Event m;
        m.referrer = "direct";
        for (int site = 0; site < 300; ++site) {
            m.site = "site" + std::to_string(site);
            for (int day = 0; day < 30; ++day) {
                for (int i = 0; i < 10; ++i) {
                    m.page = "/" + std::to_string(i);
                    m.visitor_id = m.session_id = "v" + std::to_string(i);
                    m.timestamp_ms = day_start - day * kMsPerDay + i;
                    many.apply(static_cast<std::size_t>(i % shards), m, now);
                }
            }
        }
        start = Clock::now();
        durability::SnapshotStats stats;
        const std::string bytes = durability::encode_snapshot(many, meta, &stats, positions);
        std::printf(
            "300 sites x 30 days (%zu day states): %.1f MiB encoded in %.0f ms; shard "
            "lock held: max %.2f ms (%.2f ms of CPU)\n",
            many.day_count(), static_cast<double>(bytes.size()) / (1 << 20), ms_since(start),
            static_cast<double>(stats.max_lock_hold.count()) / 1e6,
            static_cast<double>(stats.max_lock_hold_cpu.count()) / 1e6);
    }

    if (argc <= 4)
        std::filesystem::remove_all(dir, ec);
    return same && same_funnel ? 0 : 1;
}
