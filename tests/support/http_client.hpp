#pragma once
// The tests' one HTTP/1.1 client: blocking, on raw sockets, to 127.0.0.1. Two levels:
//   - requests: request()/get()/post() build a well-formed request, send it on a keep-alive
//     connection (opened again, with one retry, when the server has closed it) and read the
//     Content-Length framed answer;
//   - bytes: send() anything (garbage, half a request, a body a byte at a time),
//     read_response() one answer exactly as sent, read_until_closed() to see the server
//     close the connection.
// Raw sockets keep Beast's templates out of the test binaries.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally::test {

struct HttpResponse {
    std::string version;                         // "HTTP/1.1"
    int status = 0;                              // 0 when the connection failed
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

class HttpClient {
  public:
    /// Connects to 127.0.0.1:port at once (connected() tells whether it worked); reads and
    /// writes give up after `timeout`.
    explicit HttpClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    HttpResponse request(const std::string& method, const std::string& target,
                         const std::string& body = {},
                         const std::vector<std::pair<std::string, std::string>>& headers = {});
    HttpResponse get(const std::string& target,
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        return request("GET", target, {}, headers);
    }
    HttpResponse post(const std::string& target, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        return request("POST", target, body, headers);
    }
    /// Sends raw bytes and reads one response (for malformed requests); a server that
    /// answers "Connection: close" gets the connection closed.
    HttpResponse raw(const std::string& bytes);

    /// True while the connection is open (as far as this side knows).
    bool connected() const { return fd_ >= 0; }
    /// Sends all of `data` on the current connection (opening one if there is none).
    bool send(std::string_view data);
    /// Reads one answer (Content-Length framed; none for HEAD, 1xx, 204, 304). nullopt on
    /// timeout, EOF or error. Never closes the connection itself.
    std::optional<HttpResponse> read_response(bool head = false);
    /// Reads until the server closes the connection; what came meanwhile, or nullopt when
    /// it is still open after `within`.
    std::optional<std::string> read_until_closed(std::chrono::milliseconds within);
    void close();

  private:
    bool connect();
    bool fill();  // one recv into buffer_; false on EOF/error/timeout
    void set_receive_timeout(std::chrono::milliseconds timeout);

    int port_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
    std::string buffer_;
};

/// "METHOD target HTTP/1.1" with Host, the extra header lines (each ending in \r\n), and a
/// Content-Length when there is a body.
std::string make_request(std::string_view method, std::string_view target,
                         std::string_view body = {}, std::string_view extra_headers = {});

}  // namespace tally::test
