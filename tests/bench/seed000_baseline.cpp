// seed000_baseline: the design Tally replaces, measured, as the mirror benchmark's baseline.
//
// Seed 000 (a Redis tutorial's "real-time analytics dashboard") keeps no state of its own:
// its ingestion service turns every page view into one pipeline of Redis commands and
// waits for the replies before answering. This program does exactly that, as fast as it
// can, and reports what it costs Redis. Per page view, in the seed's order (its
// `track_page_view`), with the mirror's key names (src/redis/keys) (S the site, D the UTC date):
//
//   INCR    tally:{S}:count:pageviews:D            (day)
//   INCR    tally:{S}:count:pageviews:D:HH         (hour)
//   INCR    tally:{S}:count:pageviews:D:HH:MM      (minute)
//   ZINCRBY tally:{S}:pages:D 1 <sanitized url>
//   PFADD   tally:{S}:hll:visitors:D <user_id>     (only when the event has a user_id)
//   PFADD   tally:{S}:hll:sessions:D <session_id>
//   SADD    tally:{S}:active:D:<minute/5> <session_id>
//   EXPIRE  tally:{S}:active:D:<minute/5> 300
//   HINCRBY tally:{S}:devices:D <device> 1
//   ZINCRBY tally:{S}:referrers:D 1 <domain>       (only when the event has a referrer)
//   ZINCRBY tally:{S}:countries:D 1 <country>      (only when the event has a country)
//   PUBLISH tally:{S}:realtime {"type":"pageview","page":...,"timestamp":...}
//
// That is 12 commands for an event with every field. Two choices favour the baseline, so
// that "Tally ingests >= 20x its events/s" is a conservative claim:
//   - the seed sends PUBLISH as a second round trip after the pipeline; here it rides in
//     the same pipeline (one round trip per event);
//   - the seed's `ts:pageviews:D` time-series add needs a module Redis 7 does not have; the
//     minute counter above carries the same information, so it is left out.
// Events are pre-generated (Zipf pages over 500 paths, 10,000 visitors with up to three
// sessions each, referrers, countries, devices), so the client's own work stays small: on a
// two-core machine client and Redis share the CPU, and the less the client takes, the more
// the baseline gets.
//
// Like the seed's service, each client thread has its own connection and one event in
// flight (it waits for the pipeline's replies before the next event). Redis CPU is the
// delta of `INFO cpu` used_cpu_sys + used_cpu_user over the run; commands are counted by
// the client. At the end the day counters are read back and must equal the events sent.
//
//   seed000_baseline [--seconds 10 | --events N] [--threads 8] [--redis HOST:PORT]
//                    [--site NAME]
//
// Without --redis it starts its own redis-server (--save "" --appendonly no, a free
// loopback port, a temporary directory) and removes it at the end. With --redis it writes
// into that server under a site name unique to the run (the seed's keys have no TTL but
// the 5-minute active sets, so use a scratch Redis).

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/redis_server.hpp"
#include "zipf.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using tally::test::RedisContext;
using tally::test::RedisReply;

struct Options {
    double seconds = 10;
    long long events = 0;  // when > 0, run for this many events instead of `seconds`
    int threads = 8;
    std::string redis;  // host:port; empty = start our own
    std::string site;
};

constexpr int kPages = 500;
constexpr int kVisitors = 10000;
constexpr int kSessionsPerVisitor = 3;
constexpr int kEventsPerThread = 8192;  // pre-generated, then cycled

/// One page view as the seed's service holds it after its own parsing: the page already
/// sanitized (`sanitize_key`) and the referrer reduced to its domain (`extract_domain`).
struct PageView {
    std::string page_key;
    std::string user_id;
    std::string session_id;
    std::string referrer_domain;  // empty: no referrer, no command
    std::string country;          // empty: no country, no command
    std::string device;
    std::string publish;  // the PUBLISH payload
};

/// The seed's `sanitize_key`: ':' and '/' become '_', at most 100 characters.
std::string sanitize_key(std::string_view url) {
    std::string out(url.substr(0, 100));
    std::replace(out.begin(), out.end(), ':', '_');
    std::replace(out.begin(), out.end(), '/', '_');
    return out;
}

