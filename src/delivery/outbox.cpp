// The outbox's queue and its sender threads (the essay is in the header).
//
// One mutex guards the destinations, the order of all held deliveries and the byte count;
// it is never held during a request. A sender marks the destination it serves `busy`, so
// its head delivery (the one in flight) is touched by nobody else until it comes back.

#include "tally/delivery/outbox.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tally/http/client.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::delivery {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kPreregisteredKinds[] = {"alert_webhook", "alertmanager", "report"};

struct Pending {
    Delivery delivery;
    http::ClientUrl url;
    std::uint64_t seq = 0;
    Clock::time_point queued_at;
    std::size_t bytes = 0;
    unsigned attempts = 0;
};
using PendingPtr = std::unique_ptr<Pending>;

struct Destination {
    std::deque<PendingPtr> queue;          // in queueing order; the front is the next to try
    Clock::time_point due{};               // its front may be tried from then on
    std::chrono::milliseconds backoff{0};  // 0 while the receiver is healthy
    bool busy = false;                     // a sender is posting its front
    std::string last_error;                // of its latest failed attempt
};

struct KindCounts {
    std::atomic<std::uint64_t> delivered{0}, failed{0}, dropped{0};
};

// A delivery whose `done` is to be told, outside the lock.
struct Outcome {
    PendingPtr pending;
    bool delivered = false;
    std::string error;
};

std::size_t footprint(const Delivery& d) {
    return sizeof(Pending) + d.kind.size() + d.url.size() + d.content_type.size() + d.body.size();
}

void tell(Outcome& outcome) {
    auto& done = outcome.pending->delivery.done;
    if (!done)
        return;
    try {
        done(outcome.delivered, outcome.error);
    } catch (const std::exception& e) {
        spdlog::error("outbox: a delivery's completion threw: {}", e.what());
    }
}

// A refusal that retrying cannot change: a 4xx other than "timeout", "too early" and
// "too many requests" (Alertmanager's own notifiers retry 5xx and give up on 4xx).
bool permanent(unsigned status) {
    return status >= 400 && status < 500 && status != 408 && status != 425 && status != 429;
}

// What went wrong, for the logs and `done`: the status and the start of the answer's
// body (a receiver's error message), or why no answer came.
std::string describe(const http::ClientResponse& answer) {
    if (answer.status == 0)
        return answer.error;
    std::string body = answer.body.substr(0, 300);
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back())))
        body.pop_back();
    return "HTTP " + std::to_string(answer.status) + (body.empty() ? "" : ": " + body);
}

}  // namespace

struct Outbox::Impl {
    explicit Impl(OutboxOptions o) : options(o) {
        options.senders = std::clamp<std::size_t>(options.senders, 1, 16);
        options.first_retry = std::max(options.first_retry, std::chrono::milliseconds(1));
        options.max_retry = std::max(options.max_retry, options.first_retry);
        for (const char* kind : kPreregisteredKinds)
            kinds.emplace(kind, std::make_unique<KindCounts>());
    }

    OutboxOptions options;
    mutable std::mutex mutex;
    std::condition_variable_any wakeup;
    std::unordered_map<std::string, Destination> destinations;  // by url
    std::map<std::uint64_t, std::string> order;                 // every held delivery: seq -> url
    std::size_t bytes = 0;
    std::uint64_t next_seq = 0;
    std::uint64_t generation = 0;  // moves on whenever a sender may find new work
    std::vector<Outcome> untold;   // dropped while queueing: told by a sender
    std::map<std::string, std::unique_ptr<KindCounts>, std::less<>> kinds;
    std::atomic<std::uint64_t> attempts{0}, retries{0};
    bool stopped = false;
    std::vector<std::jthread> senders;

    KindCounts& counts_of(const std::string& kind) {  // under the mutex
        auto it = kinds.find(kind);
        if (it == kinds.end())
            it = kinds.emplace(kind, std::make_unique<KindCounts>()).first;
        return *it->second;
    }

