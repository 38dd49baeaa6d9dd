#include "tally/statsd/listener.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "tally/base/time.hpp"
#include "tally/ingest/statsd.hpp"

namespace tally::statsd {

namespace {

constexpr std::size_t kBatchDatagrams = 64;
constexpr std::size_t kMaxDatagram = 65536;
constexpr int kReceiveBuffer = 32 << 20;
constexpr int kPollMs = 100;  // how soon stop() is noticed
// A batch is written early past this many points: 64 datagrams of short multi-value lines
// can hold millions, and the batch's slots are kept for reuse.
constexpr std::size_t kMaxBatchPoints = 16384;

/// A bound, non-blocking UDP socket for host:port; throws naming the address.
int bind_udp(const std::string& host, std::uint16_t port, std::uint16_t& bound) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    const std::string where = host + ":" + service;
    if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0 || found == nullptr)
        throw std::system_error(EINVAL, std::generic_category(),
                                "--statsd: cannot resolve " + where);
    const int fd = ::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const int bound_ok = fd >= 0 ? ::bind(fd, found->ai_addr, found->ai_addrlen) : -1;
    const int error = errno;
    ::freeaddrinfo(found);
    if (bound_ok != 0) {
        if (fd >= 0)
            ::close(fd);
        throw std::system_error(error, std::generic_category(), "--statsd: cannot bind " + where);
    }
    int size = kReceiveBuffer;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);  // needs CAP_NET_ADMIN
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);       // else up to rmem_max
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    sockaddr_storage local{};
    socklen_t length = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
    bound = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&local)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&local)->sin_port);
    return fd;
}

/// The kernel's running count of drops carried by a datagram's SO_RXQ_OVFL message.
std::optional<std::uint32_t> drop_count(msghdr& header) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
            std::uint32_t dropped = 0;
            std::memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
            return dropped;
        }
    }
    return std::nullopt;
}

}  // namespace

Listener::Listener(ListenerOptions options, write::WritePath& write_path)
    : options_(std::move(options)), write_path_(write_path) {}

Listener::~Listener() {
    stop();
}

void Listener::start() {
    fd_ = bind_udp(options_.host, options_.port, bound_port_);
    spdlog::info("statsd: listening on {}:{} (UDP)", options_.host, bound_port_);
    loop_.start(std::chrono::milliseconds(1), [this] { receive_until_stopped(); });
}

void Listener::stop() {
    loop_.stop();
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

void Listener::receive_until_stopped() {
    std::vector<char> buffers(kBatchDatagrams * kMaxDatagram);
    std::array<mmsghdr, kBatchDatagrams> messages{};
    std::array<iovec, kBatchDatagrams> vectors{};
    std::array<std::array<char, CMSG_SPACE(sizeof(std::uint32_t))>, kBatchDatagrams> controls{};
    while (!loop_.stopping()) {
        for (std::size_t i = 0; i < kBatchDatagrams; ++i) {
            vectors[i] = {buffers.data() + i * kMaxDatagram, kMaxDatagram};
            messages[i].msg_hdr = {};
            messages[i].msg_hdr.msg_iov = &vectors[i];
            messages[i].msg_hdr.msg_iovlen = 1;
            messages[i].msg_hdr.msg_control = controls[i].data();
            messages[i].msg_hdr.msg_controllen = controls[i].size();
        }
        const int n = ::recvmmsg(fd_, messages.data(), kBatchDatagrams, 0, nullptr);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                spdlog::warn("statsd: recvmmsg: {}", std::strerror(errno));
            pollfd wait{fd_, POLLIN, 0};
            ::poll(&wait, 1, kPollMs);
            continue;
        }
        const std::int64_t now = now_ms();
        for (int i = 0; i < n; ++i) {
            if (auto dropped = drop_count(messages[i].msg_hdr))
                dropped_.store(*dropped, std::memory_order_relaxed);
            handle(
                {buffers.data() + static_cast<std::size_t>(i) * kMaxDatagram, messages[i].msg_len},
                now);
        }
        datagrams_.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
        flush(now);
    }
}

void Listener::handle(std::string_view datagram, std::int64_t now_ms) {
    const ingest::StatsdResult parsed =
        ingest::parse_statsd_into(datagram, now_ms, batch_, batched_);
    batched_ += parsed.points;
    bad_lines_.fetch_add(parsed.bad, std::memory_order_relaxed);
    ignored_.fetch_add(parsed.events + parsed.service_checks, std::memory_order_relaxed);
    if (batched_ >= kMaxBatchPoints)
        flush(now_ms);
}

void Listener::flush(std::int64_t now_ms) {
    if (batched_ == 0)
        return;
    refused_.clear();
    if (!options_.workspace.empty()) {
        for (std::size_t i = 0; i < batched_; ++i)
            batch_[i].workspace = options_.workspace;
    }
    const auto written = write_path_.write_points(
        options_.writer, std::span<MetricPoint>(batch_.data(), batched_), refused_, now_ms);
    if (!written) {
        log_failures_.fetch_add(batched_, std::memory_order_relaxed);
    } else {
        points_.fetch_add(*written, std::memory_order_relaxed);
        refused_points_.fetch_add(refused_.size(), std::memory_order_relaxed);
    }
    batched_ = 0;
}

void Listener::register_metrics(telemetry::Metrics& metrics) const {
    const auto add = [&](const char* name, const char* help, const std::atomic<std::uint64_t>& v) {
        metrics.add_callback(name, help, "counter", [&v] {
            return static_cast<double>(v.load(std::memory_order_relaxed));
        });
    };
    add("tally_statsd_datagrams_total", "DogStatsD datagrams read.", datagrams_);
    add("tally_statsd_points_total", "DogStatsD points counted.", points_);
    add("tally_statsd_bad_lines_total", "DogStatsD lines skipped as malformed.", bad_lines_);
    add("tally_statsd_ignored_lines_total", "DogStatsD events and service checks ignored.",
        ignored_);
    add("tally_statsd_refused_points_total",
        "DogStatsD points refused by the engine (type conflicts, series caps).", refused_points_);
    add("tally_statsd_dropped_datagrams_total",
        "Datagrams the kernel dropped because the socket's buffer was full (SO_RXQ_OVFL).",
        dropped_);
    add("tally_statsd_unlogged_points_total",
        "DogStatsD points lost because the event log could not be written.", log_failures_);
}

}  // namespace tally::statsd
