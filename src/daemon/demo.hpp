#pragma once
// --demo: realistic synthetic traffic, so a newcomer's first run shows a moving dashboard.
// The generator goes through the same path as real traffic (admit, log, count) on a shard
// and log writer of its own, so it never contends with an I/O thread.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "tally/ingest/event.hpp"

namespace tally::daemon {

class DemoTraffic {
  public:
    /// `ingest` counts one event (returns false when it was refused); called ~`rate`/s.
    DemoTraffic(std::function<bool(ingest::Event&)> ingest, double rate);
    ~DemoTraffic();  // stops the thread
    DemoTraffic(const DemoTraffic&) = delete;
    DemoTraffic& operator=(const DemoTraffic&) = delete;

  private:
    void run();

    std::function<bool(ingest::Event&)> ingest_;
    double rate_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace tally::daemon
