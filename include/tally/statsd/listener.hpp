#pragma once
// The DogStatsD listener (--statsd HOST:PORT): a UDP socket of its own, read by a thread
// of its own, so a flood of datagrams never delays an HTTP request.
//
// The thread takes up to 64 datagrams per system call (recvmmsg), parses them all into one
// reused batch of points and hands the batch to the write path as one log append (two or
// more past 16,384 points), on its own log writer and engine shard. A bad line is skipped and
// counted; the rest of its datagram stands.
//
// Datagrams the kernel dropped because the socket's buffer was full are visible: the
// socket asks for SO_RXQ_OVFL, so every datagram read carries the kernel's running count
// of drops, exported as tally_statsd_dropped_datagrams_total. The receive buffer is made
// as large as the system allows (up to 32 MiB) to absorb bursts.

#include <atomic>
#include <cstdint>
#include <string>

#include "tally/base/background_loop.hpp"
#include "tally/telemetry/metrics.hpp"
#include "tally/write/write_path.hpp"

namespace tally::statsd {

struct ListenerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8125;
    std::size_t writer = 0;  // the log writer and engine shard this thread owns
    std::string workspace;   // the metrics engine's name of the points' workspace ("": default)
};

class Listener {
  public:
    Listener(ListenerOptions options, write::WritePath& write_path);
    ~Listener();  // stop()
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    /// Binds the socket (throws std::system_error naming the address) and starts reading.
    void start();
    void stop();
    /// The port bound (useful with port 0).
    std::uint16_t port() const { return bound_port_; }

    void register_metrics(telemetry::Metrics& metrics) const;

  private:
    void receive_until_stopped();
    void handle(std::string_view datagram, std::int64_t now_ms);
    void flush(std::int64_t now_ms);

    ListenerOptions options_;
    write::WritePath& write_path_;
    int fd_ = -1;
    std::uint16_t bound_port_ = 0;
    // The thread's only. Datagrams are parsed straight into the slots of batch_ after the
    // first batched_, which hold the points of earlier batches: batch_ never shrinks, its
    // points keep their buffers, so after warm-up a point costs no allocation.
    std::vector<MetricPoint> batch_;
    std::size_t batched_ = 0;
    std::vector<BatchItemRejection> refused_;

    std::atomic<std::uint64_t> datagrams_{0};
    std::atomic<std::uint64_t> points_{0};
    std::atomic<std::uint64_t> bad_lines_{0};
    std::atomic<std::uint64_t> ignored_{0};  // events and service checks
    std::atomic<std::uint64_t> refused_points_{0};
    std::atomic<std::uint64_t> dropped_{0};  // by the kernel (SO_RXQ_OVFL)
    std::atomic<std::uint64_t> log_failures_{0};
    BackgroundLoop loop_;
};

}  // namespace tally::statsd
