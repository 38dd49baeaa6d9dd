// POST /track/pageview and POST /track/event bodies: every rule.

#include <gtest/gtest.h>

#include <string>

#include "parse_fixture.hpp"
#include "tally/base/time.hpp"

namespace tally::ingest {
namespace {

using testing_support::Json;
using testing_support::kChromeUa;
using testing_support::kIphoneUa;
using testing_support::kNow;
using testing_support::outcome;
using PageviewTest = testing_support::ParseTest;
using CustomEventTest = testing_support::ParseTest;
using BodyTest = testing_support::ParseTest;

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 60 * kMinute;

// ---------------------------------------------------------------------------------------
// The body as a whole

TEST_F(BodyTest, MalformedJsonIsBadJson) {
    for (const char* body : {"", " ", "{", "}", "{\"page_url\":", "not json", "{'a':1}",
                             "{\"page_url\":\"/\",\"session_id\":\"s\"} x",
                             "{\"page_url\":\"/\",\"session_id\":\"s\",}", "{\"a\":tru}",
                             "{\"a\":\"\\x\"}", "{\"a\":01}", "{\"a\":1e999}"}) {
        Event event;
        const auto rejection = parse_pageview(body, ctx_, hasher_, event);
        ASSERT_TRUE(rejection) << body;
        EXPECT_EQ(rejection->reason, "bad_json") << body;
        EXPECT_EQ(rejection->field, "") << body;
        EXPECT_FALSE(rejection->message.empty());
    }
}

TEST_F(BodyTest, BodyMustBeAnObject) {
    for (const char* body :
         {"[]", "[{\"page_url\":\"/\",\"session_id\":\"s\"}]", "\"text\"", "42", "null", "true"}) {
        Event event;
        const auto rejection = parse_custom_event(body, ctx_, hasher_, event);
        ASSERT_TRUE(rejection) << body;
        EXPECT_EQ(rejection->reason, "bad_json") << body;
        EXPECT_EQ(rejection->message, "the body must be a JSON object");
    }
}

TEST_F(BodyTest, WhitespaceAroundTheObjectIsFine) {
    Event event;
    EXPECT_FALSE(parse_pageview(" \r\n\t{\"page_url\":\"/\",\"session_id\":\"s\"}\n ", ctx_,
                                hasher_, event));
}

TEST_F(BodyTest, UnknownFieldsAreIgnoredWhateverTheirType) {
    Json body = minimal_pageview();
    body["extra"] = Json::array({1, {{"deep", nullptr}}});
    body["screen"] = "1920x1080";
    body["n"] = 1.5e300;
    EXPECT_EQ(pageview_outcome(body), "accepted");
}

TEST_F(BodyTest, EscapedStringsAreUnescaped) {
    Event event;
    ASSERT_FALSE(parse_pageview(R"({"page_url":"\/caf\u00e9\/a\"b","session_id":"s\u0031"})", ctx_,
                                hasher_, event));
    EXPECT_EQ(event.page, "/café/a\"b");
    EXPECT_EQ(event.session_id, "s1");
}

TEST_F(BodyTest, DuplicateKeysTakeTheLastValue) {
    Event event;
    ASSERT_FALSE(parse_pageview(R"({"page_url":"/a","session_id":"s","page_url":"/b"})", ctx_,
                                hasher_, event));
    EXPECT_EQ(event.page, "/b");
}

TEST_F(BodyTest, DeepNestingIsRefusedNotACrash) {
    // Unknown fields are validated too; nesting is bounded (1000 levels below the body's
    // own object) so the validation's recursion is.
    const auto nested = [](std::size_t depth) {
        return R"({"page_url":"/","session_id":"s","x":)" + std::string(depth, '[') +
               std::string(depth, ']') + "}";
    };
    Event event;
    EXPECT_FALSE(parse_pageview(nested(1000), ctx_, hasher_, event));
    for (const std::size_t depth : {1001, 60'000}) {
        const auto rejection = parse_pageview(nested(depth), ctx_, hasher_, event);
        ASSERT_TRUE(rejection) << depth;
        EXPECT_EQ(rejection->reason, "bad_json");
    }
}

TEST_F(BodyTest, ByteOrderMarkIsTolerated) {
    Event event;
    EXPECT_FALSE(parse_pageview("\xEF\xBB\xBF{\"page_url\":\"/\",\"session_id\":\"s\"}", ctx_,
                                hasher_, event));
}

TEST_F(BodyTest, MessagesAreSentences) {
    Event event;
    const auto rejection = pageview(with(minimal_pageview(), "page_url", ""), event);
    ASSERT_TRUE(rejection);
    EXPECT_EQ(rejection->message, "page_url must be 1..2048 bytes");
    const auto missing = pageview(Json{{"page_url", "/"}}, event);
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->message, "session_id is required");
}

