#pragma once
// Runs a task on its own thread every `interval` until destroyed: the daemon's
// housekeeping (forgetting old visitor salts; snapshots and retention have their own
// thread, persistence.hpp), kept off the I/O threads.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace tally::daemon {

class Periodic {
  public:
    Periodic(std::chrono::milliseconds interval, std::function<void()> task)
        : interval_(interval), task_(std::move(task)), thread_([this] { run(); }) {}
    ~Periodic() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }
    Periodic(const Periodic&) = delete;
    Periodic& operator=(const Periodic&) = delete;

  private:
    void run() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            task_();
            lock.lock();
            cv_.wait_for(lock, interval_, [this] { return stopping_; });
        }
    }

    std::chrono::milliseconds interval_;
    std::function<void()> task_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once everything above exists
};

}  // namespace tally::daemon
