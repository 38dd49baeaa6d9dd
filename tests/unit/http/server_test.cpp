// tally::http::Server over real sockets on 127.0.0.1: keep-alive, limits (413/431/400),
// timeouts, the connection cap, late and throwing Handlers, HEAD, and stop().

#include "tally/http/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "support/http_client.hpp"

namespace tally::http {
namespace {

using namespace std::chrono_literals;
using tally::test::HttpClient;
using tally::test::make_request;
using Clock = std::chrono::steady_clock;

Response text(unsigned status, std::string body, std::string type = "text/plain") {
    Response r;
    r.status = status;
    r.content_type = std::move(type);
    r.body = std::move(body);
    return r;
}

/// Replies given later, from other threads; all of them joined by join().
class Later {
  public:
    ~Later() { join(); }
    void reply(Reply reply, std::chrono::milliseconds delay, Response response) {
        std::lock_guard lock(mutex_);
        threads_.emplace_back([reply, delay, response = std::move(response)]() mutable {
            std::this_thread::sleep_for(delay);
            reply(std::move(response));
        });
    }
    void join() {
        std::vector<std::thread> threads;
        {
            std::lock_guard lock(mutex_);
            threads.swap(threads_);
        }
        for (auto& t : threads) {
            t.join();
        }
    }

  private:
    std::mutex mutex_;
    std::vector<std::thread> threads_;
};

/// What the test Handler saw last.
struct Seen {
    std::mutex mutex;
    Method method = Method::other;
    std::string method_text, target, path, query, body, client_ip, user_agent, authorization,
        content_type, origin;
    std::size_t worker = 99;
    bool keep_alive = false;
    std::set<std::size_t> workers;
    std::atomic<int> calls{0};
};

ServerOptions test_options() {
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    options.allows_large_body = [](std::string_view path) {
        return path == "/track/batch" || path == "/api/v1/metrics";
    };
    return options;
}

/// A Server on a free port, run on its own thread, stopped and joined at the end.
class TestServer {
  public:
    TestServer(ServerOptions options, Handler handler)
        : server_(std::move(options), std::move(handler), stats) {
        server_.start();
        runner_ = std::thread([this] { server_.run(); });
    }
    ~TestServer() { stop_and_join(500ms); }

    void stop_and_join(std::chrono::milliseconds grace) {
        server_.stop(grace);
        if (runner_.joinable()) {
            runner_.join();
        }
    }
    Server& server() { return server_; }
    std::uint16_t port() { return server_.port(); }

    ServerStats stats;

  private:
    Server server_;
    std::thread runner_;
};

/// Polls `condition` for up to `timeout`.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 3s) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(5ms);
    }
    return condition();
}

class HttpServerTest : public ::testing::Test {
  protected:
    /// The test Handler: a few paths exercising every way of answering.
    Handler handler() {
        return [this](const Request& req, Reply reply) {
            {
                std::lock_guard lock(seen.mutex);
                seen.method = req.method;
                seen.method_text = req.method_text;
                seen.target = req.target;
                seen.path = req.path;
                seen.query = req.query;
                seen.body = req.body;
                seen.client_ip = req.client_ip;
                seen.user_agent = req.user_agent;
                seen.authorization = req.authorization;
                seen.content_type = req.content_type;
                seen.origin = req.origin;
                seen.worker = req.worker;
                seen.keep_alive = req.keep_alive;
                seen.workers.insert(req.worker);
            }
            seen.calls.fetch_add(1);
            if (req.path == "/hello" || req.path == "/track/batch" ||
                req.path == "/track/pageview") {
                Response r;
                r.body = R"({"status":"ok"})";
                r.headers.emplace_back("X-Body-Size", std::to_string(req.body.size()));
                reply(std::move(r));
            } else if (req.path == "/echo") {
                reply(text(200, std::string(req.body)));
            } else if (req.path == "/throw") {
                throw std::runtime_error("handler bug");
            } else if (req.path == "/later") {
                {
                    std::lock_guard lock(in_handler_mutex);
                    in_handler = true;
                }
                in_handler_cv.notify_all();
                later.reply(reply, later_delay, text(200, "later"));
            } else if (req.path == "/never") {
                std::lock_guard lock(in_handler_mutex);
                in_handler = true;
                held_reply.emplace(reply);
                in_handler_cv.notify_all();
            } else if (req.path == "/bad-status") {
                reply(text(1234, "x"));
            } else if (req.path == "/bad-header") {
                Response r = text(200, "ok");
                r.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: forged=1");
                r.headers.emplace_back("X-Fine", "yes");
                reply(std::move(r));
            } else if (req.path == "/status-zero") {
                reply(text(0, "x"));
            } else if (req.path == "/no-content") {
                reply(text(204, "ignored"));
            } else {
                reply(text(404, R"({"error":"not found"})", "application/json"));
            }
        };
    }