    /// Removes the front of `dest` from the books; the caller tells its outcome.
    PendingPtr pop_front(Destination& dest) {
        PendingPtr p = std::move(dest.queue.front());
        dest.queue.pop_front();
        order.erase(p->seq);
        bytes -= p->bytes;
        return p;
    }

    bool drop_oldest();
    void run(const std::stop_token& token);
    Destination* pick(Clock::time_point now, std::optional<Clock::time_point>& next_due);
    void attempt(std::unique_lock<std::mutex>& lock, const std::string& url, Destination& dest,
                 const std::stop_token& token);
    void give_up_front(Destination& dest, const std::string& url, const std::string& error,
                       std::vector<Outcome>& outcomes);
    void after_failure(Destination& dest, const std::string& url, std::vector<Outcome>& outcomes);
};

bool Outbox::Impl::drop_oldest() {
    for (const auto& [seq, url] : order) {
        auto& dest = destinations.at(url);
        for (std::size_t i = 0; i < dest.queue.size(); ++i) {
            if (dest.queue[i]->seq != seq)
                continue;
            if (i == 0 && dest.busy)
                break;  // in flight: try the next oldest
            PendingPtr p = std::move(dest.queue[i]);
            dest.queue.erase(dest.queue.begin() + static_cast<std::ptrdiff_t>(i));
            order.erase(p->seq);  // `seq` and `url` refer into this entry: not used after
            bytes -= p->bytes;
            const auto dropped = ++counts_of(p->delivery.kind).dropped;
            if (std::has_single_bit(dropped))  // 1, 2, 4, 8 ...: the log stays short
                spdlog::warn(
                    "outbox: queue full, dropped the oldest delivery ({}) to {} ({} so far)",
                    p->delivery.kind, p->delivery.url, dropped);
            untold.push_back({std::move(p), false, "dropped"});
            return true;
        }
    }
    return false;
}

Outbox::Outbox(OutboxOptions options) : impl_(std::make_unique<Impl>(options)) {}

Outbox::~Outbox() {
    stop();
}

void Outbox::start() {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->senders.empty() || impl_->stopped)
        return;
    for (std::size_t i = 0; i < impl_->options.senders; ++i)
        impl_->senders.emplace_back(
            [impl = impl_.get()](const std::stop_token& t) { impl->run(t); });
}

void Outbox::stop() {
    std::vector<std::jthread> senders;
    {
        std::lock_guard lock(impl_->mutex);
        if (impl_->stopped)
            return;
        impl_->stopped = true;
        senders = std::move(impl_->senders);
    }
    for (auto& sender : senders)
        sender.request_stop();  // wakes their waits on the condition variable
    senders.clear();            // joins: requests in flight finish first
    std::vector<Outcome> outcomes;
    {
        std::lock_guard lock(impl_->mutex);
        outcomes = std::move(impl_->untold);
        for (auto& [url, dest] : impl_->destinations)
            while (!dest.queue.empty())
                outcomes.push_back({impl_->pop_front(dest), false, "outbox stopped"});
        impl_->destinations.clear();
    }
    if (!outcomes.empty())
        spdlog::info("outbox: stopped with {} deliveries not sent", outcomes.size());
    for (auto& outcome : outcomes)
        tell(outcome);
}

bool Outbox::send(Delivery delivery) {
    auto parsed = http::parse_client_url(delivery.url);
    if (!parsed.url) {
        spdlog::warn("outbox: refused a delivery ({}) to '{}': {}", delivery.kind, delivery.url,
                     parsed.error);
        return false;
    }
    auto pending = std::make_unique<Pending>();
    pending->bytes = footprint(delivery);
    pending->url = std::move(*parsed.url);
    pending->delivery = std::move(delivery);
    Impl& s = *impl_;
    {
        std::lock_guard lock(s.mutex);
        if (s.stopped || pending->bytes > s.options.max_bytes) {
            if (!s.stopped)
                spdlog::warn(
                    "outbox: refused a delivery ({}) to {}: {} bytes, more than the {} "
                    "the outbox holds",
                    pending->delivery.kind, pending->delivery.url, pending->bytes,
                    s.options.max_bytes);
            return false;
        }
        while ((s.order.size() >= s.options.max_queued ||
                s.bytes + pending->bytes > s.options.max_bytes) &&
               s.drop_oldest()) {
        }
        pending->seq = s.next_seq++;
        pending->queued_at = Clock::now();
        s.counts_of(pending->delivery.kind);  // the kind is known from now on
        s.bytes += pending->bytes;
        s.order.emplace(pending->seq, pending->delivery.url);
        auto& dest = s.destinations[pending->delivery.url];
        if (dest.queue.empty() && dest.backoff.count() == 0)
            dest.due = pending->queued_at;
        dest.queue.push_back(std::move(pending));
        ++s.generation;
    }
    s.wakeup.notify_all();
    return true;
}

