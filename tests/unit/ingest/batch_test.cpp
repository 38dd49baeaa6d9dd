// POST /track/batch: a JSON array or NDJSON of up to 1000 items.

#include <gtest/gtest.h>

#include <string>

#include "parse_fixture.hpp"

namespace tally::ingest {
namespace {

using testing_support::Json;
using testing_support::outcome;

class BatchTest : public testing_support::ParseTest {
  protected:
    static Json pageview_item(const std::string& page) {
        return {{"type", "pageview"}, {"page_url", page}, {"session_id", "s"}};
    }
    static Json event_item(const std::string& name) {
        return {{"type", "event"}, {"event_name", name}, {"session_id", "s"}};
    }
    std::optional<Rejection> batch(std::string_view body, BatchResult& out) {
        return parse_batch(body, ctx_, hasher_, out);
    }
    static std::string ndjson(const Json& items) {
        std::string body;
        for (const Json& item : items) {
            body += item.dump() + "\n";
        }
        return body;
    }
};

TEST_F(BatchTest, ArrayOfPageviewsAndEventsKeepsOrder) {
    BatchResult out;
    const Json body = {pageview_item("/a"), event_item("signup"), pageview_item("/b")};
    ASSERT_FALSE(batch(body.dump(), out));
    ASSERT_EQ(out.accepted.size(), 3u);
    EXPECT_TRUE(out.rejected.empty());
    EXPECT_EQ(out.accepted[0].kind, EventKind::pageview);
    EXPECT_EQ(out.accepted[0].page, "/a");
    EXPECT_EQ(out.accepted[1].kind, EventKind::custom);
    EXPECT_EQ(out.accepted[1].event_name, "signup");
    EXPECT_EQ(out.accepted[2].page, "/b");
}

TEST_F(BatchTest, EmptyArrayAcceptsNothing) {
    BatchResult out;
    EXPECT_FALSE(batch("[]", out));
    EXPECT_FALSE(batch(" [ ] \n", out));
    EXPECT_TRUE(out.accepted.empty());
    EXPECT_TRUE(out.rejected.empty());
}

TEST_F(BatchTest, MixedItemsReportIndices) {
    const Json body = {
        pageview_item("/ok0"),                                                 // 0 accepted
        {{"page_url", "/"}, {"session_id", "s"}},                              // 1 no type
        {{"type", "click"}, {"session_id", "s"}},                              // 2 unknown type
        42,                                                                    // 3 not an object
        event_item("ok4"),                                                     // 4 accepted
        {{"type", "pageview"}, {"session_id", "s"}},                           // 5 no page_url
        {{"type", "event"}, {"event_name", "bad name"}, {"session_id", "s"}},  // 6
        {{"type", 1}, {"session_id", "s"}},                              // 7 type not a string
        {{"type", "Pageview"}, {"page_url", "/"}, {"session_id", "s"}},  // 8 case matters
        pageview_item("/ok9"),                                           // 9 accepted
    };
    BatchResult out;
    ASSERT_FALSE(batch(body.dump(), out));
    ASSERT_EQ(out.accepted.size(), 3u);
    EXPECT_EQ(out.accepted[0].page, "/ok0");
    EXPECT_EQ(out.accepted[1].event_name, "ok4");
    EXPECT_EQ(out.accepted[2].page, "/ok9");

    ASSERT_EQ(out.rejected.size(), 7u);
    const std::pair<std::size_t, std::string> expected[] = {
        {1, "missing_field/type"},     {2, "invalid_field/type"},       {3, "bad_json/"},
        {5, "missing_field/page_url"}, {6, "invalid_field/event_name"}, {7, "invalid_field/type"},
        {8, "invalid_field/type"},
    };
    for (std::size_t i = 0; i < out.rejected.size(); ++i) {
        EXPECT_EQ(out.rejected[i].index, expected[i].first);
        EXPECT_EQ(outcome(out.rejected[i].rejection), expected[i].second)
            << "item " << expected[i].first;
        EXPECT_FALSE(out.rejected[i].rejection.message.empty());
    }
}

TEST_F(BatchTest, ItemsFollowTheSingleEventRules) {
    Json item = pageview_item("https://example.com/x?y");
    item["referrer"] = "https://News.ycombinator.com/";
    item["country"] = "nl";
    item["timestamp"] = "2024-01-15T10:00:00Z";
    item["user_id"] = "carol";
    Json late = pageview_item("/late");
    late["timestamp"] = "2023-01-15T10:00:00Z";
    BatchResult out;
    ASSERT_FALSE(batch(Json::array({item, late}).dump(), out));
    ASSERT_EQ(out.accepted.size(), 1u);
    EXPECT_EQ(out.accepted[0].page, "/x");
    EXPECT_EQ(out.accepted[0].referrer, "news.ycombinator.com");
    EXPECT_EQ(out.accepted[0].country, "NL");
    EXPECT_EQ(out.accepted[0].visitor_id, "carol");
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_EQ(out.rejected[0].index, 1u);
    EXPECT_EQ(outcome(out.rejected[0].rejection), "out_of_window/timestamp");
}

TEST_F(BatchTest, ArrayOf1000IsAcceptedAnd1001IsRefusedWhole) {
    Json items = Json::array();
    for (int i = 0; i < 1000; ++i) {
        items.push_back(i % 2 ? event_item("e" + std::to_string(i))
                              : pageview_item("/" + std::to_string(i)));
    }
    BatchResult out;
    ASSERT_FALSE(batch(items.dump(), out));
    EXPECT_EQ(out.accepted.size(), 1000u);
    EXPECT_TRUE(out.rejected.empty());

    items.push_back(pageview_item("/one-too-many"));
    const auto rejection = batch(items.dump(), out);
    ASSERT_TRUE(rejection);
    EXPECT_EQ(rejection->reason, "too_large");
    EXPECT_EQ(rejection->field, "");
    EXPECT_EQ(rejection->message, "batch holds at most 1000 items");
    EXPECT_TRUE(out.accepted.empty());
    EXPECT_TRUE(out.rejected.empty());
}

TEST_F(BatchTest, NdjsonOf1000IsAcceptedAnd1001IsRefusedWhole) {
    Json items = Json::array();
    for (int i = 0; i < 1000; ++i) {
        items.push_back(pageview_item("/" + std::to_string(i)));
    }
    BatchResult out;
    ASSERT_FALSE(batch(ndjson(items), out));
    EXPECT_EQ(out.accepted.size(), 1000u);
    EXPECT_EQ(out.accepted[999].page, "/999");

    items.push_back(pageview_item("/one-too-many"));
    const auto rejection = batch(ndjson(items), out);
    ASSERT_TRUE(rejection);
    EXPECT_EQ(outcome(rejection), "too_large/");
    EXPECT_TRUE(out.accepted.empty());
}

TEST_F(BatchTest, NdjsonBlankLinesAndCrLfAreFine) {
    const std::string body = "\n  " + pageview_item("/a").dump() + "\r\n\r\n \t \n" +
                             event_item("b").dump() + "\r\n" + pageview_item("/c").dump();
    BatchResult out;
    ASSERT_FALSE(batch(body, out));
    ASSERT_EQ(out.accepted.size(), 3u);
    EXPECT_EQ(out.accepted[0].page, "/a");
    EXPECT_EQ(out.accepted[1].event_name, "b");
    EXPECT_EQ(out.accepted[2].page, "/c");
}

TEST_F(BatchTest, NdjsonBadLineIsAnItemRejection) {
    // Indices count non-empty lines.
    const std::string body = pageview_item("/a").dump() + "\n\n" + "{\"type\":\"pageview\",\n" +
                             event_item("b").dump() + "\n" + "[1,2]\n" + "{\"type\":\"event\"}\n";
    BatchResult out;
    ASSERT_FALSE(batch(body, out));
    ASSERT_EQ(out.accepted.size(), 2u);
    EXPECT_EQ(out.accepted[0].page, "/a");
    EXPECT_EQ(out.accepted[1].event_name, "b");
    ASSERT_EQ(out.rejected.size(), 3u);
    EXPECT_EQ(out.rejected[0].index, 1u);
    EXPECT_EQ(outcome(out.rejected[0].rejection), "bad_json/");
    EXPECT_EQ(out.rejected[1].index, 3u);
    EXPECT_EQ(outcome(out.rejected[1].rejection), "bad_json/");
    EXPECT_EQ(out.rejected[2].index, 4u);
    EXPECT_EQ(outcome(out.rejected[2].rejection), "missing_field/event_name");
}

TEST_F(BatchTest, SingleObjectIsOneLineOfNdjson) {
    BatchResult out;
    ASSERT_FALSE(batch(pageview_item("/solo").dump(), out));
    ASSERT_EQ(out.accepted.size(), 1u);
    EXPECT_EQ(out.accepted[0].page, "/solo");
}

TEST_F(BatchTest, BodyLevelProblemsAcceptNothing) {
    for (const char* body : {"", "   ", "[", "[{\"type\":\"pageview\"}", "nonsense", "\"text\"",
                             "7", "null", "[] []", "[1,]"}) {
        BatchResult out;
        out.accepted.emplace_back();  // stale content from an earlier call is cleared
        const auto rejection = batch(body, out);
        ASSERT_TRUE(rejection) << body;
        EXPECT_EQ(rejection->reason, "bad_json") << body;
        EXPECT_TRUE(out.accepted.empty()) << body;
        EXPECT_TRUE(out.rejected.empty()) << body;
    }
}

TEST_F(BatchTest, MalformedArrayIsRefusedWholeEvenAfterGoodItems) {
    const std::string body =
        "[" + pageview_item("/a").dump() + "," + pageview_item("/b").dump() + ",{]";
    BatchResult out;
    const auto rejection = batch(body, out);
    ASSERT_TRUE(rejection);
    EXPECT_EQ(rejection->reason, "bad_json");
    EXPECT_TRUE(out.accepted.empty());
}

TEST_F(BatchTest, ResultIsResetBetweenCalls) {
    BatchResult out;
    ASSERT_FALSE(batch(Json::array({pageview_item("/a"), 1}).dump(), out));
    ASSERT_FALSE(batch(Json::array({pageview_item("/b")}).dump(), out));
    ASSERT_EQ(out.accepted.size(), 1u);
    EXPECT_EQ(out.accepted[0].page, "/b");
    EXPECT_TRUE(out.rejected.empty());
}

// ---------------------------------------------------------------------------------------
// ParseBuffers: reusing the parser's buffers never changes an answer.

std::string describe(const std::optional<Rejection>& rejection, const Event& event) {
    if (rejection) {
        return outcome(rejection) + " " + rejection->message;
    }
    return event.page + "|" + event.referrer + "|" + event.event_name + "|" + event.properties +
           "|" + event.visitor_id + "|" + std::to_string(event.timestamp_ms) + "|" + event.country;
}

TEST_F(BatchTest, ReusedBuffersGiveTheSameAnswers) {
    Json big = Json::array();
    for (int i = 0; i < 1000; ++i) {
        big.push_back(pageview_item("/" + std::string(100, 'p') + std::to_string(i)));
    }
    const std::string big_body = big.dump();
    ASSERT_GT(big_body.size(), 64u * 1024);  // past what ParseBuffers keeps

    const std::vector<std::string> bodies = {
        R"({"page_url":"https://a.example/x?y","session_id":"s","referrer":"https://B.org/"})",
        R"({"page_url":"","session_id":"s"})",
        "{not json",
        R"({"event_name":"e","session_id":"s","properties":{"k":[1,{"z":null}]}})",
        R"({"page_url":"/short","session_id":"s2","country":"se"})",
    };
    ParseBuffers buffers;
    for (int round = 0; round < 2; ++round) {
        for (const std::string& body : bodies) {
            Event fresh;
            Event reused;
            EXPECT_EQ(describe(parse_pageview(body, ctx_, hasher_, fresh), fresh),
                      describe(parse_pageview(body, ctx_, hasher_, reused, buffers), reused))
                << body;
            EXPECT_EQ(describe(parse_custom_event(body, ctx_, hasher_, fresh), fresh),
                      describe(parse_custom_event(body, ctx_, hasher_, reused, buffers), reused))
                << body;
        }
        BatchResult fresh;
        BatchResult reused;
        ASSERT_FALSE(parse_batch(big_body, ctx_, hasher_, fresh));
        ASSERT_FALSE(parse_batch(big_body, ctx_, hasher_, reused, buffers));
        ASSERT_EQ(reused.accepted.size(), fresh.accepted.size());
        for (std::size_t i = 0; i < fresh.accepted.size(); ++i) {
            EXPECT_EQ(reused.accepted[i].page, fresh.accepted[i].page);
        }
        const std::string ndjson_body = ndjson({pageview_item("/a"), event_item("b")}) + "{bad\n";
        ASSERT_FALSE(parse_batch(ndjson_body, ctx_, hasher_, reused, buffers));
        EXPECT_EQ(reused.accepted.size(), 2u);
        EXPECT_EQ(reused.rejected.size(), 1u);
    }
}

TEST_F(BatchTest, BuffersCanBeMoved) {
    ParseBuffers first;
    Event event;
    ASSERT_FALSE(
        parse_pageview(R"({"page_url":"/a","session_id":"s"})", ctx_, hasher_, event, first));
    ParseBuffers second(std::move(first));
    ASSERT_FALSE(
        parse_pageview(R"({"page_url":"/b","session_id":"s"})", ctx_, hasher_, event, second));
    EXPECT_EQ(event.page, "/b");
}

}  // namespace
}  // namespace tally::ingest