    void wait_in_handler() {
        std::unique_lock lock(in_handler_mutex);
        ASSERT_TRUE(in_handler_cv.wait_for(lock, 5s, [this] { return in_handler; }));
    }

    Seen seen;
    Later later;  // declared before any TestServer in a test: its threads are joined after
    std::chrono::milliseconds later_delay = 100ms;
    std::mutex in_handler_mutex;
    std::condition_variable in_handler_cv;
    bool in_handler = false;
    std::optional<Reply> held_reply;
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.connected());
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(client.send(make_request("GET", "/hello")));
        auto res = client.read_response();
        ASSERT_TRUE(res) << "request " << i;
        EXPECT_EQ(res->status, 200);
        EXPECT_EQ(res->version, "HTTP/1.1");
        EXPECT_EQ(res->body, R"({"status":"ok"})");
        EXPECT_EQ(res->header("content-type"), "application/json");
        EXPECT_EQ(res->header("server"), "tally");
        EXPECT_EQ(res->header("content-length"), "15");
        EXPECT_EQ(res->header("connection"), "");  // HTTP/1.1 default: keep-alive
    }
    EXPECT_EQ(server.stats.accepted_connections.load(), 1u);
    EXPECT_EQ(server.stats.open_connections.load(), 1);
    EXPECT_EQ(seen.calls.load(), 5);
}

TEST_F(HttpServerTest, HandlerStatusAndHeadersAreSent) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("GET", "/nope")));
    auto res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404);
    EXPECT_EQ(res->body, R"({"error":"not found"})");

    ASSERT_TRUE(client.send(make_request("POST", "/hello", "abc")));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->header("x-body-size"), "3");

    // A status Beast refuses (a Handler bug) becomes a 500, and the connection goes on.
    ASSERT_TRUE(client.send(make_request("GET", "/bad-status")));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 500);

    ASSERT_TRUE(client.send(make_request("GET", "/status-zero")));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 500);

    // A header value with CR LF (e.g. from user input) is dropped, not sent.
    ASSERT_TRUE(client.send(make_request("GET", "/bad-header")));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->header("x-evil"), "");
    EXPECT_EQ(res->header("set-cookie"), "");
    EXPECT_EQ(res->header("x-fine"), "yes");

    // 204 carries no body even if the Handler gave one.
    ASSERT_TRUE(client.send(make_request("GET", "/no-content")));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 204);
    EXPECT_EQ(res->header("content-length"), "");
    ASSERT_TRUE(client.send(make_request("GET", "/hello")));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(HttpServerTest, RequestCarriesMethodPathQueryHeadersAndPeer) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("POST", "/echo?site=x&a=b", "payload",
                                         "User-Agent: test-agent\r\n"
                                         "Authorization: Bearer t0k\r\n"
                                         "Content-Type: text/plain\r\n"
                                         "Origin: https://example.com\r\n")));
    auto res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body, "payload");
    std::lock_guard lock(seen.mutex);
    EXPECT_EQ(seen.method, Method::post);
    EXPECT_EQ(seen.method_text, "POST");
    EXPECT_EQ(seen.target, "/echo?site=x&a=b");
    EXPECT_EQ(seen.path, "/echo");
    EXPECT_EQ(seen.query, "site=x&a=b");
    EXPECT_EQ(seen.body, "payload");
    EXPECT_EQ(seen.client_ip, "127.0.0.1");
    EXPECT_EQ(seen.user_agent, "test-agent");
    EXPECT_EQ(seen.authorization, "Bearer t0k");
    EXPECT_EQ(seen.content_type, "text/plain");
    EXPECT_EQ(seen.origin, "https://example.com");
    EXPECT_LT(seen.worker, 2u);
    EXPECT_TRUE(seen.keep_alive);
}