// The destination to serve now (not busy, something queued, due), the one due soonest,
// ties to the oldest front; else null and `next_due`, when something will be due. Empty
// healthy destinations are forgotten on the way.
Destination* Outbox::Impl::pick(Clock::time_point now, std::optional<Clock::time_point>& next_due) {
    Destination* best = nullptr;
    for (auto it = destinations.begin(); it != destinations.end();) {
        Destination& dest = it->second;
        if (dest.queue.empty() && !dest.busy && (dest.backoff.count() == 0 || dest.due <= now)) {
            it = destinations.erase(it);
            continue;
        }
        ++it;
        if (dest.busy || dest.queue.empty())
            continue;
        if (dest.due > now) {
            if (!next_due || dest.due < *next_due)
                next_due = dest.due;
            continue;
        }
        if (!best || dest.due < best->due ||
            (dest.due == best->due && dest.queue.front()->seq < best->queue.front()->seq))
            best = &dest;
    }
    return best;
}

void Outbox::Impl::run(const std::stop_token& token) {
    std::unique_lock lock(mutex);
    while (!token.stop_requested()) {
        if (!untold.empty()) {
            auto outcomes = std::move(untold);
            untold.clear();
            lock.unlock();
            for (auto& outcome : outcomes)
                tell(outcome);
            lock.lock();
            continue;
        }
        std::optional<Clock::time_point> next_due;
        if (Destination* dest = pick(Clock::now(), next_due)) {
            const std::string url = dest->queue.front()->delivery.url;
            attempt(lock, url, *dest, token);
            continue;
        }
        // Woken by send(), by another sender freeing a destination, or by stop().
        const std::uint64_t seen = generation;
        const auto moved_on = [this, seen] { return generation != seen; };
        if (next_due)
            wakeup.wait_until(lock, token, *next_due, moved_on);
        else
            wakeup.wait(lock, token, moved_on);
    }
}

// Posts the front of `dest` with the lock released, then books the outcome. Returns with
// the lock held. (`dest` stays valid: a busy destination is never erased.)
void Outbox::Impl::attempt(std::unique_lock<std::mutex>& lock, const std::string& url,
                           Destination& dest, const std::stop_token& token) {
    std::vector<Outcome> outcomes;
    Pending& p = *dest.queue.front();
    if (dest.backoff.count() > 0 && Clock::now() >= p.queued_at + options.give_up_after) {
        // Held behind a failing receiver until its horizon passed: no attempt of its own.
        give_up_front(
            dest, url,
            "not attempted within its horizon: the receiver kept failing (" + dest.last_error + ")",
            outcomes);
    } else {
        dest.busy = true;
        ++attempts;
        if (p.attempts++ > 0)
            ++retries;
        lock.unlock();
        const auto answer =
            http::post(p.url, p.delivery.content_type, p.delivery.body, options.timeout, token);
        lock.lock();
        dest.busy = false;
        if (answer.ok()) {
            dest.backoff = std::chrono::milliseconds(0);
            dest.due = Clock::now();
            ++counts_of(p.delivery.kind).delivered;
            outcomes.push_back({pop_front(dest), true, {}});
        } else if (token.stop_requested()) {
            // Abandoned by stop(): it stays queued, and stop() tells it.
        } else if (permanent(answer.status)) {
            // The receiver works and refuses this body: retrying would only hold up what
            // is queued behind it.
            give_up_front(dest, url, describe(answer), outcomes);
        } else {
            dest.last_error = describe(answer);
            after_failure(dest, url, outcomes);
        }
    }
    ++generation;
    lock.unlock();
    for (auto& outcome : outcomes)
        tell(outcome);
    wakeup.notify_all();  // the destination is free again; others may wait on it
    lock.lock();
}