// ---------------------------------------------------------------------------------------
// Page views

TEST_F(PageviewTest, MinimalBodyGetsDefaults) {
    const Event event = accepted_pageview(minimal_pageview());
    EXPECT_EQ(event.kind, EventKind::pageview);
    EXPECT_EQ(event.page, "/pricing");
    EXPECT_EQ(event.session_id, "s-1");
    EXPECT_EQ(event.user_id, "");
    EXPECT_EQ(event.referrer, "direct");
    EXPECT_EQ(event.country, "");
    EXPECT_EQ(event.device, Device::desktop);  // from the Chrome User-Agent header
    EXPECT_EQ(event.timestamp_ms, kNow);
    EXPECT_EQ(event.site, "default");
    EXPECT_EQ(event.event_name, "");
    EXPECT_EQ(event.properties, "");
    EXPECT_EQ(event.visitor_id,
              hasher_.visitor_id(day_of(kNow), "default", "203.0.113.7", kChromeUa));
}

TEST_F(PageviewTest, FullBody) {
    const Event event = accepted_pageview({
        {"page_url", "https://shop.example/cart?step=2#pay"},
        {"session_id", "sess_71"},
        {"user_id", "usr_6"},
        {"referrer", "https://Google.com/search?q=x"},
        {"user_agent", kIphoneUa},
        {"device_type", "tablet"},
        {"country", "de"},
        {"timestamp", "2024-01-15T09:00:00.250+00:00"},
        {"site", "shop.example"},
    });
    EXPECT_EQ(event.page, "/cart");
    EXPECT_EQ(event.session_id, "sess_71");
    EXPECT_EQ(event.user_id, "usr_6");
    EXPECT_EQ(event.visitor_id, "usr_6");
    EXPECT_EQ(event.referrer, "google.com");
    EXPECT_EQ(event.device, Device::tablet);  // the explicit field beats the guess
    EXPECT_EQ(event.country, "DE");
    EXPECT_EQ(event.timestamp_ms, kNow - 90 * kMinute + 250);
    EXPECT_EQ(event.site, "shop.example");
    EXPECT_EQ(event.funnel_key(), "usr_6");
}

TEST_F(PageviewTest, PageUrlRequiredWithLengthLimits) {
    EXPECT_EQ(pageview_outcome({{"session_id", "s"}}), "missing_field/page_url");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", nullptr)),
              "missing_field/page_url");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", 42)), "invalid_field/page_url");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", Json::object())),
              "invalid_field/page_url");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", "")), "invalid_field/page_url");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", "/")), "accepted");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", "/" + std::string(2047, 'p'))),
              "accepted");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", "/" + std::string(2048, 'p'))),
              "invalid_field/page_url");
}

TEST_F(PageviewTest, PageUrlLengthCountsBytesNotCharacters) {
    // "é" is two bytes in UTF-8: 1024 of them are 2048 bytes, one more is over.
    std::string url;
    for (int i = 0; i < 1024; ++i) {
        url += "é";
    }
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", url)), "accepted");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "page_url", url + "x")),
              "invalid_field/page_url");
}

TEST_F(PageviewTest, SessionIdRequiredWithLengthLimits) {
    EXPECT_EQ(pageview_outcome({{"page_url", "/"}}), "missing_field/session_id");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "session_id", nullptr)),
              "missing_field/session_id");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "session_id", 7)),
              "invalid_field/session_id");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "session_id", "")),
              "invalid_field/session_id");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "session_id", "s")), "accepted");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "session_id", std::string(128, 's'))),
              "accepted");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "session_id", std::string(129, 's'))),
              "invalid_field/session_id");
}

TEST_F(PageviewTest, UserIdOptionalUpTo128Bytes) {
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "user_id", "u")).user_id, "u");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "user_id", std::string(128, 'u'))).user_id,
              std::string(128, 'u'));
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "user_id", std::string(129, 'u'))),
              "invalid_field/user_id");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "user_id", 12345)),
              "invalid_field/user_id");
}