TEST_F(HttpServerTest, MethodsMapToTheEnum) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    const std::pair<const char*, Method> cases[] = {
        {"GET", Method::get},     {"HEAD", Method::head},      {"POST", Method::post},
        {"PUT", Method::put},     {"DELETE", Method::delete_}, {"OPTIONS", Method::options},
        {"PATCH", Method::other},
    };
    for (const auto& [text_method, method] : cases) {
        ASSERT_TRUE(client.send(make_request(text_method, "/x")));
        ASSERT_TRUE(client.read_response(std::string_view(text_method) == "HEAD")) << text_method;
        std::lock_guard lock(seen.mutex);
        EXPECT_EQ(seen.method, method) << text_method;
        EXPECT_EQ(seen.method_text, text_method);
        EXPECT_EQ(seen.query, "");
    }
}

TEST_F(HttpServerTest, ConnectionsAreDealtToWorkersInTurn) {
    TestServer server(test_options(), handler());
    HttpClient a(server.port(), 5s);
    ASSERT_TRUE(a.send(make_request("GET", "/hello")));
    ASSERT_TRUE(a.read_response());
    HttpClient b(server.port(), 5s);
    ASSERT_TRUE(b.send(make_request("GET", "/hello")));
    ASSERT_TRUE(b.read_response());
    std::lock_guard lock(seen.mutex);
    EXPECT_EQ(seen.workers, (std::set<std::size_t>{0, 1}));
}

TEST_F(HttpServerTest, BodyOfExactlyTheLimitIsAcceptedOneMoreIs413) {
    TestServer server(test_options(), handler());
    {
        HttpClient client(server.port(), 5s);
        ASSERT_TRUE(client.send(make_request("POST", "/track/pageview", std::string(65536, 'a'))));
        auto res = client.read_response();
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200);
        EXPECT_EQ(res->header("x-body-size"), "65536");
    }
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("POST", "/track/pageview", std::string(65537, 'a'))));
    auto res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
    EXPECT_EQ(res->body, R"({"error":"request body too large"})");
    EXPECT_EQ(res->header("content-type"), "application/json");
    EXPECT_EQ(res->header("connection"), "close");
    EXPECT_TRUE(client.read_until_closed(3s));
    EXPECT_EQ(server.stats.protocol_errors.load(), 1u);
    EXPECT_EQ(seen.calls.load(), 1);  // the Handler never saw the oversized one
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitIs413) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    std::string request =
        "POST /track/pageview HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string chunk(std::size_t{16} * 1024, 'b');
    for (int i = 0; i < 5; ++i) {  // 80 KiB
        request += "4000\r\n" + chunk + "\r\n";
    }
    request += "0\r\n\r\n";
    ASSERT_TRUE(client.send(request));
    auto res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);

    // A small chunked body is fine.
    HttpClient ok(server.port(), 5s);
    ASSERT_TRUE(
        ok.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
    res = ok.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "abcde");
}

TEST_F(HttpServerTest, LargeBodyPathsAcceptOneMebibyte) {
    TestServer server(test_options(), handler());
    {
        HttpClient client(server.port(), 5s);
        ASSERT_TRUE(
            client.send(make_request("POST", "/track/batch?x=1", std::string(1 << 20, 'c'))));
        auto res = client.read_response();
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 200);
        EXPECT_EQ(res->header("x-body-size"), std::to_string(1 << 20));
        // and the connection stays usable
        ASSERT_TRUE(client.send(make_request("GET", "/hello")));
        ASSERT_TRUE(client.read_response());
    }
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("POST", "/track/batch", std::string((1 << 20) + 1, 'c'))));
    auto res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
}

TEST_F(HttpServerTest, HeadersOverTheLimitAre431) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(
        make_request("GET", "/hello", {}, "X-Big: " + std::string(9000, 'h') + "\r\n")));
    auto res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 431);
    EXPECT_EQ(res->header("connection"), "close");
    EXPECT_TRUE(client.read_until_closed(3s));
    EXPECT_EQ(server.stats.protocol_errors.load(), 1u);
    EXPECT_EQ(seen.calls.load(), 0);
}

