// The Router: synchronous and asynchronous routes, 404/405, and the observer that records
// each request once, when it is answered.

#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "tally/http/router.hpp"

namespace tally::http {
namespace {

struct Answer {
    int replies = 0;
    Response response;
};

void record(void* answer, Response&& response) {
    auto* a = static_cast<Answer*>(answer);
    ++a->replies;
    a->response = std::move(response);
}

struct Observed {
    int calls = 0;
    std::size_t route = 0;
    unsigned status = 0;
};

class RouterTest : public ::testing::Test {
  protected:
    RouterTest() {
        router.add("sync", {Method::get}, "/sync",
                   [](const Request&) { return json_response(200, "{}"); });
        router.add_async("later", {Method::post}, "/later",
                         [this](const Request&, Responder respond) { pending = respond; });
        router.set_observer(
            [this](const Request&, std::size_t route, unsigned status, std::chrono::nanoseconds) {
                ++observed.calls;
                observed.route = route;
                observed.status = status;
            });
    }
    Answer handle(Method method, std::string_view path) {
        Answer answer;
        request.method = method;
        request.path = path;
        router.handle(request, Reply(&record, &answer));
        return answer;
    }

    Router router;
    Request request;
    std::optional<Responder> pending;
    Observed observed;
};

TEST_F(RouterTest, AsyncRouteAnswersLaterFromAnotherThreadAndIsObservedThen) {
    Answer answer;
    request.method = Method::post;
    request.path = "/later";
    router.handle(request, Reply(&record, &answer));
    ASSERT_TRUE(pending.has_value());
    EXPECT_EQ(answer.replies, 0);
    EXPECT_EQ(observed.calls, 0);  // not answered yet, so not counted yet
    EXPECT_EQ(&pending->request(), &request);

    std::thread later([this] { (*pending)(json_response(202, R"({"later":true})")); });
    later.join();
    EXPECT_EQ(answer.replies, 1);
    EXPECT_EQ(answer.response.status, 202u);
    EXPECT_EQ(answer.response.body, R"({"later":true})");
    EXPECT_EQ(observed.calls, 1);
    EXPECT_EQ(observed.route, 1u);  // the second route added
    EXPECT_EQ(observed.status, 202u);
}

TEST_F(RouterTest, AsyncRouteWithTheWrongMethodIs405AtOnce) {
    const Answer answer = handle(Method::get, "/later");
    EXPECT_FALSE(pending.has_value());
    EXPECT_EQ(answer.replies, 1);
    EXPECT_EQ(answer.response.status, 405u);
    EXPECT_EQ(observed.calls, 1);
}

TEST_F(RouterTest, SyncRoutesAndNotFoundAnswerAtOnce) {
    EXPECT_EQ(handle(Method::get, "/sync").response.status, 200u);
    EXPECT_EQ(observed.route, 0u);
    EXPECT_EQ(handle(Method::get, "/nothing").response.status, 404u);
    EXPECT_EQ(observed.calls, 2);
    EXPECT_EQ(observed.route, router.route_names().size() - 1);  // "not_found"
}

}  // namespace
}  // namespace tally::http
