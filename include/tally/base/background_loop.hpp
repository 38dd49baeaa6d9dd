#pragma once
// The one way tallyd runs work off the I/O threads: a thread that runs a step on a fixed
// schedule until stopped.
//
// Every background task of the daemon (the live broadcaster, the Redis mirror, snapshots
// and retention, the fleet reader, the demo traffic, the log's interval fsync,
// housekeeping) is the same shape: do a bounded piece of work, wait, repeat, and stop
// promptly when the daemon stops. Here that shape is written once:
//
//   - The schedule is fixed-rate: step k is due at start + k * interval, so steps are an
//     interval apart on average however long each takes. After a stall (a step longer than
//     the interval, a suspended process) the schedule starts over from now instead of
//     firing a burst of catch-up steps.
//   - wake() makes the next step due at once (a queue that just got work).
//   - stop() is prompt: a waiting loop wakes at once, a running step finishes, the thread
//     is joined. A step that waits for long (a reconnection back-off) waits with
//     sleep_for(), which returns early when stop() comes.
//   - The first step runs as soon as the loop starts, unless `first_step_after_interval`.
//
// A step must not throw: the loop has nobody to report to; a task catches what it expects.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

namespace tally {

class BackgroundLoop {
  public:
    BackgroundLoop() = default;
    ~BackgroundLoop() { stop(); }
    BackgroundLoop(const BackgroundLoop&) = delete;
    BackgroundLoop& operator=(const BackgroundLoop&) = delete;

    /// Starts the thread: `step` every `interval`. Call once.
    void start(std::chrono::milliseconds interval, std::function<void()> step,
               bool first_step_after_interval = false) {
        interval_ = interval;
        step_ = std::move(step);
        first_after_interval_ = first_step_after_interval;
        thread_ = std::jthread([this](const std::stop_token& token) { run(token); });
    }

    /// Wakes the loop, lets a running step finish and joins; idempotent.
    void stop() {
        if (!thread_.joinable())
            return;
        thread_.request_stop();  // wakes the condition-variable waits below
        thread_.join();
    }

    /// The next step is due now.
    void wake() {
        {
            std::lock_guard lock(mutex_);
            woken_ = true;
        }
        cv_.notify_all();
    }

    /// For a step that must wait: sleeps up to `duration`; false when the loop is stopping.
    bool sleep_for(std::chrono::milliseconds duration) {
        std::unique_lock lock(mutex_);
        const std::stop_token token = thread_.get_stop_token();
        cv_.wait_for(lock, token, duration, [] { return false; });
        return !token.stop_requested();
    }

    bool stopping() const { return thread_.get_stop_token().stop_requested(); }

  private:
    void run(const std::stop_token& token) {
        using clock = std::chrono::steady_clock;
        auto next = clock::now() + (first_after_interval_ ? interval_ : interval_.zero());
        std::unique_lock lock(mutex_);
        while (!token.stop_requested()) {
            cv_.wait_until(lock, token, next, [this] { return woken_; });
            if (token.stop_requested())
                break;
            woken_ = false;
            lock.unlock();
            step_();
            lock.lock();
            next += interval_;
            if (const auto now = clock::now(); next < now)
                next = now + interval_;  // after a stall or a wake(): start over from now
        }
    }

    std::chrono::milliseconds interval_{0};
    std::function<void()> step_;
    bool first_after_interval_ = false;
    std::mutex mutex_;  // guards woken_
    std::condition_variable_any cv_;
    bool woken_ = false;
    std::jthread thread_;  // last: destroyed (joined) while the members above exist
};

}  // namespace tally