TEST_F(HttpServerTest, GarbageIs400AndOtherConnectionsCarryOn) {
    TestServer server(test_options(), handler());
    HttpClient good(server.port(), 5s);
    ASSERT_TRUE(good.send(make_request("GET", "/hello")));
    ASSERT_TRUE(good.read_response());

    for (const std::string& garbage :
         {std::string("GARBAGE\r\n\r\n"), std::string("\x01\x02\x03\x04\r\n\r\n", 8),
          std::string("GET / HTTP/9.9\r\n\r\n"),
          std::string("POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n")}) {
        HttpClient bad(server.port(), 5s);
        ASSERT_TRUE(bad.send(garbage));
        auto res = bad.read_response();
        ASSERT_TRUE(res) << garbage;
        EXPECT_EQ(res->status, 400) << garbage;
        EXPECT_EQ(res->body, R"({"error":"malformed request"})");
        EXPECT_TRUE(bad.read_until_closed(3s));
    }
    EXPECT_EQ(server.stats.protocol_errors.load(), 4u);
    ASSERT_TRUE(good.send(make_request("GET", "/hello")));
    auto res = good.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(HttpServerTest, SlowSenderIsTimedOut) {
    auto options = test_options();
    options.read_timeout = 300ms;
    options.idle_timeout = 5s;
    TestServer server(options, handler());

    // Half a header, then nothing.
    HttpClient half(server.port(), 5s);
    const auto start = Clock::now();
    ASSERT_TRUE(half.send("POST /echo HTTP/1.1\r\nHost: t\r\n"));
    EXPECT_TRUE(half.read_until_closed(3s));
    const auto elapsed = Clock::now() - start;
    EXPECT_GE(elapsed, 250ms);
    EXPECT_LT(elapsed, 2s);

    // A byte every 50 ms: the deadline is for the whole request, so dripping does not help.
    HttpClient drip(server.port(), 5s);
    const std::string request = make_request("POST", "/echo", std::string(100, 'd'));
    const auto drip_start = Clock::now();
    bool closed = false;
    for (char c : request) {
        if (!drip.send(std::string_view(&c, 1))) {
            closed = true;
            break;
        }
        std::this_thread::sleep_for(50ms);
        if (Clock::now() - drip_start > 2s) {
            break;
        }
    }
    if (!closed) {
        EXPECT_TRUE(drip.read_until_closed(1s));
    }
    EXPECT_LT(Clock::now() - drip_start, 2500ms);

    EXPECT_TRUE(eventually([&] { return server.stats.timeouts.load() == 2; }));
    EXPECT_EQ(seen.calls.load(), 0);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
    auto options = test_options();
    options.read_timeout = 5s;
    options.idle_timeout = 300ms;
    TestServer server(options, handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("GET", "/hello")));
    ASSERT_TRUE(client.read_response());
    const auto start = Clock::now();
    EXPECT_TRUE(client.read_until_closed(3s));
    const auto elapsed = Clock::now() - start;
    EXPECT_GE(elapsed, 250ms);
    EXPECT_LT(elapsed, 2s);

    // A connection that never sends anything, too.
    HttpClient silent(server.port(), 5s);
    EXPECT_TRUE(silent.read_until_closed(3s));
    EXPECT_TRUE(eventually([&] { return server.stats.timeouts.load() == 2; }));
    EXPECT_TRUE(eventually([&] { return server.stats.open_connections.load() == 0; }));
}

TEST_F(HttpServerTest, ConnectionsOverTheCapAreRefused) {
    auto options = test_options();
    options.max_connections = 1;
    TestServer server(options, handler());
    HttpClient first(server.port(), 5s);
    ASSERT_TRUE(first.send(make_request("GET", "/hello")));
    ASSERT_TRUE(first.read_response());

    HttpClient second(server.port(), 5s);
    auto got = second.read_until_closed(3s);
    ASSERT_TRUE(got);  // closed at once
    if (!got->empty()) {
        EXPECT_EQ(got->rfind("HTTP/1.1 503", 0), 0u) << *got;
    }
    EXPECT_EQ(server.stats.refused_connections.load(), 1u);

    ASSERT_TRUE(first.send(make_request("GET", "/hello")));
    ASSERT_TRUE(first.read_response());

    first.close();
    ASSERT_TRUE(eventually([&] { return server.stats.open_connections.load() == 0; }));
    HttpClient third(server.port(), 5s);
    ASSERT_TRUE(third.send(make_request("GET", "/hello")));
    auto res = third.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(HttpServerTest, ReplyFromAnotherThreadLater) {
    later_delay = 400ms;
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    const auto start = Clock::now();
    ASSERT_TRUE(client.send(make_request("POST", "/later", "x")));
    wait_in_handler();

    // Meanwhile other connections are served at once, on both workers.
    for (int i = 0; i < 2; ++i) {
        HttpClient other(server.port(), 5s);
        ASSERT_TRUE(other.send(make_request("GET", "/hello")));
        ASSERT_TRUE(other.read_response());
    }
    EXPECT_LT(Clock::now() - start, 350ms);

    auto res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "later");
    EXPECT_GE(Clock::now() - start, 400ms);
    later_delay = 50ms;

    // Keep-alive goes on after a late answer, late or not.
    ASSERT_TRUE(client.send(make_request("GET", "/later")));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body, "later");
    ASSERT_TRUE(client.send(make_request("GET", "/hello")));
    ASSERT_TRUE(client.read_response());
}

