#pragma once
#include "tally/base/event.hpp"
#include "tally/base/time.hpp"

namespace tally::test {

inline constexpr std::int64_t kNoon = 1'700'000'000'000 / kMsPerDay * kMsPerDay + 12 * 3'600'000;

inline Event page(std::string page, std::string user, std::string session, std::int64_t ts = kNoon,
                  std::string site = "default") {
    Event e;
    e.kind = EventKind::pageview;
    e.timestamp_ms = ts;
    e.site = std::move(site);
    e.page = std::move(page);
    e.referrer = "direct";
    e.session_id = std::move(session);
    e.user_id = user;
    e.visitor_id = std::move(user);
    return e;
}

inline Event custom(std::string name, std::string user, std::string session,
                    std::int64_t ts = kNoon, std::string site = "default") {
    Event e = page("", std::move(user), std::move(session), ts, std::move(site));
    e.kind = EventKind::custom;
    e.page.clear();
    e.referrer.clear();
    e.event_name = std::move(name);
    return e;
}

}  // namespace tally::test
