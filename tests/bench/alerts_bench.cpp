// Alert rules' costs (tests/bench/README.md, "Alerts"):
//   alerts_bench round   [rules=10000]  in-process: one evaluation round of 10,000 rules over
//                                       10,000 series (steady, all firing at once, anomaly)
//   alerts_bench ingest  [seconds=10 [cycles=2]]
//                                       the real tallyd: metric ingest phases alternating
//                                       without rules and with 10,000, in the same run; rules
//                                       evaluated every 10 s (the default), then every 1 s
//   alerts_bench latency [eval=1s]      the real tallyd: a condition turning true -> the
//                                       webhook received, 100 alerts with duration 0
//   alerts_bench all
// The daemon parts keep tallyd's data dir in /dev/shm, so that creating 10,000 rules (two
// fsyncs each) measures tallyd, not the disk.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/process.hpp"
#include "support/tallyd.hpp"
#include "support/webhook_receiver.hpp"
#include "tally/alerts/alert_service.hpp"
#include "tally/base/time.hpp"
#include "tally/documents/document_store.hpp"

namespace {

using namespace tally;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kSeries = 10'000;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double percentile(std::vector<double> values, double q) {
    if (values.empty())
        return 0;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(rank, values.size() - 1)];
}

std::string host(int i) {
    char text[16];
    std::snprintf(text, sizeof text, "h%05d", i);
    return text;
}

json rule_body(int i, const std::string& op, double threshold, const std::string& url) {
    json condition = {{"operator", op}};
    if (op != "anomaly")
        condition["threshold"] = threshold;
    return {{"alert_name", "load " + host(i)},
            {"metric", "bench.load"},
            {"tags", {{"host", host(i)}}},
            {"aggregation", "avg"},
            {"window", "1m"},
            {"condition", condition},
            {"actions", json::array({{{"type", "webhook"}, {"url", url}}})}};
}

// ---- round: in-process -------------------------------------------------------------------

