#include "raw_client.hpp"

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

namespace tally::http::test {

RawClient::RawClient(std::uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) {
        return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close();
        return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_timeout(timeout_);
}

RawClient::~RawClient() {
    close();
}

void RawClient::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

void RawClient::set_timeout(std::chrono::milliseconds timeout) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

bool RawClient::send(std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

bool RawClient::fill() {
    char chunk[16 * 1024];
    for (;;) {
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
}

std::optional<RawResponse> RawClient::read_response(bool head) {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) {
            return std::nullopt;
        }
    }
    RawResponse response;
    const std::string head_text = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);

    std::size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    const auto space = status_line.find(' ');
    response.version = status_line.substr(0, space);
    response.status = static_cast<int>(std::strtol(status_line.c_str() + space + 1, nullptr, 10));
    while (line_end != std::string::npos) {
        const std::size_t start = line_end + 2;
        line_end = head_text.find("\r\n", start);
        const std::string line = head_text.substr(start, line_end - start);
        const auto colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        response.headers[name] = value;
    }
    const bool no_body =
        head || response.status / 100 == 1 || response.status == 204 || response.status == 304;
    if (!no_body) {
        const std::size_t length = static_cast<std::size_t>(
            std::strtoull(response.header("content-length").c_str(), nullptr, 10));
        while (buffer_.size() < length) {
            if (!fill()) {
                return std::nullopt;
            }
        }
        response.body = buffer_.substr(0, length);
        buffer_.erase(0, length);
    }
    return response;
}

std::optional<std::string> RawClient::read_until_closed(std::chrono::milliseconds within) {
    set_timeout(within);
    const auto deadline = std::chrono::steady_clock::now() + within;
    std::string got = std::move(buffer_);
    buffer_.clear();
    for (;;) {
        char chunk[16 * 1024];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n > 0) {
            got.append(chunk, static_cast<std::size_t>(n));
            if (std::chrono::steady_clock::now() > deadline) {
                set_timeout(timeout_);
                return std::nullopt;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_timeout(timeout_);
            return std::nullopt;  // still open
        }
        return got;  // EOF or reset
    }
}

std::string make_request(std::string_view method, std::string_view target, std::string_view body,
                         std::string_view extra_headers) {
    std::string request;
    request.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: test\r\n");
    request.append(extra_headers);
    if (!body.empty() || method == "POST" || method == "PUT") {
        request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    request.append("\r\n").append(body);
    return request;
}

}  // namespace tally::http::test
