#include "demo.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "tally/base/time.hpp"

namespace tally::daemon {

namespace {

// The site map, most visited first (Zipf: page k is visited about 1/k as often as the first).
// clang-format off
constexpr std::array<const char*, 24> kPages = {
    "/", "/pricing", "/features", "/blog", "/docs", "/blog/why-one-binary",
    "/docs/getting-started", "/signup", "/docs/api", "/features/live-dashboard",
    "/blog/hyperloglog-explained", "/login", "/about", "/changelog", "/docs/tracker",
    "/blog/exact-funnels", "/integrations", "/customers", "/contact", "/careers",
    "/docs/self-hosting", "/blog/redis-compatible", "/security", "/privacy"};
// clang-format on
constexpr std::array<const char*, 8> kReferrers = {
    "direct",     "google.com",  "news.ycombinator.com", "duckduckgo.com",
    "github.com", "twitter.com", "reddit.com",           "bing.com"};
constexpr std::array<double, 8> kReferrerWeights = {34, 30, 9, 6, 7, 5, 5, 4};
constexpr std::array<const char*, 12> kCountries = {"US", "DE", "GB", "FR", "IN", "BR",
                                                    "JP", "NL", "CA", "SE", "ES", "AU"};
constexpr std::array<double, 12> kCountryWeights = {30, 12, 10, 7, 9, 6, 5, 4, 5, 3, 4, 5};
// Custom events a session may fire between page views, besides the funnel's.
constexpr std::array<const char*, 5> kEvents = {"search", "video_play", "download",
                                                "outbound_click", "newsletter_subscribe"};
constexpr std::array<double, 5> kEventWeights = {35, 20, 20, 15, 10};

constexpr std::int64_t kMinuteMs = 60'000;

/// A returning visitor's identity: a logged-in user id, or a stand-in for the cookieless
/// hash; they come back from the same country on the same device.
struct Identity {
    std::string user_id;  // "" when anonymous
    std::string visitor_id;
    std::string country;
    Device device = Device::desktop;
};

/// One visit: a few page views and custom events, maybe the signup funnel.
struct Session {
    Identity who;
    std::string id;
    std::string referrer;  // where the visit came from, kept for all its page views
    int steps_left = 0;
    enum class Funnel { none, saw_pricing, started, done } funnel = Funnel::none;
};

/// The traffic model: draws the next event of a pool of concurrent sessions.
class Simulator {
  public:
    explicit Simulator(std::uint64_t seed)
        : rng_(seed),
          page_pick_(zipf()),
          referrer_pick_(kReferrerWeights.begin(), kReferrerWeights.end()),
          country_pick_(kCountryWeights.begin(), kCountryWeights.end()),
          event_pick_(kEventWeights.begin(), kEventWeights.end()),
          device_pick_({55, 38, 7}) {}

    /// Fills `event` with the next event, stamped `timestamp_ms`; `concurrency` is how many
    /// sessions are open at once.
    void next(Event& event, std::int64_t timestamp_ms, std::size_t concurrency) {
        while (active_.size() < concurrency)
            active_.push_back(new_session());
        const std::size_t index = uniform(active_.size());
        Session& s = active_[index];

        event = Event{};
        event.timestamp_ms = timestamp_ms;
        event.site = DemoTraffic::kSite;
        event.session_id = s.id;
        event.user_id = s.who.user_id;
        event.visitor_id = s.who.visitor_id;
        event.device = s.who.device;
        event.country = s.who.country;

        using Funnel = Session::Funnel;
        if (s.funnel == Funnel::saw_pricing && chance(0.35)) {
            custom(event, "signup_started", R"({"plan":"free"})");
            s.funnel = Funnel::started;
        } else if (s.funnel == Funnel::started && chance(0.45)) {
            custom(event, "signup_completed", R"({"plan":"free"})");
            s.funnel = Funnel::done;
        } else if (chance(0.12)) {
            custom(event, kEvents[event_pick_(rng_)], "");
        } else {
            event.kind = EventKind::pageview;
            // A visit to a funnel-minded session tends to look at the pricing.
            event.page =
                s.funnel == Funnel::none && chance(0.08) ? "/pricing" : kPages[page_pick_(rng_)];
            event.referrer = s.referrer;
            if (event.page == "/pricing" && s.funnel == Funnel::none)
                s.funnel = Funnel::saw_pricing;
        }
        if (--s.steps_left <= 0) {
            s = std::move(active_.back());
            active_.pop_back();
        }
    }