TEST_F(PageviewTest, EmptyOrNullUserIdIsAbsent) {
    const std::string hashed =
        hasher_.visitor_id(day_of(kNow), "default", "203.0.113.7", kChromeUa);
    for (const Json& user_id : {Json(""), Json(nullptr)}) {
        const Event event = accepted_pageview(with(minimal_pageview(), "user_id", user_id));
        EXPECT_EQ(event.user_id, "");
        EXPECT_EQ(event.visitor_id, hashed);
        EXPECT_EQ(event.funnel_key(), "s-1");
    }
}

TEST_F(PageviewTest, VisitorIdIsUserIdWhenPresent) {
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "user_id", "alice")).visitor_id, "alice");
}

TEST_F(PageviewTest, CookielessVisitorIdDependsOnIpUserAgentSiteAndDay) {
    const std::string base = accepted_pageview(minimal_pageview()).visitor_id;
    ASSERT_EQ(base.size(), 16u);
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "session_id", "other")).visitor_id, base);

    EXPECT_NE(accepted_pageview(with(minimal_pageview(), "site", "other")).visitor_id, base);
    EXPECT_NE(accepted_pageview(with(minimal_pageview(), "user_agent", kIphoneUa)).visitor_id,
              base);
    // Yesterday, still inside the 48 h window, is another day with another salt.
    EXPECT_NE(
        accepted_pageview(with(minimal_pageview(), "timestamp", "2024-01-14T23:00:00Z")).visitor_id,
        base);
    ctx_.client_ip = "198.51.100.1";
    EXPECT_NE(accepted_pageview(minimal_pageview()).visitor_id, base);
}

TEST_F(PageviewTest, Referrer) {
    EXPECT_EQ(accepted_pageview(minimal_pageview()).referrer, "direct");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "referrer", nullptr)).referrer, "direct");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "referrer", "")).referrer, "direct");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "referrer", "google.com")).referrer,
              "direct");
    EXPECT_EQ(
        accepted_pageview(with(minimal_pageview(), "referrer", "https://Google.com/x")).referrer,
        "google.com");
    EXPECT_EQ(
        accepted_pageview(with(minimal_pageview(), "referrer", "http://u:p@[::1]:80/")).referrer,
        "[::1]");
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "referrer", 1)), "invalid_field/referrer");
}

TEST_F(PageviewTest, UserAgentFieldBeatsHeader) {
    // The header says Windows Chrome; the body says iPhone.
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "user_agent", kIphoneUa)).device,
              Device::mobile);
    const Event event = accepted_pageview(with(minimal_pageview(), "user_agent", kIphoneUa));
    EXPECT_EQ(event.visitor_id,
              hasher_.visitor_id(day_of(kNow), "default", "203.0.113.7", kIphoneUa));
}

TEST_F(PageviewTest, AbsentNullOrEmptyUserAgentFallsBackToHeader) {
    ctx_.user_agent_header = kIphoneUa;
    const std::string header_id =
        hasher_.visitor_id(day_of(kNow), "default", "203.0.113.7", kIphoneUa);
    for (const Json& body : {minimal_pageview(), with(minimal_pageview(), "user_agent", nullptr),
                             with(minimal_pageview(), "user_agent", "")}) {
        const Event event = accepted_pageview(body);
        EXPECT_EQ(event.device, Device::mobile) << body.dump();
        EXPECT_EQ(event.visitor_id, header_id) << body.dump();
    }
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "user_agent", Json::array())),
              "invalid_field/user_agent");
}

TEST_F(PageviewTest, NoUserAgentAnywhereIsDesktop) {
    ctx_.user_agent_header = "";
    EXPECT_EQ(accepted_pageview(minimal_pageview()).device, Device::desktop);
}

TEST_F(PageviewTest, DeviceType) {
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "device_type", "desktop")).device,
              Device::desktop);
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "device_type", "mobile")).device,
              Device::mobile);
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "device_type", "tablet")).device,
              Device::tablet);
    ctx_.user_agent_header = kIphoneUa;
    EXPECT_EQ(accepted_pageview(minimal_pageview()).device, Device::mobile);
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "device_type", nullptr)).device,
              Device::mobile);
    for (const Json& bad : {Json("phone"), Json("Mobile"), Json(""), Json("tablet "), Json(1)}) {
        EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "device_type", bad)),
                  "invalid_field/device_type")
            << bad.dump();
    }
}