/// The seed's `extract_domain`: what follows "//" up to the next '/'.
std::string extract_domain(std::string_view url) {
    const auto start = url.find("//");
    if (start == std::string_view::npos)
        return "direct";
    const auto host = url.substr(start + 2);
    return std::string(host.substr(0, host.find('/')));
}

/// Realistic page views, deterministic for a seed.
class PageViewMaker {
  public:
    explicit PageViewMaker(unsigned seed) : rng_(seed), zipf_(kPages) {}

    PageView next() {
        // Referrer shares roughly as small sites see them: 40 % direct.
        static const char* const kReferrers[] = {"",
                                                 "",
                                                 "",
                                                 "",
                                                 "https://www.google.com/search?q=tally",
                                                 "https://www.google.com/search?q=analytics",
                                                 "https://news.ycombinator.com/item?id=1",
                                                 "https://twitter.com/someone/status/1",
                                                 "https://duckduckgo.com/?q=tally",
                                                 "https://www.bing.com/search?q=tally"};
        static const char* const kCountries[] = {"US", "US", "US", "DE", "DE", "GB", "FR", "IN",
                                                 "BR", "JP", "NL", "CA", "SE", "ES", "IT", ""};
        PageView v;
        const std::string url = "https://shop.example.com/p/" + std::to_string(zipf());
        v.page_key = sanitize_key(url);
        const int visitor = static_cast<int>(rng_() % kVisitors);
        v.user_id = "user-" + std::to_string(visitor);
        v.session_id = "sess-" + std::to_string(visitor * kSessionsPerVisitor +
                                                static_cast<int>(rng_() % kSessionsPerVisitor));
        const char* referrer = kReferrers[rng_() % std::size(kReferrers)];
        if (*referrer != '\0')
            v.referrer_domain = extract_domain(referrer);
        v.country = kCountries[rng_() % std::size(kCountries)];
        const auto d = rng_() % 100;
        v.device = d < 55 ? "desktop" : d < 95 ? "mobile" : "tablet";
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
        v.publish =
            R"({"type":"pageview","page":")" + url + R"(","timestamp":)" + std::to_string(ms) + "}";
        return v;
    }

  private:
    int zipf() { return zipf_(rng_); }
    std::mt19937_64 rng_;
    tally::bench::Zipf zipf_;
};

/// The keys of one UTC minute, rebuilt only when the minute changes (the seed formats them
/// per event; that is the service's CPU, not Redis's, and this keeps the client light).
struct MinuteKeys {
    long long minute = -1;  // minutes since the epoch
    std::string date;
    std::string day, hour, min, pages, visitors, sessions, active, devices, referrers, countries,
        channel;

    void update(const std::string& prefix, long long now_minute) {
        if (now_minute == minute)
            return;
        minute = now_minute;
        const std::time_t t = static_cast<std::time_t>(now_minute * 60);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
        date = buf;
        char hh[8];
        char mm[8];
        std::snprintf(hh, sizeof hh, "%02d", tm.tm_hour);
        std::snprintf(mm, sizeof mm, "%02d", tm.tm_min);
        day = prefix + "count:pageviews:" + date;
        hour = day + ":" + hh;
        min = hour + ":" + mm;
        pages = prefix + "pages:" + date;
        visitors = prefix + "hll:visitors:" + date;
        sessions = prefix + "hll:sessions:" + date;
        active = prefix + "active:" + date + ":" + std::to_string(tm.tm_min / 5);
        devices = prefix + "devices:" + date;
        referrers = prefix + "referrers:" + date;
        countries = prefix + "countries:" + date;
        channel = prefix + "realtime";
    }
};

/// A pipeline under construction: argv arrays for hiredis, reused for every event.
class Pipeline {
  public:
    explicit Pipeline(redisContext* c) : c_(c) {}

    void add(std::initializer_list<std::string_view> args) {
        ptrs_.clear();
        lens_.clear();
        for (auto a : args) {
            ptrs_.push_back(a.data());
            lens_.push_back(a.size());
        }
        if (redisAppendCommandArgv(c_, static_cast<int>(ptrs_.size()), ptrs_.data(),
                                   lens_.data()) != REDIS_OK) {
            throw std::runtime_error(std::string("redis append: ") + c_->errstr);
        }
        ++queued_;
    }

