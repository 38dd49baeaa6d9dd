#pragma once
#include "tally/ingest/event.hpp"
#include "tally/ingest/time.hpp"

namespace tally::test {

inline constexpr std::int64_t kNoon =
    1'700'000'000'000 / ingest::kMsPerDay * ingest::kMsPerDay + 12 * 3'600'000;

inline ingest::Event page(std::string page, std::string user, std::string session,
                          std::int64_t ts = kNoon, std::string site = "default") {
    ingest::Event e;
    e.kind = ingest::EventKind::pageview;
    e.timestamp_ms = ts;
    e.site = std::move(site);
    e.page = std::move(page);
    e.referrer = "direct";
    e.session_id = std::move(session);
    e.user_id = user;
    e.visitor_id = std::move(user);
    return e;
}

inline ingest::Event custom(std::string name, std::string user, std::string session,
                            std::int64_t ts = kNoon, std::string site = "default") {
    ingest::Event e = page("", std::move(user), std::move(session), ts, std::move(site));
    e.kind = ingest::EventKind::custom;
    e.page.clear();
    e.referrer.clear();
    e.event_name = std::move(name);
    return e;
}

}  // namespace tally::test