TEST_F(PageviewTest, CountryIsTwoLettersStoredUpperCase) {
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "country", "US")).country, "US");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "country", "us")).country, "US");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "country", "gB")).country, "GB");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "country", nullptr)).country, "");
    for (const Json& bad : {Json(""), Json("U"), Json("USA"), Json("1A"), Json("U "), Json("é"),
                            Json("ÉÉ"), Json(840)}) {
        EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "country", bad)),
                  "invalid_field/country")
            << bad.dump();
    }
}

TEST_F(PageviewTest, TimestampDefaultsToReceiveTime) {
    EXPECT_EQ(accepted_pageview(minimal_pageview()).timestamp_ms, kNow);
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "timestamp", nullptr)).timestamp_ms, kNow);
}

TEST_F(PageviewTest, TimestampWindowEdges) {
    const auto at = [this](std::int64_t ms) {
        return pageview_outcome(with(minimal_pageview(), "timestamp", format_rfc3339_ms(ms)));
    };
    EXPECT_EQ(at(kNow - 48 * kHour), "accepted");
    EXPECT_EQ(at(kNow - 48 * kHour - 1), "out_of_window/timestamp");
    EXPECT_EQ(at(kNow + 5 * kMinute), "accepted");
    EXPECT_EQ(at(kNow + 5 * kMinute + 1), "out_of_window/timestamp");
    EXPECT_EQ(at(kNow - kHour * 24 * 365), "out_of_window/timestamp");
    EXPECT_EQ(at(0), "out_of_window/timestamp");
    EXPECT_EQ(
        accepted_pageview(with(minimal_pageview(), "timestamp", format_rfc3339_ms(kNow - 1234)))
            .timestamp_ms,
        kNow - 1234);
}

TEST_F(PageviewTest, TimestampMustBeRfc3339Text) {
    for (const Json& bad : {Json("2024-01-15"), Json("2024-01-15T10:30:00"), Json("yesterday"),
                            Json(""), Json("2024-02-30T10:00:00Z")}) {
        EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "timestamp", bad)),
                  "invalid_field/timestamp")
            << bad.dump();
    }
    // Epoch numbers are not RFC 3339.
    EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "timestamp", kNow)),
              "invalid_field/timestamp");
}

TEST_F(PageviewTest, Site) {
    EXPECT_EQ(accepted_pageview(minimal_pageview()).site, "default");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "site", nullptr)).site, "default");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "site", "a")).site, "a");
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "site", std::string(64, 'x'))).site,
              std::string(64, 'x'));
    EXPECT_EQ(accepted_pageview(with(minimal_pageview(), "site", "Blog-2.example_x")).site,
              "Blog-2.example_x");
    for (const Json& bad : {Json(""), Json(std::string(65, 'x')), Json("my site"), Json("a/b"),
                            Json("{s}"), Json(3)}) {
        EXPECT_EQ(pageview_outcome(with(minimal_pageview(), "site", bad)), "invalid_field/site")
            << bad.dump();
    }
}

TEST_F(PageviewTest, ReusedEventIsFullyOverwritten) {
    Event event;
    ASSERT_FALSE(custom({{"event_name", "signup"},
                         {"session_id", "s"},
                         {"user_id", "u"},
                         {"properties", {{"a", 1}}}},
                        event));
    ASSERT_FALSE(pageview({{"page_url", "/a"},
                           {"session_id", "s"},
                           {"user_id", "u"},
                           {"country", "fr"},
                           {"referrer", "https://x.org/"}},
                          event));
    ASSERT_FALSE(pageview(minimal_pageview(), event));
    EXPECT_EQ(event.kind, EventKind::pageview);
    EXPECT_EQ(event.user_id, "");
    EXPECT_EQ(event.country, "");
    EXPECT_EQ(event.referrer, "direct");
    EXPECT_EQ(event.event_name, "");
    EXPECT_EQ(event.properties, "");
    EXPECT_EQ(event.visitor_id.size(), 16u);
}

