// bots_bench: what the bot filter costs a tracking request.
//
//   bots_bench [seconds-per-case] [crawler-user-agents.json]
//
// Traffic is 95 % browsers and 5 % crawlers: about 2,000 distinct browser User-Agents
// (real ones with varied versions) and the package's own example crawler User-Agents,
// each drawn with Zipf popularity, as real logs look: a few User-Agents make most
// requests. Cases:
//   matches()   CrawlerList::matches on every request (RE2, no cache)
//   is_bot()    UserAgentCache::is_bot, one cache as one I/O worker would have it
//   and, on 20 real User-Agents, the two ways to run the patterns in RE2: one RE2::Set
//   (what CrawlerList does) and one alternation "(?:p1)|(?:p2)|...".
// Prints ns/call: CPU time of this thread, so a busy machine barely moves the figures.

#include <re2/re2.h>
#include <re2/set.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tally/bots/crawler_list.hpp"
#include "tally/bots/user_agent_cache.hpp"
#include "zipf.hpp"

using nlohmann::json;
using tally::bots::CrawlerList;
using tally::bots::UserAgentCache;

namespace {

// Resident memory, from /proc/self/statm: what loading the list and matching with it add.
double resident_mib() {
    std::ifstream statm("/proc/self/statm");
    double pages = 0;
    double resident = 0;
    statm >> pages >> resident;
    return resident * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double thread_cpu_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

// Runs `one_round` (which makes `calls_per_round` calls) for about `seconds` of CPU time,
// after one warm-up round; returns CPU ns per call.
double time_it(double seconds, std::size_t calls_per_round,
               const std::function<void()>& one_round) {
    one_round();
    std::size_t rounds = 0;
    const double start = thread_cpu_ns();
    double now = 0;
    do {
        one_round();
        ++rounds;
        now = thread_cpu_ns();
    } while (now - start < seconds * 1e9);
    return (now - start) / static_cast<double>(rounds * calls_per_round);
}

// The pieces of a User-Agent, joined in one buffer.
std::string join(std::initializer_list<std::string_view> pieces) {
    std::string out;
    for (const std::string_view piece : pieces)
        out += piece;
    return out;
}

constexpr std::string_view kWebKit = ") AppleWebKit/537.36 (KHTML, like Gecko) Chrome/";

// Chrome, Edge and Firefox User-Agents of one major version, on desktops and phones.
void add_chromium_and_firefox(int major, std::vector<std::string>& out) {
    const std::string_view desktops[] = {"Windows NT 10.0; Win64; x64",
                                         "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64"};
    const std::string_view phones[] = {"Pixel 8", "SM-S918B", "SM-A546B", "K", "moto g(60)"};
    const std::string version = std::to_string(major);
    for (int build = 0; build < 20; ++build) {
        const std::string chrome = join({version, ".0.", std::to_string(6000 + major * 7 + build),
                                         ".", std::to_string(build * 13 % 200)});
        const std::string_view desktop = desktops[build % 3];
        out.push_back(join({"Mozilla/5.0 (", desktop, kWebKit, chrome, " Safari/537.36"}));
        out.push_back(join({"Mozilla/5.0 (Linux; Android ", std::to_string(10 + build % 5), "; ",
                            phones[build % 5], kWebKit, chrome, " Mobile Safari/537.36"}));
        if (build % 4 == 0)
            out.push_back(
                join({"Mozilla/5.0 (", desktop, kWebKit, chrome, " Safari/537.36 Edg/", chrome}));
    }
    const std::string gecko = version + ".0";
    for (const std::string_view desktop : desktops)
        out.push_back(
            join({"Mozilla/5.0 (", desktop, "; rv:", gecko, ") Gecko/20100101 Firefox/", gecko}));
    out.push_back(join(
        {"Mozilla/5.0 (Android 14; Mobile; rv:", gecko, ") Gecko/", gecko, " Firefox/", gecko}));
}

// Safari User-Agents of one iOS/macOS version: iPhone, iPad, Mac.
void add_safari(int major, int minor, std::vector<std::string>& out) {
    const std::string underscored = join({std::to_string(major), "_", std::to_string(minor)});
    const std::string dotted = join({std::to_string(major), ".", std::to_string(minor)});
    for (const std::string_view device : {"iPhone; CPU iPhone OS ", "iPad; CPU OS "})
        out.push_back(join({"Mozilla/5.0 (", device, underscored,
                            " like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/",
                            dotted, " Mobile/15E148 Safari/604.1"}));
    out.push_back(
        join({"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/",
              dotted, " Safari/605.1.15"}));
}

// Distinct browser User-Agents: real templates with the versions and devices that vary.
std::vector<std::string> browser_user_agents() {
    std::vector<std::string> out;
    for (int major = 100; major < 125; ++major)
        add_chromium_and_firefox(major, out);
    for (int ios = 0; ios < 40; ++ios)
        add_safari(15 + ios / 10, ios % 10, out);
    return out;
}

struct Traffic {
    std::vector<std::string> requests;
    std::size_t distinct = 0;
};

// `count` requests, 95 % browsers and 5 % crawlers, each side Zipf-popular.
Traffic make_traffic(const json& list, std::size_t count) {
    const std::vector<std::string> browsers = browser_user_agents();
    std::vector<std::string> crawlers;
    for (const json& entry : list)
        for (const json& instance : entry.value("instances", json::array()))
            crawlers.push_back(instance.get<std::string>());
    std::mt19937 rng(42);
    std::shuffle(crawlers.begin(), crawlers.end(), rng);
    std::vector<std::string> shuffled = browsers;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const tally::bench::Zipf browser_rank(static_cast<int>(shuffled.size()));
    const tally::bench::Zipf crawler_rank(static_cast<int>(crawlers.size()));
    Traffic traffic;
    for (std::size_t i = 0; i < count; ++i) {
        traffic.requests.push_back(rng() % 100 < 5 ? crawlers[crawler_rank(rng)]
                                                   : shuffled[browser_rank(rng)]);
    }
    std::vector<std::string> unique = traffic.requests;
    std::sort(unique.begin(), unique.end());
    traffic.distinct =
        static_cast<std::size_t>(std::unique(unique.begin(), unique.end()) - unique.begin());
    std::printf(
        "traffic: %zu requests, %zu distinct User-Agents (%zu browser, %zu crawler "
        "kinds available)\n",
        count, traffic.distinct, browsers.size(), crawlers.size());
    return traffic;
}

void bench_filter(const CrawlerList& list, const Traffic& traffic, double seconds) {
    std::size_t bots = 0;
    const double uncached = time_it(seconds, traffic.requests.size(), [&] {
        bots = 0;
        for (const std::string& ua : traffic.requests)
            bots += list.matches(ua) ? 1 : 0;
    });
    UserAgentCache cache;
    std::size_t cached_bots = 0;
    const double cached = time_it(seconds, traffic.requests.size(), [&] {
        cached_bots = 0;
        for (const std::string& ua : traffic.requests)
            cached_bots += cache.is_bot(list, ua) ? 1 : 0;
    });
    const double calls = static_cast<double>(cache.hits() + cache.misses() + cache.uncached());
    std::printf("matches() uncached : %8.1f ns/call  (%zu bots of %zu)\n", uncached, bots,
                traffic.requests.size());
    std::printf(
        "is_bot() cached    : %8.1f ns/call  (%zu bots; hit rate %.2f %%, %zu of %zu "
        "slots used)\n",
        cached, cached_bots, 100.0 * static_cast<double>(cache.hits()) / calls, cache.size(),
        cache.capacity());
    std::printf("ratio              : %8.1f x\n", uncached / cached);
}

// The 20 User-Agents the engines are compared on: 13 browsers, 7 crawlers and tools.
std::vector<std::string> twenty_user_agents() {
    const std::vector<std::string> browsers = browser_user_agents();
    std::vector<std::string> out;
    for (const std::size_t i : {0, 1, 2, 3, 530, 600, 610, 620, 700, 1050, 1100, 1101, 1102})
        out.push_back(browsers.at(i));
    const std::string headless_chrome =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.109 Safari/537.36";
    const std::string gpt_bot =
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; "
        "+https://openai.com/gptbot)";
    for (const std::string& crawler : {
             std::string(
                 "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
             std::string("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"),
             headless_chrome,
             std::string("curl/8.5.0"),
             std::string("python-requests/2.31.0"),
             gpt_bot,
             std::string(
                 "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
         })
        out.push_back(crawler);
    return out;
}

// RE2::Set against one alternation "(?:p1)|(?:p2)|...", at RE2's default memory budget
// and at CrawlerList's.
void bench_engines(const json& list, double seconds) {
    const std::vector<std::string> uas = twenty_user_agents();
    for (const std::int64_t memory : {std::int64_t{8} << 20, tally::bots::kRegexMemory}) {
        RE2::Options options;
        options.set_log_errors(false);  // the alternation's DFA runs out at 8 MiB, every call
        options.set_never_capture(true);
        options.set_max_mem(memory);
        RE2::Set set(options, RE2::UNANCHORED);
        std::string alternation;
        for (const json& entry : list) {
            set.Add(entry["pattern"].get<std::string>(), nullptr);
            alternation +=
                (alternation.empty() ? "(?:" : "|(?:") + entry["pattern"].get<std::string>() + ")";
        }
        set.Compile();
        const RE2 combined(alternation, options);
        std::size_t hits = 0;
        const double set_ns = time_it(seconds, uas.size(), [&] {
            for (const std::string& ua : uas)
                hits += set.Match(ua, nullptr) ? 1 : 0;
        });
        const double alternation_ns = time_it(seconds, uas.size(), [&] {
            for (const std::string& ua : uas)
                hits += RE2::PartialMatch(ua, combined) ? 1 : 0;
        });
        std::printf("max_mem %3lld MiB: RE2::Set %8.1f ns/call, alternation %10.1f ns/call\n",
                    static_cast<long long>(memory >> 20), set_ns, alternation_ns);
    }
}

}  // namespace

int main(int argc, char** argv) try {
    const double seconds = argc > 1 ? std::strtod(argv[1], nullptr) : 1.0;
    const std::string path = argc > 2 ? argv[2] : TALLY_CRAWLER_LIST;
    std::string error;
    const double resident_before = resident_mib();
    const auto start = std::chrono::steady_clock::now();
    const auto list = CrawlerList::load(path, error);
    const auto loaded = std::chrono::steady_clock::now();
    if (!list) {
        std::fprintf(stderr, "bots_bench: %s\n", error.c_str());
        return 1;
    }
    std::printf("%s: %zu patterns, loaded in %.1f ms, +%.1f MiB resident\n",
                list->version().c_str(), list->pattern_count(),
                std::chrono::duration<double, std::milli>(loaded - start).count(),
                resident_mib() - resident_before);
    std::ifstream in(path);
    const json file = json::parse(in);
    const Traffic traffic = make_traffic(file, 100'000);
    bench_filter(*list, traffic, seconds);
    std::printf(
        "after matching: +%.1f MiB resident since before the load (DFA states, the "
        "cache, the traffic)\n",
        resident_mib() - resident_before);
    bench_engines(file, seconds);
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "bots_bench: %s\n", e.what());
    return 1;
}
