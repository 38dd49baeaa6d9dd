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
// The generator goes through the same path as real traffic (admit, log, count) on a shard
// and log writer of its own, so it never contends with an I/O thread.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "tally/base/event.hpp"
#include "tally/store/store.hpp"

namespace tally::daemon {

class DemoTraffic {
  public:
    /// `ingest` counts one event (returns false when it was refused); live events come at
    /// about `rate`/s on average. `store` is only read, to see whether today is empty.
    DemoTraffic(std::function<bool(Event&)> ingest, const store::Store& store, double rate);
    ~DemoTraffic();  // stops the thread
    DemoTraffic(const DemoTraffic&) = delete;
    DemoTraffic& operator=(const DemoTraffic&) = delete;

    static constexpr const char* kSite = "default";

  private:
    void run();
    /// Waits `seconds` or until stopped; true when stopped.
    bool wait(double seconds);
    bool stopped();

    std::function<bool(Event&)> ingest_;
    const store::Store& store_;
    double rate_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace tally::daemon
