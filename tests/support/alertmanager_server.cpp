#include "support/alertmanager_server.hpp"

#include <csignal>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tally/http/client.hpp"

namespace tally::test {

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr auto kRequestTimeout = std::chrono::seconds(5);
constexpr int kStartAttempts = 3;

std::string alertmanager_path() {
    std::string path = find_program("prometheus-alertmanager");
    return path.empty() ? find_program("alertmanager") : path;
}

// One receiver, every alert routed to it, grouped by alertname and flushed quickly, so
// its state moves on within a test. Without a webhook it has no integration at all.
std::string config(const std::string& webhook_url) {
    std::string text = R"(route:
  receiver: "tally"
  group_by: ["alertname"]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "tally"
)";
    if (!webhook_url.empty())
        text += "    webhook_configs:\n      - url: \"" + webhook_url +
                "\"\n        send_resolved: true\n";
    return text;
}

http::ClientUrl local_url(int port, const std::string& target) {
    http::ClientUrl url;
    url.host = "127.0.0.1";
    url.port = static_cast<std::uint16_t>(port);
    url.target = target;
    url.host_header = "127.0.0.1:" + std::to_string(port);
    return url;
}

}  // namespace

bool AlertmanagerServer::available() {
    return !alertmanager_path().empty();
}

AlertmanagerServer::AlertmanagerServer(const std::string& webhook_url)
    : log_path_(dir_.path() + "/alertmanager.log") {
    if (!available())
        throw std::runtime_error("prometheus-alertmanager not found");
    std::ofstream(dir_.path() + "/alertmanager.yml") << config(webhook_url);
    launch_on_free_port(kStartAttempts, [this](int port) {
        port_ = port;
        try {
            launch();
        } catch (...) {
            process_.reset();
            throw;
        }
    });
}

AlertmanagerServer::~AlertmanagerServer() {
    if (process_)
        process_->stop(SIGTERM, std::chrono::seconds(5));
    process_.reset();  // SIGKILL if it did not end, and reap; dir_ goes after
}

void AlertmanagerServer::launch() {
    process_.emplace(
        std::vector<std::string>{alertmanager_path(),
                                 "--config.file=" + dir_.path() + "/alertmanager.yml",
                                 "--storage.path=" + dir_.path() + "/data",
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                 "--cluster.listen-address=", "--log.level=debug"},
        log_path_);
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!process_->running())
            throw std::runtime_error("alertmanager exited at start; log:\n" + log());
        const auto ready = http::request("GET", local_url(port_, "/-/ready"), "", "",
                                         std::chrono::milliseconds(500));
        if (ready.status == 200)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("alertmanager not ready in time; log:\n" + log());
}

std::string AlertmanagerServer::url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
}

std::string AlertmanagerServer::log() const {
    std::ifstream in(log_path_);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

nlohmann::json AlertmanagerServer::alerts() const {
    const auto answer = http::request("GET", local_url(port_, "/api/v2/alerts"), "", "",
                                      kRequestTimeout, 16u << 20);
    if (answer.status != 200)
        throw std::runtime_error("GET /api/v2/alerts: status " + std::to_string(answer.status) +
                                 " " + answer.error + " " + answer.body);
    auto parsed = nlohmann::json::parse(answer.body, nullptr, false);
    if (!parsed.is_array())
        throw std::runtime_error("GET /api/v2/alerts: not a JSON array: " + answer.body);
    return parsed;
}

}  // namespace tally::test
