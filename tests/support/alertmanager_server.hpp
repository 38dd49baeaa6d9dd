#pragma once
// A real Alertmanager for tests (Debian's prometheus-alertmanager, 0.25): started on a free
// loopback port with a minimal configuration it writes (one receiver, "tally", that sends
// nowhere or to a webhook URL; grouping by alertname; short waits: group_wait 100 ms,
// group_interval 1 s), its storage in a temporary directory and clustering
// off; ready (GET /-/ready answers 200) when the constructor returns; killed and cleaned
// up with the object, even when the test fails.
//
//   if (!tally::test::AlertmanagerServer::available()) GTEST_SKIP() << "not installed";
//   tally::test::AlertmanagerServer am;
//   ... POST alerts to am.url() + "/api/v2/alerts" ...
//   nlohmann::json active = am.alerts();   // GET /api/v2/alerts, parsed

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "support/process.hpp"

namespace tally::test {

class AlertmanagerServer {
  public:
    /// True when the alertmanager binary can be found (tests skip otherwise).
    static bool available();

    /// With a `webhook_url`, the receiver posts its notifications there (webhook v4,
    /// resolved ones too). Throws std::runtime_error, with the server's log, if it is not
    /// ready in time.
    explicit AlertmanagerServer(const std::string& webhook_url = "");
    ~AlertmanagerServer();
    AlertmanagerServer(const AlertmanagerServer&) = delete;
    AlertmanagerServer& operator=(const AlertmanagerServer&) = delete;

    int port() const { return port_; }
    /// "http://127.0.0.1:<port>" (no trailing slash).
    std::string url() const;
    /// The server's stdout/stderr.
    std::string log() const;

    /// GET /api/v2/alerts (what it holds and has not seen end), parsed; throws
    /// std::runtime_error when the answer is not 200 with a JSON array.
    nlohmann::json alerts() const;

  private:
    void launch();

    TempDir dir_;
    std::string log_path_;
    int port_ = 0;
    std::optional<Process> process_;
};

}  // namespace tally::test