    std::mt19937_64& rng() { return rng_; }

  private:
    static std::discrete_distribution<std::size_t> zipf() {
        std::vector<double> weights;
        for (std::size_t i = 0; i < kPages.size(); ++i)
            weights.push_back(1.0 / static_cast<double>(i + 1));
        return {weights.begin(), weights.end()};
    }

    std::size_t uniform(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

    static void custom(Event& event, const char* name, const char* properties) {
        event.kind = EventKind::custom;
        event.event_name = name;
        event.properties = properties;
    }

    Session new_session() {
        Session s;
        // A third of the visits are by someone seen before.
        if (!known_.empty() && chance(0.33)) {
            s.who = known_[uniform(known_.size())];
        } else {
            const std::uint64_t n = next_visitor_++;
            if (chance(0.3)) {
                s.who.user_id = "user-" + std::to_string(n);
                s.who.visitor_id = s.who.user_id;
            } else {
                s.who.visitor_id = "anon-" + std::to_string(n);
            }
            s.who.country = kCountries[country_pick_(rng_)];
            s.who.device = static_cast<Device>(device_pick_(rng_));
            if (known_.size() < kKnownVisitors)
                known_.push_back(s.who);
            else
                known_[uniform(known_.size())] = s.who;
        }
        s.id = "demo-" + std::to_string(rng_() % 1'000'000'000'000);
        s.referrer = kReferrers[referrer_pick_(rng_)];
        // 1 to ~12 steps, 4 on average.
        s.steps_left = 1 + std::geometric_distribution<int>(0.28)(rng_);
        return s;
    }

    static constexpr std::size_t kKnownVisitors = 5'000;

    std::mt19937_64 rng_;
    std::discrete_distribution<std::size_t> page_pick_;
    std::discrete_distribution<std::size_t> referrer_pick_;
    std::discrete_distribution<std::size_t> country_pick_;
    std::discrete_distribution<std::size_t> event_pick_;
    std::discrete_distribution<int> device_pick_;
    std::vector<Session> active_;
    std::vector<Identity> known_;
    std::uint64_t next_visitor_ = 0;
};

/// Events per minute at minute `m` of the day for the backfill, given the live traffic's
/// mean rate per second: low at night (a fifth of it), the full rate in the (UTC)
/// afternoon, so the chart runs on into the live minutes without a step. At 5 events/s
/// a whole day is about 260,000 events, a second or two of work at start.
double daily_curve(std::int64_t minute_of_day, double rate_per_s) {
    const double hours = static_cast<double>(minute_of_day) / 60.0;
    const double shape = 0.6 + 0.4 * std::sin((hours - 9.0) / 24.0 * 2.0 * std::numbers::pi);
    return 60.0 * rate_per_s * shape;
}

/// Whether site `default` holds nothing for the day of `now`.
bool day_is_empty(const store::Store& store, std::int64_t now) {
    const std::int64_t today = day_of(now);
    bool empty = true;
    store.visit_site(DemoTraffic::kSite, [&](const store::SiteShard& part) {
        if (part.days.contains(today))
            empty = false;
    });
    return empty;
}

// ---- The demo shop's backend, as metrics ----------------------------------------------
//
// Behind each page view the shop's backend answers a few requests; they report what a
// metrics client would: demo.http.requests (counter by endpoint and status),
// demo.http.latency_ms (distribution by endpoint), demo.process.memory_mb (gauge) and
// demo.users.active (set of visitor ids).

struct Endpoint {
    const char* path;
    double weight;     // share of the requests
    double median_ms;  // the latency's median; log-normal around it with `sigma`
    double sigma;
    double errors;  // share answered 500 (404s are a flat 3 %)
};
// clang-format off
constexpr std::array<Endpoint, 6> kEndpoints = {{
    {"/",             30, 14,  0.35, 0.002},
    {"/search",       20, 48,  0.55, 0.006},
    {"/api/products", 18, 26,  0.40, 0.004},
    {"/api/cart",     16, 32,  0.45, 0.008},
    {"/login",         9, 85,  0.30, 0.004},
    {"/api/checkout",  7, 170, 0.50, 0.025},
}};
// clang-format on
constexpr std::size_t kVisitorPool = 400;
constexpr std::int64_t kMetricsBackfillMs = 15 * kMinuteMs;

/// A sine of period `period_s` seconds at time `t_ms`, so a backfill and live points agree.
double wave(std::int64_t t_ms, double period_s) {
    return std::sin(static_cast<double>(t_ms) / 1000.0 / period_s * 2.0 * std::numbers::pi);
}

MetricPoint metric(const char* name, MetricType type, std::int64_t timestamp_ms) {
    MetricPoint point;
    point.name = name;
    point.type = type;
    point.timestamp_ms = timestamp_ms;
    return point;
}

class Backend {
  public:
    Backend() {
        std::vector<double> weights;
        for (const Endpoint& e : kEndpoints)
            weights.push_back(e.weight);
        endpoint_pick_ = {weights.begin(), weights.end()};
    }

