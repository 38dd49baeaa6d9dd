#pragma once
// A webhook receiver for tests: a loopback HTTP/1.1 server on its own thread that records
// every POST (path, content type, body, arrival time) and answers each with the status the
// test chose (200 by default, empty body). It stands in for an alert webhook, a report
// destination, anything tallyd's outbox posts to.
//
//   tally::test::WebhookReceiver hook;
//   ... configure an action with hook.url("/alerts") ...
//   auto posts = hook.wait_for(1, std::chrono::seconds(5));
//   ASSERT_EQ(posts.size(), 1u);
//
// "The receiver is down for a while" is stop_listening() (the listening socket and every
// open connection are closed: a sender sees its connection refused), then start_listening()
// (the same port again). Other methods (GET, PUT ...) are answered with the same status and
// not recorded. Bodies are limited to 16 MiB; the recorded posts are kept until the object
// is destroyed (a test's posts are few).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tally::test {

struct ReceivedPost {
    std::string path, content_type, body;
    std::chrono::steady_clock::time_point at;
};

class WebhookReceiver {
  public:
    /// Listens on 127.0.0.1 on a free port (throws std::runtime_error when it cannot).
    WebhookReceiver();
    ~WebhookReceiver();
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    std::uint16_t port() const;
    /// "http://127.0.0.1:<port><path>"
    std::string url(std::string_view path = "/hook") const;
    /// What the following requests are answered with (200 by default).
    void set_status(unsigned status);
    /// Closes the listening socket and every open connection; returns once done.
    void stop_listening();
    /// Listens again on the same port (no-op when listening); throws when the port is taken.
    void start_listening();

    /// Every POST received so far, in arrival order.
    std::vector<ReceivedPost> posts() const;
    /// Waits until at least `n` posts arrived or `timeout` passed; returns posts() then.
    std::vector<ReceivedPost> wait_for(std::size_t n, std::chrono::milliseconds timeout) const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace tally::test