void Outbox::Impl::give_up_front(Destination& dest, const std::string& url,
                                 const std::string& error, std::vector<Outcome>& outcomes) {
    const Pending& p = *dest.queue.front();
    ++counts_of(p.delivery.kind).failed;
    const auto waited =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - p.queued_at);
    spdlog::warn("outbox: gave up on a delivery ({}) to {} after {} attempts over {} ms: {}",
                 p.delivery.kind, url, p.attempts, waited.count(), error);
    outcomes.push_back({pop_front(dest), false, error});
}

// The front of `dest` failed and may succeed later: back off, or give up when the next
// retry would pass its horizon (then also the deliveries behind it whose horizon passed).
void Outbox::Impl::after_failure(Destination& dest, const std::string& url,
                                 std::vector<Outcome>& outcomes) {
    const auto now = Clock::now();
    dest.backoff = dest.backoff.count() == 0 ? options.first_retry
                                             : std::min(dest.backoff * 2, options.max_retry);
    dest.due = now + dest.backoff;
    if (dest.due <= dest.queue.front()->queued_at + options.give_up_after) {
        spdlog::debug("outbox: {} failed ({}), next try in {} ms", url, dest.last_error,
                      dest.backoff.count());
        return;
    }
    give_up_front(dest, url, dest.last_error, outcomes);
    while (!dest.queue.empty() && now >= dest.queue.front()->queued_at + options.give_up_after)
        give_up_front(
            dest, url,
            "not attempted within its horizon: the receiver kept failing (" + dest.last_error + ")",
            outcomes);
}

void Outbox::register_metrics(telemetry::Metrics& metrics) const {
    Impl* s = impl_.get();
    const char* outcomes[] = {"delivered", "failed", "dropped"};
    for (const char* kind : kPreregisteredKinds) {
        for (const char* outcome : outcomes) {
            metrics.add_callback(
                std::string("tally_deliveries_total{kind=\"") + kind + "\",outcome=\"" + outcome +
                    "\"}",
                "Outbound deliveries (webhooks, Alertmanager, reports) by outcome.", "counter",
                [this, kind = std::string(kind), outcome = std::string(outcome)] {
                    const OutboxCounts c = counts(kind);
                    return double(outcome == "delivered" ? c.delivered
                                  : outcome == "failed"  ? c.failed
                                                         : c.dropped);
                });
        }
    }
    metrics.add_callback("tally_delivery_attempts_total",
                         "HTTP requests the outbox made (first attempts and retries).", "counter",
                         [s] { return double(s->attempts.load()); });
    metrics.add_callback("tally_delivery_retries_total",
                         "Outbox requests that retried a delivery that had failed.", "counter",
                         [s] { return double(s->retries.load()); });
    metrics.add_callback("tally_delivery_queue",
                         "Deliveries the outbox holds (queued or in flight).", "gauge",
                         [this] { return double(queued()); });
    metrics.add_callback("tally_delivery_queue_bytes",
                         "Bytes of the deliveries the outbox holds (max_bytes bounds them).",
                         "gauge", [this] { return double(queued_bytes()); });
}

OutboxCounts Outbox::counts(std::string_view kind) const {
    std::lock_guard lock(impl_->mutex);
    OutboxCounts total;
    for (const auto& [name, c] : impl_->kinds) {
        if (!kind.empty() && name != kind)
            continue;
        total.delivered += c->delivered.load();
        total.failed += c->failed.load();
        total.dropped += c->dropped.load();
    }
    return total;
}

std::uint64_t Outbox::attempts() const {
    return impl_->attempts.load();
}
std::uint64_t Outbox::retries() const {
    return impl_->retries.load();
}
std::size_t Outbox::queued() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->order.size();
}
std::size_t Outbox::queued_bytes() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->bytes;
}

}  // namespace tally::delivery