TEST_F(HttpServerTest, ThrowingHandlerGets500AndOthersCarryOn) {
    TestServer server(test_options(), handler());
    HttpClient thrower(server.port(), 5s);
    HttpClient other(server.port(), 5s);
    ASSERT_TRUE(thrower.send(make_request("GET", "/throw")));
    ASSERT_TRUE(other.send(make_request("GET", "/hello")));
    auto res = thrower.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 500);
    EXPECT_EQ(res->body, R"({"error":"internal error"})");
    res = other.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    // The throwing connection itself still works (a 500 is not a protocol error).
    ASSERT_TRUE(thrower.send(make_request("GET", "/hello")));
    res = thrower.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(HttpServerTest, HeadHasTheLengthOfGetAndNoBody) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("HEAD", "/hello")));
    auto res = client.read_response(/*head=*/true);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->header("content-length"), "15");
    // No body bytes followed: the next answer on the connection parses cleanly.
    ASSERT_TRUE(client.send(make_request("GET", "/echo", "12345")));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->version, "HTTP/1.1");
    EXPECT_EQ(res->body, "12345");
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("POST", "/echo", "one") +
                            make_request("POST", "/later", "two") +
                            make_request("POST", "/echo", "three")));
    for (const char* expected : {"one", "later", "three"}) {
        auto res = client.read_response();
        ASSERT_TRUE(res);
        EXPECT_EQ(res->body, expected);
    }
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAlive) {
    TestServer server(test_options(), handler());
    HttpClient plain(server.port(), 5s);
    ASSERT_TRUE(plain.send("GET /hello HTTP/1.0\r\n\r\n"));
    auto res = plain.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->version, "HTTP/1.0");
    EXPECT_EQ(res->status, 200);
    EXPECT_TRUE(plain.read_until_closed(3s));

    HttpClient kept(server.port(), 5s);
    for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(kept.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        res = kept.read_response();
        ASSERT_TRUE(res);
        EXPECT_EQ(res->header("connection"), "keep-alive");
    }
    // Connection: close on 1.1 is honoured.
    HttpClient closing(server.port(), 5s);
    ASSERT_TRUE(closing.send(make_request("GET", "/hello", {}, "Connection: close\r\n")));
    res = closing.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->header("connection"), "close");
    EXPECT_TRUE(closing.read_until_closed(3s));
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimAnswer) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = client.read_response();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    ASSERT_TRUE(client.send("hello"));
    auto res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body, "hello");

    // Over the limit: 413 straight away, no 100.
    ASSERT_TRUE(
        client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n"
                    "Expect: 100-continue\r\n\r\n"));
    res = client.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 413);
}

TEST_F(HttpServerTest, ManyLargeHeadersOnOneConnection) {
    // More header bytes than the session's field arena holds: the rest goes to the heap,
    // and the arena starts over for each request.
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    std::string headers;
    for (int i = 0; i < 30; ++i) {
        headers += "X-Filler-" + std::to_string(i) + ": " + std::string(200, 'f') + "\r\n";
    }
    headers += "User-Agent: last-one\r\n";
    for (int round = 0; round < 3; ++round) {
        ASSERT_TRUE(client.send(make_request("POST", "/echo", "round", headers)));
        auto res = client.read_response();
        ASSERT_TRUE(res);
        EXPECT_EQ(res->body, "round");
        {
            std::lock_guard lock(seen.mutex);
            EXPECT_EQ(seen.user_agent, "last-one");
        }
        ASSERT_TRUE(client.send(make_request("GET", "/hello")));
        ASSERT_TRUE(client.read_response());
    }
}

