#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace tally::test {

namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

timeval to_timeval(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    return tv;
}

/// The status line and header lines of an answer's head.
void parse_head(const std::string& head_text, HttpResponse& response) {
    std::size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    const auto space = status_line.find(' ');
    response.version = status_line.substr(0, space);
    if (space != std::string::npos)
        response.status =
            static_cast<int>(std::strtol(status_line.c_str() + space + 1, nullptr, 10));
    while (line_end != std::string::npos) {
        const std::size_t start = line_end + 2;
        line_end = head_text.find("\r\n", start);
        const std::string line = head_text.substr(
            start, line_end == std::string::npos ? std::string::npos : line_end - start);
        const auto colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        response.headers[lower(line.substr(0, colon))] = value;
    }
}

}  // namespace

HttpClient::HttpClient(int port, std::chrono::milliseconds timeout)
    : port_(port), timeout_(timeout) {
    connect();
}

HttpClient::~HttpClient() {
    close();
}

void HttpClient::close() {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
    buffer_.clear();
}

bool HttpClient::connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0)
        return false;
    const timeval tv = to_timeval(timeout_);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close();
        return false;
    }
    return true;
}

void HttpClient::set_receive_timeout(std::chrono::milliseconds timeout) {
    const timeval tv = to_timeval(timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

bool HttpClient::send(std::string_view data) {
    if (fd_ < 0 && !connect())
        return false;
    while (!data.empty()) {
        const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool HttpClient::fill() {
    char chunk[16 * 1024];
    for (;;) {
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
}

std::optional<HttpResponse> HttpClient::read_response(bool head) {
    if (fd_ < 0)
        return std::nullopt;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill())
            return std::nullopt;
    }
    HttpResponse response;
    parse_head(buffer_.substr(0, end), response);
    buffer_.erase(0, end + 4);
    const bool no_body =
        head || response.status / 100 == 1 || response.status == 204 || response.status == 304;
    if (!no_body) {
        const auto length = static_cast<std::size_t>(
            std::strtoull(response.header("content-length").c_str(), nullptr, 10));
        while (buffer_.size() < length) {
            if (!fill())
                return std::nullopt;
        }
        response.body = buffer_.substr(0, length);
        buffer_.erase(0, length);
    }
    return response;
}

std::optional<std::string> HttpClient::read_until_closed(std::chrono::milliseconds within) {
    set_receive_timeout(within);
    const auto deadline = std::chrono::steady_clock::now() + within;
    std::string got = std::move(buffer_);
    buffer_.clear();
    for (;;) {
        char chunk[16 * 1024];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n > 0) {
            got.append(chunk, static_cast<std::size_t>(n));
            if (std::chrono::steady_clock::now() > deadline) {
                set_receive_timeout(timeout_);
                return std::nullopt;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_receive_timeout(timeout_);
            return std::nullopt;  // still open
        }
        return got;  // EOF or reset
    }
}

HttpResponse HttpClient::raw(const std::string& bytes) {
    // The server may answer (413, 431) and close before reading everything: a short send
    // still reads the answer.
    send(bytes);
    std::optional<HttpResponse> response = read_response(bytes.rfind("HEAD ", 0) == 0);
    if (!response) {
        close();
        return {};
    }
    if (lower(response->header("connection")) == "close")
        close();
    return std::move(*response);
}

HttpResponse HttpClient::request(const std::string& method, const std::string& target,
                                 const std::string& body,
                                 const std::vector<std::pair<std::string, std::string>>& headers) {
    std::string message = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    bool has_type = false;
    for (const auto& [name, value] : headers) {
        message += name + ": " + value + "\r\n";
        if (lower(name) == "content-type")
            has_type = true;
    }
    if (!body.empty() || method == "POST") {
        if (!has_type)
            message += "Content-Type: application/json\r\n";
        message += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    message += "\r\n";
    message += body;
    HttpResponse response = raw(message);
    if (response.status == 0) {
        // A keep-alive connection the server closed meanwhile: one retry on a new one.
        close();
        response = raw(message);
    }
    return response;
}

std::string make_request(std::string_view method, std::string_view target, std::string_view body,
                         std::string_view extra_headers) {
    std::string request;
    request.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: test\r\n");
    request.append(extra_headers);
    if (!body.empty() || method == "POST" || method == "PUT")
        request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    request.append("\r\n").append(body);
    return request;
}

}  // namespace tally::test
