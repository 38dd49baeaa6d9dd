// parse_bench: the cost of turning request bodies into Events, the work ingest does for
// every request. Realistic, varied bodies (a mix of optional fields, real User-Agents,
// URLs with queries) so branch predictors and caches see traffic, not one body in a loop.
//
//   parse_bench [seconds-per-case]     (default 1)
//
// Prints ns/event per case: CPU time of this thread, so a busy machine (a parallel build)
// slows the run down but barely moves the figures. Build with CMAKE_BUILD_TYPE=Release
// for figures worth quoting.

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tally/ingest/parse.hpp"
#include "tally/ingest/visitor_hash.hpp"

using namespace tally;
using namespace tally::ingest;

namespace {

constexpr std::int64_t kNow = 1705314600000;  // 2024-01-15T10:30:00Z

const char* const kUserAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
};
const char* const kPages[] = {"/",
                              "/pricing",
                              "/docs/getting-started",
                              "/blog/2024/01/hello-world",
                              "/products/electronics",
                              "/products/books",
                              "/cart",
                              "/checkout/pay"};
const char* const kReferrers[] = {"https://www.google.com/",
                                  "https://news.ycombinator.com/item?id=1", "https://t.co/abc",
                                  "https://Duckduckgo.com/?q=tally", ""};
const char* const kCountries[] = {"US", "de", "FR", "gb", "JP", "br"};
const char* const kEvents[] = {"signup", "checkout:start", "video.play", "download", "search"};

std::string json_string(const std::string& text) {
    return "\"" + text + "\"";
}

std::string pageview_body(std::mt19937& rng, bool with_type) {
    const auto pick = [&rng](auto& list) { return std::string(list[rng() % std::size(list)]); };
    std::string body = "{";
    if (with_type) {
        body += "\"type\":\"pageview\",";
    }
    std::string url = "https://shop.example.com" + pick(kPages);
    if (rng() % 3 == 0) {
        url += "?utm_source=newsletter&utm_campaign=jan" + std::to_string(rng() % 100);
    }
    body += "\"page_url\":" + json_string(url);
    body += ",\"session_id\":" + json_string("sess_" + std::to_string(rng() % 100000));
    if (rng() % 4 == 0) {
        body += ",\"user_id\":" + json_string("usr_" + std::to_string(rng() % 5000));
    }
    if (rng() % 2 == 0) {
        body += ",\"referrer\":" + json_string(pick(kReferrers));
    }
    if (rng() % 2 == 0) {
        body += ",\"user_agent\":" + json_string(pick(kUserAgents));
    }
    if (rng() % 5 == 0) {
        body += ",\"device_type\":\"mobile\"";
    }
    if (rng() % 2 == 0) {
        body += ",\"country\":" + json_string(pick(kCountries));
    }
    if (rng() % 2 == 0) {
        body += ",\"timestamp\":\"2024-01-15T10:" + std::to_string(10 + rng() % 20) + ":" +
                std::to_string(10 + rng() % 50) + "." + std::to_string(100 + rng() % 900) + "Z\"";
    }
    if (rng() % 3 == 0) {
        body += ",\"site\":\"blog.example\"";
    }
    if (rng() % 4 == 0) {
        body += ",\"screen\":\"1920x1080\",\"lang\":\"en-US\"";  // unknown fields, ignored
    }
    return body + "}";
}

std::string event_body(std::mt19937& rng, bool with_type) {
    std::string body = "{";
    if (with_type) {
        body += "\"type\":\"event\",";
    }
    body += "\"event_name\":" + json_string(kEvents[rng() % std::size(kEvents)]);
    body += ",\"session_id\":" + json_string("sess_" + std::to_string(rng() % 100000));
    if (rng() % 2 == 0) {
        body += ",\"user_id\":" + json_string("usr_" + std::to_string(rng() % 5000));
    }
    if (rng() % 2 == 0) {
        body += ",\"properties\":{\"plan\":\"pro\",\"seats\":" + std::to_string(rng() % 50) +
                ",\"price\":19.99,\"tags\":[\"a\",\"b\"]}";
    }
    return body + "}";
}

