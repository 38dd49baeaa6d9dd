// The metrics service in the real tallyd: every ingest path (JSON, DogStatsD over HTTP and
// UDP, InfluxDB line protocol plain, gzip and chunked) checked through /current and
// /query against an oracle computed here from the same points; bad inputs, kind
// conflicts, caps, the token; the statsd and rejection counters on /metrics; metrics
// derived from events; restarts, and kill -9 under load with fsync always.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "common.hpp"

namespace tally::test {
namespace {

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 60 * kMinute;

std::int64_t floor_to(std::int64_t value, std::int64_t width) {
    return value / width * width;
}

std::string write_config(const TempDir& dir, const json& config) {
    const std::string path = dir.path() + "/tallyd.json";
    std::ofstream(path) << config.dump();
    return path;
}

/// GET /api/v1/metrics/<name>/current: the JSON answer (null when not 200).
json current(HttpClient& client, const std::string& name, const std::string& params = "",
             const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    const auto r = client.get(
        "/api/v1/metrics/" + name + "/current" + (params.empty() ? "" : "?" + params), headers);
    if (r.status != 200) {
        ADD_FAILURE() << name << " /current -> " << r.status << " " << r.body;
        return json();
    }
    return json::parse(r.body);
}

/// A /current value that may take a moment to appear (UDP): polls until `want` or 5 s.
json current_when(HttpClient& client, const std::string& name, const std::string& params,
                  const std::function<bool(const json&)>& want) {
    json last;
    for (int i = 0; i < 100; ++i) {
        const auto r = client.get("/api/v1/metrics/" + name + "/current?" + params);
        if (r.status == 200) {
            last = json::parse(r.body);
            if (want(last))
                return last;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return last;
}

json query(HttpClient& client, const json& body,
           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    const auto r = client.post("/api/v1/query", body.dump(), headers);
    if (r.status != 200) {
        ADD_FAILURE() << body.dump() << " -> " << r.status << " " << r.body;
        return json();
    }
    return json::parse(r.body);
}

double metric_value(const std::string& metrics_text, const std::string& series) {
    std::size_t at = 0;
    while ((at = metrics_text.find(series + " ", at)) != std::string::npos) {
        if (at == 0 || metrics_text[at - 1] == '\n')
            return std::stod(metrics_text.substr(at + series.size() + 1));
        at += series.size();
    }
    ADD_FAILURE() << "no series " << series << " on /metrics";
    return -1;
}

/// GET /api/v1/metrics without Tally's own series (tally.http.*: every request adds to
/// them): the names and series counts the test's points made.
json user_names(HttpClient& client) {
    const auto r = client.get("/api/v1/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    json out = json::array();
    const json listed = json::parse(r.body);
    for (const json& m : listed["metrics"]) {
        if (m["name"].get<std::string>().rfind("tally.", 0) != 0)
            out.push_back(m);
    }
    return out;
}

std::string gzip(const std::string& data) {
    z_stream stream{};
    EXPECT_EQ(
        deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
        Z_OK);
    std::string out(deflateBound(&stream, data.size()) + 64, '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
    out.resize(out.size() - stream.avail_out);
    deflateEnd(&stream);
    return out;
}

/// A request with a chunked body (chunks of `chunk` bytes), as the InfluxDB clients send.
std::string chunked_request(const std::string& target, const std::string& body,
                            const std::string& extra_headers, std::size_t chunk) {
    std::string out = "POST " + target +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n" +
                      extra_headers + "\r\n";
    for (std::size_t at = 0; at < body.size(); at += chunk) {
        const std::string part = body.substr(at, chunk);
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", part.size());
        out += size + part + "\r\n";
    }
    return out + "0\r\n\r\n";
}

// ---------------------------------------------------------------------------------------
// The oracle

struct Sample {
    std::string metric;
    double value = 0;
    std::string member;
    std::int64_t ts = 0;
    std::string host;
    std::string region;
};

std::optional<double> exact(const std::string& aggregation, std::vector<const Sample*> in,
                            double seconds) {
    if (in.empty())
        return std::nullopt;
    std::sort(in.begin(), in.end(), [](const Sample* a, const Sample* b) { return a->ts < b->ts; });
    double sum = 0;
    double lo = INFINITY;
    double hi = -INFINITY;
    std::vector<double> values;
    std::set<std::string> members;
    for (const Sample* s : in) {
        sum += s->value;
        lo = std::min(lo, s->value);
        hi = std::max(hi, s->value);
        values.push_back(s->value);
        members.insert(s->member);
    }
    const double n = static_cast<double>(in.size());
    if (aggregation == "sum")
        return sum;
    if (aggregation == "count")
        return n;
    if (aggregation == "rate")
        return sum / seconds;
    if (aggregation == "avg")
        return sum / n;
    if (aggregation == "min")
        return lo;
    if (aggregation == "max")
        return hi;
    if (aggregation == "last")
        return in.back()->value;
    if (aggregation == "unique")
        return static_cast<double>(members.size());
    const double q = std::stod(aggregation.substr(1)) / 100.0;
    std::sort(values.begin(), values.end());
    return values[std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(q * n))) - 1];
}

void expect_value(const json& got, const std::optional<double>& want, bool percentile,
                  const std::string& where) {
    ASSERT_EQ(!got.is_null(), want.has_value()) << where << ": got " << got.dump();
    if (!want)
        return;
    const double v = got.get<double>();
    const double tolerance =
        percentile ? 0.01 * std::abs(*want) + 1e-9 : 1e-9 * std::max(1.0, std::abs(*want));
    EXPECT_LE(std::abs(v - *want), tolerance) << where << ": " << v << " vs " << *want;
}

/// Checks POST /api/v1/query over [start, end) against the samples.
void check_query(HttpClient& client, const std::vector<Sample>& samples, const std::string& metric,
                 const std::string& aggregation, const std::string& window, std::int64_t width,
                 std::int64_t start, std::int64_t end, const std::string& group_by,
                 const std::map<std::string, std::vector<std::string>>& filters) {
    const std::string where = metric + " " + aggregation + " by " + window + " group_by " +
                              group_by + " from now-" +
                              std::to_string((now_ms() - start) / kMinute) + "min";
    SCOPED_TRACE(where);
    json body = {{"metrics", {metric}},  {"aggregation", aggregation},
                 {"window", window},     {"start_time", iso(start)},
                 {"end_time", iso(end)}, {"group_by", {group_by}}};
    json f = json::object();
    for (const auto& [key, values] : filters)
        f["tags." + key] = values.size() == 1 ? json(values[0]) : json(values);
    body["filters"] = f;
    const json answer = query(client, body);
    ASSERT_TRUE(answer.contains("results")) << answer.dump();

    const std::int64_t first = floor_to(start, width);
    const std::int64_t last = (end + width - 1) / width * width;
    const std::size_t windows = static_cast<std::size_t>((last - first) / width);
    auto tag = [](const Sample& s, const std::string& key) {
        return key == "host" ? s.host : s.region;
    };
    std::map<std::string, std::vector<std::vector<const Sample*>>> want;
    for (const Sample& s : samples) {
        if (s.metric != metric)
            continue;
        bool ok = true;
        for (const auto& [key, values] : filters)
            ok = ok && std::find(values.begin(), values.end(), tag(s, key)) != values.end();
        if (!ok)
            continue;
        auto& slots = want[tag(s, group_by)];
        slots.resize(windows);
        if (s.ts >= first && s.ts < last)
            slots[static_cast<std::size_t>((s.ts - first) / width)].push_back(&s);
    }
    ASSERT_EQ(answer["results"].size(), want.size()) << answer.dump().substr(0, 2000);
    std::size_t seen = 0;
    for (const json& result : answer["results"]) {
        EXPECT_EQ(result["metric"], metric);
        EXPECT_EQ(result["aggregation"], aggregation);
        const std::string group = result["group"][group_by].get<std::string>();
        ASSERT_TRUE(want.contains(group)) << group;
        const auto& slots = want[group];
        ASSERT_EQ(result["points"].size(), windows);
        for (std::size_t w = 0; w < windows; ++w) {
            const json& p = result["points"][w];
            EXPECT_EQ(parse_rfc3339_ms(p["timestamp"].get<std::string>()),
                      first + static_cast<std::int64_t>(w) * width);
            const auto expected = exact(aggregation, slots[w], static_cast<double>(width) / 1000.0);
            expect_value(p["value"], expected, aggregation[0] == 'p',
                         "group " + group + " window " + std::to_string(w));
            seen += slots[w].size();
        }
    }
    EXPECT_GT(seen, 0u) << "a range without points checks little";
}

// ---------------------------------------------------------------------------------------
// Ingest paths

TEST(MetricsIngest, JsonPointsAnsweredByQueryInEveryTier) {
    Tallyd daemon;
    HttpClient client(daemon.port());
    const std::int64_t t0 = now_ms();
    std::mt19937_64 random(42);
    const char* hosts[] = {"a", "b", "c"};
    const char* regions[] = {"eu", "us"};
    const std::map<std::string, std::string> types = {
        {"it.req", "count"}, {"it.temp", "gauge"}, {"it.lat", "percentile"}, {"it.who", "unique"}};
    std::vector<Sample> samples;
    std::set<std::int64_t> used;
    for (const auto& [metric, type] : types) {
        for (int i = 0; i < 1200; ++i) {
            Sample s;
            s.metric = metric;
            // 40 % in the last 50 minutes, the rest up to 47 h back; never in the hour
            // around "a day ago" (the edge of /current's 1d window), distinct timestamps.
            for (;;) {
                const std::int64_t span = random() % 10 < 4 ? 50 * kMinute : 47 * kHour;
                const std::int64_t age = 1'000 + static_cast<std::int64_t>(random() % span);
                if (age > 23 * kHour && age < 25 * kHour)
                    continue;
                if (used.insert(age).second) {
                    s.ts = t0 - age;
                    break;
                }
            }
            s.host = hosts[random() % 3];
            s.region = regions[random() % 2];
            s.value = static_cast<double>(1 + random() % 10'000);
            s.member = "m" + std::to_string(random() % 200);
            samples.push_back(s);
        }
    }
    std::shuffle(samples.begin(), samples.end(), random);
    for (std::size_t at = 0; at < samples.size(); at += 500) {
        json points = json::array();
        for (std::size_t i = at; i < std::min(samples.size(), at + 500); ++i) {
            const Sample& s = samples[i];
            json p = {{"name", s.metric},
                      {"type", types.at(s.metric)},
                      {"tags", {{"host", s.host}, {"region", s.region}}}};
            p["value"] = s.metric == "it.who" ? json(s.member) : json(s.value);
            // Both spellings of the timestamp.
            p["timestamp"] = i % 2 ? json(s.ts) : json(iso(s.ts));
            points.push_back(p);
        }
        const auto r = client.post("/api/v1/metrics", json{{"metrics", points}}.dump());
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(
            json::parse(r.body),
            json::parse(R"({"accepted":)" + std::to_string(points.size()) + R"(,"rejected":[]})"));
    }
    const auto listed = json::parse(client.get("/api/v1/metrics").body);
    std::map<std::string, json> by_name;
    for (const json& m : listed["metrics"])
        by_name[m["name"]] = m;
    for (const auto& [metric, type] : types) {
        ASSERT_TRUE(by_name.contains(metric)) << listed.dump();
        EXPECT_EQ(by_name[metric]["type"], type);
        EXPECT_EQ(by_name[metric]["series"], 6);
    }

    struct Range {
        const char* window;
        std::int64_t width, start, end;
    };
    const std::vector<Range> ranges = {
        {"10s", 10'000, t0 - 50 * kMinute + 1'234, t0},        // the 10 s tier
        {"5m", 5 * kMinute, t0 - 47 * kHour, t0 - 2 * kHour},  // minutes
        {"15m", 15 * kMinute, t0 - 3 * kHour, t0 + kMinute},   // minutes, across the hour
        {"1h", kHour, t0 - 50 * kHour, t0 + kMinute},  // hours: older than 48 h, across both
    };
    const std::map<std::string, std::vector<std::string>> aggregations = {
        {"it.req", {"sum", "count", "avg"}},
        {"it.temp", {"last", "min", "max", "avg"}},
        {"it.lat", {"p50", "p99", "max", "count"}},
        {"it.who", {"unique"}},
    };
    for (const Range& range : ranges) {
        for (const auto& [metric, list] : aggregations) {
            for (const std::string& aggregation : list)
                check_query(client, samples, metric, aggregation, range.window, range.width,
                            range.start, range.end, "host", {});
            check_query(client, samples, metric, list.front(), range.window, range.width,
                        range.start, range.end, "region", {{"host", {"a", "c"}}});
            check_query(client, samples, metric, list.front(), range.window, range.width,
                        range.start, range.end, "host", {{"region", {"us"}}});
        }
    }

    // /current over the last day (the minute tier), with filters, against the oracle.
    for (const auto& [metric, type] : types) {
        for (const std::string params : {"window=1d", "window=1d&tags.host=b",
                                         "window=1d&tags.host=a&tags.host=c&tags.region=eu"}) {
            SCOPED_TRACE(metric + "?" + params);
            std::vector<const Sample*> in;
            for (const Sample& s : samples) {
                const bool host_ok = params.find("tags.host") == std::string::npos ||
                                     params.find("tags.host=" + s.host) != std::string::npos;
                const bool region_ok = params.find("tags.region") == std::string::npos ||
                                       params.find("tags.region=" + s.region) != std::string::npos;
                if (s.metric == metric && host_ok && region_ok && s.ts > t0 - 24 * kHour)
                    in.push_back(&s);
            }
            const json got = current(client, metric, params);
            EXPECT_EQ(got["name"], metric);
            EXPECT_EQ(got["type"], type);
            EXPECT_EQ(got["window"], "1d");
            EXPECT_EQ(got["count"], static_cast<double>(in.size()));
            const std::string natural = type == "count"        ? "sum"
                                        : type == "gauge"      ? "last"
                                        : type == "percentile" ? "p50"
                                                               : "unique";
            expect_value(got["value"], exact(natural, in, 86'400), natural[0] == 'p', "value");
            if (type == "percentile") {
                expect_value(got["percentiles"]["p90"], exact("p90", in, 0), true, "p90");
                expect_value(got["percentiles"]["p99"], exact("p99", in, 0), true, "p99");
                expect_value(got["min"], exact("min", in, 0), false, "min");
                expect_value(got["max"], exact("max", in, 0), false, "max");
            }
        }
    }
    // Unknown name: 404.
    EXPECT_EQ(client.get("/api/v1/metrics/it.nothing/current").status, 404);
}

TEST(MetricsIngest, StatsdOverHttpAndUdp) {
    const int udp_port = free_port();
    Tallyd daemon({"--statsd", "127.0.0.1:" + std::to_string(udp_port)});
    HttpClient client(daemon.port());
    const std::string text =
        "it.sd.c:2|c|@0.5|#host:a\n"
        "it.sd.c:3|c|#host:b\n"
        "it.sd.g:10|g\n"
        "it.sd.g:+5|g\n"
        "it.sd.g:-3|g\n"
        "it.sd.t:100:200:300|ms|#host:b\n"
        "it.sd.s:alice|s\n"
        "it.sd.s:bob|s\n"
        "it.sd.s:alice|s\n"
        "this is not statsd\n"
        "_e{5,4}:title|text\n"
        "_sc|db.up|0\n";
    auto r = client.post("/api/v1/statsd", text);
    ASSERT_EQ(r.status, 200) << r.body;
    json answer = json::parse(r.body);
    EXPECT_EQ(answer["accepted"], 11);  // points: a line of three timings is three
    EXPECT_EQ(answer["bad"], 1);
    EXPECT_EQ(answer["events"], 1);
    EXPECT_EQ(answer["service_checks"], 1);
    EXPECT_TRUE(answer.contains("error"));

    json c = current(client, "it.sd.c", "window=1h");
    EXPECT_EQ(c["value"], 7.0);  // 2 x 2 (sampled @0.5) + 3
    EXPECT_EQ(c["count"], 3.0);
    EXPECT_EQ(current(client, "it.sd.c", "window=1h&tags.host=a")["value"], 4.0);
    EXPECT_EQ(current(client, "it.sd.g", "window=1h")["value"], 12.0);
    json t = current(client, "it.sd.t", "window=1h");
    EXPECT_EQ(t["type"], "percentile");
    EXPECT_EQ(t["count"], 3.0);
    EXPECT_NEAR(t["value"].get<double>(), 200, 2);
    EXPECT_EQ(t["min"], 100.0);
    EXPECT_EQ(t["max"], 300.0);
    EXPECT_EQ(current(client, "it.sd.s", "window=1h")["value"], 2.0);
    // A sampled timing counts 1/rate times; the first point's window is the name's default.
    ASSERT_EQ(client.post("/api/v1/statsd", "it.sd.w:50|ms|@0.25\n").status, 200);
    EXPECT_EQ(current(client, "it.sd.w", "window=1h")["count"], 4.0);
    ASSERT_EQ(client
                  .post("/api/v1/metrics",
                        R"({"metrics":[{"name":"it.sd.win","type":"rate","value":30,"window":"10s"},
                                         {"name":"it.sd.win","type":"rate","value":30,"window":"1h"}]})")
                  .status,
              200);
    const json win = current(client, "it.sd.win");
    EXPECT_EQ(win["window"], "10s");
    EXPECT_EQ(win["value"], 6.0);  // a rate: 60 over 10 s
    // Only bad lines: 400, nothing counted.
    r = client.post("/api/v1/statsd", "nope\nit.sd.c:x|c\n");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(current(client, "it.sd.c", "window=1h")["value"], 7.0);

    // The same over UDP, several lines a datagram, some bad.
    UdpSender udp(udp_port);
    constexpr int kDatagrams = 200;
    for (int i = 0; i < kDatagrams; ++i) {
        udp.send("it.udp.c:1|c|#host:x\nit.udp.c:2|c|#host:y\nit.udp.g:" + std::to_string(i) +
                 "|g\nit.udp.t:" + std::to_string(i + 1) + "|d" + (i % 50 == 0 ? "\nbad" : ""));
        if (i % 50 == 49)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    udp.send("_e{1,1}:a|b\nit.udp.g:+1000|g");
    const json total = current_when(client, "it.udp.g", "window=1h",
                                    [](const json& j) { return j["value"] == 1199.0; });
    EXPECT_EQ(total["value"], 1199.0);  // 199, then +1000
    EXPECT_EQ(current(client, "it.udp.c", "window=1h")["value"], 3.0 * kDatagrams);
    EXPECT_EQ(current(client, "it.udp.c", "window=1h&tags.host=y")["value"], 2.0 * kDatagrams);
    json d = current(client, "it.udp.t", "window=1h");
    EXPECT_EQ(d["count"], static_cast<double>(kDatagrams));
    EXPECT_NEAR(d["percentiles"]["p99"].get<double>(), 198, 1.98);
    EXPECT_NEAR(d["percentiles"]["p50"].get<double>(), 100, 1.0);

    const std::string metrics = client.get("/metrics").body;
    EXPECT_EQ(metric_value(metrics, "tally_statsd_datagrams_total"), kDatagrams + 1.0);
    EXPECT_EQ(metric_value(metrics, "tally_statsd_bad_lines_total"), 4.0);
    EXPECT_EQ(metric_value(metrics, "tally_statsd_ignored_lines_total"), 1.0);
    EXPECT_EQ(metric_value(metrics, "tally_statsd_points_total"), kDatagrams * 4.0 + 1);
    EXPECT_EQ(
        metric_value(metrics,
                     R"(tally_metric_inputs_refused_total{format="statsd",reason="bad_line"})"),
        3.0);  // the HTTP bad lines

    // The export shows them.
    r = client.get("/api/v1/export/prometheus");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("\nit_sd_c_total{host=\"a\"} 4\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\nit_sd_g 12\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("# TYPE it_udp_t summary"), std::string::npos);
}

TEST(MetricsIngest, InfluxLineProtocolPlainGzipAndChunked) {
    Tallyd daemon;
    HttpClient client(daemon.port());
    const std::int64_t t0 = floor_to(now_ms(), 1'000) - 30'000;
    // precision=s on /write.
    auto r = client.post("/write?precision=s",
                         "it_cpu,host=a usage=0.5,idle=99i " + std::to_string(t0 / 1000) +
                             "\nit_cpu,host=b usage=0.75 " + std::to_string(t0 / 1000) + "\n");
    EXPECT_EQ(r.status, 204) << r.body;
    // precision=ms on /api/v2/write, and the default ns.
    r = client.post("/api/v2/write?precision=ms&org=o&bucket=b",
                    "it_cpu,host=a usage=0.25 " + std::to_string(t0 + 1000));
    EXPECT_EQ(r.status, 204) << r.body;
    r = client.post("/write",
                    "it_cpu,host=b usage=0.125 " + std::to_string((t0 + 2000) * 1'000'000));
    EXPECT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(current(client, "it_cpu.usage", "window=1h&tags.host=a")["value"], 0.25);
    EXPECT_EQ(current(client, "it_cpu.usage", "window=1h&tags.host=b")["value"], 0.125);
    EXPECT_EQ(current(client, "it_cpu.idle", "window=1h")["value"], 99.0);
    json q = query(client, {{"metrics", {"it_cpu.usage"}},
                            {"aggregation", "max"},
                            {"window", "1m"},
                            {"group_by", {"host"}}});
    ASSERT_EQ(q["results"].size(), 2u) << q.dump();

    // gzip, then gzip and chunked together (the InfluxDB clients' default).
    std::string lines;
    double sum = 0;
    for (int i = 0; i < 2000; ++i) {
        lines += "it_mem,host=h" + std::to_string(i % 4) + " used=" + std::to_string(i) + " " +
                 std::to_string(t0 + i) + "\n";
        sum += i;
    }
    r = client.post("/api/v2/write?precision=ms", gzip(lines), {{"Content-Encoding", "gzip"}});
    EXPECT_EQ(r.status, 204) << r.body;
    json used = current(client, "it_mem.used", "window=1h");
    EXPECT_EQ(used["count"], 2000.0);
    EXPECT_EQ(used["value"], 1999.0);  // the last by timestamp
    q = query(client, {{"metrics", {"it_mem.used"}}, {"aggregation", "sum"}, {"window", "1h"}});
    ASSERT_EQ(q["results"].size(), 1u);
    EXPECT_EQ(q["results"][0]["points"][0]["value"], sum);

    std::string more;
    for (int i = 0; i < 500; ++i)
        more += "it_chunk,host=c v=" + std::to_string(i) + " " + std::to_string(t0 + i) + "\n";
    HttpClient raw(daemon.port());
    auto chunked = raw.raw(chunked_request("/write?precision=ms", more, "", 1000));
    EXPECT_EQ(chunked.status, 204) << chunked.body;
    EXPECT_EQ(current(client, "it_chunk.v", "window=1h")["count"], 500.0);
    HttpClient raw2(daemon.port());
    chunked = raw2.raw(chunked_request("/api/v2/write?precision=ms",
                                       gzip("it_chunk,host=d v=7 " + std::to_string(t0) + "\n"),
                                       "Content-Encoding: gzip\r\n", 7));
    EXPECT_EQ(chunked.status, 204) << chunked.body;
    EXPECT_EQ(current(client, "it_chunk.v", "window=1h&tags.host=d")["value"], 7.0);

    // A bad line among good ones: 400 naming it; the good lines before it stand.
    r = client.post("/write?precision=ms", "it_bad,host=a v=1 " + std::to_string(t0) +
                                               "\nthis line is bad\nit_bad,host=b v=2 " +
                                               std::to_string(t0) + "\n");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("line 2"), std::string::npos) << r.body;
    EXPECT_EQ(current(client, "it_bad.v", "window=1h&tags.host=a")["value"], 1.0);
    // Bad gzip, bad precision: 400, nothing counted.
    r = client.post("/write", "not gzip at all", {{"Content-Encoding", "gzip"}});
    EXPECT_EQ(r.status, 400) << r.body;
    r = client.post("/write?precision=fortnight", "it_never v=1");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(client.get("/api/v1/metrics/it_never.v/current").status, 404);
}

/// Runs `promtool check metrics` on `text`: its exit status and what it said.
std::pair<int, std::string> promtool_check(const std::string& text) {
    const std::string promtool = find_program("promtool");
    if (promtool.empty())
        return {-1, "promtool not installed"};
    TempDir dir;
    const std::string in = dir.path() + "/export.prom";
    const std::string out = dir.path() + "/promtool.out";
    std::ofstream(in) << text;
    const int status =
        std::system((promtool + " check metrics < " + in + " > " + out + " 2>&1").c_str());
    std::ifstream said(out);
    std::stringstream all;
    all << said.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, all.str()};
}

TEST(MetricsExport, PrometheusTextPassesPromtoolAndShowsEveryKind) {
    if (find_program("promtool").empty())
        GTEST_SKIP() << "promtool not installed";
    Tallyd daemon;
    HttpClient client(daemon.port());
    const json points = {
        {{"name", "it.exp.requests"},
         {"type", "count"},
         {"value", 5},
         {"tags", {{"path", "/a\"b\\c\nd"}, {"status", "200"}}}},
        {{"name", "it.exp.requests"},
         {"type", "sum"},
         {"value", 2},
         {"tags", {{"path", "/a\"b\\c\nd"}, {"status", "200"}}}},
        {{"name", "it.exp.load"}, {"type", "gauge"}, {"value", 0.5}, {"tags", {{"a.b-c", "x"}}}},
        {{"name", "it.exp.latency"}, {"type", "percentile"}, {"value", 12}},
        {{"name", "it.exp.latency"}, {"type", "percentile"}, {"value", 30}},
        {{"name", "it.exp.users"}, {"type", "unique"}, {"value", "alice"}},
        {{"name", "it.exp.rate"}, {"type", "rate"}, {"value", 3}},
        {{"name", "9it:exp"}, {"type", "average"}, {"value", 4}},
    };
    ASSERT_EQ(client.post("/api/v1/metrics", json{{"metrics", points}}.dump()).status, 200);
    ASSERT_EQ(client.post("/api/v1/statsd", "it.exp.sd:1|c|#k:v,bare\nit.exp.t:5|ms|@0.5").status,
              200);
    const auto r = client.get("/api/v1/export/prometheus");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.header("content-type").find("text/plain"), std::string::npos);
    const std::string& text = r.body;
    EXPECT_NE(text.find("\nit_exp_requests_total{path=\"/a\\\"b\\\\c\\nd\",status=\"200\"} 7\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("\nit_exp_load{a_b_c=\"x\"} 0.5\n"), std::string::npos) << text;
    EXPECT_NE(text.find("# TYPE it_exp_latency summary\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nit_exp_latency_count 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nit_exp_latency_sum 42\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nit_exp_users 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nit_exp_t_count 2\n"), std::string::npos) << text;  // sampled @0.5
    EXPECT_NE(text.find("\nit_exp_sd_total{bare=\"true\",k=\"v\"} 1\n"), std::string::npos) << text;
    const auto [status, said] = promtool_check(text);
    EXPECT_EQ(status, 0) << said << "\n" << text;
}

// The fine print of each format: one member however a unique value is spelled, Influx
// escapes and non-numeric fields, Telegraf's tags in a StatsD name, StatsD timestamps.
TEST(MetricsIngest, FormatDetails) {
    Tallyd daemon;
    HttpClient client(daemon.port());
    auto r = client.post("/api/v1/metrics", R"({"metrics":[
        {"name":"it.u","type":"unique","value":5},
        {"name":"it.u","type":"unique","value":5.0},
        {"name":"it.u","type":"unique","value":"5"},
        {"name":"it.u","type":"unique","value":1e3},
        {"name":"it.u","type":"unique","value":"1000"},
        {"name":"it.u","type":"unique","value":"1000.5"}]})");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(current(client, "it.u", "window=1h")["value"], 3.0);

    const std::string now_ns = std::to_string(now_ms() * 1'000'000);
    r = client.post("/write", "it_esc,host=a\\ b,dc=x\\,y v=1,msg=\"hi there\",ok=true,n=-2i " +
                                  now_ns + "\n# a comment\n\n");
    EXPECT_EQ(r.status, 204) << r.body;
    EXPECT_EQ(current(client, "it_esc.v", "window=1h&tags.host=a%20b&tags.dc=x%2Cy")["count"], 1.0);
    EXPECT_EQ(current(client, "it_esc.n", "window=1h")["value"], -2.0);
    EXPECT_EQ(client.get("/api/v1/metrics/it_esc.msg/current").status, 404);  // a string field

    const std::int64_t now_s = now_ms() / 1000;
    r = client.post("/api/v1/statsd",
                    "it.tg,k=v,bare:2|c|#z:1\n"
                    "it.ts:1|c|T" +
                        std::to_string(now_s - 3600 * 2) +
                        "\n"
                        "it.ts:1|c|T" +
                        std::to_string(now_s - 3600 * 72) + "\n");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["bad"], 1) << r.body;  // 72 h ago: outside the window
    EXPECT_EQ(current(client, "it.tg", "window=1h&tags.k=v&tags.bare=true&tags.z=1")["value"], 2.0);
    EXPECT_EQ(current(client, "it.ts", "window=1h")["count"], 0.0);  // 2 h ago: not this hour
    EXPECT_EQ(current(client, "it.ts", "window=1d")["count"], 1.0);
}

// ---------------------------------------------------------------------------------------
// Refusals

TEST(MetricsRefusals, BadBodiesAndPointsChangeNothing) {
    Tallyd daemon;
    HttpClient client(daemon.port());
    auto post = [&](const std::string& body) { return client.post("/api/v1/metrics", body); };
    ASSERT_EQ(post(R"({"metrics":[{"name":"it.ok","type":"count","value":1}]})").status, 200);
    const json names_before = user_names(client);
    ASSERT_EQ(names_before.size(), 1u) << names_before.dump();
    for (const std::string body :
         {"not json", "[]", R"({"points":[]})", R"({"metrics":5})",
          R"({"metrics":[{"name":"it.x","type":"count","value":"1"}]})",
          R"({"metrics":[{"name":"bad name!","type":"count","value":1}]})",
          R"({"metrics":[{"name":"it.x","type":"nope","value":1}]})",
          R"({"metrics":[{"name":"it.x","type":"count","value":1,"tags":{"k":5}}]})",
          R"({"metrics":[{"name":"it.x","type":"count","value":1,"timestamp":1}]})"}) {
        const auto r = post(body);
        EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
        const json answer = json::parse(r.body, nullptr, false);
        EXPECT_TRUE(answer.contains("error") ||
                    (answer.contains("rejected") && !answer["rejected"].empty() &&
                     answer["rejected"][0].contains("error")))
            << body << " -> " << r.body;
    }
    EXPECT_EQ(user_names(client), names_before);
    // Timestamps outside [now - 48 h, now + 5 min].
    const std::int64_t now = now_ms();
    for (std::int64_t ts : {now - 49 * kHour, now + 10 * kMinute}) {
        const auto r = post(json{
            {"metrics", {{{"name", "it.x"}, {"type", "count"}, {"value", 1}, {"timestamp", ts}}}}}
                                .dump());
        EXPECT_EQ(r.status, 400) << r.body;
    }
    EXPECT_EQ(user_names(client), names_before);
    // Bad points among good ones: the good stand, each bad one named by its index.
    auto r = post(R"({"metrics":[{"name":"it.ok","type":"count","value":2},
                                 {"name":"it.ok","type":"count","value":"x"},
                                 {"name":"it.ok","type":"count","value":3},
                                 {"type":"count","value":3}]})");
    ASSERT_EQ(r.status, 200) << r.body;
    json answer = json::parse(r.body);
    EXPECT_EQ(answer["accepted"], 2);
    ASSERT_EQ(answer["rejected"].size(), 2u) << r.body;
    EXPECT_EQ(answer["rejected"][0]["index"], 1);
    EXPECT_EQ(answer["rejected"][1]["index"], 3);
    EXPECT_EQ(current(client, "it.ok", "window=1h")["value"], 6.0);

