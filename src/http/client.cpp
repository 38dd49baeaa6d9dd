#include "tally/http/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace tally::http {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

constexpr std::size_t kMaxUrl = 2048;

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

UrlParse refuse(std::string why) {
    return UrlParse{std::nullopt, std::move(why)};
}

bool valid_host_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

// "host[:port]" or "[v6][:port]" into the url; an error text, empty when it parsed.
std::string parse_authority(std::string_view authority, ClientUrl& url) {
    std::string_view host = authority;
    std::string_view port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos)
            return "an IPv6 address needs its closing ']'";
        host = authority.substr(1, close - 1);
        const auto rest = authority.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(':'))
            return "unexpected text after the IPv6 address";
        port = rest.empty() ? rest : rest.substr(1);
        boost::system::error_code ec;
        net::ip::make_address_v6(std::string(host), ec);
        if (ec)
            return "not an IPv6 address: " + std::string(host);
    } else {
        const auto colon = authority.find(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
        }
        if (!std::all_of(host.begin(), host.end(), valid_host_char))
            return "the host has characters a host name cannot have";
    }
    if (host.empty())
        return "the host is missing";
    if (authority.find(':') != std::string_view::npos && !authority.starts_with('[') &&
        port.empty())
        return "the port is missing after ':'";
    if (!port.empty()) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
            return "the port must be a number from 1 to 65535";
        url.port = static_cast<std::uint16_t>(value);
    }
    url.host = lower(host);
    url.host_header = authority.starts_with('[') ? "[" + url.host + "]" : url.host;
    if (url.port != 80)
        url.host_header += ":" + std::to_string(url.port);
    return {};
}

}  // namespace

UrlParse parse_client_url(std::string_view text) {
    if (text.empty())
        return refuse("the url is empty");
    if (text.size() > kMaxUrl)
        return refuse("the url is longer than 2048 bytes");
    for (char c : text)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return refuse("the url has a space or a control character");
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos)
        return refuse("not an absolute url (http://host[:port]/path)");
    const std::string scheme = lower(text.substr(0, scheme_end));
    if (scheme == "https")
        return refuse(
            "https is not supported: tallyd has no TLS client; use http:// (through "
            "a TLS-terminating proxy if the destination needs TLS)");
    if (scheme != "http")
        return refuse("unsupported scheme '" + scheme + "': only http:// is supported");
    std::string_view rest = text.substr(scheme_end + 3);
    if (rest.find('#') != std::string_view::npos)
        return refuse("a url to post to cannot have a fragment ('#')");
    const auto path_start = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, path_start);
    if (authority.find('@') != std::string_view::npos)
        return refuse("user information ('user:pass@') in the url is not supported");
    ClientUrl url;
    if (std::string error = parse_authority(authority, url); !error.empty())
        return refuse(std::move(error));
    if (path_start != std::string_view::npos) {
        url.target = std::string(rest.substr(path_start));
        if (url.target.starts_with('?'))
            url.target.insert(0, "/");
    }
    return UrlParse{std::move(url), {}};
}

namespace {

// One exchange, driven by its own io_context on the caller's thread: each step's handler
// starts the next; `finished` ends the loop in request().
struct Exchange {
    net::io_context ioc;  // first: destroyed last, after everything that uses it
    tcp::resolver resolver{ioc};
    tcp::socket socket{ioc};
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    bhttp::response_parser<bhttp::string_body> parser;
    const char* stage = "resolve";
    ClientResponse result;
    bool finished = false;

    void fail(const beast::error_code& ec) {
        result.error = std::string(stage) + ": " + ec.message();
        finished = true;
    }

    void connect(const tcp::resolver::results_type& endpoints) {
        stage = "connect";
        net::async_connect(socket, endpoints, [this](beast::error_code ec, const tcp::endpoint&) {
            if (ec)
                return fail(ec);
            send();
        });
    }

    void send() {
        stage = "send";
        bhttp::async_write(socket, req, [this](beast::error_code ec, std::size_t) {
            if (ec)
                return fail(ec);
            read_header();
        });
    }

    void read_header() {
        stage = "answer";
        bhttp::async_read_header(socket, buffer, parser, [this](beast::error_code ec, std::size_t) {
            if (ec)
                return fail(ec);
            result.status = parser.get().result_int();
            read_body();
        });
    }

    void read_body() {
        stage = "answer's body";
        bhttp::async_read(socket, buffer, parser, [this](beast::error_code ec, std::size_t) {
            if (ec)
                result.error = std::string(stage) + ": " + ec.message();  // the status stands
            else
                result.body = std::move(parser.get().body());
            finished = true;
        });
    }
};

}  // namespace

ClientResponse request(std::string_view method, const ClientUrl& url, std::string_view content_type,
                       std::string_view body, std::chrono::milliseconds timeout,
                       std::size_t max_body, const std::stop_token& stop) {
    Exchange ex;
    ex.req.method_string(method);
    ex.req.target(url.target);
    ex.req.version(11);
    ex.req.set(bhttp::field::host, url.host_header);
    ex.req.set(bhttp::field::user_agent, "tallyd");
    ex.req.set(bhttp::field::connection, "close");
    if (!content_type.empty())
        ex.req.set(bhttp::field::content_type, content_type);
    ex.req.body() = std::string(body);
    if (!body.empty() || method == "POST" || method == "PUT")
        ex.req.prepare_payload();
    ex.parser.body_limit(max_body);

    boost::system::error_code ec;
    const auto address = net::ip::make_address(url.host, ec);
    if (!ec) {
        ex.connect(tcp::resolver::results_type::create(tcp::endpoint(address, url.port), url.host,
                                                       std::to_string(url.port)));
    } else {
        ex.resolver.async_resolve(
            url.host, std::to_string(url.port),
            [&ex](beast::error_code rec, const tcp::resolver::results_type& r) {
                if (rec)
                    return ex.fail(rec);
                ex.connect(r);
            });
    }
    // A stop closes the socket on this thread's io_context: the pending step then fails.
    bool stopped = false;
    const std::stop_callback on_stop(stop, [&ex, &stopped] {
        net::post(ex.ioc, [&ex, &stopped] {
            stopped = true;
            boost::system::error_code ignored;
            ex.socket.close(ignored);
            ex.resolver.cancel();
        });
    });
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ex.finished && ex.ioc.run_one_until(deadline) > 0) {
    }
    if (stopped) {
        ex.result.status = 0;
        ex.result.error = "stopped";
    } else if (!ex.finished) {
        ex.result.error =
            std::string(ex.stage) + ": no answer within " + std::to_string(timeout.count()) + " ms";
        if (ex.result.status != 0)
            ex.result.error =
                "answer's body not read within " + std::to_string(timeout.count()) + " ms";
    }
    boost::system::error_code ignored;
    ex.socket.close(ignored);
    ex.resolver.cancel();
    return std::move(ex.result);
}

}  // namespace tally::http
