#pragma once
// A small blocking HTTP/1.1 client for tests: one keep-alive connection to 127.0.0.1,
// Content-Length bodies (what tallyd sends). Raw sockets keep Beast's templates out of the
// test binaries.

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tally::test {

struct HttpResponse {
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
    /// Sends raw bytes and reads one response (for malformed requests).
    HttpResponse raw(const std::string& bytes);
    /// True while the server has not closed the connection.
    bool connected() const { return fd_ >= 0; }

  private:
    bool connect();
    HttpResponse read_response(bool head);
    void close();

    int port_;
    std::chrono::milliseconds timeout_;
    int fd_ = -1;
    std::string buffer_;
};

}  // namespace tally::test
