// http_bench_server: tally::http::Server with a trivial Handler, the ceiling for the
// daemon's ingest benchmark.
//
//   http_bench_server [PORT [THREADS]]        (default 8089, 2 threads; Ctrl-C stops)
//   wrk -t1 -c64 -d5s -s post.lua http://127.0.0.1:8089/track/pageview
//
// with post.lua:
//   wrk.method = "POST"
//   wrk.body = '{"page_url":"/","session_id":"s1"}'
//   wrk.headers["Content-Type"] = "application/json"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "tally/http/server.hpp"

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) {
    g_stop.store(true);
}

}  // namespace

int main(int argc, char** argv) {
    tally::http::ServerOptions options;
    options.port = static_cast<std::uint16_t>(argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 8089);
    options.threads = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2;
    tally::http::ServerStats stats;
    tally::http::Server server(
        options,
        [](const tally::http::Request& request, tally::http::Reply reply) {
            tally::http::Response response;
            if (request.method == tally::http::Method::post) {
                response.body = R"({"status":"ok"})";
            } else {
                response.status = 405;
                response.body = R"({"error":"method not allowed"})";
                response.headers.emplace_back("Allow", "POST");
            }
            reply(std::move(response));
        },
        stats);
    server.start();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::thread waiter([&] {
        while (!g_stop.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        server.stop();
    });
    std::printf("listening on 127.0.0.1:%u with %zu threads\n", server.port(), options.threads);
    std::fflush(stdout);
    server.run();
    waiter.join();
    std::printf("accepted %llu connections\n",
                static_cast<unsigned long long>(stats.accepted_connections.load()));
    return 0;
}