TEST_F(PageviewTest, FirstFailingRuleIsReportedWhateverTheKeyOrder) {
    // Both page_url and session_id are wrong; page_url is checked first.
    Event event;
    const auto a = parse_pageview(R"({"session_id":"","page_url":""})", ctx_, hasher_, event);
    const auto b = parse_pageview(R"({"page_url":"","session_id":""})", ctx_, hasher_, event);
    EXPECT_EQ(outcome(a), "invalid_field/page_url");
    EXPECT_EQ(outcome(b), "invalid_field/page_url");
}

// ---------------------------------------------------------------------------------------
// Custom events

TEST_F(CustomEventTest, MinimalBody) {
    const Event event = accepted_custom(minimal_event());
    EXPECT_EQ(event.kind, EventKind::custom);
    EXPECT_EQ(event.event_name, "signup");
    EXPECT_EQ(event.session_id, "s-1");
    EXPECT_EQ(event.timestamp_ms, kNow);
    EXPECT_EQ(event.site, "default");
    EXPECT_EQ(event.properties, "");
    EXPECT_EQ(event.page, "");
    EXPECT_EQ(event.referrer, "");
    EXPECT_EQ(event.country, "");
    EXPECT_EQ(event.device, Device::desktop);
    EXPECT_EQ(event.visitor_id,
              hasher_.visitor_id(day_of(kNow), "default", "203.0.113.7", kChromeUa));
}

TEST_F(CustomEventTest, PageviewFieldsAreNotPartOfAnEvent) {
    Json body = minimal_event();
    body["page_url"] = "/pricing";
    body["referrer"] = "https://google.com/";
    body["country"] = "not checked";
    body["device_type"] = "tablet";
    body["user_agent"] = kIphoneUa;
    const Event event = accepted_custom(body);
    EXPECT_EQ(event.page, "");
    EXPECT_EQ(event.referrer, "");
    EXPECT_EQ(event.country, "");
    EXPECT_EQ(event.device, Device::desktop);  // from the header, not the body
}

TEST_F(CustomEventTest, DeviceComesFromTheUserAgentHeader) {
    ctx_.user_agent_header = kIphoneUa;
    EXPECT_EQ(accepted_custom(minimal_event()).device, Device::mobile);
}

TEST_F(CustomEventTest, EventName) {
    EXPECT_EQ(custom_outcome({{"session_id", "s"}}), "missing_field/event_name");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "event_name", nullptr)),
              "missing_field/event_name");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "event_name", 5)), "invalid_field/event_name");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "event_name", "")), "invalid_field/event_name");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "event_name", "e")), "accepted");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "event_name", std::string(64, 'e'))),
              "accepted");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "event_name", std::string(65, 'e'))),
              "invalid_field/event_name");
    EXPECT_EQ(
        accepted_custom(with(minimal_event(), "event_name", "checkout:step-2.done_ok")).event_name,
        "checkout:step-2.done_ok");
    for (const char* bad : {"sign up", "a/b", "a,b", "ü", "a\"b"}) {
        EXPECT_EQ(custom_outcome(with(minimal_event(), "event_name", bad)),
                  "invalid_field/event_name")
            << bad;
    }
}

TEST_F(CustomEventTest, SharedFieldsFollowThePageviewRules) {
    EXPECT_EQ(custom_outcome({{"event_name", "e"}}), "missing_field/session_id");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "session_id", std::string(129, 's'))),
              "invalid_field/session_id");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "user_id", std::string(129, 'u'))),
              "invalid_field/user_id");
    EXPECT_EQ(accepted_custom(with(minimal_event(), "user_id", "bob")).visitor_id, "bob");
    EXPECT_EQ(
        custom_outcome(with(minimal_event(), "timestamp", format_rfc3339_ms(kNow - 49 * kHour))),
        "out_of_window/timestamp");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "timestamp", "soon")),
              "invalid_field/timestamp");
    EXPECT_EQ(
        accepted_custom(with(minimal_event(), "timestamp", "2024-01-15T10:00:00Z")).timestamp_ms,
        kNow - 30 * kMinute);
    EXPECT_EQ(custom_outcome(with(minimal_event(), "site", "bad site")), "invalid_field/site");
    EXPECT_EQ(accepted_custom(with(minimal_event(), "site", "app")).site, "app");
}