TEST_F(HttpServerTest, ManyClientsAtOnce) {
    later_delay = 1ms;
    TestServer server(test_options(), handler());
    constexpr int kClients = 8;
    constexpr int kRequests = 60;
    std::atomic<int> good{0};
    std::vector<std::thread> clients;
    clients.reserve(kClients);
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            HttpClient client(server.port(), 5s);
            for (int i = 0; i < kRequests; ++i) {
                const std::string body = std::to_string(c) + ":" + std::to_string(i);
                const int kind = (c + i) % 3;
                const char* path = kind == 0 ? "/echo" : kind == 1 ? "/later" : "/hello";
                if (!client.send(make_request("POST", path, body))) {
                    return;
                }
                auto res = client.read_response();
                if (!res || res->status != 200) {
                    return;
                }
                const std::string expected = kind == 0   ? body
                                             : kind == 1 ? std::string("later")
                                                         : std::string(R"({"status":"ok"})");
                if (res->body == expected) {
                    good.fetch_add(1);
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    EXPECT_EQ(good.load(), kClients * kRequests);
    later.join();
}

TEST_F(HttpServerTest, StopFinishesTheRequestInFlightAndRunReturns) {
    later_delay = 600ms;
    TestServer server(test_options(), handler());
    HttpClient idle(server.port(), 5s);
    ASSERT_TRUE(idle.send(make_request("GET", "/hello")));
    ASSERT_TRUE(idle.read_response());

    HttpClient busy(server.port(), 5s);
    ASSERT_TRUE(busy.send(make_request("GET", "/later")));
    wait_in_handler();

    const auto start = Clock::now();
    std::thread stopper([&] { server.stop_and_join(5s); });
    // The idle keep-alive connection is closed at once...
    EXPECT_TRUE(idle.read_until_closed(1s));
    EXPECT_LT(Clock::now() - start, 500ms);
    // ...the one in flight gets its answer, marked as the last one...
    auto res = busy.read_response();
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, "later");
    EXPECT_EQ(res->header("connection"), "close");
    EXPECT_TRUE(busy.read_until_closed(1s));
    // ...and run() returns well before the grace period is over.
    stopper.join();
    EXPECT_LT(Clock::now() - start, 2s);
    EXPECT_EQ(server.stats.open_connections.load(), 0);

    // Nothing listens any more.
    HttpClient after(server.port(), 5s);
    EXPECT_FALSE(after.connected());
}

TEST_F(HttpServerTest, StopGivesUpOnAMissingReplyAfterTheGrace) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("GET", "/never")));
    wait_in_handler();
    const auto start = Clock::now();
    server.stop_and_join(200ms);
    const auto elapsed = Clock::now() - start;
    EXPECT_GE(elapsed, 150ms);
    EXPECT_LT(elapsed, 2s);
    // The reply, given after run() returned (but before ~Server), is dropped harmlessly.
    std::lock_guard lock(in_handler_mutex);
    ASSERT_TRUE(held_reply);
    (*held_reply)(text(200, "too late"));
}

TEST_F(HttpServerTest, StopIsIdempotentAndThreadSafe) {
    TestServer server(test_options(), handler());
    HttpClient client(server.port(), 5s);
    ASSERT_TRUE(client.send(make_request("GET", "/hello")));
    ASSERT_TRUE(client.read_response());
    std::vector<std::thread> stoppers;
    stoppers.reserve(4);
    for (int i = 0; i < 4; ++i) {
        stoppers.emplace_back([&] { server.server().stop(1s); });
    }
    for (auto& t : stoppers) {
        t.join();
    }
    server.stop_and_join(1s);
    EXPECT_TRUE(client.read_until_closed(1s));
}

TEST(HttpServer, StopBeforeRunMakesRunReturn) {
    ServerStats stats;
    Server server(
        test_options(), [](const Request&, Reply reply) { reply(Response{}); }, stats);
    server.start();
    EXPECT_NE(server.port(), 0);
    server.stop();
    server.run();  // returns at once
    server.stop();
}

TEST(HttpServer, StartFailsOnAPortInUse) {
    ServerStats stats;
    Server first(
        test_options(), [](const Request&, Reply reply) { reply(Response{}); }, stats);
    first.start();
    auto options = test_options();
    options.port = first.port();
    Server second(
        options, [](const Request&, Reply reply) { reply(Response{}); }, stats);
    try {
        second.start();
        FAIL() << "start() on a used port succeeded";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(first.port())),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace tally::http
