#pragma once
// --demo: realistic synthetic traffic, so a newcomer's first run shows a moving dashboard.
//
// What it looks like: visitors arrive (a third of them returning, some logged in) from a
// mix of referrers and countries on desktops, phones and tablets; each session views a few
// pages (Zipf popularity over a small site map) and fires custom events; sessions that
// see /pricing may walk the signup funnel (pageview:/pricing -> signup_started ->
// signup_completed). The rate drifts between a few and a few tens of events per second.
// When today is still empty for site `default` (a fresh data dir), today's earlier minutes
// are backfilled first on a daily curve that meets the live rate, so the chart has a history.
//
// Metrics too, as the shop's backend would send them: per simulated request (one to three
// per event) the counter demo.http.requests{endpoint,status} (mostly 200, some 404 and
// 500), the distribution demo.http.latency_ms{endpoint} (log-normal, its own median per
// endpoint, a slow tail), the visitor in the set demo.users.active; per event the gauge
// demo.process.memory_mb. One write_points call per event; the backfill adds the last
// 15 minutes of them (with today's events, so a restart does not count them twice).
//
// The generator goes through the same path as real traffic (admit, log, count) on a shard
// and log writer of its own, so it never contends with an I/O thread.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "tally/base/background_loop.hpp"
#include "tally/store/store.hpp"
#include "tally/write/write_path.hpp"

namespace tally::daemon {

class DemoTraffic {
  public:
    /// Writes through `write_path` as `writer` (a shard and log writer of its own); live
    /// events come at about `rate`/s on average. `store` is only read, to see whether
    /// today is empty. Starts at once.
    DemoTraffic(write::WritePath& write_path, std::size_t writer, const store::Store& store,
                double rate);
    ~DemoTraffic();  // stops the loop
    DemoTraffic(const DemoTraffic&) = delete;
    DemoTraffic& operator=(const DemoTraffic&) = delete;

    static constexpr const char* kSite = "default";

  private:
    struct State;  // the simulator and the live rate's drift, kept between steps
    /// Backfills today once, then waits a random interval and writes one event.
    void step();
    void backfill(State& state);
    void backfill_metrics(State& state, std::int64_t now);
    void write(const Event& event);
    /// Writes and clears `state.points`.
    void write_points(State& state);

    write::WritePath& write_path_;
    std::size_t writer_;
    const store::Store& store_;
    double rate_;
    std::unique_ptr<State> state_;
    BackgroundLoop loop_;  // last: stopped before the members above go
};

}  // namespace tally::daemon
