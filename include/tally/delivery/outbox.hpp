#pragma once
// The outbox: HTTP POSTs to the outside world (alert webhooks, Alertmanager, scheduled
// reports), sent from its own threads so that nothing on an ingest or evaluation path ever
// waits on a remote server.
//
// What it holds. Deliveries are queued per destination (their exact URL), each destination
// a FIFO: deliveries to one URL are attempted strictly in the order they were queued, and
// the next is not tried before the one ahead of it was delivered or given up. So an alert's
// "resolved" never overtakes its "firing" at a receiver, even across retries.
//
// Retries. A failed attempt (no connection, no answer within `timeout`, a 5xx, 408, 425
// or 429) puts the whole destination to sleep: first `first_retry`, doubled after each
// further failure up to `max_retry`, back to nothing after a success. A delivery is given
// up (counted, logged at warn once, its `done` told) when an attempt fails and the next
// retry would come more than `give_up_after` after it was queued; deliveries still queued
// behind a failing head whose own horizon has passed are given up with it, without an
// attempt of their own. The horizon runs from queueing rather than from a first attempt,
// so a receiver that is down for long cannot make its backlog wait one horizon each.
// Another 4xx is given up at once: the receiver is up and refuses that body (a malformed
// alert, a wrong path), retrying cannot change it and would hold up what follows it.
//
// Why a few sender threads, one destination each at a time. One thread would let one
// dead receiver (every attempt waiting the whole timeout) hold up every other
// destination. A thread per destination would let a long list of URLs make threads
// without bound. `senders` threads (3 by default) each take the destination that is due
// soonest and not being served by another sender, post its oldest delivery, and come back:
// a destination has at most one request in flight (which is what keeps its order), a dead
// receiver occupies at most one sender for at most `timeout` per back-off step, and the
// other destinations keep the remaining senders (only `senders` receivers dead at once
// can delay the others, by at most `timeout` per attempt).
//
// Cost. Choosing the next destination scans them: they are few (the configured actions
// and report URLs). Queueing, dropping and completing are O(log n) in the deliveries held.
// Drops are logged at the 1st, 2nd, 4th, 8th ... of a kind, so a flood stays a few lines.
//
// Bounds. At most `max_queued` deliveries and `max_bytes` of them (bodies, URLs, headers)
// are held; a delivery that would pass either bound first drops the OLDEST queued delivery
// not in flight (counted as dropped, its `done(false, "dropped")` called on a sender
// thread), since the newest state is the one worth announcing. A single delivery larger
// than `max_bytes` is refused. Deliveries in flight (at most `senders`) are never dropped,
// so the count can pass its bound by at most `senders` while every queued one is in flight.
//
// Not durable: what is queued at stop() (or a crash) is not sent; stop() abandons the
// requests in flight (so it is prompt) and tells each delivery still held its `done`
// (false, "outbox stopped").

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace tally::telemetry {
class Metrics;
}

namespace tally::delivery {

struct Delivery {
    std::string kind;  // a label for the metrics: "alert_webhook", "alertmanager", "report"
    std::string url;   // http://host:port/path
    std::string content_type = "application/json";
    std::string body;
    /// Called once with the outcome (delivered, or given up), on the outbox's thread. May be empty.
    std::function<void(bool delivered, const std::string& error)> done;
};

struct OutboxOptions {
    std::size_t max_queued = 10'000;      // more: the oldest is dropped (counted)
    std::size_t max_bytes = 64ull << 20;  // bodies held at most
    std::chrono::milliseconds give_up_after{10 * 60 * 1000};
    std::chrono::milliseconds first_retry{1000};  // doubled each time, at most max_retry
    std::chrono::milliseconds max_retry{60'000};
    std::chrono::milliseconds timeout{5000};  // connect + send + answer
    std::size_t senders = 3;                  // requests in flight at most (1-16)
};

/// What the outbox did with one kind of delivery (or with all of them).
struct OutboxCounts {
    std::uint64_t delivered = 0, failed = 0, dropped = 0;
};

class Outbox {
  public:
    explicit Outbox(OutboxOptions options);
    ~Outbox();
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;

    void start();
    void stop();

    /// Queues one POST; never blocks on the network. false when refused (a bad url, a body
    /// larger than max_bytes, or the outbox stopped); `done` is not called then.
    bool send(Delivery delivery);

    void register_metrics(telemetry::Metrics& metrics) const;

    /// Outcomes so far of deliveries of `kind` (every kind when empty).
    OutboxCounts counts(std::string_view kind = {}) const;
    /// Attempts made, and those of them that were retries.
    std::uint64_t attempts() const;
    std::uint64_t retries() const;
    /// Deliveries held (queued or in flight), and their bytes.
    std::size_t queued() const;
    std::size_t queued_bytes() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tally::delivery