double thread_cpu_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

// Runs `one_round` (which handles `events_per_round` events) for about `seconds` of CPU
// time, returning CPU ns per event.
double time_it(double seconds, std::size_t events_per_round,
               const std::function<void()>& one_round) {
    for (int i = 0; i < 3; ++i) {
        one_round();  // warm caches, salts and allocator
    }
    std::size_t rounds = 0;
    const double start = thread_cpu_ns();
    double now = 0;
    do {
        one_round();
        ++rounds;
        now = thread_cpu_ns();
    } while (now - start < seconds * 1e9);
    return (now - start) / static_cast<double>(rounds * events_per_round);
}

}  // namespace

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? std::strtod(argv[1], nullptr) : 1.0;

    std::string dir = (std::filesystem::temp_directory_path() / "parse-bench-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    int status = 0;
    {
        const VisitorHasher hasher(std::filesystem::path(dir) / "salts");
        const RequestContext ctx{"203.0.113.7", kUserAgents[0], kNow};
        std::mt19937 rng(42);

        std::vector<std::string> pageviews;
        std::vector<std::string> events;
        std::size_t pageview_bytes = 0;
        for (int i = 0; i < 4096; ++i) {
            pageviews.push_back(pageview_body(rng, false));
            pageview_bytes += pageviews.back().size();
            events.push_back(event_body(rng, false));
        }
        std::string array = "[";
        std::string ndjson;
        for (int i = 0; i < 1000; ++i) {
            const std::string item = i % 4 == 3 ? event_body(rng, true) : pageview_body(rng, true);
            array += (i ? "," : "") + item;
            ndjson += item + "\n";
        }
        array += "]";

        std::size_t accepted = 0;  // also keeps the optimiser from dropping the work
        Event event;
        const double pageview_ns = time_it(seconds, pageviews.size(), [&] {
            for (const std::string& body : pageviews) {
                accepted += !parse_pageview(body, ctx, hasher, event);
            }
        });
        const double event_ns = time_it(seconds, events.size(), [&] {
            for (const std::string& body : events) {
                accepted += !parse_custom_event(body, ctx, hasher, event);
            }
        });
        // The same with the parser's buffers kept between calls, as an HTTP worker would.
        ParseBuffers buffers;
        const double pageview_reused_ns = time_it(seconds, pageviews.size(), [&] {
            for (const std::string& body : pageviews) {
                accepted += !parse_pageview(body, ctx, hasher, event, buffers);
            }
        });
        BatchResult batch;
        const double array_ns = time_it(seconds, 1000, [&] {
            parse_batch(array, ctx, hasher, batch);
            accepted += batch.accepted.size();
        });
        const double ndjson_ns = time_it(seconds, 1000, [&] {
            parse_batch(ndjson, ctx, hasher, batch);
            accepted += batch.accepted.size();
        });
        if (batch.accepted.size() != 1000) {
            std::fprintf(stderr, "batch accepted %zu of 1000 items\n", batch.accepted.size());
            status = 1;
        }

        std::printf("parse_pageview      %8.0f ns/event  (%zu bodies, %zu bytes avg)\n",
                    pageview_ns, pageviews.size(), pageview_bytes / pageviews.size());
        std::printf("  with ParseBuffers %8.0f ns/event\n", pageview_reused_ns);
        std::printf("parse_custom_event  %8.0f ns/event\n", event_ns);
        std::printf("parse_batch array   %8.0f ns/event  (1000 items, %zu bytes)\n", array_ns,
                    array.size());
        std::printf("parse_batch ndjson  %8.0f ns/event  (1000 items, %zu bytes)\n", ndjson_ns,
                    ndjson.size());
        std::printf("(accepted %zu)\n", accepted);
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    return status;
}