    // A kind conflict: 400 alone; in a batch, only that point refused, by its index.
    r = post(R"({"metrics":[{"name":"it.ok","type":"gauge","value":1}]})");
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("type conflicts"), std::string::npos) << r.body;
    r = post(R"({"metrics":[{"name":"it.ok","type":"count","value":4},
                            {"name":"it.ok","type":"percentile","value":4},
                            {"name":"it.ok","type":"sum","value":1}]})");
    ASSERT_EQ(r.status, 200) << r.body;
    answer = json::parse(r.body);
    EXPECT_EQ(answer["accepted"], 2);
    ASSERT_EQ(answer["rejected"].size(), 1u);
    EXPECT_EQ(answer["rejected"][0]["index"], 1);
    EXPECT_EQ(answer["rejected"][0]["field"], "type");
    EXPECT_EQ(current(client, "it.ok", "window=1h")["value"], 11.0);
    r = client.post("/api/v1/statsd", "it.ok:1|g\n");
    EXPECT_EQ(r.status, 400) << r.body;
    for (const char* line : {"it,host=a ok=1", "it ok=1"}) {  // it.ok as a gauge
        r = client.post("/write", line);
        EXPECT_EQ(r.status, 400) << line << " -> " << r.body;
    }
    EXPECT_EQ(current(client, "it.ok", "window=1h")["value"], 11.0);
    const std::string metrics = client.get("/metrics").body;
    EXPECT_GE(
        metric_value(metrics, R"(tally_metric_points_rejected_total{reason="type_conflict"})"),
        3.0);

    // Queries that cannot be answered.
    for (const json& body :
         {json{{"metrics", {"it.ok"}}, {"aggregation", "p99"}}, json{{"metrics", json::array()}},
          json{{"metrics", {"it.ok"}}, {"window", "7m"}},
          json{{"metrics", {"it.ok"}},
               {"window", "10s"},
               {"start_time", iso(now - 40 * kHour)},
               {"end_time", iso(now)}},
          json{{"metrics", {"it.ok"}},
               {"window", "1m"},
               {"start_time", iso(now)},
               {"end_time", iso(now - kHour)}}}) {
        const auto q = client.post("/api/v1/query", body.dump());
        EXPECT_EQ(q.status, 400) << body.dump() << " -> " << q.body;
        EXPECT_TRUE(json::parse(q.body, nullptr, false).contains("error")) << q.body;
    }
    EXPECT_EQ(client.get("/api/v1/metrics/it.ok/current?window=2m").status, 400);
}

