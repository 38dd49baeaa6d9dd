#pragma once
// The daemon's one outgoing HTTP client: a blocking request to a plain-HTTP URL, bounded in
// time and in what it reads back. The outbox uses it to post alerts and reports; the tests
// use it to read servers they start.
//
// Only "http://host[:port]/path[?query]" is understood. "https://" is refused with a clear
// error: tallyd carries no TLS client (no certificate store, no verification to get
// wrong); a destination behind TLS is reached through a local proxy that terminates it.
// User info ("user:pass@") and fragments are refused too, so a URL never hides a secret in
// the logs or changes meaning on the way.
//
// One request opens one connection (Connection: close) and gives up when the whole
// exchange (resolve, connect, send, status line and headers, body) has not finished within
// the timeout; the socket is closed either way. Nothing is retried here: retrying is the
// caller's policy (the outbox's back-off). Cost: one connection, a few allocations, a thread
// blocked for at most the timeout.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

namespace tally::http {

/// An absolute http:// URL taken apart.
struct ClientUrl {
    std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
    std::uint16_t port = 80;
    std::string target = "/";  // path and query, as sent on the request line
    std::string host_header;   // "host[:port]", as sent in Host
};

/// The URL, or why it cannot be used (empty when it parsed).
struct UrlParse {
    std::optional<ClientUrl> url;
    std::string error;
};

/// Parses "http://host[:port]/path[?query]" (at most 2,048 bytes, no spaces or control
/// characters, port 1-65535). Scheme and host are case-insensitive.
UrlParse parse_client_url(std::string_view text);

struct ClientResponse {
    unsigned status = 0;  // the answer's status; 0 when no answer came
    std::string error;    // why not, when status is 0 (or why the body was not read)
    std::string body;     // the answer's body (at most max_body bytes, else empty)
    bool ok() const { return status >= 200 && status < 300; }
};

/// One request; never throws. `content_type` is left out when empty. A stop requested on
/// `stop` abandons the request at once (error "stopped").
ClientResponse request(std::string_view method, const ClientUrl& url, std::string_view content_type,
                       std::string_view body, std::chrono::milliseconds timeout,
                       std::size_t max_body = std::size_t{64} * 1024,
                       const std::stop_token& stop = {});

inline ClientResponse post(const ClientUrl& url, std::string_view content_type,
                           std::string_view body, std::chrono::milliseconds timeout,
                           const std::stop_token& stop = {}) {
    return request("POST", url, content_type, body, timeout, std::size_t{64} * 1024, stop);
}

}  // namespace tally::http
