#pragma once
// Namespace aliases for the HTTP module, as in the Beast examples. Only src/http includes
// Boost.Asio and Boost.Beast; everything above it sees tally/http/*.hpp, free of Beast.
//
// Note: inside namespace tally::http the name `http` means our own namespace, so Beast's is
// always spelled `beast::http::`.

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace tally::http {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

// Sessions run on one known io_context, so their sockets and streams use its concrete
// executor rather than the type-erased net::any_io_executor of beast::tcp_stream: every
// asynchronous step copies the executor a few times, and the type erasure showed up at
// several percent of the CPU in perf under wrk.
using executor = net::io_context::executor_type;
using socket_type = tcp::socket::rebind_executor<executor>::other;
using stream_type = beast::basic_stream<tcp, executor, beast::unlimited_rate_policy>;

}  // namespace tally::http