TEST(MetricsRefusals, SizeLimits) {
    Tallyd daemon;
    HttpClient client(daemon.port());
    auto batch = [](int n) {
        json points = json::array();
        for (int i = 0; i < n; ++i)
            points.push_back({{"name", "it.size"}, {"type", "count"}, {"value", 1}});
        return json{{"metrics", points}}.dump();
    };
    // 10,000 points: fine; one more: refused whole.
    auto r = client.post("/api/v1/metrics", batch(10'000));
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
    EXPECT_EQ(json::parse(r.body)["accepted"], 10'000);
    r = client.post("/api/v1/metrics", batch(10'001));
    EXPECT_TRUE(r.status == 400 || r.status == 413) << r.status << " " << r.body;
    EXPECT_EQ(current(client, "it.size", "window=1h")["value"], 10'000.0);
    // More than 1 MiB of Influx lines, plain or once inflated; StatsD over HTTP too.
    std::string lines;
    while (lines.size() <= 1024 * 1024)
        lines += "it_size,host=h value=1\n";
    r = client.post("/write", lines);
    EXPECT_EQ(r.status, 413) << r.body;
    r = client.post("/write", gzip(lines), {{"Content-Encoding", "gzip"}});
    EXPECT_EQ(r.status, 413) << r.body;
    r = client.post("/write", gzip(lines), {{"Content-Encoding", "br"}});
    EXPECT_EQ(r.status, 415) << r.body;
    EXPECT_EQ(client.get("/api/v1/metrics/it_size.value/current").status, 404);
    std::string text;
    while (text.size() <= 1024 * 1024)
        text += "it.size.sd:1|c\n";
    r = client.post("/api/v1/statsd", text);
    EXPECT_EQ(r.status, 413) << r.body;
    EXPECT_EQ(client.get("/api/v1/metrics/it.size.sd/current").status, 404);
}

TEST(MetricsRefusals, CapsAnswer429AndCreateNothing) {
    // Tally's own series (tally.http.requests.count by route and status, ...) count against
    // metrics.max_series too, so the global cap is reached after a number of new names that
    // depends on them; the per-name cap is exact.
    TempDir dir;
    constexpr int kMaxSeries = 8;
    Tallyd daemon(
        {"--config",
         write_config(dir,
                      {{"metrics", {{"max_series", kMaxSeries}, {"max_series_per_name", 2}}}})});
    HttpClient client(daemon.port());
    auto point = [](const std::string& name, const std::string& k) {
        return json{
            {"metrics", {{{"name", name}, {"type", "count"}, {"value", 1}, {"tags", {{"k", k}}}}}}}
            .dump();
    };
    EXPECT_EQ(client.post("/api/v1/metrics", point("it.a", "1")).status, 200);
    EXPECT_EQ(client.post("/api/v1/metrics", point("it.a", "2")).status, 200);
    auto r = client.post("/api/v1/metrics", point("it.a", "3"));
    EXPECT_EQ(r.status, 429) << r.body;
    EXPECT_NE(r.body.find("max_series_per_name"), std::string::npos) << r.body;
    std::set<std::string> accepted = {"it.a"};
    std::string refused;
    for (int i = 0; i < kMaxSeries && refused.empty(); ++i) {
        const std::string name = "it.n" + std::to_string(i);
        r = client.post("/api/v1/metrics", point(name, "1"));
        if (r.status == 200) {
            accepted.insert(name);
        } else {
            EXPECT_EQ(r.status, 429) << r.body;
            EXPECT_NE(r.body.find("max_series"), std::string::npos) << r.body;
            refused = name;
        }
    }
    ASSERT_FALSE(refused.empty()) << "metrics.max_series never refused a new series";
    r = client.post("/api/v1/statsd", "it.d:1|c\n");
    EXPECT_EQ(r.status, 429) << r.body;
    r = client.post("/write", "it_e v=1");
    EXPECT_EQ(r.status, 429) << r.body;
    // Existing series still count.
    EXPECT_EQ(client.post("/api/v1/metrics", point("it.a", "1")).status, 200);
    EXPECT_EQ(current(client, "it.a", "window=1h")["value"], 3.0);
    std::set<std::string> names;
    for (const json& m : user_names(client))
        names.insert(m["name"].get<std::string>());
    EXPECT_EQ(names, accepted) << client.get("/api/v1/metrics").body;
    for (const std::string& gone : {refused, std::string("it.d"), std::string("it_e.v")})
        EXPECT_EQ(client.get("/api/v1/metrics/" + gone + "/current").status, 404) << gone;
    const std::string metrics = client.get("/metrics").body;
    EXPECT_GE(
        metric_value(metrics,
                     R"(tally_metric_points_rejected_total{reason="too_many_series_per_name"})"),
        1.0);
    EXPECT_GE(
        metric_value(metrics, R"(tally_metric_points_rejected_total{reason="too_many_series"})"),
        3.0);
    EXPECT_EQ(metric_value(metrics, "tally_metric_series"), kMaxSeries);
}

TEST(MetricsRefusals, TokenRequiredEverywhereButTracking) {
    Tallyd daemon({"--token", "s3cret"});
    HttpClient client(daemon.port());
    const std::string body = R"({"metrics":[{"name":"it.t","type":"count","value":1}]})";
    const std::vector<std::pair<std::string, std::string>> bearer = {
        {"Authorization", "Bearer s3cret"}};
    const std::vector<std::pair<std::string, std::string>> wrong = {
        {"Authorization", "Bearer nope"}};
    EXPECT_EQ(client.post("/api/v1/metrics", body).status, 401);
    EXPECT_EQ(client.post("/api/v1/metrics", body, wrong).status, 401);
    EXPECT_EQ(client.post("/api/v1/statsd", "it.t:1|c").status, 401);
    EXPECT_EQ(client.post("/write", "it_t v=1").status, 401);
    EXPECT_EQ(client.post("/api/v2/write", "it_t v=1", {{"Authorization", "Token nope"}}).status,
              401);
    EXPECT_EQ(client.get("/api/v1/metrics").status, 401);
    EXPECT_EQ(client.get("/api/v1/metrics/it.t/current").status, 401);
    EXPECT_EQ(client.post("/api/v1/query", R"({"metrics":["it.t"]})").status, 401);
    EXPECT_EQ(client.get("/api/v1/export/prometheus").status, 401);
    EXPECT_EQ(client.get("/metrics").status, 401);

    EXPECT_EQ(client.post("/api/v1/metrics", body, bearer).status, 200);
    EXPECT_EQ(client.post("/api/v1/statsd", "it.t:1|c", bearer).status, 200);
    EXPECT_EQ(client.post("/write", "it_t v=1", {{"Authorization", "Token s3cret"}}).status, 204);
    EXPECT_EQ(client.post("/api/v2/write", "it_t v=2", bearer).status, 204);
    EXPECT_EQ(client.get("/api/v1/metrics/it.t/current?token=s3cret&window=1h").status, 200);
    EXPECT_EQ(current(client, "it.t", "window=1h", bearer)["value"], 2.0);
    EXPECT_EQ(current(client, "it_t.v", "window=1h", bearer)["value"], 2.0);
    EXPECT_EQ(client.post("/api/v1/query", R"({"metrics":["it.t"]})", bearer).status, 200);
    EXPECT_EQ(client.get("/api/v1/export/prometheus", bearer).status, 200);
    EXPECT_EQ(client.post("/track/pageview", pageview()).status, 200);  // tracking is public
}

// ---------------------------------------------------------------------------------------
// Derived metrics, restarts

TEST(MetricsDerived, EventsBecomeMetricsAndSurviveARestart) {
    TempDir dir;
    const json config = {{"metrics",
                          {{"derive",
                            {{{"event", "api_call"},
                              {"metric", "api.response.time"},
                              {"type", "percentile"},
                              {"value", "duration_ms"},
                              {"tags", {"endpoint", "status"}}}}}}}};
    Tallyd daemon({"--config", write_config(dir, config)});
    HttpClient client(daemon.port());
    for (int i = 1; i <= 60; ++i) {
        const json props = {
            {"duration_ms", i * 10}, {"endpoint", i % 3 == 0 ? "/b" : "/a"}, {"status", "200"}};
        ASSERT_EQ(client
                      .post("/track/event", json{{"event_name", "api_call"},
                                                 {"session_id", "s" + std::to_string(i)},
                                                 {"user_id", "u" + std::to_string(i % 9)},
                                                 {"properties", props}}
                                                .dump())
                      .status,
                  200);
    }
    for (int i = 0; i < 5; ++i)
        ASSERT_EQ(
            client.post("/track/pageview", pageview({{"user_id", "u" + std::to_string(i)}})).status,
            200);
    auto check = [&] {
        json t = current(client, "api.response.time", "window=1h&tags.endpoint=/b");
        EXPECT_EQ(current(client, "api.response.time", "window=1h&tags.endpoint=%2Fb")["count"],
                  20.0);  // percent-encoded
        EXPECT_EQ(t["type"], "percentile");
        EXPECT_EQ(t["count"], 20.0);
        EXPECT_EQ(t["min"], 30.0);
        EXPECT_EQ(t["max"], 600.0);
        EXPECT_NEAR(t["value"].get<double>(), 300, 3);  // 30..600 step 30: rank 10 is 300
        EXPECT_EQ(current(client, "api.response.time", "window=1h&tags.status=200")["count"], 60.0);
        EXPECT_EQ(current(client, "events.api_call.count", "window=1h&tags.site=default")["value"],
                  60.0);
        EXPECT_EQ(current(client, "pageviews.count", "window=1h")["value"], 5.0);
        EXPECT_EQ(current(client, "users.active", "window=1h")["value"], 9.0);  // u0..u8
    };
    check();
    ASSERT_EQ(daemon.stop(SIGTERM), 0);
    daemon.restart();
    HttpClient after(daemon.port());
    // The derived series come back from the replayed events, counted once.
    json t = current(after, "api.response.time", "window=1h&tags.endpoint=/b");
    EXPECT_EQ(t["count"], 20.0);
    EXPECT_EQ(current(after, "events.api_call.count", "window=1h")["value"], 60.0);
    EXPECT_EQ(current(after, "pageviews.count", "window=1h")["value"], 5.0);
    EXPECT_EQ(current(after, "users.active", "window=1h")["value"], 9.0);
}

TEST(MetricsDurability, SigtermRestartGivesTheSameAnswers) {
    const int udp_port = free_port();
    Tallyd daemon({"--statsd", "127.0.0.1:" + std::to_string(udp_port)});
    HttpClient client(daemon.port());
    const std::int64_t t0 = now_ms();
    json points = json::array();
    for (int i = 0; i < 300; ++i) {
        points.push_back({{"name", i % 2 ? "it.r.c" : "it.r.d"},
                          {"type", i % 2 ? "count" : "distribution"},
                          {"value", i},
                          {"tags", {{"h", std::to_string(i % 3)}}},
                          {"timestamp", t0 - (i * 7 * kMinute) % (46 * kHour)}});
    }
    ASSERT_EQ(client.post("/api/v1/metrics", json{{"metrics", points}}.dump()).status, 200);
    ASSERT_EQ(
        client.post("/api/v1/statsd", "it.r.g:5|g\nit.r.g:+2|g\nit.r.s:x|s\nit.r.s:y|s").status,
        200);
    const std::vector<json> queries = {
        {{"metrics", {"it.r.c", "it.r.d"}},
         {"window", "1h"},
         {"group_by", {"h"}},
         {"start_time", iso(t0 - 47 * kHour)},
         {"end_time", iso(t0)}},
        {{"metrics", {"it.r.d"}},
         {"aggregation", "p90"},
         {"window", "1h"},
         {"start_time", iso(t0 - 50 * kHour)},
         {"end_time", iso(t0)}},
        {{"metrics", {"it.r.c"}},
         {"window", "10s"},
         {"start_time", iso(t0 - 50 * kMinute)},
         {"end_time", iso(t0)}},
        // An explicit range: a trailing window ends at the next 10 s, which may move while
        // the daemon restarts.
        {{"metrics", {"it.r.g", "it.r.s"}},
         {"window", "1h"},
         {"start_time", iso(t0 - kHour)},
         {"end_time", iso(t0)}},
    };
    std::vector<json> before;
    for (const json& q : queries)
        before.push_back(query(client, q));
    ASSERT_EQ(daemon.stop(SIGTERM), 0);
    daemon.restart();
    HttpClient after(daemon.port());
    for (std::size_t i = 0; i < queries.size(); ++i)
        EXPECT_EQ(query(after, queries[i]), before[i]) << queries[i].dump();
    // A StatsD gauge change after the restart starts from the value before it.
    ASSERT_EQ(after.post("/api/v1/statsd", "it.r.g:+3|g").status, 200);
    EXPECT_EQ(current(after, "it.r.g", "window=1h")["value"], 10.0);
    // And once more, kill -9 this time (no snapshot on the way out: the log alone).
    ASSERT_EQ(daemon.stop(SIGKILL), 128 + SIGKILL);
    daemon.restart();
    HttpClient again(daemon.port());
    for (std::size_t i = 0; i < 3; ++i)
        EXPECT_EQ(query(again, queries[i]), before[i]) << queries[i].dump();
    EXPECT_EQ(current(again, "it.r.g", "window=1h")["value"], 10.0);
}

// A StatsD gauge set by two writers (the UDP listener, then an HTTP worker), then kill -9:
// after the log replay, "+1" must change the latest value (100), not whichever writer's
// log happened to be replayed last.
TEST(MetricsDurability, GaugeDeltaAfterKill9StartsFromTheLatestValue) {
    const int udp_port = free_port();
    Tallyd daemon({"--statsd", "127.0.0.1:" + std::to_string(udp_port)});
    HttpClient client(daemon.port());
    UdpSender udp(udp_port);
    udp.send("it.gd:5|g");
    ASSERT_EQ(current_when(client, "it.gd", "window=1h",
                           [](const json& j) { return j["value"] == 5.0; })["value"],
              5.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(client.post("/api/v1/statsd", "it.gd:100|g").status, 200);
    EXPECT_EQ(current(client, "it.gd", "window=1h")["value"], 100.0);
    ASSERT_EQ(daemon.stop(SIGKILL), 128 + SIGKILL);
    daemon.restart();
    HttpClient after(daemon.port());
    EXPECT_EQ(current(after, "it.gd", "window=1h")["value"], 100.0);
    ASSERT_EQ(after.post("/api/v1/statsd", "it.gd:+1|g").status, 200);
    EXPECT_EQ(current(after, "it.gd", "window=1h")["value"], 101.0)
        << "the gauge change applied to a value older than the latest";
}

// kill -9 while writers post metric batches with fsync always: every point answered 200
// is counted exactly once after the restart; a batch in flight at the kill counts wholly
// or not at all.
void kill_under_load(unsigned seed) {
    Tallyd daemon({"--fsync", "always"});
    constexpr int kWriters = 3;
    struct Writer {
        double acked = 0;      // the sum of the batches answered 200
        double in_flight = 0;  // the batch without an answer at the kill
        std::size_t batches = 0;
        std::string failure;
    };
    std::vector<Writer> writers(kWriters);
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
        threads.emplace_back([&, w] {
            Writer& me = writers[static_cast<std::size_t>(w)];
            HttpClient client(daemon.port(), std::chrono::seconds(5));
            for (int i = 0; i < 1'000'000; ++i) {
                json points = json::array();
                double sum = 0;
                for (int j = 0; j < 20; ++j) {
                    const int value = 1 + (i * 20 + j) % 97;
                    sum += value;
                    points.push_back({{"name", j % 5 == 4 ? "it.load.g" : "it.load"},
                                      {"type", j % 5 == 4 ? "gauge" : "count"},
                                      {"value", value},
                                      {"tags", {{"writer", std::to_string(w)}}}});
                    if (j % 5 == 4)
                        sum -= value;
                }
                const HttpResponse r =
                    client.post("/api/v1/metrics", json{{"metrics", points}}.dump());
                if (r.status == 0) {
                    me.in_flight = sum;
                    return;
                }
                if (r.status != 200 || r.body != R"({"accepted":20,"rejected":[]})") {
                    me.failure = std::to_string(r.status) + " " + r.body;
                    return;
                }
                me.acked += sum;
                ++me.batches;
            }
        });
    }
    std::mt19937 random(seed);
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + random() % 600));
    ASSERT_EQ(daemon.stop(SIGKILL), 128 + SIGKILL);
    for (auto& thread : threads)
        thread.join();
    std::size_t batches = 0;
    for (const Writer& w : writers) {
        ASSERT_EQ(w.failure, "");
        batches += w.batches;
    }
    ASSERT_GT(batches, 30u) << "too little load to mean anything";

    daemon.restart();
    HttpClient client(daemon.port());
    const json q = query(client, {{"metrics", {"it.load"}},
                                  {"aggregation", "sum"},
                                  {"window", "1h"},
                                  {"group_by", {"writer"}}});
    ASSERT_EQ(q["results"].size(), static_cast<std::size_t>(kWriters)) << q.dump();
    for (const json& result : q["results"]) {
        const int w = std::stoi(result["group"]["writer"].get<std::string>());
        const Writer& me = writers[static_cast<std::size_t>(w)];
        const double counted = result["points"][0]["value"].get<double>();
        // Exactly the acknowledged batches, plus the one in flight wholly or not at all.
        EXPECT_TRUE(counted == me.acked || counted == me.acked + me.in_flight)
            << "writer " << w << ": counted " << counted << ", acknowledged " << me.acked
            << ", in flight " << me.in_flight;
    }
}

TEST(MetricsDurability, KillMinus9UnderLoadCountsEvery200ExactlyOnce) {
    for (unsigned iteration = 0; iteration < 2; ++iteration) {
        SCOPED_TRACE("iteration " + std::to_string(iteration));
        kill_under_load(iteration);
    }
}

// Snapshots taken while metric batches and page views flow (durability.snapshot_events
// small: one a second), then kill -9: the metrics snapshot plus the log after its position
// count every acknowledged point once, and the derived pageviews.count equals the
// dashboard's page views (both rebuilt from the same log, neither twice).
TEST(MetricsDurability, SnapshotsUnderLoadThenKill9CountEverythingOnce) {
    TempDir dir;
    Tallyd daemon(
        {"--config",
         write_config(dir, {{"durability", {{"fsync", "always"}, {"snapshot_events", 100}}}})});
    constexpr int kWriters = 2;
    struct Writer {
        double acked = 0;
        double in_flight = 0;
        std::string failure;
    };
    std::vector<Writer> writers(kWriters);
    std::atomic<int> views_acked{0};
    std::atomic<int> views_in_flight{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < kWriters; ++w) {
        threads.emplace_back([&, w] {
            Writer& me = writers[static_cast<std::size_t>(w)];
            HttpClient client(daemon.port(), std::chrono::seconds(5));
            for (int i = 0;; ++i) {
                json points = json::array();
                double sum = 0;
                for (int j = 0; j < 10; ++j) {
                    const int value = 1 + (i * 10 + j) % 89;
                    sum += value;
                    points.push_back({{"name", "it.snap"},
                                      {"type", "count"},
                                      {"value", value},
                                      {"tags", {{"writer", std::to_string(w)}}}});
                }
                const HttpResponse r =
                    client.post("/api/v1/metrics", json{{"metrics", points}}.dump());
                if (r.status == 0) {
                    me.in_flight = sum;
                    return;
                }
                if (r.status != 200) {
                    me.failure = std::to_string(r.status) + " " + r.body;
                    return;
                }
                me.acked += sum;
            }
        });
    }
    threads.emplace_back([&] {
        HttpClient client(daemon.port(), std::chrono::seconds(5));
        for (int i = 0;; ++i) {
            const HttpResponse r = client.post(
                "/track/pageview", pageview({{"page_url", "/p" + std::to_string(i % 10)}}));
            if (r.status != 200) {
                views_in_flight = 1;
                return;
            }
            ++views_acked;
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2'600));
    ASSERT_EQ(daemon.stop(SIGKILL), 128 + SIGKILL);
    for (auto& thread : threads)
        thread.join();
    for (const Writer& w : writers)
        ASSERT_EQ(w.failure, "");
    ASSERT_GT(views_acked.load(), 50);

    daemon.restart();
    EXPECT_NE(daemon.log_text().find("metrics: loaded metrics-"), std::string::npos)
        << "no metrics snapshot was taken under load: this test checks less than it says";
    HttpClient client(daemon.port());
    const json q = query(client, {{"metrics", {"it.snap"}},
                                  {"aggregation", "sum"},
                                  {"window", "1h"},
                                  {"group_by", {"writer"}}});
    ASSERT_EQ(q["results"].size(), static_cast<std::size_t>(kWriters)) << q.dump();
    for (const json& result : q["results"]) {
        const int w = std::stoi(result["group"]["writer"].get<std::string>());
        const Writer& me = writers[static_cast<std::size_t>(w)];
        const double counted = result["points"][0]["value"].get<double>();
        EXPECT_TRUE(counted == me.acked || counted == me.acked + me.in_flight)
            << "writer " << w << ": counted " << counted << ", acknowledged " << me.acked
            << ", in flight " << me.in_flight;
    }
    const int views = dashboard(client, "today")["page_views"].get<int>();
    EXPECT_GE(views, views_acked.load());
    EXPECT_LE(views, views_acked.load() + views_in_flight.load());
    EXPECT_EQ(current(client, "pageviews.count", "window=1h")["value"], static_cast<double>(views))
        << "the derived page view counter disagrees with the dashboard after the restart";
}

}  // namespace
}  // namespace tally::test