    /// Appends the points of one step at `timestamp_ms`: one to three requests, then the
    /// process's memory.
    void step(std::mt19937_64& rng, std::int64_t timestamp_ms, std::vector<MetricPoint>& out) {
        for (int n = 1 + std::binomial_distribution<int>(2, 0.4)(rng); n > 0; --n)
            request(rng, timestamp_ms, out);
        MetricPoint memory = metric("demo.process.memory_mb", MetricType::gauge, timestamp_ms);
        memory.value = memory_mb(rng, timestamp_ms);
        out.push_back(std::move(memory));
    }

  private:
    void request(std::mt19937_64& rng, std::int64_t timestamp_ms, std::vector<MetricPoint>& out) {
        std::uniform_real_distribution<double> unit(0, 1);
        const Endpoint& e = kEndpoints[endpoint_pick_(rng)];
        const double draw = unit(rng);
        const char* status = draw < e.errors ? "500" : draw < e.errors + 0.03 ? "404" : "200";
        MetricPoint count = metric("demo.http.requests", MetricType::count, timestamp_ms);
        count.value = 1;
        count.tags = {{"endpoint", e.path}, {"status", status}};  // sorted by key
        out.push_back(std::move(count));

        // Log-normal around a median that drifts over a few minutes, and a slow tail.
        const double drift = 1.0 + 0.2 * wave(timestamp_ms, 420);
        double ms = e.median_ms * drift * std::exp(e.sigma * std::normal_distribution<>(0, 1)(rng));
        if (unit(rng) < 0.015)
            ms *= 4 + 8 * unit(rng);
        MetricPoint latency = metric("demo.http.latency_ms", MetricType::percentile, timestamp_ms);
        latency.value = std::round(ms * 100) / 100;
        latency.tags = {{"endpoint", e.path}};
        out.push_back(std::move(latency));

        MetricPoint user = metric("demo.users.active", MetricType::unique, timestamp_ms);
        user.member = "visitor-" + std::to_string(rng() % kVisitorPool);
        out.push_back(std::move(user));
    }

