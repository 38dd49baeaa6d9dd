#pragma once
// A tiny blocking HTTP/1.1 client on raw sockets, for the server tests: it can send anything
// (garbage, half a request, a body a byte at a time) and read answers exactly as sent.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace tally::http::test {

struct RawResponse {
    std::string version;  // "HTTP/1.1"
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;

    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string{} : it->second;
    }
};

class RawClient {
  public:
    /// Connects to 127.0.0.1:port; reads give up after `timeout`.
    explicit RawClient(std::uint16_t port,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5));
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connected() const { return fd_ >= 0; }
    /// Sends all of `data`; false on error.
    bool send(std::string_view data);
    /// Reads one answer (Content-Length framed). `head`: the answer to a HEAD (no body).
    /// nullopt on timeout, EOF or error.
    std::optional<RawResponse> read_response(bool head = false);
    /// Reads until the server closes the connection; returns what came meanwhile, or
    /// nullopt if the connection is still open after `within`.
    std::optional<std::string> read_until_closed(std::chrono::milliseconds within);
    void close();

  private:
    bool fill();  // one recv into buffer_; false on EOF/error/timeout
    void set_timeout(std::chrono::milliseconds timeout);

    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buffer_;
};

/// "METHOD target HTTP/1.1" with Host, the extra header lines (each ending in \r\n), and a
/// Content-Length when there is a body.
std::string make_request(std::string_view method, std::string_view target,
                         std::string_view body = {}, std::string_view extra_headers = {});

}  // namespace tally::http::test
