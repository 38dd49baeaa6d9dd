// The Plausible Stats API v1 subset against the real daemon: every endpoint and property
// checked against an oracle computed here from the events sent over three days, the answer
// shapes, pagination, comparison, and a 400 naming each unsupported parameter.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "common.hpp"

namespace tally::test {
namespace {

using Stats = DaemonTest;

struct Sent {
    std::map<std::string, std::uint64_t> pages, plans, plan_events;
    std::map<std::string, std::set<std::string>> plan_visitors, visitors_by_page,
        visitors_by_source;
    std::set<std::string> visitors, sessions, page_visitors;
    std::uint64_t pageviews = 0, events = 0;
};

/// Page views and signups (with a plan) over today, yesterday and the day before.
std::map<std::int64_t, Sent> send_three_days(HttpClient& client) {
    std::map<std::int64_t, Sent> by_day;
    const std::int64_t now = now_ms();
    json batch = json::array();
    for (int i = 0; i < 90; ++i) {
        // Now, 23 h and 46 h ago (inside the 48 h the tracking API takes): two or three days.
        const std::int64_t at = now - (i % 3) * 23 * 3'600'000 - 60'000 * (i % 7);
        const std::string user = "u" + std::to_string(i % 11),
                          session = "s" + std::to_string(i % 13);
        Sent& day = by_day[day_of(at)];
        if (i % 4 == 0) {
            const std::string plan = i % 3 == 0 ? "pro" : "free";
            batch.push_back({{"type", "event"},
                             {"event_name", "signup"},
                             {"user_id", user},
                             {"session_id", session},
                             {"timestamp", iso(at)},
                             {"properties", {{"plan", plan}}}});
            ++day.events;
            ++day.plan_events[plan];
            day.plan_visitors[plan].insert(user);
        } else {
            const std::string page = "/p" + std::to_string(i % 5);
            batch.push_back({{"type", "pageview"},
                             {"page_url", page},
                             {"user_id", user},
                             {"session_id", session},
                             {"timestamp", iso(at)},
                             {"referrer", i % 2 ? "https://google.com/" : ""}});
            ++day.pageviews;
            ++day.pages[page];
            day.page_visitors.insert(user);
            day.visitors_by_page[page].insert(user);
            day.visitors_by_source[i % 2 ? "google.com" : "Direct / None"].insert(user);
        }
        day.visitors.insert(user);
        day.sessions.insert(session);
    }
    const auto r = client.post("/track/batch", batch.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return by_day;
}

json get(HttpClient& client, const std::string& target, int status = 200) {
    const auto r = client.get(target);
    EXPECT_EQ(r.status, status) << target << " -> " << r.body;
    return r.status == 200 ? json::parse(r.body) : json::parse(r.body, nullptr, false);
}

TEST_F(Stats, AggregateAndTimeseriesAgreeWithTheEventsSent) {
    const auto days = send_three_days(client);
    Sent all;
    for (const auto& [day, sent] : days) {
        all.pageviews += sent.pageviews;
        all.events += sent.events;
        all.visitors.insert(sent.visitors.begin(), sent.visitors.end());
        all.sessions.insert(sent.sessions.begin(), sent.sessions.end());
    }
    const json week = get(client,
                          "/api/v1/stats/"
                          "aggregate?site_id=default&period=7d&metrics=visitors,visits,pageviews,"
                          "events&compare=previous_period");
    EXPECT_EQ(week["results"]["visitors"]["value"], all.visitors.size());
    EXPECT_EQ(week["results"]["visits"]["value"], all.sessions.size());
    EXPECT_EQ(week["results"]["pageviews"]["value"], all.pageviews);
    EXPECT_EQ(week["results"]["events"]["value"], all.events);
    EXPECT_EQ(week["results"]["pageviews"]["change"], 100);  // nothing the week before
    const Sent& today = days.at(day_of(now_ms()));
    const json day = get(client, "/api/v1/stats/aggregate?site_id=default&period=day");
    EXPECT_EQ(day, json({{"results", {{"visitors", {{"value", today.visitors.size()}}}}}}));

    const json series =
        get(client,
            "/api/v1/stats/timeseries?site_id=default&period=7d&metrics=pageviews,visitors,events");
    ASSERT_EQ(series["results"].size(), 7u);
    for (const json& row : series["results"]) {
        const auto d = parse_day(row["date"].get<std::string>());
        ASSERT_TRUE(d);
        const auto it = days.find(*d);
        EXPECT_EQ(row["pageviews"], it == days.end() ? 0 : it->second.pageviews) << row;
        EXPECT_EQ(row["visitors"], it == days.end() ? 0 : it->second.visitors.size()) << row;
        EXPECT_EQ(row["events"], it == days.end() ? 0 : it->second.events) << row;
    }
    const json months = get(
        client,
        "/api/v1/stats/timeseries?site_id=default&period=12mo&interval=month&metrics=pageviews");
    ASSERT_EQ(months["results"].size(), 12u);
    std::uint64_t sum = 0;
    for (const json& row : months["results"])
        sum += row["pageviews"].get<std::uint64_t>();
    EXPECT_EQ(sum, all.pageviews);
    EXPECT_EQ(client.get("/api/v1/stats/realtime/visitors?site_id=default")
                  .body.find_first_not_of("0123456789"),
              std::string::npos);
}

TEST_F(Stats, BreakdownsByPagePropertyAndNameWithPages) {
    const auto days = send_three_days(client);
    std::map<std::string, std::uint64_t> pages, plan_events;
    std::map<std::string, std::set<std::string>> plan_visitors;
    std::uint64_t pageviews = 0, events = 0;
    for (const auto& [day, sent] : days) {
        for (const auto& [p, n] : sent.pages)
            pages[p] += n;
        for (const auto& [p, n] : sent.plan_events)
            plan_events[p] += n;
        for (const auto& [p, v] : sent.plan_visitors)
            plan_visitors[p].insert(v.begin(), v.end());
        pageviews += sent.pageviews;
        events += sent.events;
    }
    const json by_page =
        get(client,
            "/api/v1/stats/"
            "breakdown?site_id=default&period=7d&property=event:page&metrics=pageviews&limit=100");
    std::map<std::string, std::uint64_t> got;
    for (const json& row : by_page["results"])
        got[row["page"]] = row["pageviews"];
    EXPECT_EQ(got, pages);
    // Pages of two: the first page's rows, then the next, in the same order.
    const json first =
        get(client,
            "/api/v1/stats/"
            "breakdown?site_id=default&period=7d&property=event:page&metrics=pageviews&limit=2");
    const json second = get(
        client,
        "/api/v1/stats/"
        "breakdown?site_id=default&period=7d&property=event:page&metrics=pageviews&limit=2&page=2");
    ASSERT_EQ(first["results"].size(), 2u);
    EXPECT_EQ(first["results"][0], by_page["results"][0]);
    EXPECT_EQ(second["results"][0], by_page["results"][2]);

    const json plans = get(
        client,
        "/api/v1/stats/"
        "breakdown?site_id=default&period=7d&property=event:props:plan&metrics=visitors,events");
    ASSERT_EQ(plans["results"].size(), plan_events.size());
    for (const json& row : plans["results"]) {
        EXPECT_EQ(row["events"], plan_events[row["plan"]]) << row;
        EXPECT_EQ(row["visitors"], plan_visitors[row["plan"]].size()) << row;
    }
    const json names =
        get(client,
            "/api/v1/stats/breakdown?site_id=default&period=7d&property=event:name&metrics=events");
    EXPECT_EQ(names["results"],
              json::parse("[{\"name\":\"pageview\",\"events\":" + std::to_string(pageviews) +
                          "},{\"name\":\"signup\",\"events\":" + std::to_string(events) + "}]"));
    std::set<std::string> signup_visitors, page_visitors;
    for (const auto& [plan, who] : plan_visitors)
        signup_visitors.insert(who.begin(), who.end());
    for (const auto& [day, sent] : days)
        page_visitors.insert(sent.page_visitors.begin(), sent.page_visitors.end());
    const json name_visitors = get(client,
                                   "/api/v1/stats/breakdown?site_id=default&period=7d&property="
                                   "event:name&metrics=visitors");
    ASSERT_EQ(name_visitors["results"].size(), 2u);
    EXPECT_EQ(name_visitors["results"][0]["visitors"], page_visitors.size());
    EXPECT_EQ(name_visitors["results"][1]["visitors"], signup_visitors.size());
    const json sources =
        get(client,
            "/api/v1/stats/"
            "breakdown?site_id=default&period=7d&property=visit:source&metrics=pageviews");
    std::uint64_t from_sources = 0;
    for (const json& row : sources["results"])
        from_sources += row["pageviews"].get<std::uint64_t>();
    EXPECT_EQ(from_sources, pageviews);
    EXPECT_EQ(sources["results"].size(), 2u);  // google.com and "Direct / None"
}

// Each page's and each source's distinct visitors over three days (a member's sets merged
// across days), exact at this size; visitors is also the default metric.
TEST_F(Stats, PageAndSourceBreakdownsCountEachMembersVisitors) {
    const auto days = send_three_days(client);
    std::map<std::string, std::set<std::string>> by_page, by_source;
    for (const auto& [day, sent] : days) {
        for (const auto& [p, who] : sent.visitors_by_page)
            by_page[p].insert(who.begin(), who.end());
        for (const auto& [s, who] : sent.visitors_by_source)
            by_source[s].insert(who.begin(), who.end());
    }
    for (const auto& [property, column, oracle] :
         {std::tuple{"event:page", "page", &by_page},
          std::tuple{"visit:source", "source", &by_source}}) {
        const json rows = get(client, std::string("/api/v1/stats/breakdown?site_id=default&period="
                                                  "7d&limit=100&property=") +
                                          property);
        ASSERT_EQ(rows["results"].size(), oracle->size()) << rows;
        for (const json& row : rows["results"]) {
            EXPECT_EQ(row.size(), 2u) << row;  // the member and visitors, the default metric
            EXPECT_EQ(row["visitors"], (*oracle)[row[column]].size()) << row;
        }
    }
}

// The settled days' merge is reused (the cache's hits move) and never stale: a late event
// into yesterday changes the next answer.
TEST_F(Stats, ABreakdownReusesItsSettledDaysAndSeesLateEvents) {
    send_three_days(client);
    const std::string target =
        "/api/v1/stats/breakdown?site_id=default&period=7d&property=event:page&metrics="
        "pageviews,visitors&limit=100";
    const json first = get(client, target);
    EXPECT_EQ(get(client, target), first);
    EXPECT_EQ(get(client, target), first);
    const std::string metrics = client.get("/metrics").body;
    EXPECT_NE(metrics.find("\ntally_query_cache_hits_total 2\n"), std::string::npos);
    EXPECT_NE(metrics.find("\ntally_query_cache_misses_total 1\n"), std::string::npos);

    const std::int64_t yesterday = now_ms() - 23 * 3'600'000;
    send({{"page_url", "/late"},
          {"user_id", "late-visitor"},
          {"session_id", "late"},
          {"timestamp", iso(yesterday)}});
    const json after = get(client, target);
    ASSERT_EQ(after["results"].size(), first["results"].size() + 1);
    bool seen = false;
    for (const json& row : after["results"]) {
        if (row["page"] == "/late") {
            EXPECT_EQ(row["pageviews"], 1);
            EXPECT_EQ(row["visitors"], 1);
            seen = true;
        }
    }
    EXPECT_TRUE(seen) << after;
}

TEST_F(Stats, ACardinalityAttackOnAPropertyStaysWithinItsCapsAndSaysSo) {
    const long before = rss_kib(daemon.pid());
    constexpr int kValues = 100'000;
    for (int b = 0; b < kValues / 1000; ++b) {
        json batch = json::array();
        for (int i = 0; i < 1000; ++i) {
            batch.push_back({{"type", "event"},
                             {"event_name", "search"},
                             {"session_id", "s" + std::to_string(i % 50)},
                             {"properties", {{"query", "q" + std::to_string(b * 1000 + i)}}}});
        }
        ASSERT_EQ(client.post("/track/batch", batch.dump()).status, 200);
    }
    const json m = get(client, "/dashboard/today?props=search");
    const json& key = m["properties"]["keys"][0];
    EXPECT_EQ(key["count"], kValues);  // every event is counted: in a value, or in "other"
    EXPECT_EQ(key["values"].size(), 100u);
    EXPECT_LE(key["distinct_values"].get<int>(), 1000);
    std::uint64_t shown = 0;
    for (const json& row : key["values"])
        shown += row["count"].get<std::uint64_t>();
    EXPECT_GE(key["other"]["count"].get<int>(), kValues - 1000);
    EXPECT_LE(shown + key["other"]["count"].get<std::uint64_t>(), std::uint64_t{kValues});
    const json rows = get(client,
                          "/api/v1/stats/"
                          "breakdown?site_id=default&period=day&property=event:props:query&metrics="
                          "events&limit=1000");
    EXPECT_EQ(rows["results"][0]["query"], "(other)");  // the largest "value"
    const long after = rss_kib(daemon.pid());
    if (kRssMeaningful && before > 0 && after > 0) {
        // The caps bound the breakdown; what grows is the day's exact funnel log (16 bytes an
        // event) and the parser's buffers, far under this.
        EXPECT_LT(after - before, 64 * 1024) << before << " -> " << after << " KiB";
    }
}

TEST_F(Stats, EveryPeriodCountsTheDaysItNames) {
    const auto days = send_three_days(client);
    const std::int64_t today = day_of(now_ms());
    // The first and last day of each period, as Plausible defines them.
    int year = 0;
    unsigned month = 0, dom = 0;
    civil_from_days(today, year, month, dom);
    const std::int64_t month_first = days_from_civil(year, month, 1);
    const auto months_back = [&](int n) {
        int y = year, m = static_cast<int>(month) - n;
        while (m < 1) {
            m += 12;
            --y;
        }
        return days_from_civil(y, static_cast<unsigned>(m), 1);
    };
    const std::string custom = format_day(today - 1) + "," + format_day(today);
    const std::tuple<std::string, std::int64_t, std::int64_t> periods[] = {
        {"day", today, today},
        {"7d", today - 6, today},
        {"30d", today - 29, today},
        {"month", month_first, today},
        {"6mo", months_back(5), today},
        {"12mo", months_back(11), today},
        {"custom&date=" + custom, today - 1, today},
        {"day&date=" + format_day(today - 1), today - 1, today - 1}};
    for (const auto& [period, first, last] : periods) {
        std::uint64_t pageviews = 0, events = 0;
        for (const auto& [day, sent] : days) {
            if (day >= first && day <= last) {
                pageviews += sent.pageviews;
                events += sent.events;
            }
        }
        const json answer =
            get(client, "/api/v1/stats/aggregate?site_id=default&metrics=pageviews,events&period=" +
                            period);
        EXPECT_EQ(answer["results"]["pageviews"]["value"], pageviews) << period;
        EXPECT_EQ(answer["results"]["events"]["value"], events) << period;
    }
}

TEST_F(Stats, CountryAndDeviceBreakdownsMatchTheDashboard) {
    json batch = json::array();
    for (int i = 0; i < 40; ++i) {
        batch.push_back({{"type", "pageview"},
                         {"page_url", "/"},
                         {"session_id", "s" + std::to_string(i)},
                         {"country", i % 4 == 0 ? "JP" : "BR"},
                         {"device_type", i % 5 == 0 ? "tablet"
                                         : i % 2    ? "mobile"
                                                    : "desktop"}});
    }
    ASSERT_EQ(client.post("/track/batch", batch.dump()).status, 200);
    const json countries =
        get(client,
            "/api/v1/stats/"
            "breakdown?site_id=default&period=day&property=visit:country&metrics=pageviews");
    EXPECT_EQ(countries["results"],
              json::parse(R"([{"country":"BR","pageviews":30},{"country":"JP","pageviews":10}])"));
    const json devices =
        get(client,
            "/api/v1/stats/"
            "breakdown?site_id=default&period=day&property=visit:device&metrics=pageviews");
    EXPECT_EQ(
        devices["results"],
        json::parse(
            R"([{"device":"Desktop","pageviews":16},{"device":"Mobile","pageviews":16},{"device":"Tablet","pageviews":8}])"));
    // Visitors by device: 40 sessions with no user id from one client, so one cookieless
    // visitor (site, IP, User-Agent) on every device.
    const json device_visitors = get(client,
                                     "/api/v1/stats/breakdown?site_id=default&period=day&property="
                                     "visit:device&metrics=visitors,pageviews");
    for (const json& row : device_visitors["results"])
        EXPECT_EQ(row["visitors"], 1) << row;
    const json country_visitors = get(client,
                                      "/api/v1/stats/breakdown?site_id=default&period=day&"
                                      "property=visit:country");
    EXPECT_EQ(country_visitors["results"],
              json::parse(R"([{"country":"BR","visitors":1},{"country":"JP","visitors":1}])"));
}

TEST_F(Stats, UnsupportedParametersAre400sNamingThem) {
    const std::pair<const char*, const char*> cases[] = {
        {"/api/v1/stats/aggregate?site_id=default&filters=event:page%3D%3D/", "filters"},
        {"/api/v1/stats/aggregate?site_id=default&period=yesterday", "period"},
        {"/api/v1/stats/aggregate?site_id=default&metrics=bounce_rate", "metrics"},
        {"/api/v1/stats/aggregate?site_id=default&compare=previous_year", "compare"},
        {"/api/v1/stats/aggregate?period=day", "site_id"},
        {"/api/v1/stats/timeseries?site_id=default&interval=week", "interval"},
        {"/api/v1/stats/breakdown?site_id=default&property=visit:city&metrics=pageviews",
         "property"},
        {"/api/v1/stats/breakdown?site_id=default&property=event:page&metrics=visits", "metrics"},
        {"/api/v1/stats/breakdown?site_id=default&property=visit:source&metrics=visits", "metrics"},
        {"/api/v1/stats/breakdown?site_id=default&property=event:page&metrics=pageviews&limit=0",
         "limit"},
        {"/api/v1/stats/timeseries?site_id=default&period=custom&date=2024-01-10", "date"},
        {"/api/v1/stats/realtime/visitors?site_id=default&period=day", "period"}};
    for (const auto& [target, field] : cases) {
        const auto r = client.get(target);
        EXPECT_EQ(r.status, 400) << target;
        EXPECT_EQ(json::parse(r.body)["field"], field) << target << " -> " << r.body;
    }
}

}  // namespace
}  // namespace tally::test
