#pragma once
// Shared helpers for the integration tests.

#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "support/http_client.hpp"
#include "support/tallyd.hpp"
#include "tally/ingest/parse.hpp"
#include "tally/ingest/time.hpp"

namespace tally::test {

using json = nlohmann::json;

inline std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline std::string today() {
    return ingest::format_day(ingest::day_of(now_ms()));
}

inline std::string iso(std::int64_t ms) {
    return ingest::format_rfc3339_ms(ms);
}

/// A page view body with sensible defaults; `extra` fields override.
inline std::string pageview(json extra = json::object()) {
    json body = {{"page_url", "https://example.com/home"}, {"session_id", "s1"}, {"user_id", "u1"}};
    for (auto& [k, v] : extra.items())
        body[k] = v;
    return body.dump();
}

inline json dashboard(HttpClient& client, const std::string& date,
                      const std::string& site = "default") {
    auto r = client.get("/dashboard/" + date + "?site=" + site);
    return r.status == 200 ? json::parse(r.body) : json();
}

/// A fixture with a fresh tallyd and a keep-alive client, and send() for events that
/// must be accepted.
class DaemonTest : public ::testing::Test {
  protected:
    Tallyd daemon;
    HttpClient client{daemon.port()};

    void send(const json& body, const std::string& path = "/track/pageview") {
        auto r = client.post(path, body.dump());
        ASSERT_EQ(r.status, 200) << body.dump() << " -> " << r.body;
    }
};

}  // namespace tally::test