void fill(metrics::Engine& engine, std::int64_t now) {
    // 70 minutes of a point every 30 s per series (the anomaly rules' 60 minutes and more).
    for (std::int64_t at = now - 70 * 60'000; at <= now; at += 30'000) {
        for (int i = 0; i < kSeries; ++i) {
            MetricPoint p;
            p.name = "bench.load";
            p.type = MetricType::gauge;
            p.tags = {{"host", host(i)}};
            p.value = 50 + (i + at / 30'000) % 10;
            p.timestamp_ms = at;
            engine.apply_replayed(static_cast<std::size_t>(i) % engine.shard_count(), p, now);
        }
    }
}

void add_rules(alerts::AlertService& service, int rules, const std::string& op, double threshold) {
    for (int i = 0; i < rules; ++i) {
        json document = std::get<json>(alerts::validate_rule(
            rule_body(i % kSeries, op, threshold, "http://127.0.0.1:9/hook"), {}));
        document["id"] = "r" + std::to_string(i);
        document["version"] = 1;
        service.rule_changed(document, nullptr, 0);
    }
}

std::vector<double> time_rounds(alerts::AlertService& service, int rounds, std::int64_t now) {
    std::vector<double> took;
    for (int r = 0; r < rounds; ++r) {
        const auto start = Clock::now();
        service.evaluate(now + r * 1000);
        took.push_back(ms_since(start));
    }
    return took;
}

void report_rounds(const char* what, const std::vector<double>& took) {
    std::printf("%-44s rounds %3zu  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms\n", what, took.size(),
                percentile(took, 0.5), percentile(took, 0.99), percentile(took, 1.0));
}

void bench_round(int rules) {
    test::TempDir dir;
    const std::int64_t now = now_ms();
    metrics::Engine engine(metrics::EngineOptions{4, {1'000'000, 100'000}, 30});
    store::Store store(store::StoreOptions{4});
    auto start = Clock::now();
    fill(engine, now);
    std::printf("filled %d series x 141 points in %.0f ms\n", kSeries, ms_since(start));
    documents::DocumentStore documents(std::filesystem::path(dir.path()) / "alerts", "alert",
                                       alerts::kMaxAlerts);
    delivery::OutboxOptions outbox_options;
    outbox_options.max_queued = 1'000'000;  // not started: the notices only queue
    delivery::Outbox outbox(outbox_options);
    alerts::AlertServiceOptions options;
    options.dir = std::filesystem::path(dir.path()) / "alerts";
    auto service =
        std::make_unique<alerts::AlertService>(options, engine, store, documents, outbox);
    add_rules(*service, rules, ">", 1e9);
    std::printf("%d rules over %d series (avg over 1m, one host each), 4 engine shards\n", rules,
                kSeries);
    report_rounds("steady (nothing changes)", time_rounds(*service, 50, now));
    add_rules(*service, rules, ">", 0);
    report_rounds("every rule fires (states file, notices)", time_rounds(*service, 1, now));
    report_rounds("all firing, steady", time_rounds(*service, 20, now));
    service = std::make_unique<alerts::AlertService>(options, engine, store, documents, outbox);
    add_rules(*service, rules, "anomaly", 0);
    report_rounds("anomaly (60 previous 1m windows each)", time_rounds(*service, 20, now));
}

// ---- the daemon parts ---------------------------------------------------------------------

/// A tallyd with its data in /dev/shm and alerts evaluated every `eval`.
struct Daemon {
    std::string shm;
    std::unique_ptr<test::Tallyd> tallyd;

    explicit Daemon(const std::string& eval) {
        char name[] = "/dev/shm/alerts-bench-XXXXXX";
        shm = mkdtemp(name);
        const std::string config = shm + "/tallyd.json";
        std::ofstream(config) << json{{"alerts", {{"eval_interval", eval}}}}.dump();
        tallyd = std::make_unique<test::Tallyd>(std::vector<std::string>{
            "--config", config, "--data-dir", shm + "/data", "--threads", "2"});
    }
    ~Daemon() {
        tallyd.reset();
        std::error_code ec;
        std::filesystem::remove_all(shm, ec);
    }
    int port() const { return tallyd->port(); }

    /// CPU seconds tallyd has used (user + system), from /proc/<pid>/stat.
    double cpu_seconds() const {
        std::ifstream in("/proc/" + std::to_string(tallyd->pid()) + "/stat");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::size_t at = text.rfind(')');
        double ticks = 0;
        for (int field = 3; field <= 15 && at != std::string::npos; ++field) {
            at = text.find(' ', at + 1);
            if (field >= 14)
                ticks += std::atof(text.c_str() + at + 1);
        }
        return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
};

/// A phase's ingest rate and tallyd's CPU time per million points in it.
struct Phase {
    double rate = 0;
    double cpu_per_million = 0;
};

/// Bodies of 1,000 gauge points each, together covering every series.
std::vector<std::string> ingest_bodies() {
    std::vector<std::string> bodies;
    for (int first = 0; first < kSeries; first += 1'000) {
        json points = json::array();
        for (int i = first; i < first + 1'000; ++i) {
            points.push_back({{"name", "bench.load"},
                              {"type", "gauge"},
                              {"value", 50 + i % 10},
                              {"tags", {{"host", host(i)}}}});
        }
        bodies.push_back(json{{"metrics", points}}.dump());
    }
    return bodies;
}

/// Points accepted per second by `connections` keep-alive clients over `seconds`.
double ingest_rate(int port, int seconds, int connections) {
    const std::vector<std::string> bodies = ingest_bodies();
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<bool> failed{false};
    const auto until = Clock::now() + std::chrono::seconds(seconds);
    std::vector<std::thread> threads;
    for (int c = 0; c < connections; ++c) {
        threads.emplace_back([&, c] {
            test::HttpClient client(port);
            for (std::size_t b = static_cast<std::size_t>(c); Clock::now() < until; ++b) {
                const auto response = client.post("/api/v1/metrics", bodies[b % bodies.size()]);
                if (response.status != 200) {
                    failed = true;
                    return;
                }
                accepted += 1'000;
            }
        });
    }
    const auto start = Clock::now();
    for (auto& thread : threads)
        thread.join();
    if (failed)
        std::printf("  (some ingest requests failed)\n");
    return static_cast<double>(accepted.load()) / (ms_since(start) / 1000.0);
}

double metric_value(int port, const std::string& name) {
    test::HttpClient client(port);
    const std::string text = client.get("/metrics").body;
    const auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + name.size() + 2);
}

/// Creates (or, with `ids`, deletes) the rules over two connections; returns the ids made.
std::vector<std::string> create_rules(int port, const std::string& url) {
    std::vector<std::string> ids(kSeries);
    std::vector<std::thread> threads;
    for (int c = 0; c < 2; ++c) {
        threads.emplace_back([&, c] {
            test::HttpClient client(port);
            for (int i = c; i < kSeries; i += 2) {
                const auto response =
                    client.post("/api/v1/alerts", rule_body(i, ">", 1e9, url).dump());
                if (response.status == 201)
                    ids[static_cast<std::size_t>(i)] = json::parse(response.body)["id"];
                else
                    std::printf("rule %d: %d %s\n", i, response.status, response.body.c_str());
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    return ids;
}

void delete_rules(int port, const std::vector<std::string>& ids) {
    std::vector<std::thread> threads;
    for (std::size_t c = 0; c < 2; ++c) {
        threads.emplace_back([&, c] {
            test::HttpClient client(port);
            for (std::size_t i = c; i < ids.size(); i += 2)
                client.request("DELETE", "/api/v1/alerts/" + ids[i]);
        });
    }
    for (auto& thread : threads)
        thread.join();
}

Phase ingest_phase(const Daemon& daemon, int seconds) {
    const double cpu = daemon.cpu_seconds();
    const auto start = Clock::now();
    Phase phase;
    phase.rate = ingest_rate(daemon.port(), seconds, 2);
    const double points = phase.rate * ms_since(start) / 1000;
    phase.cpu_per_million = (daemon.cpu_seconds() - cpu) / (points / 1e6);
    return phase;
}

void print_phases(const char* what, const std::vector<Phase>& phases) {
    std::printf("  %-18s", what);
    for (const Phase& p : phases)
        std::printf(" %.2fM/s (%.3f cpu-s/M)", p.rate / 1e6, p.cpu_per_million);
    std::printf("\n");
}

/// Ingest phases alternating without rules and with 10,000 (created before, deleted after
/// each "with" phase, untimed), starting and ending without: the ratio of the phases' means
/// is less sensitive to the machine drifting over the run (other work on a shared VM), and
/// tallyd's own CPU time per million points not at all.
void bench_ingest(int seconds, const std::string& eval, int cycles) {
    Daemon daemon(eval);
    test::WebhookReceiver hook;
    std::printf(
        "tallyd --threads 2, alerts.eval_interval %s, 2 ingest connections, bodies of "
        "1,000 points over %d series, %d s a phase\n",
        eval.c_str(), kSeries, seconds);
    ingest_rate(daemon.port(), 2, 2);  // warm up: every series exists before timing
    std::vector<Phase> without{ingest_phase(daemon, seconds)};
    std::vector<Phase> with;
    double round_ms = 0;
    for (int c = 0; c < cycles; ++c) {
        const std::vector<std::string> ids = create_rules(daemon.port(), hook.url());
        std::this_thread::sleep_for(1s);
        with.push_back(ingest_phase(daemon, seconds));
        round_ms =
            std::max(round_ms, metric_value(daemon.port(), "tally_alerts_round_seconds") * 1000);
        delete_rules(daemon.port(), ids);
        without.push_back(ingest_phase(daemon, seconds));
    }
    const auto mean = [](const std::vector<Phase>& v, double Phase::*field) {
        double sum = 0;
        for (const Phase& p : v)
            sum += p.*field;
        return sum / static_cast<double>(v.size());
    };
    print_phases("without rules:", without);
    print_phases("with 10000 rules:", with);
    std::printf("  a round under this load: up to %.0f ms\n", round_ms);
    std::printf("  ratio with / without: throughput %.3f, tallyd cpu per point %.3f\n",
                mean(with, &Phase::rate) / mean(without, &Phase::rate),
                mean(with, &Phase::cpu_per_million) / mean(without, &Phase::cpu_per_million));
    // Each "with" phase against the mean of the two "without" phases around it: a drift of
    // the machine over the run cancels, and the median drops the one phase another process
    // happened to disturb.
    std::vector<double> rate_ratios;
    std::vector<double> cpu_ratios;
    for (std::size_t c = 0; c < with.size(); ++c) {
        rate_ratios.push_back(with[c].rate / ((without[c].rate + without[c + 1].rate) / 2));
        cpu_ratios.push_back(with[c].cpu_per_million /
                             ((without[c].cpu_per_million + without[c + 1].cpu_per_million) / 2));
    }
    std::printf(
        "  median of each with-phase / its neighbours: throughput %.3f, cpu per point %.3f\n",
        percentile(rate_ratios, 0.5), percentile(cpu_ratios, 0.5));
}

void bench_latency(const std::string& eval) {
    Daemon daemon(eval);
    test::WebhookReceiver hook;
    test::HttpClient client(daemon.port());
    constexpr int kAlerts = 100;
    for (int k = 0; k < kAlerts; ++k) {
        const json body = {
            {"alert_name", "latency " + std::to_string(k)},
            {"metric", "lat." + std::to_string(k)},
            {"aggregation", "last"},
            {"condition", {{"operator", ">"}, {"threshold", 0}, {"duration", "0s"}}},
            {"actions",
             json::array({{{"type", "webhook"}, {"url", hook.url("/" + std::to_string(k))}}})}};
        client.post("/api/v1/alerts", body.dump());
    }
    std::vector<Clock::time_point> sent(kAlerts);
    for (int k = 0; k < kAlerts; ++k) {
        const json point = {
            {"metrics", {{{"name", "lat." + std::to_string(k)}, {"type", "gauge"}, {"value", 1}}}}};
        sent[k] = Clock::now();
        client.post("/api/v1/metrics", point.dump());
        std::this_thread::sleep_for(37ms);  // condition changes spread over the interval
    }
    const auto posts = hook.wait_for(kAlerts, 60s);
    std::vector<double> latency;
    for (const auto& post : posts) {
        const int k = std::atoi(post.path.c_str() + 1);
        latency.push_back(std::chrono::duration<double, std::milli>(post.at - sent[k]).count());
    }
    std::printf(
        "eval_interval %s: %zu of %d alerts received; condition true -> webhook: p50 %.0f "
        "ms  p90 %.0f ms  p99 %.0f ms  max %.0f ms\n",
        eval.c_str(), posts.size(), kAlerts, percentile(latency, 0.5), percentile(latency, 0.9),
        percentile(latency, 0.99), percentile(latency, 1.0));
}

}  // namespace

int main(int argc, char** argv) {
    const std::string part = argc > 1 ? argv[1] : "all";
    const char* arg = argc > 2 ? argv[2] : nullptr;
    if (part == "round" || part == "all")
        bench_round(arg && part == "round" ? std::atoi(arg) : kSeries);
    if (part == "ingest" || part == "all") {
        const int seconds = arg && part == "ingest" ? std::atoi(arg) : 10;
        const int cycles = argc > 3 && part == "ingest" ? std::atoi(argv[3]) : 2;
        bench_ingest(seconds, "10s", cycles);
        bench_ingest(std::max(1, seconds / 2), "1s", cycles + 1);
    }
    if (part == "latency" || part == "all") {
        if (arg && part == "latency") {
            bench_latency(arg);
        } else {
            bench_latency("1s");
            bench_latency("200ms");
        }
    }
    if (part != "round" && part != "ingest" && part != "latency" && part != "all") {
        std::fprintf(stderr,
                     "usage: alerts_bench [round [rules] | ingest [seconds [cycles]] | latency "
                     "[eval interval] | all]\n");
        return 2;
    }
    return 0;
}