    /// Sends the queued commands and reads every reply; returns how many there were.
    int execute() {
        const int n = queued_;
        queued_ = 0;
        for (int i = 0; i < n; ++i) {
            void* raw = nullptr;
            if (redisGetReply(c_, &raw) != REDIS_OK || raw == nullptr)
                throw std::runtime_error(std::string("redis reply: ") + c_->errstr);
            const RedisReply reply(static_cast<redisReply*>(raw));
            if (reply->type == REDIS_REPLY_ERROR)
                throw std::runtime_error("redis error: " + std::string(reply->str, reply->len));
        }
        return n;
    }

  private:
    redisContext* c_;
    std::vector<const char*> ptrs_;
    std::vector<std::size_t> lens_;
    int queued_ = 0;
};

struct ThreadResult {
    long long events = 0;
    long long commands = 0;
    std::set<std::string> dates;  // every UTC date this thread counted under
    std::string error;
};

/// One client of the seed's service: its own connection, one event in flight.
void run_client(const std::string& host, int port, const std::string& prefix, unsigned seed,
                const Options& o, std::atomic<long long>& budget, Clock::time_point deadline,
                ThreadResult& out) {
    try {
        const timeval tv{5, 0};
        const RedisContext c(redisConnectWithTimeout(host.c_str(), port, tv));
        if (!c || c->err)
            throw std::runtime_error("connect: " + std::string(c ? c->errstr : "out of memory"));
        PageViewMaker maker(seed);
        std::vector<PageView> events;
        events.reserve(kEventsPerThread);
        for (int i = 0; i < kEventsPerThread; ++i)
            events.push_back(maker.next());

        Pipeline pipe(c.get());
        MinuteKeys k;
        std::string last_date;
        for (std::size_t i = 0;; ++i) {
            if (o.events > 0 ? budget.fetch_sub(1, std::memory_order_relaxed) <= 0
                             : Clock::now() >= deadline) {
                break;
            }
            const PageView& e = events[i % events.size()];
            const auto now = std::chrono::system_clock::now().time_since_epoch();
            k.update(prefix, std::chrono::duration_cast<std::chrono::minutes>(now).count());
            if (k.date != last_date) {
                out.dates.insert(k.date);
                last_date = k.date;
            }
            pipe.add({"INCR", k.day});
            pipe.add({"INCR", k.hour});
            pipe.add({"INCR", k.min});
            pipe.add({"ZINCRBY", k.pages, "1", e.page_key});
            if (!e.user_id.empty())
                pipe.add({"PFADD", k.visitors, e.user_id});
            pipe.add({"PFADD", k.sessions, e.session_id});
            pipe.add({"SADD", k.active, e.session_id});
            pipe.add({"EXPIRE", k.active, "300"});
            pipe.add({"HINCRBY", k.devices, e.device, "1"});
            if (!e.referrer_domain.empty())
                pipe.add({"ZINCRBY", k.referrers, "1", e.referrer_domain});
            if (!e.country.empty())
                pipe.add({"ZINCRBY", k.countries, "1", e.country});
            pipe.add({"PUBLISH", k.channel, e.publish});
            out.commands += pipe.execute();
            ++out.events;
        }
    } catch (const std::exception& e) {
        out.error = e.what();
    }
}

/// used_cpu_sys + used_cpu_user from INFO cpu, in seconds.
double redis_cpu_seconds(redisContext* c) {
    const RedisReply r(static_cast<redisReply*>(redisCommand(c, "INFO cpu")));
    if (!r || r->type != REDIS_REPLY_STRING)
        throw std::runtime_error("INFO cpu failed");
    const std::string info(r->str, r->len);
    double total = 0;
    for (const char* field : {"used_cpu_sys:", "used_cpu_user:"}) {
        const auto at = info.find(field);
        if (at == std::string::npos)
            throw std::runtime_error(std::string("INFO cpu has no ") + field);
        total += std::strtod(info.c_str() + at + std::string_view(field).size(), nullptr);
    }
    return total;
}

long long get_integer(redisContext* c, const char* format, const std::string& key) {
    const RedisReply r(static_cast<redisReply*>(redisCommand(c, format, key.c_str())));
    if (!r)
        throw std::runtime_error(std::string("redis: ") + c->errstr);
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return std::strtoll(r->str, nullptr, 10);
    return 0;  // nil: the key does not exist
}

