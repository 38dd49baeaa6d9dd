#include "demo.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "app.hpp"

namespace tally::daemon {

namespace {

constexpr std::array<const char*, 12> kPages = {
    "/",        "/pricing",  "/features", "/blog",  "/blog/why-one-binary",
    "/docs",    "/docs/api", "/signup",   "/login", "/about",
    "/contact", "/changelog"};
constexpr std::array<const char*, 7> kReferrers = {
    "direct",      "google.com", "news.ycombinator.com", "duckduckgo.com", "github.com",
    "twitter.com", "reddit.com"};
constexpr std::array<const char*, 10> kCountries = {"US", "DE", "GB", "FR", "IN",
                                                    "BR", "JP", "NL", "CA", "SE"};

/// One simulated visitor: a session that views a few pages and sometimes walks the
/// signup funnel (pageview:/pricing -> signup -> purchase).
struct Visitor {
    std::string user;
    std::string session;
    std::string country;
    ingest::Device device;
    int pages_left;
    int funnel_stage;  // 0 none, 1 saw pricing, 2 signed up, 3 purchased
};

}  // namespace

DemoTraffic::DemoTraffic(std::function<bool(ingest::Event&)> ingest, double rate)
    : ingest_(std::move(ingest)), rate_(rate), thread_([this] { run(); }) {}

DemoTraffic::~DemoTraffic() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void DemoTraffic::run() {
    std::mt19937_64 rng(std::random_device{}());
    auto uniform = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    // Zipf-like page popularity: weight 1/(rank+1).
    std::vector<double> weights;
    for (std::size_t i = 0; i < kPages.size(); ++i)
        weights.push_back(1.0 / static_cast<double>(i + 1));
    std::discrete_distribution<std::size_t> page_pick(weights.begin(), weights.end());
    std::discrete_distribution<std::size_t> referrer_pick({40, 25, 10, 6, 8, 6, 5});
    std::discrete_distribution<int> device_pick({55, 38, 7});
    std::exponential_distribution<double> gap(rate_);

    std::vector<Visitor> active;
    std::uint64_t next_session = 0;
    ingest::Event event;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        cv_.wait_for(lock, std::chrono::duration<double>(gap(rng)), [this] { return stopping_; });
        if (stopping_)
            break;
        lock.unlock();

        // New visitors arrive; a fifth of them are returning users.
        if (active.size() < 40 && (active.empty() || uniform(3) == 0)) {
            const std::uint64_t id = next_session++;
            const bool returning = uniform(5) == 0 && id > 10;
            active.push_back({"visitor-" + std::to_string(returning ? uniform(id) : id + 1'000'000),
                              "demo-" + std::to_string(id), kCountries[uniform(kCountries.size())],
                              static_cast<ingest::Device>(device_pick(rng)),
                              1 + static_cast<int>(uniform(6)), 0});
        }
        Visitor& v = active[uniform(active.size())];
        const std::int64_t now = now_ms();
        event = ingest::Event{};
        event.timestamp_ms = now;
        event.site = "default";
        event.session_id = v.session;
        event.user_id = v.user;
        event.visitor_id = v.user;
        event.device = v.device;
        event.country = v.country;
        if (v.funnel_stage == 1 && uniform(3) == 0) {
            event.kind = ingest::EventKind::custom;
            event.event_name = "signup";
            event.properties = R"({"plan":"free"})";
            v.funnel_stage = 2;
        } else if (v.funnel_stage == 2 && uniform(4) == 0) {
            event.kind = ingest::EventKind::custom;
            event.event_name = "purchase";
            event.properties = R"({"plan":"pro"})";
            v.funnel_stage = 3;
        } else {
            event.kind = ingest::EventKind::pageview;
            event.page = kPages[page_pick(rng)];
            event.referrer = kReferrers[referrer_pick(rng)];
            if (event.page == "/pricing" && v.funnel_stage == 0)
                v.funnel_stage = 1;
            --v.pages_left;
        }
        ingest_(event);
        if (v.pages_left <= 0) {
            v = std::move(active.back());
            active.pop_back();
        }
        lock.lock();
    }
}

}  // namespace tally::daemon
