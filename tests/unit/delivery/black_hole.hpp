#pragma once
// A loopback socket that listens but never accepts: connections complete (the kernel's
// backlog), requests are sent, and no answer ever comes. The slowest receiver there is.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace tally::test {

class BlackHole {
  public:
    BlackHole() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 64) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            throw std::runtime_error("black hole: cannot listen");
        port_ = ntohs(addr.sin_port);
    }
    ~BlackHole() { ::close(fd_); }
    BlackHole(const BlackHole&) = delete;
    BlackHole& operator=(const BlackHole&) = delete;

    std::string url(const std::string& path = "/slow") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }

  private:
    int fd_;
    int port_ = 0;
};

}  // namespace tally::test