    /// A slow swell, a shorter ripple and a garbage collector's saw-tooth, plus noise.
    static double memory_mb(std::mt19937_64& rng, std::int64_t t_ms) {
        const double sawtooth = static_cast<double>(t_ms % 90'000) / 90'000.0;
        const double noise = std::normal_distribution<>(0, 0.8)(rng);
        const double mb = 240 + 30 * wave(t_ms, 1200) + 8 * wave(t_ms, 190) + 36 * sawtooth + noise;
        return std::round(mb * 10) / 10;
    }

    std::discrete_distribution<std::size_t> endpoint_pick_;
};

}  // namespace

/// What the generator keeps between steps.
struct DemoTraffic::State {
    explicit State(std::uint32_t seed) : sim(seed) {}
    Simulator sim;
    Event event;
    Backend backend;
    std::vector<MetricPoint> points;  // one step's, or a backfilled minute's
    std::vector<BatchItemRejection> refused;
    bool backfilled = false;
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
    double surge_until = 0;
};

DemoTraffic::DemoTraffic(write::WritePath& write_path, std::size_t writer,
                         const store::Store& store, double rate)
    : write_path_(write_path),
      writer_(writer),
      store_(store),
      rate_(rate),
      state_(std::make_unique<State>(std::random_device{}())) {
    // The step paces itself (a random wait per event), so the loop runs it back to back.
    loop_.start(std::chrono::milliseconds(0), [this] { step(); });
}

DemoTraffic::~DemoTraffic() {
    loop_.stop();
}

void DemoTraffic::write(const Event& event) {
    // Refusals (a cap reached, the log unwritable) only thin the demo's traffic.
    (void)write_path_.admit_and_write(writer_, event, now_ms());
}

void DemoTraffic::write_points(State& state) {
    // Like write(): a refused point (a series cap reached) only thins the demo's metrics.
    state.refused.clear();
    (void)write_path_.write_points(writer_, state.points, state.refused, now_ms());
    state.points.clear();
}

void DemoTraffic::backfill_metrics(State& state, std::int64_t now) {
    // The last minutes at the mean rate, a minute per write, so the charts have a history.
    auto& rng = state.sim.rng();
    std::exponential_distribution<double> gap_ms(rate_ / 1000.0);
    for (double t = static_cast<double>(now - kMetricsBackfillMs); t < static_cast<double>(now);) {
        const double minute_end = t + static_cast<double>(kMinuteMs);
        for (; t < minute_end && t < static_cast<double>(now); t += gap_ms(rng))
            state.backend.step(rng, static_cast<std::int64_t>(t), state.points);
        write_points(state);
    }
}

void DemoTraffic::backfill(State& state) {
    // Today's earlier minutes, when today is empty (a fresh data dir, or a new day).
    auto& rng = state.sim.rng();
    const std::int64_t start = now_ms();
    if (!day_is_empty(store_, start))
        return;
    backfill_metrics(state, start);
    const std::int64_t first = day_of(start) * 86'400'000;
    for (std::int64_t minute = first; minute + kMinuteMs <= start; minute += kMinuteMs) {
        std::poisson_distribution<int> count(daily_curve((minute - first) / kMinuteMs, rate_));
        std::uniform_int_distribution<std::int64_t> within(0, kMinuteMs - 1);
        for (int n = count(rng); n > 0; --n) {
            state.sim.next(state.event, minute + within(rng), 4);
            write(state.event);
        }
        if (loop_.stopping())  // a stop during the backfill
            return;
    }
}

void DemoTraffic::step() {
    State& state = *state_;
    if (!state.backfilled) {
        state.backfilled = true;
        backfill(state);
    }
    // Live traffic. The rate drifts over a few minutes between about a fifth and twice
    // `rate_`, with short surges, so the chart and the feed move.
    auto& rng = state.sim.rng();
    std::uniform_real_distribution<double> unit(0, 1);
    const double t =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - state.t0).count();
    if (t > state.surge_until && unit(rng) < 0.002)
        state.surge_until = t + 5 + 10 * unit(rng);
    double rate = rate_ * (1.1 + 0.9 * std::sin(t / 180.0 * 2.0 * std::numbers::pi));
    if (t < state.surge_until)
        rate *= 2.5;
    rate = std::max(rate, 1.0);
    const double wait_s = std::exponential_distribution<double>(rate)(rng);
    if (!loop_.sleep_for(std::chrono::milliseconds(std::llround(wait_s * 1000))))
        return;
    // More concurrent sessions when busier: each one then stays open longer in time.
    const std::int64_t now = now_ms();
    state.sim.next(state.event, now, 5 + static_cast<std::size_t>(rate));
    write(state.event);
    state.backend.step(rng, now, state.points);
    write_points(state);
}

}  // namespace tally::daemon