int usage() {
    std::fprintf(stderr,
                 "usage: seed000_baseline [--seconds 10 | --events N] [--threads 8] "
                 "[--redis HOST:PORT] [--site NAME]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; i += 2) {
        const std::string k = argv[i];
        if (i + 1 >= argc)
            return usage();
        const char* v = argv[i + 1];
        if (k == "--seconds")
            o.seconds = std::strtod(v, nullptr);
        else if (k == "--events")
            o.events = std::strtoll(v, nullptr, 10);
        else if (k == "--threads")
            o.threads = static_cast<int>(std::strtol(v, nullptr, 10));
        else if (k == "--redis")
            o.redis = v;
        else if (k == "--site")
            o.site = v;
        else
            return usage();
    }
    if (o.threads < 1 || (o.events <= 0 && o.seconds <= 0))
        return usage();
    if (o.site.empty()) {
        // Unique per run, so that the read-back check holds on a Redis that has data.
        o.site =
            "seed000-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    }

    try {
        std::optional<tally::test::RedisServer> own;
        std::string host;
        int port = 0;
        if (o.redis.empty()) {
            own.emplace();
            host = own->host();
            port = own->port();
        } else {
            const auto colon = o.redis.rfind(':');
            if (colon == std::string::npos)
                return usage();
            host = o.redis.substr(0, colon);
            port = static_cast<int>(std::strtol(o.redis.c_str() + colon + 1, nullptr, 10));
        }
        const timeval tv{5, 0};
        const RedisContext admin(redisConnectWithTimeout(host.c_str(), port, tv));
        if (!admin || admin->err) {
            std::fprintf(stderr, "seed000_baseline: cannot connect to %s:%d\n", host.c_str(), port);
            return 1;
        }
        const std::string prefix = "tally:{" + o.site + "}:";

        std::atomic<long long> budget{o.events};
        std::vector<ThreadResult> results(static_cast<std::size_t>(o.threads));
        std::vector<std::thread> threads;
        const double cpu_before = redis_cpu_seconds(admin.get());
        const auto start = Clock::now();
        const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(o.seconds));
        threads.reserve(results.size());
        for (int t = 0; t < o.threads; ++t) {
            threads.emplace_back(run_client, std::cref(host), port, std::cref(prefix),
                                 static_cast<unsigned>(1000 + t), std::cref(o), std::ref(budget),
                                 deadline, std::ref(results[static_cast<std::size_t>(t)]));
        }
        for (auto& t : threads)
            t.join();
        const double wall = std::chrono::duration<double>(Clock::now() - start).count();
        const double cpu = redis_cpu_seconds(admin.get()) - cpu_before;

        long long events = 0;
        long long commands = 0;
        std::set<std::string> dates;
        for (const auto& r : results) {
            if (!r.error.empty()) {
                std::fprintf(stderr, "seed000_baseline: client failed: %s\n", r.error.c_str());
                return 1;
            }
            events += r.events;
            commands += r.commands;
            dates.insert(r.dates.begin(), r.dates.end());
        }
        // The day counters must hold every event sent: the pipelines really ran.
        long long counted = 0;
        for (const auto& date : dates) {
            std::string key = prefix;
            key += "count:pageviews:";
            key += date;
            counted += get_integer(admin.get(), "GET %s", key);
        }
        const long long visitors = dates.empty()
                                       ? 0
                                       : get_integer(admin.get(), "PFCOUNT %s",
                                                     prefix + "hll:visitors:" + *dates.rbegin());

        std::printf(
            "seed000 threads=%d events=%lld seconds=%.2f events_per_s=%.0f commands=%lld "
            "commands_per_event=%.2f commands_per_s=%.0f redis_cpu_s=%.2f "
            "redis_cpu_pct=%.0f visitors_pfcount=%lld check=%s\n",
            o.threads, events, wall, events / wall, commands,
            events ? static_cast<double>(commands) / static_cast<double>(events) : 0.0,
            static_cast<double>(commands) / wall, cpu, 100.0 * cpu / wall, visitors,
            counted == events ? "ok" : "MISMATCH");
        return counted == events ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "seed000_baseline: %s\n", e.what());
        return 1;
    }
}