TEST_F(CustomEventTest, PropertiesAreStoredAsCompactJson) {
    const Event event = accepted_custom(
        with(minimal_event(), "properties", {{"plan", "pro"}, {"seats", 3}, {"tags", {"a", "b"}}}));
    EXPECT_EQ(event.properties.find(' '), std::string::npos);
    EXPECT_EQ(Json::parse(event.properties),
              (Json{{"plan", "pro"}, {"seats", 3}, {"tags", {"a", "b"}}}));

    Event pretty;
    ASSERT_FALSE(parse_custom_event(
        "{\"event_name\":\"e\",\"session_id\":\"s\",\"properties\":{ \"a\" : [ 1 , 2 ] ,\n \"b\" : "
        "{ \"c\" : null } } }",
        ctx_, hasher_, pretty));
    EXPECT_EQ(pretty.properties, R"({"a":[1,2],"b":{"c":null}})");

    EXPECT_EQ(accepted_custom(with(minimal_event(), "properties", Json::object())).properties,
              "{}");
    EXPECT_EQ(accepted_custom(with(minimal_event(), "properties", nullptr)).properties, "");
}

TEST_F(CustomEventTest, PropertiesKeepStringsAndNumbersAsSent) {
    // Escapes stay escapes and numbers keep their digits, so nothing is lost in a round
    // trip through a double (the 23-digit integer) and the text is what the client sent.
    Event event;
    ASSERT_FALSE(parse_custom_event(
        R"({"event_name":"e","session_id":"s","properties":{"a\"b" : "c\\d\u00e9",)"
        R"( "big": 12345678901234567890123, "f": 1.50, "e": -1E+2, "t": true, "n": [ ] }})",
        ctx_, hasher_, event));
    EXPECT_EQ(
        event.properties,
        R"({"a\"b":"c\\d\u00e9","big":12345678901234567890123,"f":1.50,"e":-1E+2,"t":true,"n":[]})");
    const Json back = Json::parse(event.properties);
    EXPECT_EQ(back["a\"b"], "c\\dé");
}

TEST_F(CustomEventTest, PropertyKeysSentTwiceCountOnce) {
    // 64 distinct keys, one of them repeated: still 64 keys, as any JSON reader sees them.
    std::string properties = "{";
    for (int i = 0; i < 64; ++i) {
        properties += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    }
    properties += "\"k0\":99}";
    Event event;
    EXPECT_FALSE(
        parse_custom_event(R"({"event_name":"e","session_id":"s","properties":)" + properties + "}",
                           ctx_, hasher_, event));
    EXPECT_EQ(Json::parse(event.properties)["k0"], 99);
}

TEST_F(CustomEventTest, PropertiesMustBeAnObject) {
    for (const Json& bad : {Json::array({1, 2}), Json("a=b"), Json(1), Json(true)}) {
        EXPECT_EQ(custom_outcome(with(minimal_event(), "properties", bad)),
                  "invalid_field/properties")
            << bad.dump();
    }
}

TEST_F(CustomEventTest, PropertiesHoldAtMost64Keys) {
    Json properties = Json::object();
    for (int i = 0; i < 64; ++i) {
        properties["k" + std::to_string(i)] = i;
    }
    EXPECT_EQ(custom_outcome(with(minimal_event(), "properties", properties)), "accepted");
    properties["k64"] = 64;
    EXPECT_EQ(custom_outcome(with(minimal_event(), "properties", properties)),
              "too_large/properties");
}

TEST_F(CustomEventTest, PropertiesHoldAtMost8KiB) {
    // {"k":"vvv..."} is 8 bytes of framing around the value.
    const auto sized = [](std::size_t bytes) { return Json{{"k", std::string(bytes - 8, 'v')}}; };
    ASSERT_EQ(sized(8192).dump().size(), 8192u);
    EXPECT_EQ(custom_outcome(with(minimal_event(), "properties", sized(8192))), "accepted");
    EXPECT_EQ(custom_outcome(with(minimal_event(), "properties", sized(8193))),
              "too_large/properties");
    // Whitespace in the body does not count against the limit.
    Event event;
    const std::string body = R"({"event_name":"e","session_id":"s","properties":{ "k" :  ")" +
                             std::string(8192 - 8, 'v') + "\"   }}";
    EXPECT_FALSE(parse_custom_event(body, ctx_, hasher_, event));
    EXPECT_EQ(event.properties.size(), 8192u);
}

}  // namespace
}  // namespace tally::ingest
