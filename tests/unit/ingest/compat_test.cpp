// Plausible's and Umami's bodies: every key form, the site list, props in both shapes,
// engagement and identify, the refusals (each naming its field), and the Events a hit makes;
// the session table of trackers that send no session id.

#include "tally/ingest/compat.hpp"

#include <gtest/gtest.h>

#include "tally/ingest/compat_sessions.hpp"

namespace tally::ingest {
namespace {

using Kind = CompatHit::Kind;

CompatHit plausible(std::string_view body) {
    ParseBuffers buffers;
    CompatHit hit;
    const auto rejection = parse_plausible(body, hit, buffers);
    EXPECT_FALSE(rejection) << body << ": " << rejection->message;
    return hit;
}

Rejection plausible_refusal(std::string_view body) {
    ParseBuffers buffers;
    CompatHit hit;
    const auto rejection = parse_plausible(body, hit, buffers);
    EXPECT_TRUE(rejection) << body;
    return rejection.value_or(Rejection{});
}

CompatHit umami(std::string_view body) {
    ParseBuffers buffers;
    CompatHit hit;
    const auto rejection = parse_umami(body, hit, buffers);
    EXPECT_FALSE(rejection) << body << ": " << rejection->message;
    return hit;
}

TEST(Plausible, ShortKeysAPageViewInEverySiteWithoutWww) {
    const CompatHit hit = plausible(
        R"({"n":"pageview","u":"https://www.shop.example/pricing?x=1#top","d":"www.shop.example, blog.example","r":"https://News.ycombinator.com/item?id=1","w":1280})");
    EXPECT_EQ(hit.kind, Kind::pageview);
    EXPECT_EQ(hit.sites, (std::vector<std::string>{"shop.example", "blog.example"}));
    EXPECT_EQ(hit.page, "/pricing");
    EXPECT_EQ(hit.referrer, "news.ycombinator.com");
    EXPECT_EQ(hit.properties, "");
}

TEST(Plausible, LongKeysACustomEventWithPropsAsObjectOrString) {
    CompatHit hit = plausible(
        R"({"name":"Outbound Link: Click","url":"https://a.com/","domain":"a.com","referrer":null,"props":{"url":"https://x.org","n":3},"revenue":{"amount":"9.5","currency":"EUR"},"interactive":false})");
    EXPECT_EQ(hit.kind, Kind::custom);
    EXPECT_EQ(hit.name, "Outbound_Link:_Click");
    EXPECT_EQ(hit.properties, R"({"url":"https://x.org","n":3})");
    EXPECT_EQ(hit.referrer, "direct");
    // The older npm tracker sends props as a JSON string; the oldest as "m".
    EXPECT_EQ(
        plausible(R"({"n":"signup","u":"/","d":"a.com","p":"{\"plan\": \"pro\"}"})").properties,
        R"({"plan":"pro"})");
    EXPECT_EQ(plausible(R"({"n":"signup","u":"/","d":"a.com","m":{"plan":"pro"}})").properties,
              R"({"plan":"pro"})");
    EXPECT_EQ(plausible(R"({"n":"signup","u":"/","d":"a.com","p":{}})").properties, "");
}

TEST(Plausible, HashModeKeepsTheFragmentAndEngagementIsNotAnEvent) {
    EXPECT_EQ(
        plausible(R"({"n":"pageview","u":"https://a.com/app#/settings","d":"a.com","h":1})").page,
        "/app#/settings");
    EXPECT_EQ(
        plausible(R"({"n":"pageview","u":"https://a.com/app#/settings","d":"a.com","h":0})").page,
        "/app");
    EXPECT_EQ(
        plausible(R"({"n":"engagement","u":"https://a.com/","d":"a.com","sd":40,"e":5120})").kind,
        Kind::engagement);
}

TEST(Plausible, RefusalsNameTheirField) {
    EXPECT_EQ(plausible_refusal(R"({"u":"/","d":"a.com"})").field, "name");
    EXPECT_EQ(plausible_refusal(R"({"n":"pageview","d":"a.com"})").field, "url");
    EXPECT_EQ(plausible_refusal(R"({"n":"pageview","u":"/"})").field, "domain");
    EXPECT_EQ(plausible_refusal(R"({"n":"pageview","u":"/","d":"a b"})").field, "domain");
    EXPECT_EQ(plausible_refusal(R"({"n":"pageview","u":"/","d":"a.com,"})").field, "domain");
    EXPECT_EQ(plausible_refusal(R"({"n":1,"u":"/","d":"a.com"})").field, "name");
    EXPECT_EQ(plausible_refusal(R"({"n":"x","u":"/","d":"a.com","p":[1]})").field, "props");
    EXPECT_EQ(plausible_refusal(R"({"n":"x","u":"/","d":"a.com","p":"not json"})").field, "props");
    EXPECT_EQ(plausible_refusal(R"({"n":"pageview","u":"/","d":"a,b,c,d,e,f,g,h,i,j,k"})").field,
              "domain");
    EXPECT_EQ(plausible_refusal(R"({"n":"pageview","u":"/","d":"a.com"} x)").reason, "bad_json");
    EXPECT_EQ(plausible_refusal("[]").reason, "bad_json");
    std::string many = R"({"n":"x","u":"/","d":"a.com","p":{)";
    for (int i = 0; i < 65; ++i)
        many += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":1";
    EXPECT_EQ(plausible_refusal(many + "}}").reason, "too_large");
}

TEST(Umami, PageViewsEventsAndIdentify) {
    CompatHit hit = umami(
        R"({"type":"event","payload":{"website":"4f2a8c1e-0b9d-4c1e-9f00-1a2b3c4d5e6f","hostname":"blog.example","language":"en-US","referrer":"https://duckduckgo.com/","screen":"1920x1080","title":"Home","url":"/posts/one?ref=x"}})");
    EXPECT_EQ(hit.kind, Kind::pageview);
    EXPECT_EQ(hit.sites, (std::vector<std::string>{"4f2a8c1e-0b9d-4c1e-9f00-1a2b3c4d5e6f"}));
    EXPECT_EQ(hit.page, "/posts/one");
    EXPECT_EQ(hit.referrer, "duckduckgo.com");
    hit = umami(
        R"({"type":"event","payload":{"website":"blog","name":"sign up","data":{"list":"weekly"}}})");
    EXPECT_EQ(hit.kind, Kind::custom);
    EXPECT_EQ(hit.name, "sign_up");
    EXPECT_EQ(hit.properties, R"({"list":"weekly"})");
    EXPECT_EQ(umami(R"({"type":"identify","payload":{"website":"blog","data":{"a":1}}})").kind,
              Kind::ignored);
    ParseBuffers buffers;
    for (const char* bad :
         {R"({"type":"event"})", R"({"type":"other","payload":{"website":"b","url":"/"}})",
          R"({"payload":{"website":"b","url":"/"}})", R"({"type":"event","payload":{"url":"/"}})",
          R"({"type":"event","payload":{"website":"b"}})"}) {
        EXPECT_TRUE(parse_umami(bad, hit, buffers)) << bad;
    }
}

TEST(CompatEvent, OneEventPerSiteWithTheCallersVisitorAndSession) {
    const CompatHit hit =
        plausible(R"({"n":"signup","u":"https://a.com/x","d":"a.com","p":{"plan":"pro"}})");
    Event event;
    const RequestContext context{"192.0.2.1", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile",
                                 1'700'000'000'000};
    compat_event(hit, "a.com", context, "0123456789abcdef", "0123456789abcdef-1", event);
    EXPECT_EQ(event.kind, EventKind::custom);
    EXPECT_EQ(event.event_name, "signup");
    EXPECT_EQ(event.page, "");
    EXPECT_EQ(event.device, Device::mobile);
    EXPECT_EQ(event.timestamp_ms, 1'700'000'000'000);
    EXPECT_EQ(event.visitor_id, "0123456789abcdef");
    EXPECT_EQ(event.session_id, "0123456789abcdef-1");
    EXPECT_EQ(event.properties, R"({"plan":"pro"})");
}

TEST(InactivitySessions, ThirtyMinutesOfSilenceStartANewSession) {
    InactivitySessions sessions;
    std::string first, again, later, other;
    const std::int64_t t0 = 1'700'000'000'000;
    sessions.session_for("v1", t0, first);
    sessions.session_for("v1", t0 + 29 * 60'000, again);  // extends the session
    sessions.session_for("v1", t0 + 58 * 60'000, later);  // 29 min after the last event
    EXPECT_EQ(first, again);
    EXPECT_EQ(first, later);
    sessions.session_for("v1", t0 + 88 * 60'000, later);  // 30 min of silence
    EXPECT_NE(first, later);
    sessions.session_for("v2", t0, other);
    EXPECT_NE(first, other);
    EXPECT_EQ(first.rfind("v1-", 0), 0u);
}

TEST(InactivitySessions, AFloodStaysWithinTheCapacityAndCountsEvictions) {
    InactivitySessions sessions(1'600);
    std::string id;
    for (int i = 0; i < 100'000; ++i)
        sessions.session_for("visitor" + std::to_string(i), 1'700'000'000'000 + i, id);
    EXPECT_LE(sessions.size(), 1'600u);
    EXPECT_GE(sessions.evicted(), 100'000u - 1'600u);
}

}  // namespace
}  // namespace tally::ingest
