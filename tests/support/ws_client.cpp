#include "support/ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace tally::test {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

struct WsClient::Impl {
    net::io_context ioc;
    beast::websocket::stream<tcp::socket> ws{ioc};
    beast::flat_buffer buffer;
    bool connected = false;
    int status = 0;
    bool reading = false;  // an async_read is pending
    bool done = false;     // it completed
    beast::error_code ec;
};

WsClient::WsClient(int port, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   int receive_buffer, const std::string& source_ip)
    : impl_(std::make_unique<Impl>()) {
    beast::error_code ec;
    auto& socket = impl_->ws.next_layer();
    socket.open(tcp::v4(), ec);
    if (receive_buffer > 0)
        socket.set_option(net::socket_base::receive_buffer_size(receive_buffer), ec);
    if (!source_ip.empty())
        socket.bind(tcp::endpoint(net::ip::make_address(source_ip), 0), ec);
    socket.connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
    if (ec)
        return;
    impl_->ws.set_option(
        beast::websocket::stream_base::decorator([headers](beast::websocket::request_type& req) {
            for (const auto& [name, value] : headers)
                req.set(name, value);
        }));
    beast::websocket::response_type res;
    impl_->ws.handshake(res, "127.0.0.1:" + std::to_string(port), target, ec);
    impl_->status = static_cast<int>(res.result_int());
    impl_->connected = !ec;
}

WsClient::~WsClient() {
    beast::error_code ec;
    impl_->ws.next_layer().close(ec);
}

bool WsClient::connected() const {
    return impl_->connected;
}
int WsClient::status() const {
    return impl_->status;
}

void WsClient::send(const std::string& text) {
    beast::error_code ec;
    impl_->ws.text(true);
    impl_->ws.write(net::buffer(text), ec);
    if (ec)
        impl_->connected = false;
}

std::optional<std::string> WsClient::read(std::chrono::milliseconds timeout) {
    Impl& s = *impl_;
    if (!s.connected)
        return std::nullopt;
    if (!s.reading) {
        s.reading = true;
        s.done = false;
        s.ws.async_read(s.buffer, [&s](beast::error_code ec, std::size_t) {
            s.ec = ec;
            s.done = true;
        });
    }
    s.ioc.restart();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!s.done && std::chrono::steady_clock::now() < deadline)
        s.ioc.run_one_until(deadline);
    if (!s.done)
        return std::nullopt;  // still pending; the next read() goes on waiting for it
    s.reading = false;
    if (s.ec) {
        s.connected = false;
        return std::nullopt;
    }
    std::string text = beast::buffers_to_string(s.buffer.data());
    s.buffer.consume(s.buffer.size());
    return text;
}

}  // namespace tally::test
